"""Helpers of the handoff domain tests: a clock the test moves, small real implementations
of the ports that record what they were asked, and shortcuts to a queued or open attention."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from handoff.model import Agent, Attention
from handoff.ports import DeliveryFailed, DeliveryReceipt, OutboundMessage
from handoff.service import HandoffService

ROOT = Path(__file__).resolve().parents[2]
CAMPAIGNS_FILE = ROOT / "tests" / "fixtures" / "campaigns.yml"  # the domain tests' own
SHIPPED_CAMPAIGNS_FILE = ROOT / "data" / "campaigns.yml"  # the designers', tested by test_campaigns.py
PAGE = "page_1"
IG_ACCOUNT = "ig_1"
START = datetime(2024, 5, 6, 12, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


class RecordingGateway:
    """A ChannelGateway that remembers every send; ``fail_with`` makes the next sends fail."""

    def __init__(self) -> None:
        self.sent: list[OutboundMessage] = []
        self.fail_with: DeliveryFailed | None = None

    async def send(self, outbound: OutboundMessage) -> DeliveryReceipt:
        self.sent.append(outbound)
        if self.fail_with is not None:
            raise self.fail_with
        return DeliveryReceipt(mid=f"m_out_{outbound.message_id}")


class RecordingResumer:
    def __init__(self) -> None:
        self.resumed: list[Attention] = []

    async def resume(self, attention: Attention) -> None:
        self.resumed.append(attention)


async def handoff(service: HandoffService, customer: str = "psid_1", **kwargs) -> Attention:
    """A queued Messenger attention in campaign 'soporte'."""
    kwargs.setdefault("slots", {"customer_name": "Carla Pérez", "handoff_reason": "Mi pedido no llegó"})
    return await service.inbound.request_handoff("messenger", PAGE, customer, intent="request_human", **kwargs)


async def opened(service: HandoffService, agent: Agent, customer: str = "psid_1", **kwargs) -> Attention:
    attention = await handoff(service, customer, **kwargs)
    return await service.attentions.open(attention.id, agent)

"""Agents' messages out through the Graph API: the handoff service's ChannelGateway."""

from __future__ import annotations

from typing import Any

from connectors.meta.errors import GraphError
from connectors.meta.graph import METADATA_PREFIX, GraphClient
from connectors.meta.limits import ChannelLimits
from handoff.ports import DeliveryFailed, DeliveryReceipt, OutboundMessage

AGENT_MESSAGE_REFERENCE = "msg{}"  # handoff.ports.send_key starts with it too


class MetaGateway:
    def __init__(self, client: GraphClient, limits: ChannelLimits) -> None:
        self._client = client
        self._limits = limits

    async def send(self, outbound: OutboundMessage) -> DeliveryReceipt:
        message = self._message(outbound)
        try:
            result = await self._client.send_message(
                outbound.customer_id,
                message,
                messaging_type=outbound.messaging_type,
                tag=outbound.tag,
                reference=AGENT_MESSAGE_REFERENCE.format(outbound.message_id),
                # Recorded on the message before this call (handoff.services.outbox.Outbox._send_and_record).
                token=METADATA_PREFIX + outbound.send_token if outbound.send_token else None,
            )
        except GraphError as error:
            raise DeliveryFailed(error.code, error.subcode, error.message, transient=error.kind.retryable) from error
        return DeliveryReceipt(mid=result.message_id or "")

    def _message(self, outbound: OutboundMessage) -> dict[str, Any]:
        if outbound.attachment is not None:
            payload = {"url": outbound.attachment.url, "is_reusable": True}
            return {"attachment": {"type": outbound.attachment.type, "payload": payload}}
        text = outbound.text or ""
        if self._limits.size(text) > self._limits.text:
            # The desk limits what agents type; this is a last line, never a silent cut.
            raise DeliveryFailed(100, None, f"text longer than {self._limits.text} allowed on this channel")
        return {"text": text}


def agent_message_id(reference: str | None) -> int | None:
    """Our message row from an echo's metadata reference (``msg42`` -> 42)."""
    if reference and reference.startswith("msg") and reference[3:].isdigit():
        return int(reference[3:])
    return None

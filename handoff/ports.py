"""What the domain needs from the outside, as Protocols the adapters implement.

- ``ChannelGateway``: sends an agent's message to Meta (connectors: the Graph API client).
- ``ConversationResumer``: gives the conversation back to the bot after an attention ends
  (the Rasa adapter: ``ConversationResumed`` + ``EXTERNAL_attention_terminated``).

The domain imports no adapter; adapters pass their objects in when they build the service.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from handoff.model import Attention, Channel


@dataclass(frozen=True)
class OutgoingAttachment:
    """An attachment an agent sends, by URL (the gateway may upload it instead)."""

    type: str  # image, video, audio, file
    url: str
    filename: str | None = None


OUTGOING_ATTACHMENT_TYPES = frozenset({"image", "video", "audio", "file"})


@dataclass(frozen=True)
class OutboundMessage:
    """One message for Meta's Send API."""

    message_id: int  # our row; send it as Meta's ``metadata`` to match the echo
    attention_id: int
    channel: Channel
    account_id: str  # the Page / Instagram account that sends
    customer_id: str  # recipient.id (PSID / IGSID)
    messaging_type: str  # RESPONSE or MESSAGE_TAG
    tag: str | None = None  # HUMAN_AGENT with MESSAGE_TAG
    text: str | None = None
    attachment: OutgoingAttachment | None = None
    # The idempotency key of this attempt (``send_key``), committed on the message before
    # the gateway is called: the gateway sends it in Meta's ``metadata`` and the echo
    # brings it back, the only evidence of a send a crash cut short.
    send_token: str | None = None


def send_key(message_id: int) -> str:
    """A new key for one attempt at sending message ``message_id``: ``msg<id>:<random>``
    (the gateway's metadata is its prefix and this)."""
    return f"msg{message_id}:{uuid.uuid4().hex}"


@dataclass(frozen=True)
class DeliveryReceipt:
    """Meta accepted the message."""

    mid: str  # Meta's ``message_id``
    sent_at: datetime | None = None


class DeliveryFailed(Exception):
    """Meta refused the message, or could not be reached. ``transient`` says whether a later
    retry may succeed (5xx, timeouts, rate limits); the gateway has already retried those it
    retries itself."""

    def __init__(self, code: int | None, subcode: int | None, message: str, transient: bool = False) -> None:
        super().__init__(f"({code}/{subcode}) {message}")
        self.code = code
        self.subcode = subcode
        self.message = message
        self.transient = transient


@runtime_checkable
class ChannelGateway(Protocol):
    async def send(self, outbound: OutboundMessage) -> DeliveryReceipt:
        """Send one message; DeliveryFailed when Meta refuses it or cannot be reached."""
        ...


@runtime_checkable
class ConversationResumer(Protocol):
    async def resume(self, attention: Attention) -> None:
        """Hand the customer back to the bot after ``attention`` terminated. The terminate
        wrote the attention's pending resume row in its transaction; a resumer may do the
        work later (the runtime's ``connectors.resumes.DurableResumer`` returns at once)
        and marks that row when the bot's turn is done."""
        ...


class NoResumer:
    """A resumer that does nothing (tests, tools that only read)."""

    async def resume(self, attention: Attention) -> None:
        return None

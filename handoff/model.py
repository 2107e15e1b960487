"""The domain's records: Attention, Agent, Customer, Message, AttentionEvent (audit), Label.

Plain frozen dataclasses, free of the database and of HTTP: the store builds them, the
service hands them out, adapters render them. Campaigns and their forms live in
``handoff.campaigns`` (they come from data/campaigns.yml, not from agents' work).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from handoff.states import AttentionState


class Channel(str, Enum):
    MESSENGER = "messenger"
    INSTAGRAM = "instagram"


class Direction(str, Enum):
    """Who started the attention: the customer (via the bot) or an agent (Messenger only)."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class Role(str, Enum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"


class MessageDirection(str, Enum):
    IN = "in"
    OUT = "out"
    # A line of the desk's own (a transfer and its note): shown to agents, never sent to Meta.
    INTERNAL = "internal"


class Author(str, Enum):
    CUSTOMER = "customer"
    BOT = "bot"
    AGENT = "agent"
    # A human answering outside our desk (an echo from another app, e.g. Meta's Page Inbox).
    EXTERNAL = "external"
    # The desk itself: transfers and other lines no person wrote.
    SYSTEM = "system"


class MessageKind(str, Enum):
    TEXT = "text"
    ATTACHMENT = "attachment"  # image, video, audio, file, sticker, location, share, story mention...
    REACTION = "reaction"
    POSTBACK = "postback"
    REFERRAL = "referral"
    DELETED = "deleted"  # the customer unsent a message (Instagram is_deleted)
    EDIT = "edit"
    UNSUPPORTED = "unsupported"
    TRANSFER = "transfer"  # a system line: who moved the attention where, with their note


# What the customer does that opens (restarts) Meta's 24 h messaging window.
WINDOW_OPENING_KINDS = frozenset(
    {
        MessageKind.TEXT,
        MessageKind.ATTACHMENT,
        MessageKind.REACTION,
        MessageKind.POSTBACK,
        MessageKind.REFERRAL,
        MessageKind.UNSUPPORTED,
    }
)


class MessageStatus(str, Enum):
    RECEIVED = "received"  # inbound
    PENDING = "pending"  # outbound, stored, not yet accepted by Meta (maybe being sent)
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    # Outbound: a crash cut its send short and no echo has shown that Meta got it (nor
    # that it did not). Never sent again by itself; its echo still makes it sent.
    UNKNOWN = "unknown"


# Outbound statuses only move forward; a late "sent" never undoes "read". A failure can
# still be overtaken by a delivery (an ambiguous timeout that did get through).
STATUS_RANK: dict[MessageStatus, int] = {
    MessageStatus.PENDING: 0,
    MessageStatus.FAILED: 0,
    MessageStatus.UNKNOWN: 0,
    MessageStatus.SENT: 1,
    MessageStatus.DELIVERED: 2,
    MessageStatus.READ: 3,
}


class ActorKind(str, Enum):
    AGENT = "agent"
    BOT = "bot"
    SYSTEM = "system"


@dataclass(frozen=True)
class Actor:
    """Who did something, for the audit trail: an agent, the bot, or the system (timers)."""

    kind: ActorKind
    agent_id: int | None = None

    @classmethod
    def of(cls, agent: Agent) -> Actor:
        return cls(ActorKind.AGENT, agent.id)

    def __str__(self) -> str:
        return f"agent {self.agent_id}" if self.kind is ActorKind.AGENT else self.kind.value


BOT = Actor(ActorKind.BOT)
# The reason the bot gives when the customer gives up waiting (action_terminate_attention):
# the desk tells agents in words that the customer cancelled, not that someone took it.
CANCELLED_BY_CUSTOMER = "customer_cancelled"
SYSTEM = Actor(ActorKind.SYSTEM)


@dataclass(frozen=True)
class Agent:
    id: int
    username: str
    display_name: str
    role: Role
    campaigns: tuple[str, ...] = ()
    active: bool = True

    @property
    def is_supervisor(self) -> bool:
        return self.role is Role.SUPERVISOR

    def serves(self, campaign_id: str) -> bool:
        """Whether this agent takes attentions of ``campaign_id`` (supervisors: all)."""
        return self.is_supervisor or campaign_id in self.campaigns


@dataclass(frozen=True)
class Customer:
    channel: Channel
    account_id: str  # Page id (Messenger) or Instagram professional account id
    customer_id: str  # PSID or IGSID
    name: str | None = None
    picture_url: str | None = None
    picture_expires_at: datetime | None = None

    def picture_at(self, now: datetime) -> str | None:
        """The picture link while it still loads (handoff.pictures); None after."""
        if self.picture_url is None or self.picture_expires_at is None or self.picture_expires_at <= now:
            return None
        return self.picture_url


@dataclass(frozen=True)
class Label:
    id: int
    name: str
    colour: str
    retired: bool = False


ContextEntry = Mapping[str, Any]
"""One line of the bot's part of the conversation: ``{"author": "customer"|"bot", "text",
"time" (ISO 8601), ...}`` (extra keys such as ``intent`` or ``attachment`` are kept)."""


@dataclass(frozen=True)
class Attention:
    id: int
    channel: Channel
    account_id: str
    customer_id: str
    campaign_id: str
    state: AttentionState
    direction: Direction
    agent_id: int | None
    form: Mapping[str, Any]
    context: tuple[ContextEntry, ...]
    created_at: datetime
    updated_at: datetime
    intent: str | None = None
    opened_at: datetime | None = None  # first time an agent opened it (first response metric)
    assigned_at: datetime | None = None  # when the current owner got it (orphan timer base)
    terminated_at: datetime | None = None
    last_customer_message_at: datetime | None = None  # start of Meta's 24 h window
    last_message_id: int | None = None
    read_up_to_message_id: int | None = None
    labels: tuple[Label, ...] = field(default=())
    reason: str | None = None  # why the customer asked for a person, in their words
    bot_values: Mapping[str, Any] = field(default_factory=dict)  # the slots the bot collected
    transfer: Transfer | None = None  # the latest transfer, for whoever received it

    @property
    def is_active(self) -> bool:
        return self.state.is_active


@dataclass(frozen=True)
class Transfer:
    """An attention's latest transfer: who moved it, from where to where, and their note.

    Names are kept as they were at the time: the note speaks of that campaign and agent."""

    at: datetime
    by_agent_id: int | None
    by_agent_name: str | None
    from_campaign_id: str
    from_campaign_name: str
    to_campaign_id: str
    to_campaign_name: str
    to_agent_id: int | None = None  # None: to the campaign's queue
    to_agent_name: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class Message:
    id: int
    attention_id: int
    direction: MessageDirection
    author: Author
    kind: MessageKind
    status: MessageStatus
    created_at: datetime
    updated_at: datetime
    text: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)
    agent_id: int | None = None
    mid: str | None = None  # Meta's message id
    messaging_type: str | None = None  # outbound: RESPONSE or MESSAGE_TAG
    tag: str | None = None  # outbound: HUMAN_AGENT when used
    error_code: int | None = None
    error_subcode: int | None = None
    error_message: str | None = None
    sent_at: datetime | None = None  # inbound: Meta's timestamp; outbound: accepted by Meta
    delivered_at: datetime | None = None
    read_at: datetime | None = None
    agent_name: str | None = None  # the display name of ``agent_id``, read with the message


@dataclass(frozen=True)
class AttentionEvent:
    """One line of an attention's audit trail: who did what, when, from which state to which."""

    id: int
    attention_id: int
    actor: Actor
    action: str
    from_state: AttentionState | None
    to_state: AttentionState | None
    detail: Mapping[str, Any]
    at: datetime


@dataclass(frozen=True)
class InboundEvent:
    """Something the customer did in a conversation, as a connector parsed it from a webhook.

    ``payload`` keeps what the desk needs to render it (attachment type and URL, reaction
    emoji and target mid, postback title and payload, referral ref, reply_to, ...).
    """

    kind: MessageKind
    text: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)
    mid: str | None = None
    sent_at: datetime | None = None  # Meta's timestamp of the event
    author: Author = Author.CUSTOMER  # EXTERNAL: an echo of a human using another app

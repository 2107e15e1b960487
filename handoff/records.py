"""What the domain keeps, and how it asks for it: the persistence port.

The use cases say *what* to read and write (an attention, its messages, its audit trail,
the customer, history, labels, agents) in the words of the domain; the storage adapter
(``connectors.storage``, SQLAlchemy on SQLite or PostgreSQL) says how. A use case opens a
unit of work with ``Storage.write()`` (one transaction: every change inside commits or
none does) or ``Storage.read()`` and finds each record set on it::

    async with storage.write() as records:
        await records.attentions.compare_and_set(...)
        await records.audit.record(...)

The adapter turns its own failures into the two the domain decides on: ``DuplicateRecord``
(a unique rule said no: the customer already has an active attention, the username or
label name is taken) and ``StorageBusy`` (locked or unreachable for a moment; the same
work succeeds later and nothing of it was kept).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from handoff.campaigns.model import CampaignBook
from handoff.model import (
    Actor,
    Agent,
    Attention,
    AttentionEvent,
    Author,
    Channel,
    Customer,
    Direction,
    Label,
    Message,
    MessageDirection,
    MessageKind,
    MessageStatus,
    Role,
    Transfer,
)
from handoff.states import AttentionState
from handoff.visibility import Scope


class DuplicateRecord(Exception):
    """A unique rule refused the write (the transaction is rolled back)."""


class StorageBusy(Exception):
    """The database is locked, unreachable or out of connections for a moment; the
    transaction was rolled back and the same work may succeed a moment later."""


ANY: Any = object()
"""In ``AttentionRecords.compare_and_set``: do not check this column."""


@dataclass(frozen=True)
class ActiveRef:
    """Just enough of a customer's active attention for the inbound hot path."""

    id: int
    campaign_id: str
    agent_id: int | None
    state: AttentionState


@dataclass(frozen=True)
class QueueLoad:
    campaign_id: str
    count: int
    oldest_since: datetime | None


@dataclass(frozen=True)
class OpenLoad:
    campaign_id: str
    agent_id: int
    count: int


@dataclass(frozen=True)
class Loads:
    queued: list[QueueLoad]
    open: list[OpenLoad]


@dataclass(frozen=True)
class AgentPresence:
    agent_id: int
    last_seen_at: datetime | None
    left_at: datetime | None


@dataclass(frozen=True)
class HistoryEntry:
    id: int  # the history id: the end order, and the page cursor
    attention_id: int
    campaign_id: str
    agent_id: int | None
    ended_at: datetime


@dataclass(frozen=True)
class HistoryFilter:
    """What to look for in history. Every given condition must hold."""

    keyword: str | None = None
    ended_from: datetime | None = None  # inclusive
    ended_before: datetime | None = None  # exclusive
    campaign_id: str | None = None
    label_id: int | None = None
    agent_id: int | None = None
    channel: str | None = None
    direction: str | None = None
    # Who may see what (``handoff.visibility``); None: everything.
    visible: Scope | None = None


CustomerKey = tuple[str, str, str]
"""(channel, account id, customer id): who a customer is."""


class AttentionRecords(Protocol):
    async def insert(
        self,
        *,
        channel: Channel,
        account_id: str,
        customer_id: str,
        campaign_id: str,
        direction: Direction,
        state: AttentionState,
        form: Mapping[str, Any],
        context: Sequence[Mapping[str, Any]],
        now: datetime,
        intent: str | None = None,
        agent_id: int | None = None,
        last_customer_message_at: datetime | None = None,
        reason: str | None = None,
        bot_values: Mapping[str, Any] | None = None,
    ) -> int:
        """The new attention's id; DuplicateRecord when the customer already has an active one."""
        ...

    async def get(self, attention_id: int) -> Attention | None: ...

    async def many(self, attention_ids: Iterable[int]) -> list[Attention]: ...

    async def active_ref(self, channel: Channel | str, account_id: str, customer_id: str) -> ActiveRef | None: ...

    async def active_for_customer(self, channel: Channel | str, account_id: str, customer_id: str) -> Attention | None: ...

    async def last_customer_message_at(self, channel: Channel | str, account_id: str, customer_id: str) -> datetime | None:
        """The customer's last message in any of their attentions (Meta's window is per
        conversation, not per attention)."""
        ...

    async def compare_and_set(
        self,
        attention_id: int,
        *,
        expected_state: AttentionState,
        expected_agent_id: int | None = ANY,
        expected_campaign_id: str = ANY,
        values: Mapping[str, Any],
    ) -> bool:
        """Change the attention's ``values`` (its fields by name; a ``transfer`` is a
        ``Transfer``) only if it still is as the caller saw it; False when it is not. Of two
        racing changes exactly one wins."""
        ...

    async def note_message(
        self, attention_id: int, message_id: int, now: datetime, customer_message_at: datetime | None = None
    ) -> ActiveRef | None:
        """Its latest message and, for a customer's, the 24 h window (never moved back); the
        attention as the update left it (its owner now). None, changing nothing, when the
        attention is no longer active."""
        ...

    async def held_by(self, agent_id: int) -> list[Attention]:
        """The agent's open attentions."""
        ...

    async def desk_list(
        self,
        visible: Scope,
        *,
        agent_id: int | None,
        channel: Channel | str | None = None,
        include_queued: bool = True,
        search: str | None = None,
    ) -> list[Attention]:
        """The desk's left pane, of what ``visible`` may see: the queued attentions and the
        open ones of ``agent_id`` (None: everyone's), queued first, newest first in each
        group. ``search`` keeps those whose id, customer (name or id), a label or a message
        text match it."""
        ...

    async def active_loads(self) -> Loads: ...

    async def open_with_owner(self) -> list[Attention]: ...

    async def mark_read(self, attention_id: int, up_to_message_id: int) -> None:
        """Move the agent's read marker forward (never back)."""
        ...


class MessageRecords(Protocol):
    async def insert(
        self,
        *,
        attention_id: int,
        direction: MessageDirection,
        author: Author,
        kind: MessageKind,
        status: MessageStatus,
        now: datetime,
        text: str | None = None,
        payload: Mapping[str, Any] | None = None,
        agent_id: int | None = None,
        agent_name: str | None = None,
        mid: str | None = None,
        messaging_type: str | None = None,
        tag: str | None = None,
        sent_at: datetime | None = None,
    ) -> Message: ...

    async def insert_transfer_line(self, transfer: Transfer, attention_id: int, now: datetime) -> Message | None:
        """The system line a transfer leaves in the conversation (None: nothing to say)."""
        ...

    async def get(self, message_id: int) -> Message | None: ...

    async def many(self, message_ids: Iterable[int]) -> dict[int, Message]: ...

    async def page(self, attention_id: int, before_id: int | None, limit: int) -> list[Message]:
        """Up to ``limit`` of the attention's messages older than ``before_id``, latest first."""
        ...

    async def unread_counts(self, attention_ids: Iterable[int]) -> dict[int, int]:
        """Customer messages after each attention's read marker (absent: none)."""
        ...

    async def mark_sending(self, message_id: int, send_token: str, now: datetime) -> bool: ...

    async def mark_sent(self, message_id: int, mid: str, sent_at: datetime, now: datetime) -> bool: ...

    async def mark_failed(self, message_id: int, code: int | None, subcode: int | None, error: str, now: datetime) -> bool: ...

    async def mark_pending(self, message_id: int, messaging_type: str, tag: str | None, now: datetime) -> bool: ...

    async def advance_status(
        self,
        channel: Channel,
        status: MessageStatus,
        at: datetime,
        now: datetime,
        *,
        mids: Iterable[str] = (),
        account_id: str | None = None,
        customer_id: str | None = None,
        watermark: datetime | None = None,
    ) -> list[Message]:
        """Sent, delivered, read: only forward. The messages that changed."""
        ...

    async def stale_outbound(self, stale_before: datetime, limit: int) -> list[Message]: ...

    async def claim_stale(
        self,
        message_id: int,
        stale_before: datetime,
        note: str,
        now: datetime,
        *,
        messaging_type: str | None = None,
        tag: str | None = None,
    ) -> bool: ...

    async def claim_uncertain(self, message_id: int, stale_before: datetime, reason: str, now: datetime) -> bool: ...


class AuditRecords(Protocol):
    async def record(
        self,
        attention_id: int,
        actor: Actor,
        action: str,
        at: datetime,
        from_state: AttentionState | None = None,
        to_state: AttentionState | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None: ...

    async def trail(self, attention_id: int) -> list[AttentionEvent]:
        """The attention's audit trail, oldest first."""
        ...


class CustomerRecords(Protocol):
    async def upsert(
        self,
        channel: Channel,
        account_id: str,
        customer_id: str,
        now: datetime,
        name: str | None = None,
        picture_url: str | None = None,
    ) -> None: ...

    async def get(self, channel: Channel, account_id: str, customer_id: str) -> Customer | None: ...

    async def of_attentions(self, attention_ids: Iterable[int]) -> dict[CustomerKey, Customer]: ...


class CampaignRecords(Protocol):
    async def sync(self, book: CampaignBook, now: datetime) -> None:
        """Keep a snapshot of the campaigns (names outlive a campaign's removal)."""
        ...

    async def names(self) -> dict[str, str]: ...


class HistoryRecords(Protocol):
    async def write(self, ended: Attention, campaign_name: str | None) -> None:
        """The ended attention's searchable document."""
        ...

    async def get(self, attention_id: int) -> HistoryEntry | None: ...

    async def search_page(
        self,
        where: HistoryFilter,
        *,
        label_ids_matching: Iterable[int] = (),
        attention_id_asked: int | None = None,
        before_id: int | None = None,
        limit: int = 20,
    ) -> list[HistoryEntry]:
        """Newest first, older than ``before_id``."""
        ...


class ResumeRecords(Protocol):
    async def add(self, attention: Attention, now: datetime) -> None:
        """The bot's turn still owed to the customer of a terminated attention."""
        ...


class LabelRecords(Protocol):
    async def insert(self, name: str, colour: str, now: datetime) -> int: ...

    async def get(self, label_id: int) -> Label | None: ...

    async def all_labels(self, include_retired: bool = False) -> list[Label]: ...

    async def update(self, label_id: int, values: dict) -> bool: ...

    async def apply(self, attention_id: int, label_id: int, agent_id: int | None, now: datetime) -> bool: ...

    async def remove(self, attention_id: int, label_id: int) -> bool: ...


class AgentRecords(Protocol):
    async def insert(
        self,
        username: str,
        display_name: str,
        role: Role,
        campaigns: Iterable[str],
        now: datetime,
        password_hash: str | None = None,
    ) -> int: ...

    async def get(self, agent_id: int) -> Agent | None: ...

    async def by_username(self, username: str) -> Agent | None: ...

    async def credentials(
        self, *, agent_id: int | None = None, username: str | None = None
    ) -> tuple[Agent, str | None] | None: ...

    async def all_agents(self) -> list[Agent]: ...

    async def names(self, agent_ids: Iterable[int]) -> dict[int, str]: ...

    async def set_campaigns(self, agent_id: int, campaigns: Iterable[str]) -> None: ...

    async def set_active(self, agent_id: int, active: bool) -> None: ...

    async def set_display_name(self, agent_id: int, display_name: str) -> None: ...

    async def set_password_hash(self, agent_id: int, password_hash: str | None) -> None: ...

    async def seen(self, agent_id: int, at: datetime) -> None: ...

    async def left(self, agent_id: int, at: datetime) -> None: ...

    async def presences(self, agent_ids: Iterable[int]) -> dict[int, AgentPresence]: ...


class Records(Protocol):
    """One unit of work: every record set, on one transaction (or one reading connection)."""

    @property
    def attentions(self) -> AttentionRecords: ...
    @property
    def messages(self) -> MessageRecords: ...
    @property
    def audit(self) -> AuditRecords: ...
    @property
    def customers(self) -> CustomerRecords: ...
    @property
    def campaigns(self) -> CampaignRecords: ...
    @property
    def history(self) -> HistoryRecords: ...
    @property
    def resumes(self) -> ResumeRecords: ...
    @property
    def labels(self) -> LabelRecords: ...
    @property
    def agents(self) -> AgentRecords: ...


class Storage(Protocol):
    def write(self) -> AbstractAsyncContextManager[Records]:
        """One transaction: it commits when the block ends, and rolls back when it raises."""
        ...

    def read(self) -> AbstractAsyncContextManager[Records]:
        """Reads only (no transaction is held open for writing)."""
        ...

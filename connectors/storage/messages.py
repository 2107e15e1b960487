"""Message rows: inbound events, the outbox of agent messages, and their statuses."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from connectors.storage._sql import RowsOn
from connectors.storage.attentions import AttentionRows
from connectors.storage.rows import message_from_row, transfer_json
from connectors.storage.schema import OUTBOX_SQL, UtcDateTime, agent, attention, message
from handoff.model import STATUS_RANK, Author, Channel, Message, MessageDirection, MessageKind, MessageStatus, Transfer


class _Row:
    def __init__(self, **columns: Any) -> None:
        self.__dict__.update(columns)


def with_author() -> sa.sql.Select:
    """Messages as agents read them: each with the name of the agent who wrote it."""
    return sa.select(message, agent.c.display_name.label("agent_name")).select_from(
        message.outerjoin(agent, agent.c.id == message.c.agent_id)
    )


def _ranks_below(status: MessageStatus) -> list[str]:
    return [other.value for other, rank in STATUS_RANK.items() if rank < STATUS_RANK[status]]


_STATUS_TIME = {MessageStatus.SENT: "sent_at", MessageStatus.DELIVERED: "delivered_at", MessageStatus.READ: "read_at"}


def stale_outbound_query(stale_before: datetime, limit: int) -> sa.sql.Select:
    return (
        sa.select(message)
        .where(
            # Written as in the partial index ix_message_outbox, so the planner can use it.
            sa.text(OUTBOX_SQL),
            message.c.updated_at < stale_before,
        )
        .order_by(message.c.updated_at)
        .limit(limit)
    )


class MessageRows(RowsOn):
    """The message rows of one unit of work (``handoff.records.MessageRecords``)."""

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
    ) -> Message:
        values = dict(
            attention_id=attention_id,
            direction=MessageDirection(direction).value,
            author=Author(author).value,
            kind=MessageKind(kind).value,
            status=MessageStatus(status).value,
            text=text,
            payload=dict(payload or {}),
            agent_id=agent_id,
            mid=mid,
            messaging_type=messaging_type,
            tag=tag,
            created_at=now,
            updated_at=now,
            sent_at=sent_at,
        )
        result = await self._connection.execute(message.insert().values(**values))
        # Built from what we wrote: the hot path does not read the row back.
        return message_from_row(
            _Row(
                id=result.inserted_primary_key[0],
                error_code=None,
                error_subcode=None,
                error_message=None,
                delivered_at=None,
                read_at=None,
                agent_name=agent_name,
                **values,
            )
        )

    async def get(self, message_id: int) -> Message | None:
        row = (await self._connection.execute(with_author().where(message.c.id == message_id))).first()
        return message_from_row(row) if row else None

    async def many(self, message_ids: Iterable[int]) -> dict[int, Message]:
        ids = list(message_ids)
        if not ids:
            return {}
        rows = (await self._connection.execute(with_author().where(message.c.id.in_(ids)))).all()
        return {row.id: message_from_row(row) for row in rows}

    async def unread_counts(self, attention_ids: Iterable[int]) -> dict[int, int]:
        ids = list(attention_ids)
        if not ids:
            return {}
        query = (
            sa.select(message.c.attention_id, sa.func.count().label("unread"))
            .join(attention, attention.c.id == message.c.attention_id)
            .where(
                message.c.attention_id.in_(ids),
                message.c.direction == MessageDirection.IN.value,
                message.c.id > sa.func.coalesce(attention.c.read_up_to_message_id, 0),
            )
            .group_by(message.c.attention_id)
        )
        return {row.attention_id: row.unread for row in (await self._connection.execute(query)).all()}

    async def page(self, attention_id: int, before_id: int | None, limit: int) -> list[Message]:
        """Up to ``limit`` messages of the attention older than ``before_id``, latest first."""
        query = with_author().where(message.c.attention_id == attention_id)
        if before_id is not None:
            query = query.where(message.c.id < before_id)
        rows = (await self._connection.execute(query.order_by(message.c.id.desc()).limit(limit))).all()
        return [message_from_row(row) for row in rows]

    async def mark_sent(self, message_id: int, mid: str, sent_at: datetime, now: datetime) -> bool:
        """Meta accepted it. Conditional: an echo or a delivery may have been faster."""
        result = await self._connection.execute(
            sa.update(message)
            .where(message.c.id == message_id, message.c.status.in_(_ranks_below(MessageStatus.SENT)))
            .values(
                status=MessageStatus.SENT.value,
                mid=mid,
                sent_at=sent_at,
                updated_at=now,
                error_code=None,
                error_subcode=None,
                error_message=None,
            )
        )
        if result.rowcount == 0:  # already further along: keep the status, make sure the mid is there
            await self._connection.execute(
                sa.update(message).where(message.c.id == message_id, message.c.mid.is_(None)).values(mid=mid, updated_at=now)
            )
        return result.rowcount == 1

    async def mark_failed(self, message_id: int, code: int | None, subcode: int | None, error: str, now: datetime) -> bool:
        result = await self._connection.execute(
            sa.update(message)
            .where(message.c.id == message_id, message.c.status == MessageStatus.PENDING.value)
            .values(
                status=MessageStatus.FAILED.value,
                error_code=code,
                error_subcode=subcode,
                error_message=error[:2000],
                updated_at=now,
            )
        )
        return result.rowcount == 1

    async def mark_pending(self, message_id: int, messaging_type: str, tag: str | None, now: datetime) -> bool:
        """A failed message, or one not known to have reached Meta, goes out again (the
        agent's retry): pending, not handed to Meta yet."""
        result = await self._connection.execute(
            sa.update(message)
            .where(message.c.id == message_id, message.c.status.in_([MessageStatus.FAILED.value, MessageStatus.UNKNOWN.value]))
            .values(status=MessageStatus.PENDING.value, messaging_type=messaging_type, tag=tag, updated_at=now, send_token=None)
        )
        return result.rowcount == 1

    async def mark_sending(self, message_id: int, send_token: str, now: datetime) -> bool:
        """Committed just before the Send API call: from now on Meta may have the message,
        and only the echo carrying ``send_token`` can say. False when it is not pending."""
        result = await self._connection.execute(
            sa.update(message)
            .where(message.c.id == message_id, message.c.status == MessageStatus.PENDING.value)
            .values(send_token=send_token, updated_at=now)
        )
        return result.rowcount == 1

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
        """Move outbound messages forward to ``status`` (never back); the ones that moved.

        Found by ``mids``, or by a ``watermark``: every outbound message to the customer sent
        up to that time (Messenger's read and delivery events).
        """
        status = MessageStatus(status)
        lower = _ranks_below(status)
        query = (
            sa.select(message.c.id)
            .join(attention, attention.c.id == message.c.attention_id)
            .where(
                message.c.direction == MessageDirection.OUT.value,
                message.c.status.in_(lower),
                attention.c.channel == Channel(channel).value,
            )
        )
        mids = [mid for mid in mids if mid]
        if mids:
            query = query.where(message.c.mid.in_(mids))
        elif watermark is not None and account_id is not None and customer_id is not None:
            query = query.where(
                attention.c.account_id == account_id,
                attention.c.customer_id == customer_id,
                message.c.sent_at.is_not(None),
                message.c.sent_at <= watermark,
            )
        else:
            return []
        ids = [row.id for row in (await self._connection.execute(query)).all()]
        if not ids:
            return []
        values: dict[str, Any] = {"status": status.value, "updated_at": now}
        for reached, column in _STATUS_TIME.items():
            if STATUS_RANK[reached] <= STATUS_RANK[status]:
                values[column] = sa.func.coalesce(message.c[column], sa.literal(at, UtcDateTime()))
        await self._connection.execute(
            sa.update(message).where(message.c.id.in_(ids), message.c.status.in_(lower)).values(**values)
        )
        rows = (await self._connection.execute(with_author().where(message.c.id.in_(ids)).order_by(message.c.id))).all()
        return [message_from_row(row) for row in rows if row.status == status.value]

    async def stale_outbound(self, stale_before: datetime, limit: int) -> list[Message]:
        """Outbound messages still pending that nothing has touched since ``stale_before``,
        oldest first: sends a dead process left behind (the outbox)."""
        rows = (await self._connection.execute(stale_outbound_query(stale_before, limit))).all()
        return [message_from_row(row) for row in rows]

    async def claim_stale(
        self,
        message_id: int,
        stale_before: datetime,
        note: str,
        now: datetime,
        *,
        messaging_type: str | None = None,
        tag: str | None = None,
    ) -> bool:
        """Take a stale pending message for recovery; False when another process (or a late
        echo, or the live send) touched it first.

        The refreshed ``updated_at`` is the claim: a second sweeper's identical UPDATE no longer
        matches (PostgreSQL re-checks the WHERE on the row it waited for; SQLite has one
        writer at a time), so exactly one of them wins. ``note`` stays on the pending row and
        tells the next sweep that this message has been resent once already. A resend is
        made as Meta's window allows now (``messaging_type``, ``tag``), not as it did then.
        Only a message never handed to Meta (no ``send_token``) is claimed here; one that may
        have reached Meta is :func:`claim_uncertain`'s.
        """
        values: dict[str, Any] = {"updated_at": now, "error_message": note}
        if messaging_type is not None:
            values.update(messaging_type=messaging_type, tag=tag)
        return await self._claim_pending(message_id, stale_before, message.c.send_token.is_(None), values)

    async def claim_uncertain(self, message_id: int, stale_before: datetime, reason: str, now: datetime) -> bool:
        """A stale pending message that was handed to Meta (``send_token`` set) and whose echo
        never came: ``unknown``, with ``reason``. Never sent again by the sweep; conditional
        like :func:`claim_stale`, so one process wins and a late echo or answer goes first."""
        values = {"status": MessageStatus.UNKNOWN.value, "error_message": reason[:2000], "updated_at": now}
        return await self._claim_pending(message_id, stale_before, message.c.send_token.is_not(None), values)

    async def _claim_pending(self, message_id: int, stale_before: datetime, handed: Any, values: dict[str, Any]) -> bool:
        """The one conditional UPDATE both claims are: still pending, stale, and handed to Meta
        or not as ``handed`` says; one process wins."""
        result = await self._connection.execute(
            sa.update(message)
            .where(
                message.c.id == message_id,
                message.c.direction == MessageDirection.OUT.value,
                message.c.status == MessageStatus.PENDING.value,
                handed,
                message.c.updated_at < stale_before,
            )
            .values(**values)
        )
        return result.rowcount == 1

    async def insert_transfer_line(self, transfer: Transfer, attention_id: int, now: datetime) -> Message | None:
        """The system line of ``transfer`` in the conversation (never sent to Meta), as the
        attention's latest message; None when the attention ended meanwhile."""
        line = await self.insert(
            attention_id=attention_id,
            direction=MessageDirection.INTERNAL,
            author=Author.SYSTEM,
            kind=MessageKind.TRANSFER,
            status=MessageStatus.RECEIVED,
            now=now,
            text=transfer.note,
            payload=transfer_json(transfer),
        )
        return line if await AttentionRows(self._connection).note_message(attention_id, line.id, now) is not None else None

"""Attention rows: create (one active per customer), read, and conditional state changes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from connectors.storage._sql import RowsOn, runs_returning
from connectors.storage.rows import attention_from_row, label_from_row, transfer_json
from connectors.storage.schema import UtcDateTime, attention, attention_event, attention_label, customer, label, message
from connectors.storage.visibility import attention_where
from handoff.model import Attention, Channel, Direction, Transfer
from handoff.records import ANY, ActiveRef, Loads, OpenLoad, QueueLoad
from handoff.states import ACTIVE_STATES, AttentionState
from handoff.visibility import Scope

_ACTIVE = [state.value for state in ACTIVE_STATES]


def _customer_is(channel: Channel | str, account_id: str, customer_id: str) -> sa.sql.ColumnElement:
    return sa.and_(
        attention.c.channel == Channel(channel).value,
        attention.c.account_id == account_id,
        attention.c.customer_id == customer_id,
    )


def _active() -> sa.sql.ColumnElement:
    # Literal values, like the partial unique index's predicate: with bound parameters
    # SQLite cannot prove the query implies the index's WHERE and would not use it.
    return attention.c.state.in_([sa.literal_column(f"'{state}'") for state in _ACTIVE])


def active_for_desk(
    campaign_ids: Iterable[str] | None,
    agent_id: int | None,
    *,
    channel: Channel | str | None = None,
    include_queued: bool = True,
) -> sa.sql.Select:
    """Queued attentions of ``campaign_ids`` (None: all) plus the open ones of ``agent_id``
    (None: all open): the desk's left pane, of one ``channel`` if given (``include_queued``
    False: the open ones only, as while searching). Queued first, newest first inside each
    group."""
    queued = attention.c.state == AttentionState.QUEUED.value
    if campaign_ids is not None:
        queued = sa.and_(queued, attention.c.campaign_id.in_(list(campaign_ids)))
    opened = attention.c.state == AttentionState.OPEN.value
    if agent_id is not None:
        opened = sa.and_(opened, attention.c.agent_id == agent_id)
    queued_first = sa.case((attention.c.state == AttentionState.QUEUED.value, 0), else_=1)
    query = sa.select(attention).where(sa.or_(queued, opened) if include_queued else opened)
    if channel is not None:
        query = query.where(attention.c.channel == Channel(channel).value)
    return query.order_by(queued_first, attention.c.created_at.desc(), attention.c.id.desc())


def _as_time(value: Any) -> datetime | None:
    """A time out of an aggregate: SQLite returns its text form."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _matching(term: str) -> sa.sql.ColumnElement:
    """Attentions that match a desk search: ``#12`` or ``12`` (the attention id), the
    customer's id, or a piece of the customer's name, a label's name or a message's text
    (case-insensitive; on SQLite only ASCII letters fold case)."""
    needle = term.lower()
    conditions = [
        attention.c.customer_id == term,
        sa.exists().where(
            customer.c.channel == attention.c.channel,
            customer.c.account_id == attention.c.account_id,
            customer.c.customer_id == attention.c.customer_id,
            sa.func.lower(customer.c.name).contains(needle, autoescape=True),
        ),
        sa.exists().where(
            attention_label.c.attention_id == attention.c.id,
            label.c.id == attention_label.c.label_id,
            sa.func.lower(label.c.name).contains(needle, autoescape=True),
        ),
        sa.exists().where(
            message.c.attention_id == attention.c.id,
            sa.func.lower(message.c.text).contains(needle, autoescape=True),
        ),
    ]
    number = term.lstrip("#")
    if number.isdigit() and len(number) < 18:
        conditions.append(attention.c.id == int(number))
    return sa.or_(*conditions)


def _note_message(window: bool, returning: bool = True) -> sa.TextClause:
    """``UPDATE attention … RETURNING`` as text: SQLAlchemy 1.4 compiles no RETURNING for
    SQLite, though SQLite (3.35+) and PostgreSQL both run it. Built once, so every message
    runs the same cached statement."""
    moves = "last_message_id = :message_id, updated_at = :now"
    if window:
        moves += (
            ", last_customer_message_at = CASE WHEN last_customer_message_at IS NULL"
            " OR last_customer_message_at < :at THEN :at ELSE last_customer_message_at END"
        )
    active = ", ".join(f"'{state}'" for state in _ACTIVE)
    sql = f"UPDATE {attention.name} SET {moves} WHERE id = :id AND state IN ({active})"
    if returning:
        sql += " RETURNING id, campaign_id, agent_id, state"
    times = [sa.bindparam(name, type_=UtcDateTime()) for name in ("now", "at") if window or name == "now"]
    return sa.text(sql).bindparams(*times)


_NOTE_MESSAGE = _note_message(window=False)
_NOTE_CUSTOMER_MESSAGE = _note_message(window=True)
# SQLite before 3.35: the same update, then the attention read in the same transaction.
_NOTE_MESSAGE_ONLY = _note_message(window=False, returning=False)
_NOTE_CUSTOMER_MESSAGE_ONLY = _note_message(window=True, returning=False)


class AttentionRows(RowsOn):
    """The attention rows of one unit of work (``handoff.records.AttentionRecords``)."""

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
        """Insert an attention; IntegrityError when the customer already has an active one."""
        result = await self._connection.execute(
            attention.insert().values(
                channel=Channel(channel).value,
                account_id=account_id,
                customer_id=customer_id,
                campaign_id=campaign_id,
                state=AttentionState(state).value,
                direction=Direction(direction).value,
                agent_id=agent_id,
                intent=intent,
                form=dict(form),
                context=list(context),
                created_at=now,
                updated_at=now,
                opened_at=now if agent_id is not None else None,
                assigned_at=now if agent_id is not None else None,
                last_customer_message_at=last_customer_message_at,
                reason=reason,
                bot_values=dict(bot_values or {}),
            )
        )
        return result.inserted_primary_key[0]

    async def get(self, attention_id: int) -> Attention | None:
        row = (await self._connection.execute(sa.select(attention).where(attention.c.id == attention_id))).first()
        if row is None:
            return None
        labels = await self.labels_of([attention_id])
        return attention_from_row(row, labels.get(attention_id, ()))

    async def get_many(self, query: sa.sql.Select) -> list[Attention]:
        """Attentions selected by ``query`` (a select of the attention table), with their labels."""
        rows = (await self._connection.execute(query)).all()
        labels = await self.labels_of([row.id for row in rows])
        return [attention_from_row(row, labels.get(row.id, ())) for row in rows]

    async def many(self, attention_ids: Iterable[int]) -> list[Attention]:
        ids = list(attention_ids)
        return await self.get_many(sa.select(attention).where(attention.c.id.in_(ids))) if ids else []

    async def held_by(self, agent_id: int) -> list[Attention]:
        return await self.get_many(active_for_desk(None, agent_id, include_queued=False))

    async def desk_list(
        self,
        visible: Scope,
        *,
        agent_id: int | None,
        channel: Channel | str | None = None,
        include_queued: bool = True,
        search: str | None = None,
    ) -> list[Attention]:
        query = active_for_desk(None, agent_id, channel=channel, include_queued=include_queued).where(attention_where(visible))
        if search:
            query = query.where(_matching(search))
        return await self.get_many(query)

    async def labels_of(self, attention_ids: Iterable[int]) -> dict[int, list]:
        ids = list(attention_ids)
        if not ids:
            return {}
        query = (
            sa.select(attention_label.c.attention_id, label)
            .join(label, label.c.id == attention_label.c.label_id)
            .where(attention_label.c.attention_id.in_(ids))
            .order_by(attention_label.c.attention_id, label.c.name)
        )
        found: dict[int, list] = {}
        for row in (await self._connection.execute(query)).all():
            found.setdefault(row.attention_id, []).append(label_from_row(row))
        return found

    async def active_ref(self, channel: Channel | str, account_id: str, customer_id: str) -> ActiveRef | None:
        query = sa.select(attention.c.id, attention.c.campaign_id, attention.c.agent_id, attention.c.state).where(
            _customer_is(channel, account_id, customer_id), _active()
        )
        row = (await self._connection.execute(query)).first()
        if row is None:
            return None
        return ActiveRef(row.id, row.campaign_id, row.agent_id, AttentionState(row.state))

    async def last_customer_message_at(self, channel: Channel | str, account_id: str, customer_id: str) -> datetime | None:
        """The customer's last message in any of their attentions (Meta's windows are per
        conversation, not per attention)."""
        query = sa.select(sa.func.max(attention.c.last_customer_message_at)).where(_customer_is(channel, account_id, customer_id))
        value = (await self._connection.execute(query)).scalar()
        return value  # func.max keeps the column's type: an aware UTC datetime, or None

    async def active_for_customer(self, channel: Channel | str, account_id: str, customer_id: str) -> Attention | None:
        found = await self.get_many(sa.select(attention).where(_customer_is(channel, account_id, customer_id), _active()))
        return found[0] if found else None

    async def compare_and_set(
        self,
        attention_id: int,
        *,
        expected_state: AttentionState,
        expected_agent_id: int | None = ANY,
        expected_campaign_id: str = ANY,
        values: Mapping[str, Any],
    ) -> bool:
        """Change the row only if it still is as the caller saw it; False when it is not.

        This is how every state change is made: ``UPDATE ... WHERE id = :id AND state = :seen``
        is atomic on both databases, so two agents can never both win.
        """
        conditions = [attention.c.id == attention_id, attention.c.state == AttentionState(expected_state).value]
        if expected_agent_id is not ANY:
            conditions.append(
                attention.c.agent_id.is_(None) if expected_agent_id is None else attention.c.agent_id == expected_agent_id
            )
        if expected_campaign_id is not ANY:
            conditions.append(attention.c.campaign_id == expected_campaign_id)
        stored = {key: transfer_json(value) if isinstance(value, Transfer) else value for key, value in values.items()}
        result = await self._connection.execute(sa.update(attention).where(*conditions).values(**stored))
        return result.rowcount == 1

    async def note_message(
        self, attention_id: int, message_id: int, now: datetime, customer_message_at: datetime | None = None
    ) -> ActiveRef | None:
        """Remember the attention's latest message and, for a customer message, restart the
        24 h window (never moving it back when webhooks arrive out of order); the attention
        as it is after the update. None, changing nothing, when it is no longer active: the
        caller rolls its message back."""
        # Checked in the UPDATE, not by an earlier SELECT: the update waits for a terminate in
        # flight (SQLite's write lock, PostgreSQL's row lock) and then sees its outcome; its
        # RETURNING names the owner as of that moment, with no second statement.
        window = customer_message_at is not None
        parameters = {"id": attention_id, "message_id": message_id, "now": now, "at": customer_message_at}
        if not runs_returning(self._connection.dialect.name):
            changed = await self._connection.execute(_NOTE_CUSTOMER_MESSAGE_ONLY if window else _NOTE_MESSAGE_ONLY, parameters)
            if changed.rowcount != 1:
                return None
            query = sa.select(attention.c.id, attention.c.campaign_id, attention.c.agent_id, attention.c.state)
            row = (await self._connection.execute(query.where(attention.c.id == attention_id))).first()
        else:
            row = (await self._connection.execute(_NOTE_CUSTOMER_MESSAGE if window else _NOTE_MESSAGE, parameters)).first()
        return None if row is None else ActiveRef(row.id, row.campaign_id, row.agent_id, AttentionState(row.state))

    async def active_loads(self) -> Loads:
        """Queued attentions per campaign (with since when the longest-waiting one is in the
        queue: its last move into it) and open ones per campaign and agent."""
        since = (
            sa.select(sa.func.max(attention_event.c.at))
            .where(attention_event.c.attention_id == attention.c.id, attention_event.c.to_state == AttentionState.QUEUED.value)
            .scalar_subquery()
        )
        queued_since = (
            sa.select(attention.c.campaign_id, sa.func.coalesce(since, attention.c.created_at).label("since"))
            .where(attention.c.state == AttentionState.QUEUED.value)
            .subquery()
        )
        queued_rows = (
            await self._connection.execute(
                sa.select(
                    queued_since.c.campaign_id, sa.func.count().label("count"), sa.func.min(queued_since.c.since).label("oldest")
                ).group_by(queued_since.c.campaign_id)
            )
        ).all()
        open_rows = (
            await self._connection.execute(
                sa.select(attention.c.campaign_id, attention.c.agent_id, sa.func.count().label("count"))
                .where(attention.c.state == AttentionState.OPEN.value, attention.c.agent_id.is_not(None))
                .group_by(attention.c.campaign_id, attention.c.agent_id)
            )
        ).all()
        return Loads(
            queued=[
                QueueLoad(
                    row.campaign_id, row.count, UtcDateTime().process_result_value(_as_time(row.oldest), self._connection.dialect)
                )
                for row in queued_rows
            ],
            open=[OpenLoad(row.campaign_id, row.agent_id, row.count) for row in open_rows],
        )

    async def open_with_owner(self) -> list[Attention]:
        """Every open attention (the orphan sweep filters them by their owners' presence)."""
        return await self.get_many(sa.select(attention).where(attention.c.state == AttentionState.OPEN.value))

    async def mark_read(self, attention_id: int, up_to_message_id: int) -> None:
        """Move the agent's read marker forward (never back)."""
        column = attention.c.read_up_to_message_id
        await self._connection.execute(
            sa.update(attention)
            .where(attention.c.id == attention_id, sa.or_(column.is_(None), column < up_to_message_id))
            .values(read_up_to_message_id=up_to_message_id)
        )

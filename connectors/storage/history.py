"""History rows: the searchable document of each terminated attention, and the search.

The document is written in the terminate transaction (``write``), so an attention is in
history, searchable, the moment it ends. Searching is done by the database's full-text
index (SQLite FTS5 ``history_fts``; PostgreSQL ``history.search`` tsvector with a GIN
index), never by scanning messages; see ``handoff.search`` for what a word is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa

from connectors.storage._sql import RowsOn
from connectors.storage.schema import attention_label, customer, history, message
from connectors.storage.visibility import history_branches
from handoff import search
from handoff.model import Attention
from handoff.records import HistoryEntry, HistoryFilter

_fts = sa.table("history_fts", sa.column("rowid", sa.Integer()))


def _row(row) -> HistoryEntry:
    return HistoryEntry(row.id, row.attention_id, row.campaign_id, row.agent_id, row.ended_at)


def _keyword_condition(
    dialect: str, pairs: list[tuple[str, bool]], label_ids: Sequence[int], attention_id: int | None
) -> sa.sql.ColumnElement:
    if dialect == "postgresql":
        text_match = sa.text("history.search @@ to_tsquery('simple', :history_tsquery)").bindparams(
            history_tsquery=search.tsquery(pairs)
        )
    else:
        text_match = history.c.id.in_(
            sa.select(_fts.c.rowid).where(
                sa.text("history_fts MATCH :history_match").bindparams(history_match=search.fts5_query(pairs))
            )
        )
    conditions = [text_match] if pairs else []
    if label_ids:
        conditions.append(
            history.c.attention_id.in_(
                sa.select(attention_label.c.attention_id).where(attention_label.c.label_id.in_(list(label_ids)))
            )
        )
    if attention_id is not None:
        conditions.append(history.c.attention_id == attention_id)
    return sa.or_(*conditions) if conditions else sa.false()


def _id_bounds(dates: list[sa.sql.ColumnElement]) -> sa.sql.Select:
    """The lowest and highest history id inside a date range (exact whatever the end order).
    Without a range, PostgreSQL and SQLite read both ends of the primary key; with one, the
    ended_at index gives the range (``id + 0`` stops PostgreSQL from walking the primary
    key until it meets the range instead)."""
    if not dates:
        return sa.select(sa.func.min(history.c.id), sa.func.max(history.c.id))
    return sa.select(sa.func.min(history.c.id + 0), sa.func.max(history.c.id + 0)).where(*dates)


# How many of the newest history rows PostgreSQL checks one by one before it asks the GIN
# index for every match instead.
RECENT_WINDOW = 2_000


class HistoryRows(RowsOn):
    """x"""

    async def write(self, ended: Attention, campaign_name: str | None) -> None:
        """Put a just-terminated attention in history (call inside the terminate transaction)."""
        who = (
            await self._connection.execute(
                sa.select(customer.c.name).where(
                    customer.c.channel == ended.channel.value,
                    customer.c.account_id == ended.account_id,
                    customer.c.customer_id == ended.customer_id,
                )
            )
        ).first()
        texts = (
            (await self._connection.execute(sa.select(message.c.text).where(message.c.attention_id == ended.id))).scalars().all()
        )
        ended_at = ended.terminated_at or ended.updated_at
        await self._connection.execute(
            history.insert().values(
                attention_id=ended.id,
                channel=ended.channel.value,
                direction=ended.direction.value,
                campaign_id=ended.campaign_id,
                agent_id=ended.agent_id,
                ended_at=ended_at,
                document=search.history_document(
                    customer_name=who.name if who else None,
                    customer_id=ended.customer_id,
                    campaign_name=campaign_name,
                    message_texts=texts,
                    context=ended.context,
                    form=dict(ended.form),
                    ended_at=ended_at,
                ),
            )
        )

    async def get(self, attention_id: int) -> HistoryEntry | None:
        row = (await self._connection.execute(sa.select(history).where(history.c.attention_id == attention_id))).first()
        return _row(row) if row else None

    async def search_page(
        self,
        where: HistoryFilter,
        *,
        label_ids_matching: Iterable[int] = (),
        attention_id_asked: int | None = None,
        before_id: int | None = None,
        limit: int = 20,
    ) -> list[HistoryEntry]:
        """Up to ``limit`` history rows, newest first (by end order), older than ``before_id``.

        A keyword matches a document by word prefixes (every word of the keyword), or an
        attention carrying one of ``label_ids_matching`` (labels whose name matches it), or
        the attention ``attention_id_asked`` (``#181``).

        On SQLite, a keyword that only the text index can satisfy is answered by walking
        ``history_fts`` in descending rowid order and stopping after ``limit`` hits that pass
        the other filters: the cost is that of the page, not of every match.
        """
        dialect = self._connection.dialect.name
        pairs = search.query_terms(where.keyword) if where.keyword else []
        label_ids = list(label_ids_matching)
        conditions: list[sa.sql.ColumnElement] = []
        dates: list[sa.sql.ColumnElement] = []
        if where.ended_from is not None:
            dates.append(history.c.ended_at >= where.ended_from)
        if where.ended_before is not None:
            dates.append(history.c.ended_at < where.ended_before)
        conditions.extend(dates)
        if where.campaign_id is not None:
            conditions.append(history.c.campaign_id == where.campaign_id)
        if where.agent_id is not None:
            conditions.append(history.c.agent_id == where.agent_id)
        if where.channel is not None:
            conditions.append(history.c.channel == where.channel)
        if where.direction is not None:
            conditions.append(history.c.direction == where.direction)
        if where.label_id is not None:
            conditions.append(
                sa.exists().where(
                    attention_label.c.attention_id == history.c.attention_id, attention_label.c.label_id == where.label_id
                )
            )
        # Who may see what: one branch per visible campaign, and one for the agent's own.
        branches = history_branches(where.visible) if where.visible is not None else None
        if branches is not None and not branches:
            return []

        keyword_given = bool(where.keyword and where.keyword.strip())
        if keyword_given and dialect == "sqlite" and pairs and not label_ids and attention_id_asked is None:
            # The FTS index drives: matches come in descending rowid (= end) order.
            # The FTS index drives: matches come in descending rowid (= end) order; a date range
            # becomes the exact range of history ids inside it, which FTS5 skips to directly.
            match = sa.text("history_fts MATCH :history_match").bindparams(history_match=search.fts5_query(pairs))
            query = (
                sa.select(history)
                .select_from(_fts.join(history, history.c.id == _fts.c.rowid))
                .where(match, *conditions)
                .order_by(_fts.c.rowid.desc())
                .limit(limit)
            )
            if branches is not None:
                query = query.where(sa.or_(*branches))
            if dates:
                low, high = (await self._connection.execute(_id_bounds(dates))).one()
                if low is None:
                    return []
                query = query.where(_fts.c.rowid >= low, _fts.c.rowid <= high)
            if before_id is not None:
                query = query.where(_fts.c.rowid < before_id)
        elif keyword_given and dialect == "postgresql":
            return await self._postgres_keyword_page(
                _keyword_condition(dialect, pairs, label_ids, attention_id_asked),
                conditions,
                dates,
                branches,
                before_id,
                limit,
            )
        else:
            if keyword_given:
                conditions.append(_keyword_condition(dialect, pairs, label_ids, attention_id_asked))
            if before_id is not None:
                conditions.append(history.c.id < before_id)
            if branches is None:
                query = sa.select(history).where(*conditions).order_by(history.c.id.desc()).limit(limit)
            else:
                # Each branch walks its own index newest first and stops at ``limit``; the page
                # is the newest ``limit`` of their union (an OR would sort every visible row).
                parts = [
                    sa.select(history.c.id).where(branch, *conditions).order_by(history.c.id.desc()).limit(limit).subquery()
                    for branch in branches
                ]
                ids = sa.union_all(*[sa.select(part.c.id) for part in parts]).subquery()
                query = sa.select(history).where(history.c.id.in_(sa.select(ids.c.id))).order_by(history.c.id.desc()).limit(limit)
        return [_row(row) for row in (await self._connection.execute(query)).all()]

    async def _postgres_keyword_page(
        self,
        match: sa.sql.ColumnElement,
        conditions: list[sa.sql.ColumnElement],
        dates: list[sa.sql.ColumnElement],
        branches: list[sa.sql.ColumnElement] | None,
        before_id: int | None,
        limit: int,
    ) -> list[HistoryEntry]:
        """A keyword page on PostgreSQL, in two steps whose cost does not depend on the
        planner's guess of how common the words are (its estimates for prefix queries are
        poor, and a wrong guess either walks every row or sorts every match):

        1. the newest ``RECENT_WINDOW`` ids (below the cursor, inside the date range) are
           checked newest first: a common word fills the page here;
        2. otherwise the GIN index gives every match older than that window (few, since the
           word is rare there), and the newest of them complete the page.
        """
        low, high = (await self._connection.execute(_id_bounds(dates))).one()
        if high is None:
            return []
        if before_id is not None:
            high = min(high, before_id - 1)
        if high < low:
            return []
        filters = [*conditions, match]
        if branches is not None:
            filters.append(sa.or_(*branches))
        floor = max(high - RECENT_WINDOW, low - 1)
        recent = (
            sa.select(history)
            .where(history.c.id <= high, history.c.id > floor, *filters)
            .order_by(history.c.id.desc())
            .limit(limit)
        )
        found = [_row(row) for row in (await self._connection.execute(recent)).all()]
        if len(found) >= limit or floor < low:  # a full page, or the whole range was checked
            return found
        # ``id + 0``: no index on the id range, so the text index is the way in (the planner
        # would otherwise walk the id range and test every row).
        unindexed_id = history.c.id + 0
        matches = (
            sa.select(history.c.id)
            .where(unindexed_id <= floor, unindexed_id >= low, *filters)
            .cte("matches")
            .prefix_with("MATERIALIZED")
        )
        older = (
            sa.select(history)
            .where(history.c.id.in_(sa.select(matches.c.id).order_by(matches.c.id.desc()).limit(limit - len(found))))
            .order_by(history.c.id.desc())
        )
        return found + [_row(row) for row in (await self._connection.execute(older)).all()]

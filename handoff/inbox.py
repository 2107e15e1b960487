"""The durable webhook inbox: items are stored before Meta gets its 200.

A redelivered item (same channel and dedup key) is dropped at insert, so it can never
cause a second turn; items still pending after a crash are replayed at start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.schema import inbox_item

PENDING = "pending"
HANDLED = "handled"
FAILED = "failed"


@dataclass(frozen=True)
class WebhookItem:
    """One messaging item of a webhook delivery, as a connector hands it in."""

    channel: str
    dedup_key: str
    conversation: str
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class StoredItem:
    """An item the inbox holds, with the id that orders it."""

    id: int
    channel: str
    conversation: str
    payload: Mapping[str, Any]


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Inbox:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        dialect = engine.dialect.name
        self._insert = postgresql.insert if dialect == "postgresql" else sqlite.insert

    async def accept(self, items: Iterable[WebhookItem]) -> list[StoredItem]:
        """Store the items in one transaction; returns only those not seen before."""
        accepted: list[StoredItem] = []
        received_at = _now()
        async with self._engine.begin() as connection:
            for item in items:
                statement = (
                    self._insert(inbox_item)
                    .values(
                        channel=item.channel,
                        dedup_key=item.dedup_key[:255],
                        conversation=item.conversation,
                        payload=dict(item.payload),
                        state=PENDING,
                        received_at=received_at,
                    )
                    .on_conflict_do_nothing(index_elements=["channel", "dedup_key"])
                )
                result = await connection.execute(statement)
                if result.rowcount == 1 and result.inserted_primary_key:
                    accepted.append(
                        StoredItem(
                            id=result.inserted_primary_key[0],
                            channel=item.channel,
                            conversation=item.conversation,
                            payload=item.payload,
                        )
                    )
        return accepted

    async def pending(self, limit: int = 1000, after_id: int = 0) -> list[StoredItem]:
        """Items not handled yet, oldest first (the replay after a crash)."""
        query = (
            sa.select(inbox_item.c.id, inbox_item.c.channel, inbox_item.c.conversation, inbox_item.c.payload)
            .where(inbox_item.c.state == PENDING, inbox_item.c.id > after_id)
            .order_by(inbox_item.c.id)
            .limit(limit)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [StoredItem(id=row.id, channel=row.channel, conversation=row.conversation, payload=row.payload) for row in rows]

    async def mark_handled(self, item_id: int) -> None:
        await self._finish(item_id, HANDLED, None)

    async def mark_failed(self, item_id: int, error: str) -> None:
        """Keep the item and why it failed, so an operator can look and replay it."""
        await self._finish(item_id, FAILED, error[:2000])

    async def _finish(self, item_id: int, state: str, error: str | None) -> None:
        statement = (
            sa.update(inbox_item)
            .where(inbox_item.c.id == item_id)
            .values(state=state, error=error, handled_at=_now(), attempts=inbox_item.c.attempts + 1)
        )
        async with self._engine.begin() as connection:
            await connection.execute(statement)

    async def state_of(self, channel: str, dedup_key: str) -> str | None:
        query = sa.select(inbox_item.c.state).where(
            inbox_item.c.channel == channel, inbox_item.c.dedup_key == dedup_key
        )
        async with self._engine.connect() as connection:
            return (await connection.execute(query)).scalar_one_or_none()

"""The campaign snapshot table, written from data/campaigns.yml at start."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from connectors.storage._sql import RowsOn, upsert_insert
from connectors.storage.schema import campaign
from handoff.campaigns.model import CampaignBook


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: _plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {getattr(key, "value", key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if hasattr(value, "total_seconds"):
        return value.total_seconds()
    return getattr(value, "value", value)


class CampaignRows(RowsOn):
    """The campaigns snapshot of one unit of work (``handoff.records.CampaignRecords``)."""

    async def sync(self, book: CampaignBook, now: datetime) -> None:
        """Write every campaign of ``book``; mark the ones no longer in it as retired (kept for history)."""
        for item in book.campaigns.values():
            statement = upsert_insert(self._connection, campaign).values(
                id=item.id, name=item.name, definition=_plain(item), retired=False, updated_at=now
            )
            statement = statement.on_conflict_do_update(
                index_elements=["id"],
                set_={
                    "name": statement.excluded.name,
                    "definition": statement.excluded.definition,
                    "retired": False,
                    "updated_at": statement.excluded.updated_at,
                },
            )
            await self._connection.execute(statement)
        await self._connection.execute(
            sa.update(campaign)
            .where(campaign.c.id.not_in(list(book.campaigns)), campaign.c.retired.is_(False))
            .values(retired=True, updated_at=now)
        )

    async def names(self) -> dict[str, str]:
        rows = (await self._connection.execute(sa.select(campaign.c.id, campaign.c.name))).all()
        return {row.id: row.name for row in rows}

"""Labels (created by supervisors) and which attentions carry them."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from connectors.storage._sql import RowsOn, upsert_insert
from connectors.storage.rows import label_from_row
from connectors.storage.schema import attention_label, label
from handoff.model import Label


class LabelRows(RowsOn):
    """The label rows of one unit of work (``handoff.records.LabelRecords``)."""

    async def insert(self, name: str, colour: str, now: datetime) -> int:
        result = await self._connection.execute(label.insert().values(name=name, colour=colour, retired=False, created_at=now))
        return result.inserted_primary_key[0]

    async def get(self, label_id: int) -> Label | None:
        row = (await self._connection.execute(sa.select(label).where(label.c.id == label_id))).first()
        return label_from_row(row) if row else None

    async def all_labels(self, include_retired: bool = False) -> list[Label]:
        query = sa.select(label).order_by(label.c.name)
        if not include_retired:
            query = query.where(label.c.retired.is_(False))
        return [label_from_row(row) for row in (await self._connection.execute(query)).all()]

    async def update(self, label_id: int, values: dict) -> bool:
        if not values:
            return (await self.get(label_id)) is not None
        result = await self._connection.execute(sa.update(label).where(label.c.id == label_id).values(**values))
        return result.rowcount == 1

    async def apply(self, attention_id: int, label_id: int, agent_id: int | None, now: datetime) -> bool:
        """Put the label on the attention; False when it already was there."""
        statement = (
            upsert_insert(self._connection, attention_label)
            .values(attention_id=attention_id, label_id=label_id, applied_by=agent_id, applied_at=now)
            .on_conflict_do_nothing(index_elements=["attention_id", "label_id"])
        )
        return (await self._connection.execute(statement)).rowcount == 1

    async def remove(self, attention_id: int, label_id: int) -> bool:
        result = await self._connection.execute(
            sa.delete(attention_label).where(
                attention_label.c.attention_id == attention_id, attention_label.c.label_id == label_id
            )
        )
        return result.rowcount == 1

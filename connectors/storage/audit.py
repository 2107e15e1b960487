"""The audit trail: one row per thing done to an attention (who, what, when, from, to).

History detail and the metrics (waiting time, first response, handling time) read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from connectors.storage._sql import RowsOn
from connectors.storage.rows import audit_from_row
from connectors.storage.schema import attention_event
from handoff.model import Actor, AttentionEvent
from handoff.states import AttentionState


class AuditRows(RowsOn):
    """The audit trail of one unit of work (``handoff.records.AuditRecords``)."""

    async def record(
        self,
        attention_id: int,
        actor: Actor,
        action: str,
        at: datetime,
        from_state: AttentionState | None = None,
        to_state: AttentionState | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        await self._connection.execute(
            attention_event.insert().values(
                attention_id=attention_id,
                actor_kind=actor.kind.value,
                actor_agent_id=actor.agent_id,
                action=action,
                from_state=from_state.value if from_state else None,
                to_state=to_state.value if to_state else None,
                detail=dict(detail or {}),
                at=at,
            )
        )

    async def trail(self, attention_id: int) -> list[AttentionEvent]:
        query = sa.select(attention_event).where(attention_event.c.attention_id == attention_id).order_by(attention_event.c.id)
        return [audit_from_row(row) for row in (await self._connection.execute(query)).all()]

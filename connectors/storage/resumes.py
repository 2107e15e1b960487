"""Conversation-resume rows: the bot's to-do "take this customer back" after a terminate.

Written in the terminate's transaction (``add``); a process takes one with a conditional
UPDATE (``claim``), so of several sharing the database exactly one runs a given resume,
and a row once ``resumed_at`` is set is never claimed again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from connectors.storage._sql import RowsOn
from connectors.storage.schema import conversation_resume as resume
from handoff.model import Attention, Channel


@dataclass(frozen=True)
class PendingResume:
    attention_id: int
    attempts: int
    claimed_until: datetime | None


def _claimable(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(resume.c.resumed_at.is_(None), sa.or_(resume.c.claimed_until.is_(None), resume.c.claimed_until <= now))


class ResumeRows(RowsOn):
    """The resume rows of one unit of work (``handoff.records.ResumeRecords``)."""

    async def add(self, attention: Attention, now: datetime) -> None:
        await self._connection.execute(
            sa.insert(resume).values(
                attention_id=attention.id,
                channel=attention.channel.value,
                account_id=attention.account_id,
                customer_id=attention.customer_id,
                created_at=now,
                due_at=now,
                attempts=0,
            )
        )

    async def claim(self, attention_id: int, now: datetime, until: datetime) -> int | None:
        """Take the resume until ``until``: its attempt number, or None when it is done or
        another process holds it. Checked in the UPDATE itself, not by an earlier SELECT."""
        result = await self._connection.execute(
            sa.update(resume)
            .where(resume.c.attention_id == attention_id, _claimable(now))
            .values(claimed_until=until, attempts=resume.c.attempts + 1)
        )
        if result.rowcount != 1:
            return None
        return (
            await self._connection.execute(sa.select(resume.c.attempts).where(resume.c.attention_id == attention_id))
        ).scalar_one()

    async def done(self, attention_id: int, now: datetime) -> None:
        await self._connection.execute(
            sa.update(resume)
            .where(resume.c.attention_id == attention_id, resume.c.resumed_at.is_(None))
            .values(resumed_at=now, claimed_until=None, last_error=None)
        )

    async def retry_at(self, attention_id: int, due_at: datetime, error: str | None) -> None:
        """Give the claim back; the next try comes at ``due_at`` (any process may take it)."""
        await self._connection.execute(
            sa.update(resume)
            .where(resume.c.attention_id == attention_id, resume.c.resumed_at.is_(None))
            .values(claimed_until=None, due_at=due_at, last_error=error)
        )

    async def due(self, now: datetime, limit: int = 50) -> list[int]:
        """Pending resumes whose time has come and that nobody holds, oldest first."""
        rows = await self._connection.execute(
            sa.select(resume.c.attention_id)
            .where(_claimable(now), resume.c.due_at <= now)
            .order_by(resume.c.due_at, resume.c.attention_id)
            .limit(limit)
        )
        return [row.attention_id for row in rows]

    async def pending_for_customer(self, channel: Channel | str, account_id: str, customer_id: str) -> list[PendingResume]:
        channel_value = channel.value if isinstance(channel, Channel) else channel
        rows = await self._connection.execute(
            sa.select(resume.c.attention_id, resume.c.attempts, resume.c.claimed_until)
            .where(
                resume.c.channel == channel_value,
                resume.c.account_id == account_id,
                resume.c.customer_id == customer_id,
                resume.c.resumed_at.is_(None),
            )
            .order_by(resume.c.attention_id)
        )
        return [PendingResume(row.attention_id, row.attempts, row.claimed_until) for row in rows]

    async def state_of(self, attention_id: int) -> sa.Row | None:
        """The whole row (tests, the desk's operators)."""
        return (await self._connection.execute(sa.select(resume).where(resume.c.attention_id == attention_id))).first()

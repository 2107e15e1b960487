"""The bot's replies, recorded so that a crash never makes one go to the customer twice.

Meta's Send API has no idempotency key: a reply whose call reached Meta is out, whatever
happens to the process afterwards. So every reply of a bot turn is written down in an
order that leaves a replay nothing to guess:

1. ``sending``: a row with the reply's ``token`` (the ``metadata`` string Meta echoes
   back with the message), the inbox item whose turn produced it, its place in that
   turn and a digest of the message, **committed before** the Send API call;
2. the call;
3. ``sent`` with Meta's ``mid``, committed right after Meta's answer (``failed`` with
   Meta's error when it refused; an ambiguous failure, a timeout, stays ``sending``).

A crash between 1 and 3 leaves ``sending`` without a mid: Meta may or may not have the
reply. The echo of every message the Page sends carries the token, and it moves the row
to ``sent`` with the mid whenever it arrives (:meth:`ReplyJournal.sent`: from the
inbox's replay, or from Meta's redelivery once the server is back). A row still
``sending`` after the outbox's stale threshold (``HANDOFF_OUTBOX_STALE_SECONDS``) becomes
``unknown``: not known whether Meta got it. An echo arriving later still makes it
``sent``. Nothing here ever sends a recorded reply again: a replay of its inbox item
finds the rows (:meth:`ReplyJournal.of_item`) and skips every reply the interrupted run
had already handed to Meta, whatever its state (``connectors.meta.output``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.storage.schema import REPLY_SENDING_SQL, outbound_reply
from handoff.clock import as_utc, utc_now

SENDING = "sending"  # committed before the call: Meta may have it
SENT = "sent"  # Meta's answer or its echo: Meta has it (mid)
UNKNOWN = "unknown"  # a crash cut the send short and no echo came in time
FAILED = "failed"  # Meta refused it (error)

UNKNOWN_REASON = "the server stopped while sending this reply and no echo came; not known whether Meta got it"
# A row in one of these may still turn out sent (its echo); ``failed`` too: a timeout
# retried into a refusal may have reached Meta on an earlier attempt.
_NOT_SENT = (SENDING, UNKNOWN, FAILED)


@dataclass(frozen=True)
class ReplyRecord:
    id: int
    seq: int
    token: str
    digest: str
    state: str
    mid: str | None


def digest_of(message: Mapping[str, Any]) -> str:
    """SHA-256 of a Send API ``message`` (without its metadata): a replayed turn's reply
    is the recorded one only when it is the same message."""
    content = {key: value for key, value in message.items() if key != "metadata"}
    return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


class ReplyJournal:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def sending(
        self, channel: str, recipient_id: str, inbox_item_id: int | None, seq: int, token: str, digest: str
    ) -> None:
        """Step 1: committed when this returns; only then may the reply be sent."""
        now = utc_now()
        async with self._engine.begin() as connection:
            await connection.execute(
                outbound_reply.insert().values(
                    channel=channel,
                    recipient_id=recipient_id[:64],
                    inbox_item_id=inbox_item_id,
                    seq=seq,
                    token=token,
                    digest=digest,
                    state=SENDING,
                    created_at=now,
                    updated_at=now,
                )
            )

    async def failed(self, token: str, error: str) -> None:
        """Meta refused the reply."""
        async with self._engine.begin() as connection:
            await connection.execute(
                sa.update(outbound_reply)
                .where(outbound_reply.c.token == token, outbound_reply.c.state == SENDING)
                .values(state=FAILED, error=error[:2000], updated_at=utc_now())
            )

    async def sent(self, token: str, mid: str | None) -> bool:
        """Step 3, or the echo of one of our sends (which may come first, or after a crash):
        the reply is at Meta, whatever the row said. True when this moved the row."""
        now = utc_now()
        async with self._engine.begin() as connection:
            moved = await connection.execute(
                sa.update(outbound_reply)
                .where(outbound_reply.c.token == token, outbound_reply.c.state.in_(_NOT_SENT))
                .values(state=SENT, mid=mid or None, error=None, updated_at=now)
            )
            if moved.rowcount == 0 and mid:  # sent already: make sure the mid is there
                await connection.execute(
                    sa.update(outbound_reply)
                    .where(outbound_reply.c.token == token, outbound_reply.c.mid.is_(None))
                    .values(mid=mid, updated_at=now)
                )
        return moved.rowcount == 1

    async def of_item(self, inbox_item_id: int) -> list[ReplyRecord]:
        """The replies a turn for this inbox item handed to Meta (or was about to), in order."""
        query = (
            sa.select(
                outbound_reply.c.id,
                outbound_reply.c.seq,
                outbound_reply.c.token,
                outbound_reply.c.digest,
                outbound_reply.c.state,
                outbound_reply.c.mid,
            )
            .where(outbound_reply.c.inbox_item_id == inbox_item_id)
            .order_by(outbound_reply.c.seq)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [ReplyRecord(row.id, row.seq, row.token, row.digest, row.state, row.mid) for row in rows]

    async def settle_stale(self, stale_before: datetime, now: datetime | None = None) -> list[int]:
        """Replies left ``sending`` since before ``stale_before`` (a dead process's): now
        ``unknown``. Never resent. Returns their ids."""
        now = as_utc(now) if now else utc_now()
        stale = as_utc(stale_before)
        query = (
            sa.select(outbound_reply.c.id)
            .where(sa.text(REPLY_SENDING_SQL), outbound_reply.c.updated_at < stale)
            .order_by(outbound_reply.c.updated_at)
            .limit(500)
        )
        async with self._engine.begin() as connection:
            ids = [row.id for row in (await connection.execute(query)).all()]
            if ids:
                await connection.execute(
                    sa.update(outbound_reply)
                    .where(outbound_reply.c.id.in_(ids), outbound_reply.c.state == SENDING, outbound_reply.c.updated_at < stale)
                    .values(state=UNKNOWN, error=UNKNOWN_REASON, updated_at=now)
                )
        return ids

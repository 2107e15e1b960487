"""Part 5's profile: which statements of a history search take the time, and their plans.

Every statement the product's engine sends is timed from SQLAlchemy's
``before_cursor_execute`` to ``after_cursor_execute`` (the database's work and the
round trip to it: aiosqlite's thread, or PostgreSQL over loopback), with its text and
parameters so that the costliest one can be explained (``EXPLAIN QUERY PLAN`` on SQLite,
``EXPLAIN (ANALYZE, BUFFERS)`` on PostgreSQL). What a search spends outside its
statements is Python: SQLAlchemy building statements and rows, the records, the event
loop, and fetching results back from aiosqlite's thread.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

# The statements that ask the full-text index (connectors.storage.history.search_page); the
# others load the page's attentions, customers, labels, agents and campaign names.
FTS_PAGE = "text index page (FTS5 MATCH, newest first)"
FTS_MATCHING = "history rows matching (FTS5 or a label)"
RECENT_WINDOW = "recent window: newest ids checked one by one"
GIN_OLDER = "GIN: matches older than the window"
ID_BOUNDS = "id bounds of history"
INDEX_STATEMENTS = frozenset({FTS_PAGE, FTS_MATCHING, RECENT_WINDOW, GIN_OLDER, ID_BOUNDS})


@dataclass(frozen=True)
class Statement:
    text: str
    parameters: Any
    seconds: float

    @property
    def what(self) -> str:
        return what(self.text)


def what(statement: str) -> str:
    """A short name for a statement of a history search."""
    text = " ".join(statement.split())
    if "history_fts MATCH" in text:
        return FTS_PAGE if "ORDER BY history_fts.rowid" in text else FTS_MATCHING
    if "to_tsquery" in text:
        return GIN_OLDER if "MATERIALIZED" in text else RECENT_WINDOW
    if re.search(r"min\(history\.id", text):
        return ID_BOUNDS
    found = re.search(r"\bFROM (\w+)", text)
    return f"rows of {found.group(1)}" if found else text[:60]


class StatementClock:
    """Records every statement ``engine`` sends while it is entered."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine.sync_engine
        self.statements: list[Statement] = []

    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:
        started = conn.info["bench_started"].pop()
        self.statements.append(Statement(statement, parameters, time.perf_counter() - started))

    def __enter__(self) -> StatementClock:
        event.listen(self._engine, "before_cursor_execute", self._before)
        event.listen(self._engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *_: Any) -> None:
        event.remove(self._engine, "before_cursor_execute", self._before)
        event.remove(self._engine, "after_cursor_execute", self._after)


def by_kind(statements: list[Statement]) -> tuple[tuple[str, float], ...]:
    """Seconds per kind of statement, for one search."""
    spent: dict[str, float] = {}
    for statement in statements:
        spent[statement.what] = spent.get(statement.what, 0.0) + statement.seconds
    return tuple(spent.items())


async def plan(engine: AsyncEngine, statement: Statement) -> str:
    """The database's plan of ``statement`` with its own parameters."""
    async with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            rows = (await connection.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement.text, statement.parameters)).all()
            return "\n".join(row[0] for row in rows)
        rows = (await connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement.text, statement.parameters)).all()
    depth: dict[int, int] = {0: -1}
    lines = []
    for node, parent, _, detail in rows:
        depth[node] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node] + detail)
    return "\n".join(lines)

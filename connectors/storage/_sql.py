"""Small helpers shared by the store modules."""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


def upsert_insert(connection: AsyncConnection, table: Any) -> Any:
    """The dialect's INSERT that knows ``ON CONFLICT`` (PostgreSQL and SQLite both do)."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def runs_returning(dialect_name: str) -> bool:
    """Whether the database runs ``… RETURNING``: PostgreSQL always, SQLite from 3.35 (the
    stdlib's sqlite3 library, which aiosqlite uses, may be older on an old system)."""
    return dialect_name != "sqlite" or sqlite3.sqlite_version_info >= (3, 35, 0)


def is_unique_violation(error: Exception) -> bool:
    """Whether an IntegrityError comes from a unique index (not a foreign key or NOT NULL)."""
    text = str(getattr(error, "orig", error)).lower()
    return "unique" in text or "duplicate key" in text


class RowsOn:
    """The base of every row class: its statements run on one connection, the unit of work's."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

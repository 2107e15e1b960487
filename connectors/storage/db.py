"""The handoff database: one async engine per process, SQLite by default, PostgreSQL to scale.

The same SQLAlchemy Core code runs on both; the URL decides. Migrations (Alembic) are
applied at start, so an operator never runs a schema step by hand.
"""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from connectors.log_hygiene import install_log_hygiene
from handoff.records import StorageBusy

DATABASE_URL_VARIABLE = "HANDOFF_DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///var/handoff.db"
MIGRATIONS_DIRECTORY = Path(__file__).parent / "migrations"

# How long a SQLite writer waits for the write lock before giving up. Writers queue
# behind each other (SQLite has one writer at a time); a few seconds absorbs bursts.
SQLITE_BUSY_TIMEOUT_MS = 10_000

# A database briefly unreachable, locked or out of pooled connections: the same
# transaction succeeds a moment later, and the failed one rolled back. Integrity and
# programming errors are not in here.
DRIVER_TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError,
    sa_exc.TimeoutError,
    sa_exc.DisconnectionError,
    ConnectionError,
)
# What a caller of the domain (which says StorageBusy, ``handoff.records``) or of the
# engine directly (the inbox, the leases) may see of them.
TRANSIENT_STORAGE_ERRORS: tuple[type[BaseException], ...] = (*DRIVER_TRANSIENT_ERRORS, StorageBusy)


def configured_database_url() -> str:
    """The database URL from the environment, or the embedded SQLite default."""
    return os.environ.get(DATABASE_URL_VARIABLE) or DEFAULT_DATABASE_URL


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def create_engine(url: str | None = None) -> AsyncEngine:
    """An async engine for ``url`` (default: the configured one), tuned for its backend.

    Statement parameters are the customers' messages and form values and the agents'
    password hashes: they stay out of SQLAlchemy's INFO log and out of the text of its
    exceptions, which our error logs print (``hide_parameters``)."""
    install_log_hygiene()  # SQLAlchemy's and aiosqlite's own records of rows and parameters
    parsed = make_url(url or configured_database_url())
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(parsed, pool_size=10, max_overflow=20, pool_pre_ping=True, hide_parameters=True)

    database = parsed.database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    # aiosqlite defaults to NullPool for files: a new connection (and thread) per
    # checkout. A small pool keeps connections warm for the webhook hot path.
    engine = create_async_engine(
        parsed,
        poolclass=AsyncAdaptedQueuePool,
        pool_size=5,
        max_overflow=5,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        hide_parameters=True,
    )
    event.listen(engine.sync_engine, "connect", _tune_sqlite_connection)
    return engine


def _tune_sqlite_connection(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers work while one writer commits; NORMAL sync is durable across
    # process crashes (the guarantee we give), only a power cut can lose the last commit.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIRECTORY))
    return config


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision (idempotent, safe at every start)."""
    config = _alembic_config()

    def upgrade(connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    async with engine.begin() as connection:
        await connection.run_sync(upgrade)


async def open_database(url: str | None = None) -> AsyncEngine:
    """An engine with the schema migrated: what every server process starts with."""
    engine = create_engine(url)
    await migrate(engine)
    return engine


_SHARED_ENGINE_ATTRIBUTE = "handoff_engine"


async def shared_engine(holder: object) -> AsyncEngine:
    """The one engine of a server process, kept on ``holder`` (the Sanic app's ``ctx``):
    every channel and the desk share it instead of opening pools of their own."""
    engine = getattr(holder, _SHARED_ENGINE_ATTRIBUTE, None)
    if engine is None:
        # Listeners run one after another on one loop, so no lock is needed here.
        engine = await open_database()
        setattr(holder, _SHARED_ENGINE_ATTRIBUTE, engine)
    return engine


async def close_shared_engine(holder: object) -> None:
    engine = getattr(holder, _SHARED_ENGINE_ATTRIBUTE, None)
    if engine is not None:
        delattr(holder, _SHARED_ENGINE_ATTRIBUTE)
        await engine.dispose()

"""Part 5's databases: the product's schema, filled in bulk with generated history.

A ``HistoryStore`` is one database (a SQLite file, or a fresh PostgreSQL schema from
``bench.stores``) opened as the product opens it (``connectors.storage.db.create_engine`` and its
migrations, ``HandoffService``), with agents and labels created through the service.
Conversations (``bench.history_corpus``) go in one transaction per batch, into the
tables and columns of ``connectors.storage.schema``, on the driver connection of that transaction:
``executemany`` on SQLite (values converted as SQLAlchemy stores them, checked at start),
``COPY`` (asyncpg's ``copy_records_to_table``) on PostgreSQL.

The history rows are the product's: the first conversation of every batch is put in
history by ``connectors.storage.history.write`` (what *Terminar atención* runs in its
transaction); the others get the document the corpus built with the same product function
from the same values, inserted in end order so ids grow as the product's do. The search
indexes are the migrations' (FTS5 table kept by triggers; generated tsvector + GIN), so
every row is indexed exactly as in production. ``verify`` checks both claims.
"""

from __future__ import annotations

import asyncio
import functools
import json
import random
import shutil
import time
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bench import stores
from bench.history_corpus import Conversation, Staff
from connectors.storage.schema import UtcDateTime, attention, attention_label, customer, history, message
from handoff.model import Agent, Role
from handoff.records import HistoryFilter

SOPORTE_AGENTS = ["Andrea", "Bruno", "Cecilia", "Dario", "Elena", "Fabio", "Gala", "Hugo"]
VENTAS_AGENTS = ["Irene", "Jorge", "Karen", "Lorenzo", "Marina"]
LABELS = [
    ("VIP", "#d4a017"),
    ("Reclamo formal", "#c0392b"),
    ("Seguimiento", "#2980b9"),
    ("Mayorista", "#27ae60"),
    ("Prensa", "#8e44ad"),
    ("Fraude", "#7f8c8d"),
]
POSTGRES_TABLES = ("customer", "attention", "message", "attention_label", "history")


@dataclass
class FillTimes:
    """Seconds spent loading into one database (the corpus is generated once for both)."""

    load: float = 0.0
    settle: float = 0.0  # PostgreSQL: VACUUM ANALYZE after each step, what autovacuum would do


@dataclass
class HistoryStore:
    backend: str  # "SQLite" or "PostgreSQL"
    engine: AsyncEngine
    service: Any  # handoff.service.HandoffService
    supervisor: Agent
    agents: list[Agent]
    label_ids: list[int]
    times: FillTimes = field(default_factory=FillTimes)
    product_written: list[int] = field(default_factory=list)  # attention ids put in history by the product

    @property
    def postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def viewer(self, campaign_id: str) -> Agent:
        return next(agent for agent in self.agents if list(agent.campaigns) == [campaign_id])

    async def load(self, batch: Sequence[Conversation]) -> None:
        """One batch in one transaction; the first conversation goes to history through the product."""
        started = time.perf_counter()
        rows = _Rows(batch)
        insert = _copy if self.postgres else _executemany
        async with self.engine.begin() as connection:
            for table, values in rows.before_history():
                if values:
                    await insert(connection, table, values)
            if self.postgres:
                # Attention ids are given (messages refer to them): move the sequence past them.
                await connection.execute(
                    sa.text("SELECT setval(pg_get_serial_sequence('attention', 'id'), (SELECT max(id) FROM attention))")
                )
            await self._product_history(connection, batch[0])
            if rows.history:
                await insert(connection, history, rows.history)
        self.product_written.append(batch[0].attention["id"])
        self.times.load += time.perf_counter() - started

    async def _product_history(self, connection: AsyncConnection, conversation: Conversation) -> None:
        from connectors.storage.attentions import AttentionRows
        from connectors.storage.history import HistoryRows

        ended = await AttentionRows(connection).get(conversation.attention["id"])
        assert ended is not None
        name = self.service.campaign(ended.campaign_id).name
        await HistoryRows(connection).write(ended, name)

    async def settle(self) -> None:
        """After a growth step. PostgreSQL: what autovacuum does after bulk writes (statistics
        for the planner; the GIN index's pending list merged). SQLite: nothing runs by itself."""
        if not self.postgres:
            return
        started = time.perf_counter()
        async with self.engine.connect() as connection:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            for table in POSTGRES_TABLES:
                await connection.exec_driver_sql(f"VACUUM ANALYZE {table}")
        self.times.settle += time.perf_counter() - started

    async def size_bytes(self) -> int:
        if self.postgres:
            async with self.engine.connect() as connection:
                return int(
                    (
                        await connection.execute(
                            sa.text(
                                "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                                "WHERE n.nspname = current_schema() AND c.relkind = 'r'"
                            )
                        )
                    ).scalar()
                    or 0
                )
        database = Path(self.engine.url.database or "")
        return sum(path.stat().st_size for path in (database, Path(f"{database}-wal")) if path.exists())

    async def close(self) -> None:
        await self.engine.dispose()


class _Rows:
    """A batch as rows per table, in the order foreign keys need."""

    def __init__(self, batch: Sequence[Conversation]) -> None:
        self.customers = [c.customer for c in batch if c.customer is not None]
        self.attentions = [c.attention for c in batch]
        self.messages = [m for c in batch for m in c.messages]
        self.labels = [
            {
                "attention_id": c.attention["id"],
                "label_id": label_id,
                "applied_by": c.attention["agent_id"],
                "applied_at": c.attention["terminated_at"],
            }
            for c in batch
            for label_id in c.label_ids
        ]
        self.history = [_history_row(c) for c in batch[1:]]

    def before_history(self) -> list[tuple[sa.Table, list[dict[str, Any]]]]:
        return [
            (customer, self.customers),
            (attention, self.attentions),
            (message, self.messages),
            (attention_label, self.labels),
        ]


def _history_row(conversation: Conversation) -> dict[str, Any]:
    """The columns ``connectors.storage.history.write`` inserts, with the document it would build."""
    ended = conversation.attention
    return {
        "attention_id": ended["id"],
        "channel": ended["channel"],
        "direction": ended["direction"],
        "campaign_id": ended["campaign_id"],
        "agent_id": ended["agent_id"],
        "ended_at": ended["terminated_at"],
        "document": conversation.document,
    }


async def _copy(connection: AsyncConnection, table: sa.Table, values: list[dict[str, Any]]) -> None:
    """``COPY table (columns) FROM STDIN`` on the asyncpg connection under this transaction."""
    columns = [column for column in table.columns if column.name in values[0]]
    json_columns = {column.name for column in columns if isinstance(column.type, sa.JSON)}
    records = [
        tuple(json.dumps(row[column.name]) if column.name in json_columns else row[column.name] for column in columns)
        for row in values
    ]
    raw = await connection.get_raw_connection()
    await raw.driver_connection.copy_records_to_table(table.name, records=records, columns=[c.name for c in columns])


async def _executemany(connection: AsyncConnection, table: sa.Table, values: list[dict[str, Any]]) -> None:
    """``INSERT INTO table (columns) VALUES (?, ...)`` for every row, on the sqlite3 connection
    under this transaction, with values converted as SQLAlchemy would store them (checked by
    ``check_sqlite_storage``). SQLAlchemy's own executemany spends twice as long on its
    per-value processing as SQLite on the inserts and the FTS5 index."""
    columns = [column for column in table.columns if column.name in values[0]]
    convert = [_SQLITE_CONVERSIONS.get(type(column.type)) for column in columns]
    records = [
        tuple(row[c.name] if f is None else f(row[c.name]) for c, f in zip(columns, convert, strict=True)) for row in values
    ]
    statement = f"INSERT INTO {table.name} ({', '.join(c.name for c in columns)}) VALUES ({', '.join('?' * len(columns))})"
    raw = await connection.get_raw_connection()
    await raw.driver_connection.executemany(statement, records)


@functools.lru_cache(maxsize=4096)
def _sqlite_time(value: datetime | None) -> str | None:
    # Cached: a message row repeats its time in up to five columns.
    if value is None:
        return None
    return value.astimezone(timezone.utc).replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_json(value: Any) -> str:
    return "{}" if value == {} else json.dumps(value)  # most messages have no payload


_SQLITE_CONVERSIONS: dict[type, Callable[[Any], Any]] = {UtcDateTime: _sqlite_time, sa.JSON: _sqlite_json}


def check_sqlite_storage(dialect: sa.engine.Dialect) -> None:
    """The fast conversions store exactly what SQLAlchemy's bind processors would."""
    samples: dict[type, list[Any]] = {
        UtcDateTime: [
            datetime(2024, 1, 8, 9, 30, 5, tzinfo=timezone.utc),
            datetime(2025, 12, 31, 23, 59, 59, 120, tzinfo=timezone(timedelta(hours=-3))),
        ],
        sa.JSON: [
            {"nombre": "Ñandú Pérez", "productos": ["ropa"], "presupuesto": 120},
            [{"author": "bot", "text": "¿Hola?"}],
            {},
        ],
    }
    for kind, values in samples.items():
        process = kind().dialect_impl(dialect).bind_processor(dialect)
        for value in values:
            if _SQLITE_CONVERSIONS[kind](value) != process(value):
                raise AssertionError(f"bulk insert would store {kind.__name__} {value!r} unlike SQLAlchemy")


async def _service(url: str):
    from connectors.storage.db import create_engine, migrate
    from connectors.storage.records import SqlStorage
    from handoff.campaigns import DEFAULT_CAMPAIGNS_PATH, load_campaigns
    from handoff.service import HandoffService

    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        check_sqlite_storage(engine.dialect)
    await migrate(engine)
    service = HandoffService(SqlStorage(engine), load_campaigns(DEFAULT_CAMPAIGNS_PATH))
    await service.start()
    return engine, service


async def open_store(backend: str, url: str) -> HistoryStore:
    """The product's engine and service on an empty database at ``url`` (migrated), with the desk's people."""
    engine, service = await _service(url)
    supervisor = await service.agents.add("supervisora", "Marta Supervisora", Role.SUPERVISOR, ["soporte", "ventas"])
    agents = [
        await service.agents.add(f"soporte{n}", f"{name} Soporte", Role.AGENT, ["soporte"])
        for n, name in enumerate(SOPORTE_AGENTS)
    ]
    agents += [
        await service.agents.add(f"ventas{n}", f"{name} Ventas", Role.AGENT, ["ventas"]) for n, name in enumerate(VENTAS_AGENTS)
    ]
    labels = [(await service.labels.create(supervisor, name, colour)).id for name, colour in LABELS]
    return HistoryStore(backend, engine, service, supervisor, agents, labels)


async def _reopen_store(backend: str, url: str) -> HistoryStore:
    """A database ``open_store`` made (a copy of one), with its people."""
    engine, service = await _service(url)
    usernames = [f"soporte{n}" for n in range(len(SOPORTE_AGENTS))] + [f"ventas{n}" for n in range(len(VENTAS_AGENTS))]
    supervisor = await service.agents.by_username("supervisora")
    agents = [await service.agents.by_username(username) for username in usernames]
    labels = sorted(label.id for label in await service.labels.all(include_retired=True))
    assert supervisor is not None and all(agents)
    return HistoryStore(backend, engine, service, supervisor, agents, labels)


async def snapshot(store: HistoryStore, stack: AsyncExitStack, work: Path, name: str) -> HistoryStore:
    """A copy of ``store`` as it is now, so that this size can be measured later in the same
    minutes as the larger ones (a busy machine's load changes from one minute to the next).
    SQLite: the file, copied after a checkpoint. PostgreSQL: a fresh schema that
    ``open_store`` prepares (same people, same ids) and the rows copied into it in id order."""
    if store.postgres:
        url = await stack.enter_async_context(stores.postgres_schema())
        copy = await open_store(store.backend, url)
        await _copy_rows(store.engine.url.username, copy.engine.url.username)
    else:
        path = work / f"history-{name}.db"
        async with store.engine.connect() as connection:
            await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        await asyncio.to_thread(shutil.copyfile, str(store.engine.url.database), path)
        copy = await _reopen_store(store.backend, f"sqlite+aiosqlite:///{path}")
    stack.push_async_callback(copy.close)
    if staff_of(copy) != staff_of(store):
        raise RuntimeError(f"{store.backend}: the copy of the {name} database has other agent or label ids")
    copy.times = FillTimes(store.times.load, store.times.settle)
    copy.product_written = list(store.product_written)
    if copy.postgres:
        await copy.settle()
        copy.times.settle = store.times.settle
    return copy


async def _copy_rows(source: str | None, target: str | None) -> None:
    """The history's rows from one bench schema into another (as the superuser of
    ``BENCH_POSTGRES_URL``: each schema's role sees only its own)."""
    admin = create_async_engine(stores.POSTGRES_URL)
    try:
        async with admin.begin() as connection:
            for table in (customer, attention, message, attention_label, history):
                columns = ", ".join(column.name for column in table.columns)
                order = "id" if "id" in table.columns else "attention_id, label_id"
                await connection.exec_driver_sql(
                    f'INSERT INTO "{target}".{table.name} ({columns}) '
                    f'SELECT {columns} FROM "{source}".{table.name} ORDER BY {order}'
                )
                if "id" in table.columns:
                    await connection.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('\"{target}\".{table.name}', 'id'), "
                        f'(SELECT max(id) FROM "{target}".{table.name}))'
                    )
    finally:
        await admin.dispose()


def staff_of(store: HistoryStore) -> Staff:
    agents: dict[str, list[tuple[int, str]]] = {}
    for agent in store.agents:
        for campaign_id in agent.campaigns:
            agents.setdefault(campaign_id, []).append((agent.id, agent.display_name))
    names = {campaign_id: found.name for campaign_id, found in store.service.campaigns.campaigns.items()}
    return Staff(agents, store.label_ids, names)


class Ledger:
    """What was loaded, for the checks: each customer's attentions, and the generated
    document of every attention the product put in history."""

    def __init__(self) -> None:
        self.customers: dict[str, list[int]] = {}
        self.documents: dict[int, str] = {}
        self.product_written: dict[int, Conversation] = {}
        self.messages = 0
        self.attentions = 0

    def note(self, batch: Sequence[Conversation]) -> None:
        for conversation in batch:
            self.customers.setdefault(conversation.attention["customer_id"], []).append(conversation.attention["id"])
            self.messages += len(conversation.messages)
        self.attentions += len(batch)
        self.documents[batch[0].attention["id"]] = batch[0].document
        self.product_written[batch[0].attention["id"]] = batch[0]


@dataclass(frozen=True)
class Verification:
    product_documents: int  # history rows the product wrote
    documents_equal: int  # ... whose terms equal the generated document (so the bulk ones are right)
    rows_equal: int  # ... whose attention and messages read back through the product equal the generated ones
    customers_searched: int
    customers_found: int  # searches by customer id that returned exactly that customer's attentions

    @property
    def ok(self) -> bool:
        return (
            self.documents_equal == self.rows_equal == self.product_documents and self.customers_found == self.customers_searched
        )


async def verify(store: HistoryStore, ledger: Ledger, rng: random.Random, customers: int = 10) -> Verification:
    """The product-written documents equal the generated ones, and the product's search
    finds bulk-written attentions through the index (by customer id, a term of one customer)."""
    ids = list(store.product_written)
    async with store.engine.connect() as connection:
        stored = dict(
            (
                await connection.execute(
                    sa.select(history.c.attention_id, history.c.document).where(history.c.attention_id.in_(ids))
                )
            ).all()
        )
    equal = sum(
        1 for attention_id in ids if set(stored.get(attention_id, "").split()) == set(ledger.documents[attention_id].split())
    )
    rows_equal = 0
    for attention_id in ids:
        rows_equal += await _reads_back(store, ledger.product_written[attention_id])
    sample = rng.sample(sorted(ledger.customers), min(customers, len(ledger.customers)))
    found = 0
    for customer_id in sample:
        page = await store.service.history.search(store.supervisor, HistoryFilter(keyword=customer_id), limit=100)
        found += sorted(item.attention.id for item in page.items) == sorted(ledger.customers[customer_id])
    return Verification(len(ids), equal, rows_equal, len(sample), found)


async def _reads_back(store: HistoryStore, conversation: Conversation) -> bool:
    """The attention and its messages, read through the product's row mapping, are the generated values."""
    from connectors.storage.attentions import AttentionRows
    from connectors.storage.messages import MessageRows

    generated = conversation.attention
    async with store.engine.connect() as connection:
        found = await AttentionRows(connection).get(generated["id"])
        messages = await MessageRows(connection).page(generated["id"], None, 1000)
    if found is None:
        return False
    columns = ("created_at", "opened_at", "terminated_at", "customer_id", "campaign_id", "agent_id")
    same = all(getattr(found, name) == generated[name] for name in columns)
    same = same and dict(found.form) == generated["form"] and list(found.context) == generated["context"]
    stored = [(m.text, m.created_at, m.author.value) for m in reversed(messages)]
    return same and stored == [(m["text"], m["created_at"], m["author"]) for m in conversation.messages]


async def match_count(store: HistoryStore, keyword: str) -> int:
    """How many history documents match ``keyword`` (every word, by prefix): read straight
    from the text index, to check both databases agree and to describe the keyword classes."""
    from handoff import search

    pairs = search.query_terms(keyword)
    async with store.engine.connect() as connection:
        if store.postgres:
            query = sa.text("SELECT count(*) FROM history WHERE search @@ to_tsquery('simple', :q)")
            query = query.bindparams(q=search.tsquery(pairs))
        else:
            query = sa.text("SELECT count(*) FROM history_fts WHERE history_fts MATCH :q").bindparams(q=search.fts5_query(pairs))
        return int((await connection.execute(query)).scalar() or 0)


def describe(verification: Verification | None) -> str:
    if verification is None:
        return "not checked"
    return (
        f"{verification.documents_equal}/{verification.product_documents} product-written documents and "
        f"{verification.rows_equal}/{verification.product_documents} of their attentions read back as generated; "
        f"{verification.customers_found}/{verification.customers_searched} customer searches exact"
    )

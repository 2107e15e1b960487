"""The storage adapter behind the domain's persistence port (``handoff.records``): one
SQLAlchemy connection per unit of work, every record set on it, and the database's own
failures said in the domain's two words (``DuplicateRecord``, ``StorageBusy``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from connectors.storage._sql import is_unique_violation
from connectors.storage.agents import AgentRows
from connectors.storage.attentions import AttentionRows
from connectors.storage.audit import AuditRows
from connectors.storage.campaigns import CampaignRows
from connectors.storage.customers import CustomerRows
from connectors.storage.db import DRIVER_TRANSIENT_ERRORS
from connectors.storage.history import HistoryRows
from connectors.storage.labels import LabelRows
from connectors.storage.messages import MessageRows
from connectors.storage.resumes import ResumeRows
from handoff.records import DuplicateRecord, StorageBusy


class SqlRecords:
    """Every record set on one connection (``handoff.records.Records``)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.attentions = AttentionRows(connection)
        self.messages = MessageRows(connection)
        self.audit = AuditRows(connection)
        self.customers = CustomerRows(connection)
        self.campaigns = CampaignRows(connection)
        self.history = HistoryRows(connection)
        self.resumes = ResumeRows(connection)
        self.labels = LabelRows(connection)
        self.agents = AgentRows(connection)


class SqlStorage:
    """``handoff.records.Storage`` on one engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @asynccontextmanager
    async def write(self) -> AsyncIterator[SqlRecords]:
        async with _in_domain_terms(), self.engine.begin() as connection:
            yield SqlRecords(connection)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[SqlRecords]:
        async with _in_domain_terms(), self.engine.connect() as connection:
            yield SqlRecords(connection)


@asynccontextmanager
async def _in_domain_terms() -> AsyncIterator[None]:
    # Outside the engine's block, so the transaction is already rolled back when the domain
    # hears of it. Only the class name goes into the message: the driver's text may hold a
    # customer's words.
    try:
        yield
    except IntegrityError as error:
        if not is_unique_violation(error):
            raise
        raise DuplicateRecord(type(error.orig).__name__ if error.orig is not None else "IntegrityError") from error
    except DRIVER_TRANSIENT_ERRORS as error:
        raise StorageBusy(type(error).__name__) from error

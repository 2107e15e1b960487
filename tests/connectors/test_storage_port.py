"""The storage adapter behind the domain's port (connectors/storage/records.py), on real
SQLite and PostgreSQL: a unit of work commits whole or not at all, and the database's own
failures reach the domain as the two it decides on."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine

from connectors.storage.db import migrate
from connectors.storage.records import SqlStorage
from connectors.storage.schema import customer as customer_table
from handoff.model import Channel, Direction
from handoff.records import DuplicateRecord, Storage, StorageBusy
from handoff.states import AttentionState

NOW = datetime(2026, 12, 4, 10, 0, tzinfo=timezone.utc)


async def queue_one(storage: Storage, customer_id: str, name: str) -> int:
    async with storage.write() as records:
        await records.customers.upsert(Channel.MESSENGER, "page_1", customer_id, NOW, name)
        return await records.attentions.insert(
            channel=Channel.MESSENGER,
            account_id="page_1",
            customer_id=customer_id,
            campaign_id="soporte",
            direction=Direction.INBOUND,
            state=AttentionState.QUEUED,
            form={},
            context=[],
            now=NOW,
        )


async def test_a_second_active_attention_is_a_duplicate_and_the_whole_unit_rolls_back(engine):
    storage = SqlStorage(engine)
    first = await queue_one(storage, "psid_1", "Rita")
    with pytest.raises(DuplicateRecord) as refused:
        await queue_one(storage, "psid_1", "Rita Renamed")
    assert "Rita" not in str(refused.value)  # the driver's text (parameters, words) stays out
    async with storage.read() as records:
        active = await records.attentions.active_for_customer(Channel.MESSENGER, "page_1", "psid_1")
        who = await records.customers.get(Channel.MESSENGER, "page_1", "psid_1")
    assert active is not None and active.id == first
    # The upsert before the refused insert was in the same transaction: gone with it.
    assert who is not None and who.name == "Rita"


async def test_a_broken_rule_that_is_not_a_unique_one_stays_the_drivers_error(engine):
    storage = SqlStorage(engine)
    attention_id = await queue_one(storage, "psid_2", "Ana")
    with pytest.raises(IntegrityError):
        async with storage.write() as records:
            # No label 999: a foreign key, which is a bug to see, not a decision to take.
            await records.labels.apply(attention_id, 999, None, NOW)


async def test_a_locked_database_is_storage_busy_and_keeps_nothing(tmp_path):
    path = tmp_path / "handoff.db"
    impatient = create_async_engine(f"sqlite+aiosqlite:///{path}", connect_args={"timeout": 0.2})
    await migrate(impatient)
    holder = create_async_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with holder.connect() as locking:
            await locking.exec_driver_sql("BEGIN IMMEDIATE")  # another process holds the write lock
            with pytest.raises(StorageBusy) as busy:
                await queue_one(SqlStorage(impatient), "psid_3", "Luz")
            assert str(busy.value) == "OperationalError"
            await locking.exec_driver_sql("ROLLBACK")
        async with impatient.connect() as connection:
            assert (await connection.execute(sa.select(sa.func.count()).select_from(customer_table))).scalar() == 0
    finally:
        await holder.dispose()
        await impatient.dispose()

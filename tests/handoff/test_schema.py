"""The migrations build exactly the tables of connectors/storage/schema.py, on both databases."""

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from connectors.storage.db import _alembic_config, migrate
from connectors.storage.schema import agent, include_name, include_object, metadata


async def test_migrations_match_the_schema(engine):
    async with engine.connect() as connection:
        differences = await connection.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(
                    sync, opts={"compare_type": True, "include_name": include_name, "include_object": include_object}
                ),
                metadata,
            )
        )
    assert differences == []


async def test_times_come_back_aware_and_in_utc(engine):
    local = datetime(2024, 5, 6, 9, 30, tzinfo=timezone(timedelta(hours=-3)))
    async with engine.begin() as connection:
        await connection.execute(agent.insert().values(username="a", display_name="A", role="agent", created_at=local))
        stored = (await connection.execute(sa.select(agent.c.created_at))).scalar_one()
        later = (
            await connection.execute(sa.select(sa.func.count()).where(agent.c.created_at < local + timedelta(minutes=1)))
        ).scalar_one()
    assert stored == datetime(2024, 5, 6, 12, 30, tzinfo=timezone.utc) and stored.utcoffset() == timedelta(0)
    assert later == 1


async def test_downgrade_to_the_inbox_and_back(engine):
    config = _alembic_config()

    def downgrade(connection) -> None:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001_inbox")

    async with engine.begin() as connection:
        await connection.run_sync(downgrade)
        tables = await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names())
    assert "attention" not in tables and "inbox_item" in tables
    await migrate(engine)
    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names())
    assert {"attention", "message", "attention_event", "agent", "label"} <= set(tables)


async def test_the_outbox_sweep_reads_its_partial_index_not_every_message(engine):
    """The sweep runs every few seconds on every server: a scan of the message table
    would grow with history. SQLite's plan is deterministic enough to check."""
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's planner picks by table statistics; the migration builds the same index there")
    from connectors.storage.messages import stale_outbound_query

    statement = stale_outbound_query(datetime.now(timezone.utc), 100).compile(
        engine.sync_engine, compile_kwargs={"literal_binds": True}
    )
    async with engine.connect() as connection:
        plan = (await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}")).all()
    details = " ".join(str(row[-1]) for row in plan)
    assert "ix_message_outbox" in details, details


async def test_the_embedded_default_keeps_the_database_where_earlier_releases_kept_it(tmp_path, monkeypatch):
    """An operator who upgrades without setting HANDOFF_DATABASE_URL finds their attentions:
    the default file is var/handoff.db under the working directory, as it always was."""
    from connectors.storage.db import DATABASE_URL_VARIABLE, open_database

    monkeypatch.delenv(DATABASE_URL_VARIABLE, raising=False)
    monkeypatch.chdir(tmp_path)
    engine = await open_database()
    try:
        async with engine.connect() as connection:
            assert (await connection.execute(sa.text("select count(*) from agent"))).scalar() == 0
    finally:
        await engine.dispose()
    assert (tmp_path / "var" / "handoff.db").is_file()
    assert [path.name for path in (tmp_path / "var").glob("*.db")] == ["handoff.db"]

"""Alembic environment: migrations run on a connection handed over by ``handoff.db.migrate``."""

from alembic import context

from handoff.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("Run migrations through handoff.db.migrate(), which supplies a connection.")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()

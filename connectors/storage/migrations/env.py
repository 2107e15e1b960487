"""Alembic environment: migrations run on a connection handed over by ``connectors.storage.db.migrate``."""

from alembic import context

from connectors.storage.schema import include_name, include_object, metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("Run migrations through connectors.storage.db.migrate(), which supplies a connection.")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    include_name=include_name,
    include_object=include_object,
)
with context.begin_transaction():
    context.run_migrations()

"""A partial index for the outbox sweep (stale pending agent messages).

Revision ID: 0005_outbox_index
Revises: 0004_inbox_leases
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_outbox_index"
down_revision = "0004_inbox_leases"
branch_labels = None
depends_on = None

OUTBOX_SQL = "status = 'pending' AND direction = 'out'"


def upgrade() -> None:
    op.create_index(
        "ix_message_outbox",
        "message",
        ["updated_at"],
        sqlite_where=sa.text(OUTBOX_SQL),
        postgresql_where=sa.text(OUTBOX_SQL),
    )


def downgrade() -> None:
    op.drop_index("ix_message_outbox", table_name="message")

"""Inbox leases: which server process owns an unfinished inbox item, so that several
processes on one database never replay the same item (see connectors/meta/leases.py).

Revision ID: 0004_inbox_leases
Revises: 0003_history
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_inbox_leases"
down_revision = "0003_history"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, so a plain ADD COLUMN on SQLite too (no table copy): rows stored before
    # this revision have no owner and count as ownerless.
    op.add_column("inbox_item", sa.Column("owner", sa.String(64), nullable=True))
    op.create_table(
        "inbox_lease",
        sa.Column("owner", sa.String(64), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("node", sa.String(128), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("inbox_lease")
    with op.batch_alter_table("inbox_item") as batch:
        batch.drop_column("owner")

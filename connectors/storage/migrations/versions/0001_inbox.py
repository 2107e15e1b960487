"""Durable webhook inbox.

Revision ID: 0001_inbox
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_inbox"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox_item",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("dedup_key", sa.String(255), nullable=False),
        sa.Column("conversation", sa.String(255), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("channel", "dedup_key", name="uq_inbox_item_channel_dedup_key"),
    )
    op.create_index("ix_inbox_item_pending", "inbox_item", ["state", "id"])


def downgrade() -> None:
    op.drop_index("ix_inbox_item_pending", table_name="inbox_item")
    op.drop_table("inbox_item")

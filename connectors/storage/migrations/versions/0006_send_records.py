"""Send-then-record: the metadata of an agent message's send in flight, and the bot's
replies, each recorded before the Send API call (see connectors/meta/replies.py).

Revision ID: 0006_send_records
Revises: 0005_outbox_index
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_send_records"
down_revision = "0005_outbox_index"
branch_labels = None
depends_on = None

REPLY_SENDING_SQL = "state = 'sending'"


def _id_type() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Nullable, so a plain ADD COLUMN on SQLite (no table copy). Messages left pending by
    # a server from before this revision have none and count as never handed to Meta.
    op.add_column("message", sa.Column("send_token", sa.String(128), nullable=True))
    op.create_table(
        "outbound_reply",
        sa.Column("id", _id_type(), primary_key=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("recipient_id", sa.String(64), nullable=False),
        sa.Column("inbox_item_id", _id_type(), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(128), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("mid", sa.String(255), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("token", name="uq_outbound_reply_token"),
    )
    op.create_index("ix_outbound_reply_item", "outbound_reply", ["inbox_item_id", "seq"])
    op.create_index(
        "ix_outbound_reply_sending",
        "outbound_reply",
        ["updated_at"],
        sqlite_where=sa.text(REPLY_SENDING_SQL),
        postgresql_where=sa.text(REPLY_SENDING_SQL),
    )


def downgrade() -> None:
    op.drop_index("ix_outbound_reply_sending", table_name="outbound_reply")
    op.drop_index("ix_outbound_reply_item", table_name="outbound_reply")
    op.drop_table("outbound_reply")
    with op.batch_alter_table("message") as batch:
        batch.drop_column("send_token")

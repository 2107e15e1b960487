"""Tables of the handoff database (SQLAlchemy Core), the single source for migrations."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Raw webhook items as Meta delivered them, stored before the 200 so that nothing
# acknowledged is lost; (channel, dedup_key) makes a redelivery a no-op.
inbox_item = sa.Table(
    "inbox_item",
    metadata,
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
sa.Index("ix_inbox_item_pending", inbox_item.c.state, inbox_item.c.id)

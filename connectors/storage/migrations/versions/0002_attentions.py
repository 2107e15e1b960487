"""Attentions and what surrounds them: campaigns, agents, presence, customers, messages,
the audit trail and labels.

Revision ID: 0002_attentions
Revises: 0001_inbox
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_attentions"
down_revision = "0001_inbox"
branch_labels = None
depends_on = None

ACTIVE_STATE_SQL = "state IN ('queued', 'open')"


def _id_type() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _id() -> sa.Column:
    return sa.Column("id", _id_type(), primary_key=True)


def _time(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "campaign",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("retired", sa.Boolean(), nullable=False, server_default=sa.false()),
        _time("updated_at", nullable=False),
    )
    op.create_table(
        "agent",
        _id(),
        sa.Column("username", sa.String(150), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("password_hash", sa.String(255), nullable=True),
        _time("created_at", nullable=False),
        sa.UniqueConstraint("username", name="uq_agent_username"),
    )
    op.create_table(
        "agent_campaign",
        sa.Column("agent_id", _id_type(), sa.ForeignKey("agent.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("campaign_id", sa.String(64), primary_key=True),
    )
    op.create_index("ix_agent_campaign_campaign", "agent_campaign", ["campaign_id"])
    op.create_table(
        "agent_presence",
        sa.Column("agent_id", _id_type(), sa.ForeignKey("agent.id", ondelete="CASCADE"), primary_key=True),
        _time("last_seen_at"),
        _time("left_at"),
    )
    op.create_table(
        "customer",
        _id(),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("picture_url", sa.Text(), nullable=True),
        _time("created_at", nullable=False),
        _time("updated_at", nullable=False),
        sa.UniqueConstraint("channel", "account_id", "customer_id", name="uq_customer_channel_account_customer"),
    )
    op.create_table(
        "attention",
        _id(),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("agent_id", _id_type(), sa.ForeignKey("agent.id"), nullable=True),
        sa.Column("intent", sa.String(200), nullable=True),
        sa.Column("form", sa.JSON(), nullable=False),
        sa.Column("context", sa.JSON(), nullable=False),
        _time("created_at", nullable=False),
        _time("opened_at"),
        _time("assigned_at"),
        _time("terminated_at"),
        _time("last_customer_message_at"),
        sa.Column("last_message_id", _id_type(), nullable=True),
        sa.Column("read_up_to_message_id", _id_type(), nullable=True),
        _time("updated_at", nullable=False),
    )
    op.create_index(
        "uq_attention_active_customer",
        "attention",
        ["channel", "account_id", "customer_id"],
        unique=True,
        sqlite_where=sa.text(ACTIVE_STATE_SQL),
        postgresql_where=sa.text(ACTIVE_STATE_SQL),
    )
    op.create_index("ix_attention_campaign_state", "attention", ["campaign_id", "state", "created_at"])
    op.create_index("ix_attention_agent_state", "attention", ["agent_id", "state"])
    op.create_index("ix_attention_customer", "attention", ["channel", "account_id", "customer_id", "created_at"])
    op.create_index("ix_attention_state_terminated", "attention", ["state", "terminated_at"])
    op.create_table(
        "message",
        _id(),
        sa.Column("attention_id", _id_type(), sa.ForeignKey("attention.id", ondelete="CASCADE"), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("author", sa.String(16), nullable=False),
        sa.Column("agent_id", _id_type(), sa.ForeignKey("agent.id"), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("mid", sa.String(255), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("messaging_type", sa.String(16), nullable=True),
        sa.Column("tag", sa.String(32), nullable=True),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("error_subcode", sa.Integer(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        _time("created_at", nullable=False),
        _time("sent_at"),
        _time("delivered_at"),
        _time("read_at"),
        _time("updated_at", nullable=False),
    )
    op.create_index("ix_message_attention", "message", ["attention_id", "id"])
    op.create_index("ix_message_mid", "message", ["mid"])
    op.create_table(
        "attention_event",
        _id(),
        sa.Column("attention_id", _id_type(), sa.ForeignKey("attention.id", ondelete="CASCADE"), nullable=False),
        sa.Column("actor_kind", sa.String(16), nullable=False),
        sa.Column("actor_agent_id", _id_type(), sa.ForeignKey("agent.id"), nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=True),
        sa.Column("to_state", sa.String(16), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        _time("at", nullable=False),
    )
    op.create_index("ix_attention_event_attention", "attention_event", ["attention_id", "id"])
    op.create_table(
        "label",
        _id(),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("colour", sa.String(16), nullable=False),
        sa.Column("retired", sa.Boolean(), nullable=False, server_default=sa.false()),
        _time("created_at", nullable=False),
        sa.UniqueConstraint("name", name="uq_label_name"),
    )
    op.create_table(
        "attention_label",
        sa.Column("attention_id", _id_type(), sa.ForeignKey("attention.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("label_id", _id_type(), sa.ForeignKey("label.id"), primary_key=True),
        sa.Column("applied_by", _id_type(), sa.ForeignKey("agent.id"), nullable=True),
        _time("applied_at", nullable=False),
    )
    op.create_index("ix_attention_label_label", "attention_label", ["label_id"])


def downgrade() -> None:
    op.drop_index("ix_attention_label_label", table_name="attention_label")
    op.drop_table("attention_label")
    op.drop_table("label")
    op.drop_index("ix_attention_event_attention", table_name="attention_event")
    op.drop_table("attention_event")
    op.drop_index("ix_message_mid", table_name="message")
    op.drop_index("ix_message_attention", table_name="message")
    op.drop_table("message")
    for index in (
        "ix_attention_state_terminated",
        "ix_attention_customer",
        "ix_attention_agent_state",
        "ix_attention_campaign_state",
        "uq_attention_active_customer",
    ):
        op.drop_index(index, table_name="attention")
    op.drop_table("attention")
    op.drop_table("customer")
    op.drop_table("agent_presence")
    op.drop_index("ix_agent_campaign_campaign", table_name="agent_campaign")
    op.drop_table("agent_campaign")
    op.drop_table("agent")
    op.drop_table("campaign")

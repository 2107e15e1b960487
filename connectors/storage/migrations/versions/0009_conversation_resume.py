"""The conversations a terminate must still give back to the bot: written with the
terminate, resumed after its answer (connectors/resumes.py).

Revision ID: 0009_conversation_resume
Revises: 0008_picture_expiry
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_conversation_resume"
down_revision = "0008_picture_expiry"
branch_labels = None
depends_on = None

RESUME_PENDING_SQL = "resumed_at IS NULL"


def _id_type() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "conversation_resume",
        sa.Column(
            "attention_id",
            _id_type(),
            sa.ForeignKey("attention.id", ondelete="CASCADE", name="fk_conversation_resume_attention_id_attention"),
            nullable=False,
        ),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("attention_id", name="pk_conversation_resume"),
    )
    op.create_index(
        "ix_conversation_resume_pending",
        "conversation_resume",
        ["channel", "account_id", "customer_id"],
        sqlite_where=sa.text(RESUME_PENDING_SQL),
        postgresql_where=sa.text(RESUME_PENDING_SQL),
    )
    op.create_index(
        "ix_conversation_resume_due",
        "conversation_resume",
        ["due_at"],
        sqlite_where=sa.text(RESUME_PENDING_SQL),
        postgresql_where=sa.text(RESUME_PENDING_SQL),
    )


def downgrade() -> None:
    op.drop_index("ix_conversation_resume_due", table_name="conversation_resume")
    op.drop_index("ix_conversation_resume_pending", table_name="conversation_resume")
    op.drop_table("conversation_resume")

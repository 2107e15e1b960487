"""What an attention carries across transfers: the reason the customer gave, the values
the bot collected (slots), and the latest transfer (who, from where, the note).

Revision ID: 0007_attention_context
Revises: 0006_send_records
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_attention_context"
down_revision = "0006_send_records"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: plain ADD COLUMN on SQLite (no table copy); older attentions have none.
    op.add_column("attention", sa.Column("reason", sa.Text(), nullable=True))
    op.add_column("attention", sa.Column("bot_values", sa.JSON(), nullable=True))
    op.add_column("attention", sa.Column("transfer", sa.JSON(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN on both databases (SQLite has it since 3.35): a batch copy of the
    # attention table would have to drop a table other tables' keys point at.
    for column in ("transfer", "bot_values", "reason"):
        op.execute(f"ALTER TABLE attention DROP COLUMN {column}")

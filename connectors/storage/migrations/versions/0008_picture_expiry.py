"""When a customer's profile picture link stops working (Meta's CDN links expire).

Revision ID: 0008_picture_expiry
Revises: 0007_attention_context
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_picture_expiry"
down_revision = "0007_attention_context"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("customer", sa.Column("picture_expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE customer DROP COLUMN picture_expires_at")

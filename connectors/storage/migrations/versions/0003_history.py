"""History: one searchable document per terminated attention, with full-text search by
the database (SQLite FTS5; PostgreSQL tsvector + GIN), and the documents of attentions
that ended before this revision.

Revision ID: 0003_history
Revises: 0002_attentions
"""

import sqlalchemy as sa
from alembic import op

from handoff.search import history_document

revision = "0003_history"
down_revision = "0002_attentions"
branch_labels = None
depends_on = None

# SQLite: an FTS5 index over history.document (external content: the text is stored once,
# in history), kept in sync by triggers, so any write of history updates it in the same
# transaction. Prefix indexes make 2- and 3-letter prefixes as fast as whole words.
# Note: a later batch migration of `history` on SQLite recreates the table and drops these
# triggers; such a migration must create them again.
SQLITE_UP = [
    "CREATE VIRTUAL TABLE history_fts USING fts5(document, content='history', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2', prefix='2 3')",
    "CREATE TRIGGER history_fts_insert AFTER INSERT ON history BEGIN "
    "INSERT INTO history_fts(rowid, document) VALUES (new.id, new.document); END",
    "CREATE TRIGGER history_fts_delete AFTER DELETE ON history BEGIN "
    "INSERT INTO history_fts(history_fts, rowid, document) VALUES ('delete', old.id, old.document); END",
    "CREATE TRIGGER history_fts_update AFTER UPDATE OF document ON history BEGIN "
    "INSERT INTO history_fts(history_fts, rowid, document) VALUES ('delete', old.id, old.document); "
    "INSERT INTO history_fts(rowid, document) VALUES (new.id, new.document); END",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS history_fts_update",
    "DROP TRIGGER IF EXISTS history_fts_delete",
    "DROP TRIGGER IF EXISTS history_fts_insert",
    "DROP TABLE IF EXISTS history_fts",
]
# PostgreSQL: a generated tsvector ('simple': no stemming, no stop words, so Spanish and
# English both work; accents are already folded in the document) and a GIN index on it.
POSTGRES_UP = [
    "ALTER TABLE history ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('simple', document)) STORED",
    "CREATE INDEX ix_history_search ON history USING gin (search)",
]
POSTGRES_DOWN = ["DROP INDEX IF EXISTS ix_history_search", "ALTER TABLE history DROP COLUMN IF EXISTS search"]


def _id_type() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "history",
        sa.Column("id", _id_type(), primary_key=True),
        sa.Column("attention_id", _id_type(), sa.ForeignKey("attention.id", ondelete="CASCADE"), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=False),
        sa.Column("agent_id", _id_type(), sa.ForeignKey("agent.id"), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.UniqueConstraint("attention_id", name="uq_history_attention_id"),
    )
    op.create_index("ix_history_campaign", "history", ["campaign_id", "id"])
    op.create_index("ix_history_agent", "history", ["agent_id", "id"])
    op.create_index("ix_history_ended_at", "history", ["ended_at"])
    dialect = op.get_bind().dialect.name
    for statement in SQLITE_UP if dialect == "sqlite" else POSTGRES_UP if dialect == "postgresql" else []:
        op.execute(statement)
    _backfill()


def _backfill() -> None:
    """Documents for the attentions that ended before this revision, oldest first (ids
    follow the end order, like the ones the service writes)."""
    from connectors.storage.schema import attention, campaign, customer, history, message

    bind = op.get_bind()
    names = {row.id: row.name for row in bind.execute(sa.select(campaign.c.id, campaign.c.name))}
    # The columns this revision knew: the table of connectors/storage/schema.py may have more by now,
    # and a later revision adds them after this one has run.
    known = (
        "id",
        "channel",
        "account_id",
        "customer_id",
        "direction",
        "campaign_id",
        "agent_id",
        "terminated_at",
        "updated_at",
        "context",
        "form",
    )
    ended = bind.execute(
        sa.select(*(attention.c[name] for name in known))
        .where(attention.c.state == "terminated")
        .order_by(attention.c.terminated_at, attention.c.id)
    ).all()
    for row in ended:
        who = bind.execute(
            sa.select(customer.c.name).where(
                customer.c.channel == row.channel,
                customer.c.account_id == row.account_id,
                customer.c.customer_id == row.customer_id,
            )
        ).first()
        texts = bind.execute(sa.select(message.c.text).where(message.c.attention_id == row.id)).scalars().all()
        ended_at = row.terminated_at or row.updated_at
        bind.execute(
            history.insert().values(
                attention_id=row.id,
                channel=row.channel,
                direction=row.direction,
                campaign_id=row.campaign_id,
                agent_id=row.agent_id,
                ended_at=ended_at,
                document=history_document(
                    customer_name=who.name if who else None,
                    customer_id=row.customer_id,
                    campaign_name=names.get(row.campaign_id),
                    message_texts=texts,
                    context=row.context or [],
                    form=row.form or {},
                    ended_at=ended_at,
                ),
            )
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in SQLITE_DOWN if dialect == "sqlite" else POSTGRES_DOWN if dialect == "postgresql" else []:
        op.execute(statement)
    op.drop_index("ix_history_ended_at", table_name="history")
    op.drop_index("ix_history_agent", table_name="history")
    op.drop_index("ix_history_campaign", table_name="history")
    op.drop_table("history")

"""Tables of the handoff database (SQLAlchemy Core), the single source for migrations."""

from __future__ import annotations

import sqlalchemy as sa

from handoff.clock import as_utc

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
    # The lease token of the process that accepted or took over the item (connectors.meta.leases);
    # NULL on rows from before leases, which any process may take over.
    sa.Column("owner", sa.String(64), nullable=True),
    sa.UniqueConstraint("channel", "dedup_key", name="uq_inbox_item_channel_dedup_key"),
)
sa.Index("ix_inbox_item_pending", inbox_item.c.state, inbox_item.c.id)


class UtcDateTime(sa.TypeDecorator):
    """A timestamp that goes in and comes out timezone-aware UTC on every backend.

    PostgreSQL keeps ``timestamptz``; SQLite has no time zones, so we store UTC without an
    offset (one text format, so comparisons in SQL stay correct) and put UTC back on read.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        return None if value is None else as_utc(value)


# One row per live server process that handles inbox items: its items are its own while
# the row is not expired (connectors.meta.leases). host and pid are there for operators; node
# (boot id and PID namespace) tells whether another process can check the pid.
inbox_lease = sa.Table(
    "inbox_lease",
    metadata,
    sa.Column("owner", sa.String(64), primary_key=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer(), nullable=False),
    sa.Column("node", sa.String(128), nullable=True),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
)


def _id_column() -> sa.Column:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True)


def _id_type() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


# Attention states that count as "active": the customer is with humans, not the bot.
ACTIVE_STATE_SQL = "state IN ('queued', 'open')"

# A snapshot of each campaign of data/campaigns.yml, written at start. The YAML stays the
# source; the table lets history show a campaign's name after a designer removed it.
campaign = sa.Table(
    "campaign",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("definition", sa.JSON(), nullable=False),
    sa.Column("retired", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

agent = sa.Table(
    "agent",
    metadata,
    _id_column(),
    sa.Column("username", sa.String(150), nullable=False),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
    # Owned by the desk (login); the domain never reads it.
    sa.Column("password_hash", sa.String(255), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("username", name="uq_agent_username"),
)

agent_campaign = sa.Table(
    "agent_campaign",
    metadata,
    sa.Column("agent_id", _id_type(), sa.ForeignKey("agent.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("campaign_id", sa.String(64), primary_key=True),
)
sa.Index("ix_agent_campaign_campaign", agent_campaign.c.campaign_id)

# Presence lives apart from the agent row: heartbeats write here often and must not
# contend with edits of the agent. Persisted so orphan timers survive a restart.
agent_presence = sa.Table(
    "agent_presence",
    metadata,
    sa.Column("agent_id", _id_type(), sa.ForeignKey("agent.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("last_seen_at", UtcDateTime(), nullable=True),
    sa.Column("left_at", UtcDateTime(), nullable=True),
)

customer = sa.Table(
    "customer",
    metadata,
    _id_column(),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("account_id", sa.String(64), nullable=False),
    sa.Column("customer_id", sa.String(64), nullable=False),
    sa.Column("name", sa.String(200), nullable=True),
    sa.Column("picture_url", sa.Text(), nullable=True),
    sa.Column("picture_expires_at", UtcDateTime(), nullable=True),  # Meta's picture links expire
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("channel", "account_id", "customer_id", name="uq_customer_channel_account_customer"),
)

attention = sa.Table(
    "attention",
    metadata,
    _id_column(),
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
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("opened_at", UtcDateTime(), nullable=True),
    sa.Column("assigned_at", UtcDateTime(), nullable=True),
    sa.Column("terminated_at", UtcDateTime(), nullable=True),
    sa.Column("last_customer_message_at", UtcDateTime(), nullable=True),
    sa.Column("last_message_id", _id_type(), nullable=True),
    sa.Column("read_up_to_message_id", _id_type(), nullable=True),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    # Carried across transfers: the reason the customer gave the bot, the slots the bot
    # collected (they pre-fill the form of whichever campaign holds it), the last transfer.
    sa.Column("reason", sa.Text(), nullable=True),
    sa.Column("bot_values", sa.JSON(), nullable=True),
    sa.Column("transfer", sa.JSON(), nullable=True),
)
# THE invariant: one active attention per customer of a channel account. The database
# enforces it, so two concurrent handoffs cannot both create one.
sa.Index(
    "uq_attention_active_customer",
    attention.c.channel,
    attention.c.account_id,
    attention.c.customer_id,
    unique=True,
    sqlite_where=sa.text(ACTIVE_STATE_SQL),
    postgresql_where=sa.text(ACTIVE_STATE_SQL),
)
# The desk's lists: queued of some campaigns, open of one agent.
sa.Index("ix_attention_campaign_state", attention.c.campaign_id, attention.c.state, attention.c.created_at)
sa.Index("ix_attention_agent_state", attention.c.agent_id, attention.c.state)
# A customer's attentions over time (history, read watermarks).
sa.Index("ix_attention_customer", attention.c.channel, attention.c.account_id, attention.c.customer_id, attention.c.created_at)
sa.Index("ix_attention_state_terminated", attention.c.state, attention.c.terminated_at)

message = sa.Table(
    "message",
    metadata,
    _id_column(),
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
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("sent_at", UtcDateTime(), nullable=True),
    sa.Column("delivered_at", UtcDateTime(), nullable=True),
    sa.Column("read_at", UtcDateTime(), nullable=True),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    # The ``metadata`` of the Send API call an outbound message was last handed to Meta
    # with, committed just before that call: NULL, it never left (safe to send); set while
    # pending, Meta may have it (only its echo can tell; never sent again blindly).
    sa.Column("send_token", sa.String(128), nullable=True),
)
# Messages of an attention, paged by id (latest first).
sa.Index("ix_message_attention", message.c.attention_id, message.c.id)
# Status webhooks and echoes find our outbound message by Meta's mid.
sa.Index("ix_message_mid", message.c.mid)
# The outbox sweep looks for stale pending sends every few seconds: partial, so it stays as
# small as the outbox instead of scanning every message ever stored.
OUTBOX_SQL = "status = 'pending' AND direction = 'out'"
sa.Index("ix_message_outbox", message.c.updated_at, sqlite_where=sa.text(OUTBOX_SQL), postgresql_where=sa.text(OUTBOX_SQL))

# The bot's replies, one row per Send API call, written in the order that makes a crash
# harmless: ``sending`` with its ``token`` (the ``metadata`` Meta echoes back) committed
# before the call, then ``sent`` with Meta's ``mid`` right after its answer. A row left
# ``sending`` by a crash becomes ``sent`` when the echo carrying its token arrives, or
# ``unknown`` (not known whether Meta got it) when none came in time; a replay of its
# inbox item (``inbox_item_id``) never sends it again. ``seq`` orders the replies of one
# item, ``digest`` is the SHA-256 of the message sent.
outbound_reply = sa.Table(
    "outbound_reply",
    metadata,
    _id_column(),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("recipient_id", sa.String(64), nullable=False),
    sa.Column("inbox_item_id", _id_type(), nullable=True),
    sa.Column("seq", sa.Integer(), nullable=False),
    sa.Column("token", sa.String(128), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("mid", sa.String(255), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("token", name="uq_outbound_reply_token"),
)
sa.Index("ix_outbound_reply_item", outbound_reply.c.inbox_item_id, outbound_reply.c.seq)
# The sweep that settles replies a crash left ``sending``.
REPLY_SENDING_SQL = "state = 'sending'"
sa.Index(
    "ix_outbound_reply_sending",
    outbound_reply.c.updated_at,
    sqlite_where=sa.text(REPLY_SENDING_SQL),
    postgresql_where=sa.text(REPLY_SENDING_SQL),
)

# A terminated attention whose conversation the bot must still take back (the Rasa resume and
# its follow-up turn). Written in the terminate's transaction; the answer does not wait for
# the resume, which marks ``resumed_at`` when done (connectors/resumes.py). ``claimed_until``
# is the conditional-UPDATE claim of the one process doing it; ``due_at`` the retry backoff.
conversation_resume = sa.Table(
    "conversation_resume",
    metadata,
    sa.Column("attention_id", _id_type(), sa.ForeignKey("attention.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("account_id", sa.String(64), nullable=False),
    sa.Column("customer_id", sa.String(64), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("due_at", UtcDateTime(), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("claimed_until", UtcDateTime(), nullable=True),
    sa.Column("resumed_at", UtcDateTime(), nullable=True),
    sa.Column("last_error", sa.Text(), nullable=True),
)
RESUME_PENDING_SQL = "resumed_at IS NULL"
sa.Index(
    "ix_conversation_resume_pending",
    conversation_resume.c.channel,
    conversation_resume.c.account_id,
    conversation_resume.c.customer_id,
    sqlite_where=sa.text(RESUME_PENDING_SQL),
    postgresql_where=sa.text(RESUME_PENDING_SQL),
)
sa.Index(
    "ix_conversation_resume_due",
    conversation_resume.c.due_at,
    sqlite_where=sa.text(RESUME_PENDING_SQL),
    postgresql_where=sa.text(RESUME_PENDING_SQL),
)

attention_event = sa.Table(
    "attention_event",
    metadata,
    _id_column(),
    sa.Column("attention_id", _id_type(), sa.ForeignKey("attention.id", ondelete="CASCADE"), nullable=False),
    sa.Column("actor_kind", sa.String(16), nullable=False),
    sa.Column("actor_agent_id", _id_type(), sa.ForeignKey("agent.id"), nullable=True),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("from_state", sa.String(16), nullable=True),
    sa.Column("to_state", sa.String(16), nullable=True),
    sa.Column("detail", sa.JSON(), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
)
sa.Index("ix_attention_event_attention", attention_event.c.attention_id, attention_event.c.id)

label = sa.Table(
    "label",
    metadata,
    _id_column(),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("colour", sa.String(16), nullable=False),
    sa.Column("retired", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("name", name="uq_label_name"),
)

attention_label = sa.Table(
    "attention_label",
    metadata,
    sa.Column("attention_id", _id_type(), sa.ForeignKey("attention.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("label_id", _id_type(), sa.ForeignKey("label.id"), primary_key=True),
    sa.Column("applied_by", _id_type(), sa.ForeignKey("agent.id"), nullable=True),
    sa.Column("applied_at", UtcDateTime(), nullable=False),
)
sa.Index("ix_attention_label_label", attention_label.c.label_id)

# History: one row per terminated attention, written in the terminate transaction. Its id
# grows in the order attentions end, so "newest first" is ``ORDER BY id DESC`` (and the
# page cursor is an id). ``document`` is the search text (handoff.search): distinct
# normalised words of the customer, campaign, messages, context, form and end date.
# Full-text indexes are backend-specific and live outside this metadata (see
# ``SEARCH_OBJECTS``): on SQLite the FTS5 table ``history_fts`` (external content = this
# table, kept in sync by triggers); on PostgreSQL the generated column ``search``
# (``to_tsvector('simple', document)``) with the GIN index ``ix_history_search``.
history = sa.Table(
    "history",
    metadata,
    _id_column(),
    sa.Column("attention_id", _id_type(), sa.ForeignKey("attention.id", ondelete="CASCADE"), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("direction", sa.String(16), nullable=False),
    sa.Column("campaign_id", sa.String(64), nullable=False),
    sa.Column("agent_id", _id_type(), sa.ForeignKey("agent.id"), nullable=True),
    sa.Column("ended_at", UtcDateTime(), nullable=False),
    sa.Column("document", sa.Text(), nullable=False),
    sa.UniqueConstraint("attention_id", name="uq_history_attention_id"),
)
sa.Index("ix_history_campaign", history.c.campaign_id, history.c.id)
sa.Index("ix_history_agent", history.c.agent_id, history.c.id)
sa.Index("ix_history_ended_at", history.c.ended_at)

# What the migrations create beyond this metadata (full-text search); schema comparisons
# (Alembic autogenerate, tests) leave them out.
SEARCH_TABLE_PREFIX = "history_fts"
SEARCH_COLUMN = ("history", "search")
SEARCH_INDEX = "ix_history_search"


def include_name(name, type_, parent_names) -> bool:
    """Alembic hook: skip the FTS5 table and its shadow tables by name."""
    return not (type_ == "table" and name and name.startswith(SEARCH_TABLE_PREFIX))


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Alembic hook: skip the search objects made by hand in the migrations."""
    if type_ == "table" and name and name.startswith(SEARCH_TABLE_PREFIX):
        return False
    if type_ == "column" and reflected and (obj.table.name, name) == SEARCH_COLUMN:
        return False
    return not (type_ == "index" and name == SEARCH_INDEX)

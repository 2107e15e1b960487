"""The handoff service: every operation on attentions, for the adapters to call.

Each operation checks who may do it (``handoff.permissions``) and whether the move exists
(``handoff.states``), changes the database in one transaction with a conditional update
(the loser of a race gets ``Conflict``), writes the audit trail in that same transaction,
and publishes one event after the commit. Talking to Meta and to Rasa goes through the
ports of ``handoff.ports``; the service imports no adapter.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from datetime import date, datetime, timedelta, timezone
from typing import Any, Awaitable, Callable, Iterable, Mapping, NoReturn, Optional, Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from handoff import permissions
from handoff.campaigns.forms import normalize_form, prefill_form, validate_form
from handoff.campaigns.model import Campaign, CampaignBook, Conversation
from handoff.clock import Clock, as_utc, utc_now
from connectors.storage.db import TRANSIENT_STORAGE_ERRORS
from handoff.error_codes import ErrorCode
from handoff.errors import (
    Conflict,
    CustomerBusy,
    Forbidden,
    IllegalTransition,
    InvalidForm,
    InvalidMessage,
    InvalidRequest,
    InvalidTransfer,
    NotFound,
    OutboundNotAllowed,
    WindowClosed,
)
from handoff.events import (
    AttentionOpened,
    AttentionQueued,
    AttentionReleased,
    AttentionReturned,
    AttentionTerminated,
    AttentionTransferred,
    EventBus,
    FormSaved,
    HandoffEvent,
    InMemoryEventBus,
    LabelApplied,
    LabelRemoved,
    MessageAdded,
    MessageUpdated,
)
from handoff.history import History
from handoff.model import (
    BOT,
    CANCELLED_BY_CUSTOMER,
    SYSTEM,
    WINDOW_OPENING_KINDS,
    Actor,
    ActorKind,
    Agent,
    Attention,
    Author,
    Channel,
    Direction,
    InboundEvent,
    Label,
    Message,
    MessageDirection,
    MessageKind,
    MessageStatus,
    Role,
    Transfer,
)
from handoff.overview import AgentLoad, CampaignLoad, Overview
from handoff.ports import (
    OUTGOING_ATTACHMENT_TYPES,
    ChannelGateway,
    ConversationResumer,
    DeliveryFailed,
    NoResumer,
    OutboundMessage,
    OutgoingAttachment,
    send_key,
)
from handoff.queries import Queries
from handoff.states import Action, AttentionState, next_state
from connectors.storage import agents as agent_rows
from connectors.storage import attentions as attention_rows
from connectors.storage import audit
from connectors.storage import campaigns as campaign_rows
from connectors.storage import customers as customer_rows
from connectors.storage import history as history_rows
from connectors.storage import labels as label_rows
from connectors.storage import messages as message_rows
from connectors.storage._sql import is_unique_violation
from connectors.storage.rows import transfer_json
from handoff.text_limits import TEXT_LIMITS
from handoff.transfers import bot_values_after, carried_form, clean_note, write_transfer_line
from handoff.window import SendPolicy, Window, send_policy, window_of

logger = logging.getLogger(__name__)

# How long after an agent's last heartbeat (``agent_seen``) the agent counts as gone even
# without an ``agent_left`` (a closed laptop, a crashed browser, a dead instance).
DEFAULT_PRESENCE_TIMEOUT = timedelta(seconds=90)

LABEL_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")

# An outbound message pending this long is not being sent by anyone: the process that was
# sending it died. Longer than any live send can take (GraphClient's defaults: 4 attempts of
# at most 10 s plus a 3 s echo wait each, and at most 35 s of backoff: under 90 s). A
# deployment that raises graph_timeout or retry_attempts must raise this too.
DEFAULT_OUTBOX_STALE_AFTER = timedelta(seconds=120)
OUTBOX_SWEEP_BATCH = 100

# On the pending row while the sweep sends it again: the next sweep must not resend it twice.
RESENT_AFTER_INTERRUPTION = "sent again: the server stopped while sending it"
# A message the server stopped on before handing it to Meta (no send_token): Meta never had it.
NEVER_SENT = "interrupted: the server stopped before sending this message; Meta never got it"
# A message the server stopped on while Meta had it (send_token, no answer, no echo): status
# unknown, never sent again by itself; its echo, whenever it comes, makes it sent.
INTERRUPTED = "interrupted: the server stopped while sending this message; not known whether Meta got it"


class _EndedMeanwhile(Exception):
    """Rolls back a customer message whose attention ended while it was being stored."""


class NoGateway:
    """Used when no ChannelGateway was given: sending fails loudly, nothing else does."""

    async def send(self, outbound: OutboundMessage) -> Any:
        raise DeliveryFailed(None, None, "no channel gateway is configured", transient=False)


def _json_ready(value: Any) -> Any:
    """Context entries go into a JSON column: times become ISO 8601 text."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    return getattr(value, "value", value) if not isinstance(value, (str, int, float, bool, type(None))) else value


def _latest_customer_time(context: Sequence[Mapping[str, Any]]) -> Optional[datetime]:
    latest: Optional[datetime] = None
    for entry in context:
        if entry.get("author") != Author.CUSTOMER.value:
            continue
        time = entry.get("time")
        if isinstance(time, str):
            try:
                time = datetime.fromisoformat(time.replace("Z", "+00:00"))
            except ValueError:
                continue
        if isinstance(time, (int, float)) and not isinstance(time, bool):
            time = datetime.fromtimestamp(time, tz=timezone.utc)
        if isinstance(time, datetime) and (latest is None or as_utc(time) > latest):
            latest = as_utc(time)
    return latest


class HandoffService:
    def __init__(
        self,
        engine: AsyncEngine,
        campaigns: CampaignBook,
        *,
        gateway: Optional[ChannelGateway] = None,
        resumer: Optional[ConversationResumer] = None,
        bus: Optional[EventBus] = None,
        clock: Clock = utc_now,
        presence_timeout: timedelta = DEFAULT_PRESENCE_TIMEOUT,
    ) -> None:
        self._engine = engine
        self._book = campaigns
        self._gateway: ChannelGateway = gateway or NoGateway()
        self._resumer: ConversationResumer = resumer or NoResumer()
        self.bus: EventBus = bus or InMemoryEventBus()
        self._clock = clock
        self.presence_timeout = presence_timeout
        # Messages this process is sending right now: the outbox sweep never takes them,
        # however slow Meta is.
        self._sending: set[int] = set()

    # -- set-up ------------------------------------------------------------------------

    async def start(self) -> None:
        """Write the campaigns snapshot (idempotent; call once at server start)."""
        async with self._engine.begin() as connection:
            await campaign_rows.sync(connection, self._book, self._now())

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    @property
    def campaigns(self) -> CampaignBook:
        return self._book

    def campaign(self, campaign_id: str) -> Campaign:
        return self._book.get(campaign_id)

    @property
    def queries(self) -> Queries:
        """The desk's read models over the same database and campaigns."""
        return Queries(self._engine, self._book)

    @property
    def history(self) -> History:
        """Terminated attentions: search and detail."""
        return History(self._engine, self._book)

    def _now(self) -> datetime:
        return as_utc(self._clock())

    async def _publish(self, event: HandoffEvent) -> None:
        try:
            await self.bus.publish(event)
        except Exception:  # the change is committed; a broken bus must not undo the answer
            logger.exception("publishing %s failed", event.type)

    # -- reading -----------------------------------------------------------------------

    async def attention(self, attention_id: int) -> Attention:
        async with self._engine.connect() as connection:
            return await self._attention(connection, attention_id)

    @staticmethod
    async def _attention(connection: AsyncConnection, attention_id: int) -> Attention:
        found = await attention_rows.get(connection, attention_id)
        if found is None:
            raise NotFound("attention", attention_id)
        return found

    async def active_attention(self, channel: Channel | str, account_id: str, customer_id: str) -> Optional[Attention]:
        """The customer's queued or open attention, if any."""
        async with self._engine.connect() as connection:
            return await attention_rows.active_for_customer(connection, channel, account_id, customer_id)

    # -- handoff (the bot hands a customer to humans) ----------------------------------

    async def request_handoff(
        self,
        channel: Channel | str,
        account_id: str,
        customer_id: str,
        *,
        intent: Optional[str] = None,
        slots: Optional[Mapping[str, Any]] = None,
        context: Sequence[Mapping[str, Any]] = (),
        customer_name: Optional[str] = None,
        customer_picture_url: Optional[str] = None,
        last_customer_message_at: Optional[datetime] = None,
        reason: Optional[str] = None,
    ) -> Attention:
        """A queued attention for the customer: the active one if there is one (idempotent),
        else a new one in the campaign the routing rules choose, its form pre-filled from
        ``slots`` and the bot's part of the conversation kept as ``context``; the slots and
        the customer's ``reason`` stay with it, whichever campaign it moves to."""
        channel = Channel(channel)
        existing = await self.active_attention(channel, account_id, customer_id)
        if existing is not None:
            return existing
        slots = dict(slots or {})
        entries = [_json_ready(dict(entry)) for entry in context]
        # What the customer said (each line's intent and entities) routes and pre-fills too.
        conversation = Conversation.from_context(entries)
        routing = self._book.routing(channel, account_id, intent, slots, conversation)
        campaign = routing.campaign
        form = prefill_form(campaign.inbound_form, slots, conversation)
        now = self._now()
        window_start = last_customer_message_at or _latest_customer_time(entries) or now
        try:
            async with self._engine.begin() as connection:
                await customer_rows.upsert(connection, channel, account_id, customer_id, now, customer_name, customer_picture_url)
                attention_id = await attention_rows.insert(
                    connection,
                    channel=channel,
                    account_id=account_id,
                    customer_id=customer_id,
                    campaign_id=campaign.id,
                    direction=Direction.INBOUND,
                    state=AttentionState.QUEUED,
                    form=form,
                    context=entries,
                    intent=intent,
                    now=now,
                    last_customer_message_at=as_utc(window_start),
                    reason=(reason or "").strip() or None,
                    bot_values=_json_ready(slots),
                )
                await audit.record(
                    connection, attention_id, BOT, "queued", now, None, AttentionState.QUEUED,
                    # Which routing rule decided (1-based; None: the default campaign).
                    {"campaign_id": campaign.id, "intent": intent, "routing_rule": routing.rule},
                )
                created = await self._attention(connection, attention_id)
        except IntegrityError as error:
            if not is_unique_violation(error):
                raise
            # Another handoff for this customer won the race: it is the active one.
            winner = await self.active_attention(channel, account_id, customer_id)
            if winner is None:  # pragma: no cover - the winner ended in between; very unlikely
                raise
            return winner
        await self._publish(AttentionQueued(at=now, attention=created, actor=BOT))
        return created

    # -- the inbound hot path ----------------------------------------------------------

    async def record_customer_event(
        self, channel: Channel | str, account_id: str, customer_id: str, event: InboundEvent
    ) -> Optional[Message]:
        """Store a customer's message or event in their active attention and publish it.

        None when the customer has no active attention: the caller then runs a bot turn.
        One indexed lookup, one insert, one update of the attention (the 24 h window), the
        update conditional on the attention being still active.
        """
        now = self._now()
        while True:
            try:
                async with self._engine.begin() as connection:
                    ref = await attention_rows.active_ref(connection, channel, account_id, customer_id)
                    if ref is None:
                        return None
                    author = Author(event.author)
                    from_customer = author is Author.CUSTOMER
                    stored = await message_rows.insert(
                        connection,
                        attention_id=ref.id,
                        # Anything else seen in the conversation (a human in Meta's Page Inbox) was
                        # sent by the Page: it is outbound, already sent, and opens no window.
                        direction=MessageDirection.IN if from_customer else MessageDirection.OUT,
                        author=author,
                        kind=event.kind,
                        status=MessageStatus.RECEIVED if from_customer else MessageStatus.SENT,
                        now=now,
                        text=event.text,
                        payload=_json_ready(dict(event.payload)),
                        mid=event.mid,
                        sent_at=as_utc(event.sent_at) if event.sent_at else now,
                    )
                    opens_window = from_customer and MessageKind(event.kind) in WINDOW_OPENING_KINDS
                    if not await attention_rows.note_message(
                        connection, ref.id, stored.id, now, (stored.sent_at or now) if opens_window else None
                    ):
                        raise _EndedMeanwhile()
                    # Read again under the update's lock: a transfer or an open that committed
                    # after the lookup changed who must hear the message live.
                    ref = await attention_rows.active_ref_by_id(connection, ref.id) or ref
                break
            except _EndedMeanwhile:
                # Terminated between the lookup and the write (the lookup holds no lock): the
                # message is not stored in an attention its agent has closed and whose history
                # is written; it goes where the customer is now, the bot or a newer attention.
                continue
        await self._publish(MessageAdded(at=now, attention_id=ref.id, campaign_id=ref.campaign_id, agent_id=ref.agent_id, message=stored))
        return stored

    # -- state changes -----------------------------------------------------------------

    async def _move(
        self,
        current: Attention,
        action: Action,
        actor: Actor,
        values: Mapping[str, Any],
        detail: Optional[Mapping[str, Any]] = None,
        inside: Optional[Callable[[AsyncConnection, Attention], Awaitable[None]]] = None,
    ) -> tuple[Attention, datetime]:
        """Make ``action`` happen to ``current``: conditional update + audit in one
        transaction (``inside`` runs in it too, with the attention as it is after)."""
        to_state = next_state(current.state, action, current.id)
        now = self._now()
        async with self._engine.begin() as connection:
            changed = await attention_rows.compare_and_set(
                connection,
                current.id,
                expected_state=current.state,
                expected_agent_id=current.agent_id,
                expected_campaign_id=current.campaign_id,
                values={"state": to_state.value, "updated_at": now, **values},
            )
            if not changed:
                raise Conflict(current.id, f"it changed while you were looking (it was {current.state.value})")
            await audit.record(connection, current.id, actor, action.value, now, current.state, to_state, detail)
            after = await self._attention(connection, current.id)
            if inside is not None:
                await inside(connection, after)
        return after, now

    async def _into_history(self, connection: AsyncConnection, ended: Attention) -> None:
        """Terminate's last step, in its transaction: the attention's searchable history document."""
        found = self._book.campaigns.get(ended.campaign_id)
        name = found.name if found is not None else (await campaign_rows.names(connection)).get(ended.campaign_id)
        await history_rows.write(connection, ended, name)

    async def open(self, attention_id: int, agent: Agent) -> Attention:
        """The agent takes a queued attention of one of their campaigns. Of many agents trying
        at once exactly one wins; the others get Conflict."""
        current = await self.attention(attention_id)
        permissions.require_can_open(agent, current)
        if current.state is not AttentionState.QUEUED:
            await self._not_queued(current)
        values = {"agent_id": agent.id, "assigned_at": self._now()}
        if current.opened_at is None:
            values["opened_at"] = values["assigned_at"]
        try:
            after, now = await self._move(current, Action.OPEN, Actor.of(agent), values)
        except Conflict as lost:
            # Someone was quicker (another agent, the customer's cancel): say who, not "changed".
            latest = await self.attention(attention_id)
            if latest.state is AttentionState.QUEUED:
                raise lost
            await self._not_queued(latest)
        await self._publish(AttentionOpened(at=now, attention=after, actor=Actor.of(agent)))
        return after

    async def _not_queued(self, current: Attention) -> NoReturn:
        """Why an attention an agent tries to open is not in the queue: another agent holds
        it, the customer cancelled while waiting, or it ended otherwise (a supervisor)."""
        state = current.state.value
        if current.state is AttentionState.OPEN:
            raise Conflict(
                current.id, f"it is no longer in the queue ({state}): another agent took it", state,
                code=ErrorCode.ATTENTION_TAKEN, agent_id=current.agent_id,
            )
        async with self._engine.connect() as connection:
            trail = await audit.trail(connection, current.id)
        last = trail[-1] if trail else None
        if last is not None and last.actor.kind is ActorKind.BOT and last.detail.get("reason") == CANCELLED_BY_CUSTOMER:
            raise Conflict(
                current.id, f"it is no longer in the queue ({state}): the customer cancelled while waiting", state,
                code=ErrorCode.ATTENTION_CANCELLED_BY_CUSTOMER,
            )
        raise Conflict(current.id, f"it is no longer in the queue ({state})", state, code=ErrorCode.ATTENTION_NOT_QUEUED)

    async def transfer_to_campaign(self, attention_id: int, agent: Agent, campaign_id: str, note: Optional[str] = None) -> Attention:
        """Back to the queue of another campaign (owner or supervisor). Form values of fields
        the new campaign also has are kept, its other fields start from the bot's values,
        the rest is dropped (and kept in the audit); the note goes with it."""
        current = await self.attention(attention_id)
        next_state(current.state, Action.TRANSFER_TO_CAMPAIGN, current.id)
        permissions.require_owner(agent, current, supervisor_may=True)
        try:
            target = self._book.get(campaign_id)
        except NotFound:
            raise InvalidTransfer(
                f"campaign '{campaign_id}' does not exist", code=ErrorCode.CAMPAIGN_UNKNOWN, campaign_id=campaign_id
            ) from None
        if target.id == current.campaign_id:
            raise InvalidTransfer(
                f"attention {current.id} is already in campaign '{campaign_id}'", code=ErrorCode.TRANSFER_SAME_CAMPAIGN
            )
        if not target.serves(current.channel, current.account_id):
            raise InvalidTransfer(
                f"campaign '{campaign_id}' does not serve {current.channel.value} account {current.account_id}",
                code=ErrorCode.CAMPAIGN_WRONG_ACCOUNT, campaign_id=campaign_id,
            )
        form, dropped = carried_form(current, target.form_for(current.direction))
        record = self._transfer_record(current, agent, note, to_campaign=target)
        return await self._transfer(
            current, Action.TRANSFER_TO_CAMPAIGN, agent, record,
            {"campaign_id": target.id, "agent_id": None, "assigned_at": None, "form": form},
            {"from_campaign_id": current.campaign_id, "to_campaign_id": target.id, "from_agent_id": current.agent_id,
             "note": record.note, "dropped_form": dropped},
        )  # fmt: skip

    async def transfer_to_agent(self, attention_id: int, agent: Agent, target_agent_id: int, note: Optional[str] = None) -> Attention:
        """Give an open attention to another agent of its campaign (owner or supervisor)."""
        current = await self.attention(attention_id)
        next_state(current.state, Action.TRANSFER_TO_AGENT, current.id)
        permissions.require_owner(agent, current, supervisor_may=True)
        target = await self.agent(target_agent_id)
        if target.id == current.agent_id:
            raise InvalidTransfer(
                f"attention {current.id} is already held by agent {target.id}", code=ErrorCode.TRANSFER_SAME_AGENT
            )
        if not target.active or not target.serves(current.campaign_id):
            raise InvalidTransfer(
                f"agent {target.id} ({target.username}) cannot take attentions of campaign '{current.campaign_id}'",
                code=ErrorCode.TRANSFER_AGENT_NOT_IN_CAMPAIGN, agent_name=target.display_name or target.username,
            )
        record = self._transfer_record(current, agent, note, to_agent=target)
        return await self._transfer(
            current, Action.TRANSFER_TO_AGENT, agent, record, {"agent_id": target.id, "assigned_at": self._now()},
            {"from_agent_id": current.agent_id, "to_agent_id": target.id, "note": record.note},
        )

    def _transfer_record(
        self, current: Attention, agent: Agent, note: Optional[str], *, to_campaign: Optional[Campaign] = None,
        to_agent: Optional[Agent] = None,
    ) -> Transfer:
        here = self._book.campaigns.get(current.campaign_id)
        there = to_campaign or here
        return Transfer(
            at=self._now(), by_agent_id=agent.id, by_agent_name=agent.display_name,
            from_campaign_id=current.campaign_id, from_campaign_name=here.name if here else current.campaign_id,
            to_campaign_id=there.id if there else current.campaign_id,
            to_campaign_name=there.name if there else current.campaign_id,
            to_agent_id=to_agent.id if to_agent else None, to_agent_name=to_agent.display_name if to_agent else None,
            note=clean_note(note),
        )  # fmt: skip

    async def _transfer(
        self, current: Attention, action: Action, agent: Agent, record: Transfer, values: Mapping[str, Any],
        detail: Mapping[str, Any],
    ) -> Attention:
        """The move, the attention's ``transfer`` and its system line in one transaction; then
        the line and the change go out live."""
        lines: list[Message] = []

        async def with_line(connection: AsyncConnection, after: Attention) -> None:
            line = await write_transfer_line(connection, record, after.id, record.at)
            if line is not None:
                lines.append(line)

        after, now = await self._move(
            current, action, Actor.of(agent), {**values, "transfer": transfer_json(record)}, detail, inside=with_line
        )
        if lines:
            after = dataclasses.replace(after, last_message_id=lines[0].id)
        # The move first: a receiving desk learns of the attention before its new line.
        await self._publish(
            AttentionTransferred(at=now, attention=after, actor=Actor.of(agent), from_campaign_id=current.campaign_id, from_agent_id=current.agent_id)
        )
        for line in lines:
            await self._publish(MessageAdded(at=now, attention_id=after.id, campaign_id=after.campaign_id, agent_id=after.agent_id, message=line))
        return after

    async def release(self, attention_id: int, agent: Agent) -> Attention:
        """The owner (or a supervisor) puts an open attention back in its campaign's queue."""
        current = await self.attention(attention_id)
        next_state(current.state, Action.RELEASE, current.id)
        permissions.require_owner(agent, current, supervisor_may=True)
        after, now = await self._move(
            current, Action.RELEASE, Actor.of(agent), {"agent_id": None, "assigned_at": None}, {"from_agent_id": current.agent_id}
        )
        await self._publish(AttentionReleased(at=now, attention=after, actor=Actor.of(agent), from_agent_id=current.agent_id))
        return after

    async def release_open_attentions(self, agent: Agent) -> list[Attention]:
        """Before the agent leaves: each of their open attentions back to its queue at once,
        so no customer waits out an orphan timer. One that moved meanwhile (ended,
        transferred) is left as it is; each release is its own event."""
        async with self._engine.connect() as connection:
            held = await attention_rows.get_many(
                connection, attention_rows.active_for_desk(None, agent.id, include_queued=False)
            )
        released = []
        for current in held:
            try:
                released.append(await self.release(current.id, agent))
            except (Conflict, IllegalTransition, NotFound):
                continue
        return released

    async def terminate(self, attention_id: int, agent: Agent, form_values: Optional[Mapping[str, Any]] = None) -> Attention:
        """Terminar atención. Open: only its agent, with a valid form (every required field).
        Queued: only a supervisor (a customer who should not wait). Then the bot resumes."""
        current = await self.attention(attention_id)
        next_state(current.state, Action.TERMINATE, current.id)
        if current.state is AttentionState.OPEN:
            permissions.require_owner(agent, current)
        else:
            permissions.require_supervisor(agent, "end an attention that is still queued")
        form = self._checked_form(current, form_values or {}, check_required=current.state is AttentionState.OPEN)
        after, now = await self._move(
            current, Action.TERMINATE, Actor.of(agent), {"form": form, "terminated_at": self._now()}, {"by": "agent"},
            inside=self._into_history,
        )
        await self._publish(AttentionTerminated(at=now, attention=after, actor=Actor.of(agent)))
        await self._resume(after)
        return after

    async def terminate_by_bot(
        self, channel: Channel | str, account_id: str, customer_id: str, reason: Optional[str] = None
    ) -> Optional[Attention]:
        """The customer cancels while queued (``action_terminate_attention``). None when the
        customer has no active attention; Forbidden when an agent already holds it."""
        current = await self.active_attention(channel, account_id, customer_id)
        if current is None:
            return None
        if current.state is not AttentionState.QUEUED:
            raise Forbidden(
                "bot", f"attention {current.id} is open; only its agent can end it", code=ErrorCode.BOT_CANNOT_END_OPEN
            )
        after, now = await self._move(
            current, Action.TERMINATE, BOT, {"terminated_at": self._now()}, {"by": "bot", "reason": reason}, inside=self._into_history
        )
        await self._publish(AttentionTerminated(at=now, attention=after, actor=BOT, reason=reason))
        # No resume: the bot itself is running this; it decides what to say next.
        return after

    async def _resume(self, attention: Attention) -> None:
        try:
            await self._resumer.resume(attention)
        except Exception:
            # The attention is terminated and stays so; the conversation stays paused until
            # the customer writes again or an operator resumes it. Loud in the logs.
            logger.exception("resuming the conversation of attention %s failed", attention.id)

    def _checked_form(self, current: Attention, values: Mapping[str, Any], check_required: bool) -> dict[str, Any]:
        fields = self._fields_of(current)
        merged = {**current.form, **values}
        errors = validate_form(fields, merged, check_required=check_required)
        if errors:
            raise InvalidForm(current.id, errors)
        return normalize_form(fields, merged)

    def _fields_of(self, current: Attention) -> tuple:
        try:
            return self._book.get(current.campaign_id).form_for(current.direction)
        except NotFound:
            raise InvalidRequest(
                f"attention {current.id}: campaign '{current.campaign_id}' is no longer in the campaigns file; transfer it first",
                code=ErrorCode.CAMPAIGN_GONE, campaign_id=current.campaign_id,
            ) from None

    async def record_slots_by_bot(self, attention_id: int, slots: Mapping[str, Any]) -> Attention:
        """The bot's slots into the fields whose ``prefill`` names them (``{slot: ...}``);
        slots no field asks for are ignored, and invalid values are left for the agent to fill.
        The slots are kept with the attention too: a campaign it is transferred to may ask for them."""
        current = await self.attention(attention_id)
        fields = self._fields_of(current)
        wanted = [field for field in fields if field.prefill_from_slot and slots.get(field.prefill_from_slot) is not None]
        values = prefill_form(wanted, slots)
        bot_values = bot_values_after(current.bot_values, _json_ready(dict(slots)))
        return await self.record_form_by_bot(attention_id, values, bot_values=bot_values)

    async def record_form_by_bot(
        self, attention_id: int, values: Mapping[str, Any], bot_values: Optional[Mapping[str, Any]] = None
    ) -> Attention:
        """``action_record_form_fields``: what the bot collected goes into the active
        attention's form (checked like an agent's draft; unknown fields are refused)."""
        current = await self.attention(attention_id)
        if not current.is_active:
            raise Conflict(current.id, "the attention has ended", current.state.value, code=ErrorCode.ATTENTION_ENDED)
        if not values and (bot_values is None or bot_values == current.bot_values):
            return current
        form = self._checked_form(current, values, check_required=False)
        now = self._now()
        changes: dict[str, Any] = {"form": form, "updated_at": now}
        if bot_values is not None:
            changes["bot_values"] = dict(bot_values)
        async with self._engine.begin() as connection:
            changed = await attention_rows.compare_and_set(
                connection, current.id, expected_state=current.state, values=changes
            )
            if not changed:
                raise Conflict(current.id, "it changed while the bot was recording")
            if values:  # only the bot's own values changed: nothing for the trail or the desk
                await audit.record(connection, current.id, BOT, "form_saved", now, detail={"fields": sorted(values)})
            after = await self._attention(connection, current.id)
        if values:
            await self._publish(FormSaved(at=now, attention=after, actor=BOT))
        return after

    async def save_form(self, attention_id: int, agent: Agent, values: Mapping[str, Any]) -> Attention:
        """Save form values during the attention (a draft: required fields are checked only
        at terminate, but what is entered must be valid)."""
        current = await self.attention(attention_id)
        permissions.require_owner(agent, current)
        if current.state is not AttentionState.OPEN:
            raise Conflict(
                current.id, "only an open attention's form can be edited", current.state.value, code=ErrorCode.ATTENTION_NOT_OPEN
            )
        form = self._checked_form(current, values, check_required=False)
        now = self._now()
        async with self._engine.begin() as connection:
            changed = await attention_rows.compare_and_set(
                connection, current.id, expected_state=AttentionState.OPEN, expected_agent_id=agent.id,
                values={"form": form, "updated_at": now},
            )
            if not changed:
                raise Conflict(current.id, "it changed while you were editing")
            await audit.record(connection, current.id, Actor.of(agent), "form_saved", now, detail={"fields": sorted(values)})
            after = await self._attention(connection, current.id)
        await self._publish(FormSaved(at=now, attention=after, actor=Actor.of(agent)))
        return after

    # -- presence and orphans ----------------------------------------------------------

    async def agent_seen(self, agent_id: int, at: Optional[datetime] = None) -> None:
        """The agent's desk is connected (call on connect and on every heartbeat)."""
        # The moment is taken before waiting for a connection: a "left" of an earlier close
        # that gets the connection later must still be older than this "seen".
        at = as_utc(at) if at else self._now()
        async with self._engine.begin() as connection:
            await agent_rows.seen(connection, agent_id, at)

    async def agent_left(self, agent_id: int, at: Optional[datetime] = None) -> None:
        """The agent logged out or their last desk connection closed."""
        at = as_utc(at) if at else self._now()
        async with self._engine.begin() as connection:
            await agent_rows.left(connection, agent_id, at)

    async def online(self, agent_ids: Iterable[int], now: Optional[datetime] = None) -> dict[int, tuple[bool, Optional[datetime]]]:
        """Per agent: whether they are present now (the rule of the orphan timers) and
        when they were last seen."""
        now = as_utc(now) if now else self._now()
        ids = list(agent_ids)
        async with self._engine.connect() as connection:
            found = await agent_rows.presences(connection, ids)
        return {
            agent_id: (self._absent_since(found.get(agent_id), now) is None, found[agent_id].last_seen_at if agent_id in found else None)
            for agent_id in ids
        }

    async def overview(self, agent: Agent, now: Optional[datetime] = None) -> Overview:
        """The supervisor's view: each campaign's queue (count, oldest wait), open
        attentions per agent, and who is online."""
        permissions.require_supervisor(agent, "see the overview")
        now = as_utc(now) if now else self._now()
        async with self._engine.connect() as connection:
            loads = await attention_rows.active_loads(connection)
            everyone = await agent_rows.all_agents(connection)
        staff = [person for person in everyone if person.active]
        online = await self.online([person.id for person in staff], now)
        open_by_agent: dict[int, dict[str, int]] = {}
        for load in loads.open:
            open_by_agent.setdefault(load.agent_id, {})[load.campaign_id] = load.count
        agents = [
            AgentLoad(
                agent=person, online=online[person.id][0], last_seen_at=online[person.id][1],
                open=sum(open_by_agent.get(person.id, {}).values()), open_by_campaign=dict(open_by_agent.get(person.id, {})),
            )  # fmt: skip
            for person in staff
        ]
        campaign_ids = list(self._book.campaigns) + sorted(
            {load.campaign_id for load in (*loads.queued, *loads.open)} - set(self._book.campaigns)
        )
        campaigns = []
        for campaign_id in campaign_ids:
            found = self._book.campaigns.get(campaign_id)
            queued = next((load for load in loads.queued if load.campaign_id == campaign_id), None)
            members = [load for load in agents if campaign_id in load.agent.campaigns or load.open_by_campaign.get(campaign_id)]
            oldest = queued.oldest_since if queued else None
            campaigns.append(
                CampaignLoad(
                    id=campaign_id, name=found.name if found else campaign_id, queued=queued.count if queued else 0,
                    oldest_queued_since=oldest,
                    oldest_waiting_seconds=max(0, int((now - oldest).total_seconds())) if oldest else None,
                    open=sum(load.count for load in loads.open if load.campaign_id == campaign_id),
                    agents_online=sum(1 for load in members if load.online and not load.agent.is_supervisor),
                    agents=[(load.agent.id, load.open_by_campaign.get(campaign_id, 0)) for load in members],
                )  # fmt: skip
            )
        return Overview(at=now, campaigns=campaigns, agents=agents)

    def _absent_since(self, presence: Optional[agent_rows.Presence], now: datetime) -> Optional[datetime]:
        """Since when the agent is gone; None while present."""
        if presence is None:
            return datetime.min.replace(tzinfo=now.tzinfo)  # never seen: gone since always
        seen, left = presence.last_seen_at, presence.left_at
        if left is not None and (seen is None or left >= seen):
            return left
        if seen is not None and now - seen > self.presence_timeout:
            return seen
        return None

    async def return_orphans(self, now: Optional[datetime] = None) -> list[Attention]:
        """Put back in the queue the open attentions whose agent has been gone longer than
        their campaign's ``orphan_timeout`` (counted from when the agent left, or from when
        they got the attention if later). Run it periodically; safe on several instances."""
        now = as_utc(now) if now else self._now()
        async with self._engine.connect() as connection:
            candidates = await attention_rows.open_with_owner(connection)
            presence = await agent_rows.presences(connection, [a.agent_id for a in candidates if a.agent_id is not None])
        returned: list[Attention] = []
        for current in candidates:
            absent_since = self._absent_since(presence.get(current.agent_id), now) if current.agent_id is not None else None
            if absent_since is None:
                continue
            try:
                timeout = self._book.get(current.campaign_id).orphan_timeout
            except NotFound:
                continue
            since = max(absent_since, current.assigned_at or absent_since)
            if now - since < timeout:
                continue
            try:
                after, at = await self._move(
                    current, Action.RETURN_ORPHAN, SYSTEM, {"agent_id": None, "assigned_at": None},
                    {"from_agent_id": current.agent_id, "absent_since": since.isoformat()},
                )
            except Conflict:
                continue  # the agent acted, or another instance returned it first
            returned.append(after)
            await self._publish(AttentionReturned(at=at, attention=after, actor=SYSTEM, from_agent_id=current.agent_id))
        return returned

    # -- agent messages ----------------------------------------------------------------

    def _check_content(self, channel: Channel, text: Optional[str], attachment: Optional[OutgoingAttachment]) -> Optional[str]:
        text = text.strip() if text else None
        if not text and attachment is None:
            raise InvalidMessage("a message needs a text or an attachment", code=ErrorCode.MESSAGE_EMPTY)
        limit = TEXT_LIMITS[channel]
        if text and limit.size(text) > limit.max:
            words = "characters" if limit.unit == "chars" else "bytes"
            raise InvalidMessage(
                f"{channel.value.capitalize()} texts are limited to {limit.max} {words} (this has {limit.size(text)})",
                code=ErrorCode.MESSAGE_TOO_LONG, limit=limit.max, length=limit.size(text), unit=limit.unit,
            )
        if attachment is not None and attachment.type not in OUTGOING_ATTACHMENT_TYPES:
            raise InvalidMessage(
                f"unknown attachment type {attachment.type!r} (use {', '.join(sorted(OUTGOING_ATTACHMENT_TYPES))})",
                code=ErrorCode.ATTACHMENT_TYPE, allowed=", ".join(sorted(OUTGOING_ATTACHMENT_TYPES)),
            )
        return text

    def _human_agent_tag(self, current: Attention) -> bool:
        try:
            return self._book.get(current.campaign_id).human_agent_tag
        except NotFound:
            return False

    async def send_agent_message(
        self, attention_id: int, agent: Agent, text: Optional[str] = None, attachment: Optional[OutgoingAttachment] = None
    ) -> Message:
        """Send the owner's message: checked against Meta's window BEFORE anything is stored
        (WindowClosed), stored as pending (the outbox), sent through the gateway, then
        marked sent (with Meta's mid) or failed (with Meta's error). Returns the message as
        it ends up; a failure is a failed message, not an exception."""
        current = await self.attention(attention_id)
        self._require_writable(current, agent)
        text = self._check_content(current.channel, text, attachment)
        return await self._store_and_deliver(current, agent, text, attachment)

    async def send_agent_attachment(
        self, attention_id: int, agent: Agent, attachment: OutgoingAttachment, caption: Optional[str] = None
    ) -> list[Message]:
        """An attachment with its caption. Meta carries no caption on an attachment, so the
        caption is a text message of its own, sent right after it (the customer sees them in
        that order, and so does the desk). Both are checked against the channel's limits
        before either is stored: a caption too long refuses the pair, nothing is cut. When
        Meta refuses the attachment the caption is not sent (alone it would make no sense);
        the answer then holds the failed attachment only."""
        current = await self.attention(attention_id)
        self._require_writable(current, agent)
        caption = self._check_content(current.channel, caption, None) if caption and caption.strip() else None
        self._check_content(current.channel, None, attachment)
        sent = [await self._store_and_deliver(current, agent, None, attachment)]
        if caption and sent[0].status is not MessageStatus.FAILED:
            sent.append(await self._store_and_deliver(current, agent, caption, None))
        return sent

    @staticmethod
    def _require_writable(current: Attention, agent: Agent) -> None:
        """Only its agent writes in an attention, and only while it is open."""
        permissions.require_owner(agent, current)
        if current.state is not AttentionState.OPEN:
            raise Conflict(
                current.id, "messages can be sent only in an open attention", current.state.value,
                code=ErrorCode.ATTENTION_NOT_OPEN
            )

    async def _store_and_deliver(
        self, current: Attention, agent: Agent, text: Optional[str], attachment: Optional[OutgoingAttachment]
    ) -> Message:
        """Checked content of ``current``'s agent: stored as pending within Meta's window,
        published, then sent (see send_agent_message)."""
        now = self._now()
        policy = send_policy(now, current.last_customer_message_at, self._human_agent_tag(current), current.id)
        payload: dict[str, Any] = {}
        if attachment is not None:
            payload["attachment"] = dataclasses.asdict(attachment)
        async with self._engine.begin() as connection:
            stored = await message_rows.insert(
                connection,
                attention_id=current.id,
                direction=MessageDirection.OUT,
                author=Author.AGENT,
                kind=MessageKind.ATTACHMENT if attachment is not None else MessageKind.TEXT,
                status=MessageStatus.PENDING,
                now=now,
                text=text,
                payload=payload,
                agent_id=agent.id,
                agent_name=agent.display_name,
                messaging_type=policy.messaging_type,
                tag=policy.tag,
            )
            # Still open and still ours, or nothing is stored (the insert rolls back).
            still_ours = await attention_rows.compare_and_set(
                connection, current.id, expected_state=AttentionState.OPEN, expected_agent_id=agent.id,
                values={"last_message_id": stored.id, "updated_at": now},
            )
            if not still_ours:
                raise Conflict(current.id, "it changed while you were writing")
        await self._publish(MessageAdded(at=now, attention_id=current.id, campaign_id=current.campaign_id, agent_id=agent.id, message=stored))
        return await self._deliver(current, stored, text, attachment, policy.messaging_type, policy.tag)

    async def retry_message(self, message_id: int, agent: Agent) -> Message:
        """Send a failed message again (the desk's retry), re-checking the window."""
        async with self._engine.connect() as connection:
            failed = await message_rows.get(connection, message_id)
            if failed is None:
                raise NotFound("message", message_id)
            current = await self._attention(connection, failed.attention_id)
        self._require_writable(current, agent)
        if failed.direction is not MessageDirection.OUT or failed.status not in (MessageStatus.FAILED, MessageStatus.UNKNOWN):
            # UNKNOWN too: the agent, told that Meta may have it, decides to send it again.
            raise InvalidMessage(
                f"message {message_id} has not failed; there is nothing to retry", code=ErrorCode.MESSAGE_NOT_FAILED
            )
        policy = send_policy(self._now(), current.last_customer_message_at, self._human_agent_tag(current), current.id)
        async with self._engine.begin() as connection:
            if not await message_rows.mark_pending(connection, message_id, policy.messaging_type, policy.tag, self._now()):
                raise Conflict(current.id, f"message {message_id} is already being retried", code=ErrorCode.MESSAGE_RETRYING)
        raw = failed.payload.get("attachment")
        attachment = OutgoingAttachment(**raw) if isinstance(raw, Mapping) else None
        return await self._deliver(current, failed, failed.text, attachment, policy.messaging_type, policy.tag)

    async def _deliver(
        self, current: Attention, stored: Message, text: Optional[str], attachment: Optional[OutgoingAttachment],
        messaging_type: str, tag: Optional[str],
    ) -> Message:
        outbound = OutboundMessage(
            message_id=stored.id, attention_id=current.id, channel=current.channel, account_id=current.account_id,
            customer_id=current.customer_id, messaging_type=messaging_type, tag=tag, text=text, attachment=attachment,
        )
        self._sending.add(stored.id)
        try:
            return await self._send_and_record(current, stored, outbound)
        finally:
            self._sending.discard(stored.id)

    async def _send_and_record(self, current: Attention, stored: Message, outbound: OutboundMessage) -> Message:
        """Send, in the order that lets a crash leave nothing to guess: the attempt's key is
        committed on the message (``send_token``), then the gateway sends it in Meta's
        metadata, then Meta's answer (the mid) is committed. A crash before the first commit
        leaves a message Meta never had (the sweep sends it); between the first and the last,
        one Meta may have (its echo makes it sent; without one the sweep says unknown)."""
        key = send_key(stored.id)
        try:
            async with self._engine.begin() as connection:
                handed = await message_rows.mark_sending(connection, stored.id, key, self._now())
        except TRANSIENT_STORAGE_ERRORS as busy:
            # The message is stored (the desk shows it) and certainly not at Meta: it stays
            # pending for the outbox sweep. Answering an error here would tell the agent it
            # was not sent, inviting a second copy.
            logger.warning("Message %s stays pending for the outbox sweep: the database was busy (%s).", stored.id, type(busy).__name__)
            return stored
        if not handed:  # not pending any more (an echo or another process was faster)
            async with self._engine.connect() as connection:
                now_there = await message_rows.get(connection, stored.id)
            assert now_there is not None
            return now_there
        outbound = dataclasses.replace(outbound, send_token=key)
        try:
            receipt = await self._gateway.send(outbound)
        except DeliveryFailed as failure:
            return await self._record_failure(current, stored.id, failure)
        except Exception as error:  # a bug in a gateway must not leave the message pending forever
            logger.exception("channel gateway failed on message %s", stored.id)
            return await self._record_failure(current, stored.id, DeliveryFailed(None, None, str(error) or type(error).__name__, transient=True))
        now = self._now()
        try:
            async with self._engine.begin() as connection:
                await message_rows.mark_sent(connection, stored.id, receipt.mid, as_utc(receipt.sent_at) if receipt.sent_at else now, now)
                sent = await message_rows.get(connection, stored.id)
        except TRANSIENT_STORAGE_ERRORS as busy:
            # Meta has it; its echo (carrying send_token) makes it sent, and no sweep sends a
            # message with a token again. Pending meanwhile, never an error: it went out.
            logger.warning("Message %s went to Meta; recording that waits for its echo: the database was busy (%s).",
                           stored.id, type(busy).__name__)  # fmt: skip
            return stored
        assert sent is not None
        await self._publish(MessageUpdated(at=now, attention_id=current.id, campaign_id=current.campaign_id, agent_id=current.agent_id, message=sent))
        return sent

    async def _record_failure(self, current: Attention, message_id: int, failure: DeliveryFailed) -> Message:
        now = self._now()
        async with self._engine.begin() as connection:
            await message_rows.mark_failed(connection, message_id, failure.code, failure.subcode, failure.message, now)
            failed = await message_rows.get(connection, message_id)
        assert failed is not None
        await self._publish(MessageUpdated(at=now, attention_id=current.id, campaign_id=current.campaign_id, agent_id=current.agent_id, message=failed))
        return failed

    # -- the outbox after a crash -------------------------------------------------------

    async def recover_outbox(
        self, stale_after: timedelta = DEFAULT_OUTBOX_STALE_AFTER, now: Optional[datetime] = None
    ) -> list[Message]:
        """Finish the agent messages a dead process left ``pending``. Returns them as they
        ended. Run it periodically; safe on several instances (a message is claimed by one
        sweep only) and never takes a message this process is still sending.

        Meta's Send API has no idempotency key, so what a crash left is decided by how far
        the send got (``_send_and_record`` commits the attempt's key, ``send_token``, before
        the call, and Meta's mid right after it):

        - no ``send_token``: the process died before handing it to Meta, which never had
          it. Sent now (same message id, so its echo finds it), once: if that attempt is
          cut short before Meta too, it fails (a message that kills the process on every
          send would otherwise do so at every start). A message whose attention has
          ended, or whose window Meta has closed, fails with that reason.
        - ``send_token``, still pending ``stale_after`` (default 120 s) after the attempt:
          Meta may have it, and only its echo (the key rides in the metadata) can tell.
          An echo marks it sent whenever it arrives (``record_echo``: from the inbox's
          replay, or Meta's redelivery once the server is back), before or after this
          sweep. Without one it becomes ``unknown`` ("not known whether Meta got it"),
          never sent again by itself; the agent may retry it, knowing that.
        """
        now = as_utc(now) if now else self._now()
        stale_before = now - stale_after
        async with self._engine.connect() as connection:
            stale = await message_rows.stale_outbound(connection, stale_before, OUTBOX_SWEEP_BATCH)
        recovered: list[Message] = []
        # One by one, in order: a customer gets their messages in the order agents wrote them.
        for pending in stale:
            if pending.id in self._sending:
                continue
            ended = await self._recover(pending, stale_before, now)
            if ended is not None:
                recovered.append(ended)
        return recovered

    async def _recover(self, pending: Message, stale_before: datetime, now: datetime) -> Optional[Message]:
        uncertain: Optional[Message] = None
        async with self._engine.begin() as connection:
            current = await self._attention(connection, pending.attention_id)
            reason, policy = self._resend_decision(current, pending, now)
            if await message_rows.claim_uncertain(connection, pending.id, stale_before, INTERRUPTED, now):
                # Handed to Meta and no echo since: Meta may have it. Never sent again here.
                uncertain = await message_rows.get(connection, pending.id)
                claimed = False
            else:
                claimed = await message_rows.claim_stale(
                    connection, pending.id, stale_before, reason or RESENT_AFTER_INTERRUPTION, now,
                    messaging_type=policy.messaging_type if policy else None, tag=policy.tag if policy else None,
                )  # fmt: skip
        if uncertain is not None:
            logger.warning("Message %s was being sent when a server stopped and no echo came: status unknown, "
                           "not sent again.", pending.id)  # fmt: skip
            await self._publish(MessageUpdated(at=now, attention_id=current.id, campaign_id=current.campaign_id,
                                               agent_id=current.agent_id, message=uncertain))  # fmt: skip
            return uncertain
        if not claimed:
            return None  # another instance took it, or its echo came in the meantime
        if reason is not None or policy is None:
            logger.warning("Message %s was left pending by a stopped server: failed (%s).", pending.id, reason)
            return await self._record_failure(current, pending.id, DeliveryFailed(None, None, reason or NEVER_SENT))
        logger.info("Message %s was left pending by a stopped server: sending it again.", pending.id)
        raw = pending.payload.get("attachment")
        attachment = OutgoingAttachment(**raw) if isinstance(raw, Mapping) else None
        return await self._deliver(current, pending, pending.text, attachment, policy.messaging_type, policy.tag)

    def _resend_decision(self, current: Attention, pending: Message, now: datetime) -> tuple[Optional[str], Optional[SendPolicy]]:
        """(why it must fail, None) or (None, how to send it now)."""
        if pending.error_message == RESENT_AFTER_INTERRUPTION:
            return f"{NEVER_SENT}, also when it was tried again after an earlier stop; not tried a third time", None
        # A queued attention is still a human conversation (returned or released while the
        # server was down): whoever opens it next sees the message in its place.
        if current.state is AttentionState.TERMINATED:
            return f"{NEVER_SENT}; not sent because the attention has ended", None
        try:
            return None, send_policy(now, current.last_customer_message_at, self._human_agent_tag(current), current.id)
        except WindowClosed as closed:
            return f"{NEVER_SENT}; not sent because {closed.reason}", None

    # -- statuses from Meta ------------------------------------------------------------

    async def record_status(
        self,
        channel: Channel | str,
        status: MessageStatus | str,
        *,
        mids: Iterable[str] = (),
        account_id: Optional[str] = None,
        customer_id: Optional[str] = None,
        watermark: Optional[datetime] = None,
        at: Optional[datetime] = None,
    ) -> list[Message]:
        """Delivery and read webhooks: move our outbound messages forward (never back).

        By ``mids`` (Instagram reads, Messenger deliveries with mids, echoes), or by
        ``watermark`` for the customer ``account_id``/``customer_id`` (everything sent up
        to that time). Returns the messages that changed.
        """
        status = MessageStatus(status)
        if status not in (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ):
            raise InvalidRequest(f"status {status.value!r} does not come from Meta", code=ErrorCode.STATUS_NOT_META)
        now = self._now()
        when = as_utc(at) if at else (as_utc(watermark) if watermark else now)
        async with self._engine.begin() as connection:
            changed = await message_rows.advance_status(
                connection, Channel(channel), status, when, now, mids=mids, account_id=account_id, customer_id=customer_id,
                watermark=as_utc(watermark) if watermark else None,
            )
            owners = {}
            for attention_id in {message.attention_id for message in changed}:
                owners[attention_id] = await self._attention(connection, attention_id)
        for message in changed:
            owner = owners[message.attention_id]
            await self._publish(MessageUpdated(at=now, attention_id=owner.id, campaign_id=owner.campaign_id, agent_id=owner.agent_id, message=message))
        return changed

    async def record_echo(self, channel: Channel | str, mid: str, message_id: Optional[int] = None) -> Optional[Message]:
        """Meta echoed one of our sends. ``message_id`` is what we put in ``metadata``; the
        echo may come before the send call returns, so this marks the message sent."""
        now = self._now()
        async with self._engine.begin() as connection:
            if message_id is not None:
                found = await message_rows.get(connection, message_id)
                if found is None or found.direction is not MessageDirection.OUT:
                    return None
                moved = await message_rows.mark_sent(connection, message_id, mid, now, now)
                updated = await message_rows.get(connection, message_id)
                current = await self._attention(connection, found.attention_id)
            else:
                changed = await message_rows.advance_status(connection, Channel(channel), MessageStatus.SENT, now, now, mids=[mid])
                if not changed:
                    return None
                moved, updated = True, changed[0]
                current = await self._attention(connection, updated.attention_id)
        if moved and updated is not None:
            await self._publish(MessageUpdated(at=now, attention_id=current.id, campaign_id=current.campaign_id, agent_id=current.agent_id, message=updated))
        return updated

    async def mark_read(self, attention_id: int, agent: Agent, up_to_message_id: int) -> None:
        """The agent has seen the attention's messages up to this one (unread counters)."""
        current = await self.attention(attention_id)
        permissions.require_can_see(agent, current)
        async with self._engine.begin() as connection:
            await attention_rows.mark_read(connection, attention_id, up_to_message_id)

    # -- outbound attentions (an agent writes first) -----------------------------------

    async def customer_window(self, channel: Channel | str, account_id: str, customer_id: str, human_agent_tag: bool) -> Window:
        """Meta's windows for writing to this customer now: from their last message in any
        of their attentions."""
        async with self._engine.connect() as connection:
            last = await attention_rows.last_customer_message_at(connection, channel, account_id, customer_id)
        return window_of(last, human_agent_tag)

    async def start_outbound(self, agent: Agent, from_attention_id: int, campaign_id: Optional[str] = None) -> Attention:
        """A new attention an agent starts with a past customer (from a history item),
        open for that agent, in ``campaign_id`` (one of theirs; default: the past one's),
        with the campaign's outbound form. Messenger only (InvalidRequest on Instagram);
        only while Meta allows writing: within 24 h of the customer's last message, or 7
        days with HUMAN_AGENT where the campaign allows it (OutboundNotAllowed); never
        while the customer has an active attention (CustomerBusy)."""
        permissions.require_active(agent)
        past = await self.attention(from_attention_id)
        permissions.require_can_see(agent, past)
        if past.channel is not Channel.MESSENGER:
            raise InvalidRequest(
                f"outbound attentions are a Messenger feature; Instagram does not let a business write first "
                f"(attention {past.id} is on {past.channel.value})",
                code=ErrorCode.OUTBOUND_MESSENGER_ONLY,
            )
        campaign_id = campaign_id or past.campaign_id
        try:
            campaign = self._book.get(campaign_id)
        except NotFound:
            raise InvalidRequest(
                f"campaign '{campaign_id}' does not exist", code=ErrorCode.CAMPAIGN_UNKNOWN, campaign_id=campaign_id
            ) from None
        if not agent.serves(campaign.id):
            raise Forbidden(
                permissions.who(agent), f"the agent is not in campaign '{campaign.id}'",
                code=ErrorCode.CAMPAIGN_NOT_YOURS, campaign_id=campaign.id
            )
        if not campaign.serves(past.channel, past.account_id):
            raise InvalidRequest(
                f"campaign '{campaign.id}' does not serve {past.channel.value} account {past.account_id}",
                code=ErrorCode.CAMPAIGN_WRONG_ACCOUNT, campaign_id=campaign.id,
            )
        active = await self.active_attention(past.channel, past.account_id, past.customer_id)
        if active is not None:
            raise CustomerBusy(active.id, active.state.value, active.agent_id)
        now = self._now()
        window = await self.customer_window(past.channel, past.account_id, past.customer_id, campaign.human_agent_tag)
        if not window.is_open(now):
            raise OutboundNotAllowed(
                past.id, window.last_customer_message_at, self._closed_reason(window, campaign),
                window.response_until, window.human_agent_until, campaign.human_agent_tag,
            )  # fmt: skip
        form = prefill_form(campaign.outbound_form, {})
        try:
            async with self._engine.begin() as connection:
                attention_id = await attention_rows.insert(
                    connection, channel=past.channel, account_id=past.account_id, customer_id=past.customer_id,
                    campaign_id=campaign.id, direction=Direction.OUTBOUND, state=AttentionState.OPEN, form=form,
                    context=[], now=now, agent_id=agent.id, last_customer_message_at=window.last_customer_message_at,
                )  # fmt: skip
                await audit.record(
                    connection, attention_id, Actor.of(agent), "started_outbound", now, None, AttentionState.OPEN,
                    {"campaign_id": campaign.id, "from_attention_id": past.id},
                )
                created = await self._attention(connection, attention_id)
        except IntegrityError as error:
            if not is_unique_violation(error):
                raise
            winner = await self.active_attention(past.channel, past.account_id, past.customer_id)
            if winner is None:  # pragma: no cover - the winner ended in between
                raise
            raise CustomerBusy(winner.id, winner.state.value, winner.agent_id) from None
        await self._publish(AttentionOpened(at=now, attention=created, actor=Actor.of(agent)))
        return created

    @staticmethod
    def _closed_reason(window: Window, campaign: Campaign) -> str:
        if window.last_customer_message_at is None:
            return "the customer has never written to us; Meta lets a business write only after the customer does"
        if campaign.human_agent_tag:
            return (
                "more than 7 days have passed since the customer's last message; Meta allows no message, "
                "not even with the HUMAN_AGENT tag, until the customer writes again"
            )
        return (
            f"more than 24 hours have passed since the customer's last message and campaign '{campaign.name}' "
            "does not allow the HUMAN_AGENT tag; the customer has to write first"
        )

    # -- labels ------------------------------------------------------------------------

    async def create_label(self, agent: Agent, name: str, colour: str = "#888888") -> Label:
        permissions.require_supervisor(agent, "create labels")
        name = name.strip()
        if not name or len(name) > 100:
            raise InvalidRequest("a label needs a name of 1 to 100 characters", code=ErrorCode.LABEL_NAME)
        if not LABEL_COLOUR.match(colour):
            raise InvalidRequest("colour is #rrggbb", code=ErrorCode.LABEL_COLOUR)
        try:
            async with self._engine.begin() as connection:
                label_id = await label_rows.insert(connection, name, colour, self._now())
        except IntegrityError:
            raise InvalidRequest(f"a label named {name!r} exists already", code=ErrorCode.LABEL_EXISTS, name=name) from None
        return Label(id=label_id, name=name, colour=colour)

    async def update_label(
        self, agent: Agent, label_id: int, *, name: Optional[str] = None, colour: Optional[str] = None,
        retired: Optional[bool] = None,
    ) -> Label:
        """Rename, recolour, retire or bring back a label (supervisors). Attentions keep it."""
        permissions.require_supervisor(agent, "change labels")
        values: dict[str, Any] = {}
        if name is not None:
            name = name.strip()
            if not name or len(name) > 100:
                raise InvalidRequest("a label needs a name of 1 to 100 characters", code=ErrorCode.LABEL_NAME)
            values["name"] = name
        if colour is not None:
            if not LABEL_COLOUR.match(colour):
                raise InvalidRequest("colour is #rrggbb", code=ErrorCode.LABEL_COLOUR)
            values["colour"] = colour.lower()
        if retired is not None:
            values["retired"] = bool(retired)
        try:
            async with self._engine.begin() as connection:
                if not await label_rows.update(connection, label_id, values):
                    raise NotFound("label", label_id)
                changed = await label_rows.get(connection, label_id)
        except IntegrityError:
            raise InvalidRequest(f"a label named {name!r} exists already", code=ErrorCode.LABEL_EXISTS, name=name) from None
        assert changed is not None
        return changed

    async def labels(self, include_retired: bool = False) -> list[Label]:
        async with self._engine.connect() as connection:
            return await label_rows.all_labels(connection, include_retired)

    async def apply_label(self, attention_id: int, agent: Agent, label_id: int) -> Attention:
        return await self._label(attention_id, agent, label_id, apply=True)

    async def remove_label(self, attention_id: int, agent: Agent, label_id: int) -> Attention:
        return await self._label(attention_id, agent, label_id, apply=False)

    async def _label(self, attention_id: int, agent: Agent, label_id: int, apply: bool) -> Attention:
        now = self._now()
        async with self._engine.begin() as connection:
            current = await self._attention(connection, attention_id)
            permissions.require_can_see(agent, current)
            found = await label_rows.get(connection, label_id)
            if found is None:
                raise NotFound("label", label_id)
            if apply and found.retired:
                raise InvalidRequest(f"label {found.name!r} is retired", code=ErrorCode.LABEL_RETIRED, name=found.name)
            changed = await (label_rows.apply(connection, attention_id, label_id, agent.id, now) if apply else label_rows.remove(connection, attention_id, label_id))
            if changed:
                await audit.record(connection, attention_id, Actor.of(agent), "label_applied" if apply else "label_removed", now,
                                   detail={"label_id": found.id, "label": found.name})
            after = await self._attention(connection, attention_id)
        if changed:
            kind = LabelApplied if apply else LabelRemoved
            await self._publish(kind(at=now, attention=after, actor=Actor.of(agent), label=found))
        return after

    # -- agents ------------------------------------------------------------------------

    async def add_agent(
        self, username: str, display_name: str, role: Role | str = Role.AGENT, campaigns: Iterable[str] = (),
        password_hash: Optional[str] = None,
    ) -> Agent:
        """Create an agent (the desk checks that a supervisor asks)."""
        campaigns = list(campaigns)
        unknown = [campaign_id for campaign_id in campaigns if campaign_id not in self._book.campaigns]
        if unknown:
            raise InvalidRequest(f"unknown campaigns {unknown!r}", code=ErrorCode.CAMPAIGN_UNKNOWN, campaigns=list(unknown))
        try:
            async with self._engine.begin() as connection:
                agent_id = await agent_rows.insert(connection, username, display_name, Role(role), campaigns, self._now(), password_hash)
                created = await agent_rows.get(connection, agent_id)
        except IntegrityError:
            raise InvalidRequest(
                f"an agent named {username!r} exists already", code=ErrorCode.AGENT_EXISTS, username=username
            ) from None
        assert created is not None
        return created

    async def agent(self, agent_id: int) -> Agent:
        async with self._engine.connect() as connection:
            found = await agent_rows.get(connection, agent_id)
        if found is None:
            raise NotFound("agent", agent_id)
        return found

    async def agent_by_username(self, username: str) -> Optional[Agent]:
        async with self._engine.connect() as connection:
            return await agent_rows.by_username(connection, username)

    async def agents(self) -> list[Agent]:
        async with self._engine.connect() as connection:
            return await agent_rows.all_agents(connection)

    async def set_agent_campaigns(self, agent_id: int, campaigns: Iterable[str]) -> Agent:
        campaigns = list(campaigns)
        unknown = [campaign_id for campaign_id in campaigns if campaign_id not in self._book.campaigns]
        if unknown:
            raise InvalidRequest(f"unknown campaigns {unknown!r}", code=ErrorCode.CAMPAIGN_UNKNOWN, campaigns=list(unknown))
        await self.agent(agent_id)
        async with self._engine.begin() as connection:
            await agent_rows.set_campaigns(connection, agent_id, campaigns)
        return await self.agent(agent_id)

    async def agent_credentials(
        self, *, agent_id: Optional[int] = None, username: Optional[str] = None
    ) -> Optional[tuple[Agent, Optional[str]]]:
        """The agent (by id or username) with their stored password hash, for the desk's
        login; None when there is no such agent. The domain itself never reads the hash."""
        async with self._engine.connect() as connection:
            return await agent_rows.credentials(connection, agent_id=agent_id, username=username)

    async def set_agent_password(self, agent_id: int, password_hash: Optional[str]) -> Agent:
        """Store a new password hash (made by the desk; None: the agent cannot log in)."""
        await self.agent(agent_id)
        async with self._engine.begin() as connection:
            await agent_rows.set_password_hash(connection, agent_id, password_hash)
        return await self.agent(agent_id)

    async def set_agent_display_name(self, agent_id: int, display_name: str) -> Agent:
        display_name = display_name.strip()
        if not display_name:
            raise InvalidRequest("an agent needs a display name", code=ErrorCode.AGENT_DISPLAY_NAME)
        await self.agent(agent_id)
        async with self._engine.begin() as connection:
            await agent_rows.set_display_name(connection, agent_id, display_name)
        return await self.agent(agent_id)

    async def set_agent_active(self, agent_id: int, active: bool) -> Agent:
        await self.agent(agent_id)
        async with self._engine.begin() as connection:
            await agent_rows.set_active(connection, agent_id, active)
        return await self.agent(agent_id)


__all__ = ["DEFAULT_OUTBOX_STALE_AFTER", "DEFAULT_PRESENCE_TIMEOUT", "HandoffService", "NoGateway"]

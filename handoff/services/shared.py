"""What every use-case service stands on: the shared context (storage, clock, campaigns, event
bus, gateways, settings) and the few steps several of them take - reading an attention in a
transaction, publishing an event after the commit, the state move, checking a form.

One place for each, so a rule (the move's conditional update and audit line, "a broken bus
must not undo the answer") cannot drift between use cases.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from handoff.campaigns.forms import normalize_form, validate_form
from handoff.campaigns.model import CampaignBook
from handoff.clock import Clock, as_utc, utc_now
from handoff.error_codes import ErrorCode
from handoff.errors import Conflict, InvalidForm, InvalidRequest, NotFound
from handoff.events import EventBus, HandoffEvent, InMemoryEventBus
from handoff.model import Actor, Attention, Channel
from handoff.ports import ChannelGateway, ConversationResumer, DeliveryFailed, NoResumer, OutboundMessage
from handoff.records import Records, Storage
from handoff.states import Action, next_state

logger = logging.getLogger(__name__)

# How long after an agent's last heartbeat (``presence.seen``) the agent counts as gone even
# without a ``presence.left`` (a closed laptop, a crashed browser, a dead instance).
DEFAULT_PRESENCE_TIMEOUT = timedelta(seconds=90)


class NoGateway:
    """Used when no ChannelGateway was given: sending fails loudly, nothing else does."""

    async def send(self, outbound: OutboundMessage) -> Any:
        raise DeliveryFailed(None, None, "no channel gateway is configured", transient=False)


@dataclass
class ServiceContext:
    """The parts the use-case services share. Mutable on purpose: a test moves ``clock``, and
    every service sees the new time at once."""

    storage: Storage
    book: CampaignBook
    gateway: ChannelGateway = field(default_factory=NoGateway)
    resumer: ConversationResumer = field(default_factory=NoResumer)
    bus: EventBus = field(default_factory=InMemoryEventBus)
    clock: Clock = utc_now
    presence_timeout: timedelta = DEFAULT_PRESENCE_TIMEOUT

    def now(self) -> datetime:
        return as_utc(self.clock())

    async def publish(self, event: HandoffEvent) -> None:
        try:
            await self.bus.publish(event)
        except Exception:  # the change is committed; a broken bus must not undo the answer
            logger.exception("publishing %s failed", event.type)


async def sync_campaigns(context: ServiceContext) -> None:
    """Write the campaigns snapshot (idempotent)."""
    async with context.storage.write() as records:
        await records.campaigns.sync(context.book, context.now())


async def read_attention(records: Records, attention_id: int) -> Attention:
    """The attention, inside the caller's transaction; NotFound when there is none."""
    found = await records.attentions.get(attention_id)
    if found is None:
        raise NotFound("attention", attention_id)
    return found


async def load_attention(context: ServiceContext, attention_id: int) -> Attention:
    async with context.storage.read() as records:
        return await read_attention(records, attention_id)


async def active_attention(
    context: ServiceContext, channel: Channel | str, account_id: str, customer_id: str
) -> Attention | None:
    """The customer's queued or open attention, if any."""
    async with context.storage.read() as records:
        return await records.attentions.active_for_customer(channel, account_id, customer_id)


async def move(
    context: ServiceContext,
    current: Attention,
    action: Action,
    actor: Actor,
    values: Mapping[str, Any],
    detail: Mapping[str, Any] | None = None,
    inside: Callable[[Records, Attention], Awaitable[None]] | None = None,
) -> tuple[Attention, datetime]:
    """Make ``action`` happen to ``current``: conditional update + audit in one
    transaction (``inside`` runs in it too, with the attention as it is after)."""
    to_state = next_state(current.state, action, current.id)
    now = context.now()
    async with context.storage.write() as records:
        changed = await records.attentions.compare_and_set(
            current.id,
            expected_state=current.state,
            expected_agent_id=current.agent_id,
            expected_campaign_id=current.campaign_id,
            values={"state": to_state.value, "updated_at": now, **values},
        )
        if not changed:
            raise Conflict(current.id, f"it changed while you were looking (it was {current.state.value})")
        await records.audit.record(current.id, actor, action.value, now, current.state, to_state, detail)
        after = await read_attention(records, current.id)
        if inside is not None:
            await inside(records, after)
    return after, now


def fields_of(context: ServiceContext, current: Attention) -> tuple:
    """The form fields of the attention's campaign for its direction."""
    try:
        return context.book.get(current.campaign_id).form_for(current.direction)
    except NotFound:
        raise InvalidRequest(
            f"attention {current.id}: campaign '{current.campaign_id}' is no longer in the campaigns file; transfer it first",
            code=ErrorCode.CAMPAIGN_GONE,
            campaign_id=current.campaign_id,
        ) from None


def checked_form(context: ServiceContext, current: Attention, values: Mapping[str, Any], check_required: bool) -> dict[str, Any]:
    """The attention's form with ``values`` over it, validated (InvalidForm) and normalized."""
    fields = fields_of(context, current)
    merged = {**current.form, **values}
    errors = validate_form(fields, merged, check_required=check_required)
    if errors:
        raise InvalidForm(current.id, errors)
    return normalize_form(fields, merged)


def human_agent_tag(context: ServiceContext, current: Attention) -> bool:
    """Whether the attention's campaign may write with Meta's HUMAN_AGENT tag (7 days)."""
    try:
        return context.book.get(current.campaign_id).human_agent_tag
    except NotFound:
        return False


def json_ready(value: Any) -> Any:
    """Context entries and slots go into a JSON column: times become ISO 8601 text."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    return getattr(value, "value", value) if not isinstance(value, (str, int, float, bool, type(None))) else value

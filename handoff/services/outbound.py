"""Outbound attentions: an agent writes first to a past customer, while Meta allows it."""

from __future__ import annotations

from handoff import permissions
from handoff.campaigns.forms import prefill_form
from handoff.campaigns.model import Campaign
from handoff.error_codes import ErrorCode
from handoff.errors import CustomerBusy, Forbidden, InvalidRequest, NotFound, OutboundNotAllowed
from handoff.events import AttentionOpened
from handoff.model import Actor, Agent, Attention, Channel, Direction
from handoff.records import DuplicateRecord
from handoff.services.shared import ServiceContext, active_attention, load_attention, read_attention
from handoff.states import AttentionState
from handoff.window import Window, window_of


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


class Outbound:
    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    async def customer_window(self, channel: Channel | str, account_id: str, customer_id: str, human_agent_tag: bool) -> Window:
        """Meta's windows for writing to this customer now: from their last message in any
        of their attentions."""
        async with self._context.storage.read() as records:
            last = await records.attentions.last_customer_message_at(channel, account_id, customer_id)
        return window_of(last, human_agent_tag)

    async def start(self, agent: Agent, from_attention_id: int, campaign_id: str | None = None) -> Attention:
        """A new attention an agent starts with a past customer (from a history item),
        open for that agent, in ``campaign_id`` (one of theirs; default: the past one's),
        with the campaign's outbound form. Messenger only (InvalidRequest on Instagram);
        only while Meta allows writing: within 24 h of the customer's last message, or 7
        days with HUMAN_AGENT where the campaign allows it (OutboundNotAllowed); never
        while the customer has an active attention (CustomerBusy)."""
        permissions.require_active(agent)
        past = await load_attention(self._context, from_attention_id)
        permissions.require_can_see(agent, past)
        if past.channel is not Channel.MESSENGER:
            raise InvalidRequest(
                f"outbound attentions are a Messenger feature; Instagram does not let a business write first "
                f"(attention {past.id} is on {past.channel.value})",
                code=ErrorCode.OUTBOUND_MESSENGER_ONLY,
            )
        campaign_id = campaign_id or past.campaign_id
        try:
            campaign = self._context.book.get(campaign_id)
        except NotFound:
            raise InvalidRequest(
                f"campaign '{campaign_id}' does not exist", code=ErrorCode.CAMPAIGN_UNKNOWN, campaign_id=campaign_id
            ) from None
        if not agent.serves(campaign.id):
            raise Forbidden(
                permissions.who(agent),
                f"the agent is not in campaign '{campaign.id}'",
                code=ErrorCode.CAMPAIGN_NOT_YOURS,
                campaign_id=campaign.id,
            )
        if not campaign.serves(past.channel, past.account_id):
            raise InvalidRequest(
                f"campaign '{campaign.id}' does not serve {past.channel.value} account {past.account_id}",
                code=ErrorCode.CAMPAIGN_WRONG_ACCOUNT,
                campaign_id=campaign.id,
            )
        active = await active_attention(self._context, past.channel, past.account_id, past.customer_id)
        if active is not None:
            raise CustomerBusy(active.id, active.state.value, active.agent_id)
        now = self._context.now()
        window = await self.customer_window(past.channel, past.account_id, past.customer_id, campaign.human_agent_tag)
        if not window.is_open(now):
            raise OutboundNotAllowed(
                past.id,
                window.last_customer_message_at,
                _closed_reason(window, campaign),
                window.response_until,
                window.human_agent_until,
                campaign.human_agent_tag,
            )
        form = prefill_form(campaign.outbound_form, {})
        try:
            async with self._context.storage.write() as records:
                attention_id = await records.attentions.insert(
                    channel=past.channel,
                    account_id=past.account_id,
                    customer_id=past.customer_id,
                    campaign_id=campaign.id,
                    direction=Direction.OUTBOUND,
                    state=AttentionState.OPEN,
                    form=form,
                    context=[],
                    now=now,
                    agent_id=agent.id,
                    last_customer_message_at=window.last_customer_message_at,
                )
                await records.audit.record(
                    attention_id,
                    Actor.of(agent),
                    "started_outbound",
                    now,
                    None,
                    AttentionState.OPEN,
                    {"campaign_id": campaign.id, "from_attention_id": past.id},
                )
                created = await read_attention(records, attention_id)
        except DuplicateRecord:
            winner = await active_attention(self._context, past.channel, past.account_id, past.customer_id)
            if winner is None:  # pragma: no cover - the winner ended in between
                raise
            raise CustomerBusy(winner.id, winner.state.value, winner.agent_id) from None
        await self._context.publish(AttentionOpened(at=now, attention=created, actor=Actor.of(agent)))
        return created

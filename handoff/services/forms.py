"""The attention's form: the bot records what it collected, the agent saves drafts (the
required fields are checked at terminate, in ``attentions``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from handoff import permissions
from handoff.campaigns.forms import prefill_form
from handoff.error_codes import ErrorCode
from handoff.errors import Conflict
from handoff.events import FormSaved
from handoff.model import BOT, Actor, Agent, Attention
from handoff.services.shared import ServiceContext, checked_form, fields_of, json_ready, load_attention, read_attention
from handoff.states import AttentionState
from handoff.transfers import bot_values_after


class Forms:
    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    async def record_slots_by_bot(self, attention_id: int, slots: Mapping[str, Any]) -> Attention:
        """The bot's slots into the fields whose ``prefill`` names them (``{slot: ...}``);
        slots no field asks for are ignored, and invalid values are left for the agent to fill.
        The slots are kept with the attention too: a campaign it is transferred to may ask for them."""
        current = await load_attention(self._context, attention_id)
        fields = fields_of(self._context, current)
        wanted = [field for field in fields if field.prefill_from_slot and slots.get(field.prefill_from_slot) is not None]
        values = prefill_form(wanted, slots)
        bot_values = bot_values_after(current.bot_values, json_ready(dict(slots)))
        return await self.record_by_bot(attention_id, values, bot_values=bot_values)

    async def record_by_bot(
        self, attention_id: int, values: Mapping[str, Any], bot_values: Mapping[str, Any] | None = None
    ) -> Attention:
        """``action_record_form_fields``: what the bot collected goes into the active
        attention's form (checked like an agent's draft; unknown fields are refused)."""
        current = await load_attention(self._context, attention_id)
        if not current.is_active:
            raise Conflict(current.id, "the attention has ended", current.state.value, code=ErrorCode.ATTENTION_ENDED)
        if not values and (bot_values is None or bot_values == current.bot_values):
            return current
        form = checked_form(self._context, current, values, check_required=False)
        now = self._context.now()
        changes: dict[str, Any] = {"form": form, "updated_at": now}
        if bot_values is not None:
            changes["bot_values"] = dict(bot_values)
        async with self._context.storage.write() as records:
            changed = await records.attentions.compare_and_set(current.id, expected_state=current.state, values=changes)
            if not changed:
                raise Conflict(current.id, "it changed while the bot was recording")
            if values:  # only the bot's own values changed: nothing for the trail or the desk
                await records.audit.record(current.id, BOT, "form_saved", now, detail={"fields": sorted(values)})
            after = await read_attention(records, current.id)
        if values:
            await self._context.publish(FormSaved(at=now, attention=after, actor=BOT))
        return after

    async def save(self, attention_id: int, agent: Agent, values: Mapping[str, Any]) -> Attention:
        """Save form values during the attention (a draft: required fields are checked only
        at terminate, but what is entered must be valid)."""
        current = await load_attention(self._context, attention_id)
        permissions.require_owner(agent, current)
        if current.state is not AttentionState.OPEN:
            raise Conflict(
                current.id, "only an open attention's form can be edited", current.state.value, code=ErrorCode.ATTENTION_NOT_OPEN
            )
        form = checked_form(self._context, current, values, check_required=False)
        now = self._context.now()
        async with self._context.storage.write() as records:
            changed = await records.attentions.compare_and_set(
                current.id,
                expected_state=AttentionState.OPEN,
                expected_agent_id=agent.id,
                values={"form": form, "updated_at": now},
            )
            if not changed:
                raise Conflict(current.id, "it changed while you were editing")
            await records.audit.record(current.id, Actor.of(agent), "form_saved", now, detail={"fields": sorted(values)})
            after = await read_attention(records, current.id)
        await self._context.publish(FormSaved(at=now, attention=after, actor=Actor.of(agent)))
        return after

"""Attention moves: an agent opens, transfers, releases or terminates an attention; the bot
terminates one the customer cancelled while queued. Each is one state move (``shared.move``:
conditional update and audit in one transaction) and one event after the commit."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any, NoReturn

from handoff import permissions
from handoff.campaigns.model import Campaign
from handoff.error_codes import ErrorCode
from handoff.errors import Conflict, Forbidden, IllegalTransition, InvalidTransfer, NotFound
from handoff.events import AttentionOpened, AttentionReleased, AttentionTerminated, AttentionTransferred, MessageAdded
from handoff.model import BOT, CANCELLED_BY_CUSTOMER, Actor, ActorKind, Agent, Attention, Channel, Message, Transfer
from handoff.records import Records
from handoff.services.agents import Agents
from handoff.services.shared import ServiceContext, active_attention, checked_form, load_attention, move
from handoff.states import Action, AttentionState, next_state
from handoff.transfers import carried_form, clean_note

logger = logging.getLogger(__name__)


class Attentions:
    def __init__(self, context: ServiceContext, agents: Agents) -> None:
        self._context = context
        self._agents = agents  # a transfer's target agent

    async def get(self, attention_id: int) -> Attention:
        return await load_attention(self._context, attention_id)

    async def open(self, attention_id: int, agent: Agent) -> Attention:
        """The agent takes a queued attention of one of their campaigns. Of many agents trying
        at once exactly one wins; the others get Conflict."""
        current = await self.get(attention_id)
        permissions.require_can_open(agent, current)
        if current.state is not AttentionState.QUEUED:
            await self._not_queued(current)
        values = {"agent_id": agent.id, "assigned_at": self._context.now()}
        if current.opened_at is None:
            values["opened_at"] = values["assigned_at"]
        try:
            after, now = await move(self._context, current, Action.OPEN, Actor.of(agent), values)
        except Conflict as lost:
            # Someone was quicker (another agent, the customer's cancel): say who, not "changed".
            latest = await self.get(attention_id)
            if latest.state is AttentionState.QUEUED:
                raise lost
            await self._not_queued(latest)
        await self._context.publish(AttentionOpened(at=now, attention=after, actor=Actor.of(agent)))
        return after

    async def _not_queued(self, current: Attention) -> NoReturn:
        """Why an attention an agent tries to open is not in the queue: another agent holds
        it, the customer cancelled while waiting, or it ended otherwise (a supervisor)."""
        state = current.state.value
        if current.state is AttentionState.OPEN:
            raise Conflict(
                current.id,
                f"it is no longer in the queue ({state}): another agent took it",
                state,
                code=ErrorCode.ATTENTION_TAKEN,
                agent_id=current.agent_id,
            )
        async with self._context.storage.read() as records:
            trail = await records.audit.trail(current.id)
        last = trail[-1] if trail else None
        if last is not None and last.actor.kind is ActorKind.BOT and last.detail.get("reason") == CANCELLED_BY_CUSTOMER:
            raise Conflict(
                current.id,
                f"it is no longer in the queue ({state}): the customer cancelled while waiting",
                state,
                code=ErrorCode.ATTENTION_CANCELLED_BY_CUSTOMER,
            )
        raise Conflict(current.id, f"it is no longer in the queue ({state})", state, code=ErrorCode.ATTENTION_NOT_QUEUED)

    async def transfer_to_campaign(self, attention_id: int, agent: Agent, campaign_id: str, note: str | None = None) -> Attention:
        """Back to the queue of another campaign (owner or supervisor). Form values of fields
        the new campaign also has are kept, its other fields start from the bot's values,
        the rest is dropped (and kept in the audit); the note goes with it."""
        current = await self.get(attention_id)
        next_state(current.state, Action.TRANSFER_TO_CAMPAIGN, current.id)
        permissions.require_owner(agent, current, supervisor_may=True)
        try:
            target = self._context.book.get(campaign_id)
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
                code=ErrorCode.CAMPAIGN_WRONG_ACCOUNT,
                campaign_id=campaign_id,
            )
        form, dropped = carried_form(current, target.form_for(current.direction))
        record = self._transfer_record(current, agent, note, to_campaign=target)
        return await self._transfer(
            current,
            Action.TRANSFER_TO_CAMPAIGN,
            agent,
            record,
            {"campaign_id": target.id, "agent_id": None, "assigned_at": None, "form": form},
            {
                "from_campaign_id": current.campaign_id,
                "to_campaign_id": target.id,
                "from_agent_id": current.agent_id,
                "note": record.note,
                "dropped_form": dropped,
            },
        )

    async def transfer_to_agent(
        self, attention_id: int, agent: Agent, target_agent_id: int, note: str | None = None
    ) -> Attention:
        """Give an open attention to another agent of its campaign (owner or supervisor)."""
        current = await self.get(attention_id)
        next_state(current.state, Action.TRANSFER_TO_AGENT, current.id)
        permissions.require_owner(agent, current, supervisor_may=True)
        target = await self._agents.get(target_agent_id)
        if target.id == current.agent_id:
            raise InvalidTransfer(
                f"attention {current.id} is already held by agent {target.id}", code=ErrorCode.TRANSFER_SAME_AGENT
            )
        if not target.active or not target.serves(current.campaign_id):
            raise InvalidTransfer(
                f"agent {target.id} ({target.username}) cannot take attentions of campaign '{current.campaign_id}'",
                code=ErrorCode.TRANSFER_AGENT_NOT_IN_CAMPAIGN,
                agent_name=target.display_name or target.username,
            )
        record = self._transfer_record(current, agent, note, to_agent=target)
        return await self._transfer(
            current,
            Action.TRANSFER_TO_AGENT,
            agent,
            record,
            {"agent_id": target.id, "assigned_at": self._context.now()},
            {"from_agent_id": current.agent_id, "to_agent_id": target.id, "note": record.note},
        )

    def _transfer_record(
        self,
        current: Attention,
        agent: Agent,
        note: str | None,
        *,
        to_campaign: Campaign | None = None,
        to_agent: Agent | None = None,
    ) -> Transfer:
        here = self._context.book.campaigns.get(current.campaign_id)
        there = to_campaign or here
        return Transfer(
            at=self._context.now(),
            by_agent_id=agent.id,
            by_agent_name=agent.display_name,
            from_campaign_id=current.campaign_id,
            from_campaign_name=here.name if here else current.campaign_id,
            to_campaign_id=there.id if there else current.campaign_id,
            to_campaign_name=there.name if there else current.campaign_id,
            to_agent_id=to_agent.id if to_agent else None,
            to_agent_name=to_agent.display_name if to_agent else None,
            note=clean_note(note),
        )

    async def _transfer(
        self,
        current: Attention,
        action: Action,
        agent: Agent,
        record: Transfer,
        values: Mapping[str, Any],
        detail: Mapping[str, Any],
    ) -> Attention:
        """The move, the attention's ``transfer`` and its system line in one transaction; then
        the line and the change go out live."""
        lines: list[Message] = []

        async def with_line(records: Records, after: Attention) -> None:
            line = await records.messages.insert_transfer_line(record, after.id, record.at)
            if line is not None:
                lines.append(line)

        after, now = await move(
            self._context,
            current,
            action,
            Actor.of(agent),
            {**values, "transfer": record},
            detail,
            inside=with_line,
        )
        if lines:
            after = dataclasses.replace(after, last_message_id=lines[0].id)
        # The move first: a receiving desk learns of the attention before its new line.
        await self._context.publish(
            AttentionTransferred(
                at=now,
                attention=after,
                actor=Actor.of(agent),
                from_campaign_id=current.campaign_id,
                from_agent_id=current.agent_id,
            )
        )
        for line in lines:
            await self._context.publish(
                MessageAdded(at=now, attention_id=after.id, campaign_id=after.campaign_id, agent_id=after.agent_id, message=line)
            )
        return after

    async def release(self, attention_id: int, agent: Agent) -> Attention:
        """The owner (or a supervisor) puts an open attention back in its campaign's queue."""
        current = await self.get(attention_id)
        next_state(current.state, Action.RELEASE, current.id)
        permissions.require_owner(agent, current, supervisor_may=True)
        after, now = await move(
            self._context,
            current,
            Action.RELEASE,
            Actor.of(agent),
            {"agent_id": None, "assigned_at": None},
            {"from_agent_id": current.agent_id},
        )
        await self._context.publish(
            AttentionReleased(at=now, attention=after, actor=Actor.of(agent), from_agent_id=current.agent_id)
        )
        return after

    async def release_all(self, agent: Agent) -> list[Attention]:
        """Before the agent leaves: each of their open attentions back to its queue at once,
        so no customer waits out an orphan timer. One that moved meanwhile (ended,
        transferred) is left as it is; each release is its own event."""
        async with self._context.storage.read() as records:
            held = await records.attentions.held_by(agent.id)
        released = []
        for current in held:
            try:
                released.append(await self.release(current.id, agent))
            except (Conflict, IllegalTransition, NotFound):
                continue
        return released

    async def terminate(self, attention_id: int, agent: Agent, form_values: Mapping[str, Any] | None = None) -> Attention:
        """Terminar atención. Open: only its agent, with a valid form (every required field).
        Queued: only a supervisor (a customer who should not wait). Then the bot resumes:
        the to-do is written with the move, so it survives a crash after the answer; the
        resumer may return before the bot's turn is done (connectors/resumes.py)."""
        current = await self.get(attention_id)
        next_state(current.state, Action.TERMINATE, current.id)
        if current.state is AttentionState.OPEN:
            permissions.require_owner(agent, current)
        else:
            permissions.require_supervisor(agent, "end an attention that is still queued")
        form = checked_form(self._context, current, form_values or {}, check_required=current.state is AttentionState.OPEN)
        after, now = await move(
            self._context,
            current,
            Action.TERMINATE,
            Actor.of(agent),
            {"form": form, "terminated_at": self._context.now()},
            {"by": "agent"},
            inside=self._into_history_and_resume,
        )
        await self._context.publish(AttentionTerminated(at=now, attention=after, actor=Actor.of(agent)))
        await self._resume(after)
        return after

    async def terminate_by_bot(
        self, channel: Channel | str, account_id: str, customer_id: str, reason: str | None = None
    ) -> Attention | None:
        """The customer cancels while queued (``action_terminate_attention``). None when the
        customer has no active attention; Forbidden when an agent already holds it."""
        current = await active_attention(self._context, channel, account_id, customer_id)
        if current is None:
            return None
        if current.state is not AttentionState.QUEUED:
            raise Forbidden(
                "bot", f"attention {current.id} is open; only its agent can end it", code=ErrorCode.BOT_CANNOT_END_OPEN
            )
        after, now = await move(
            self._context,
            current,
            Action.TERMINATE,
            BOT,
            {"terminated_at": self._context.now()},
            {"by": "bot", "reason": reason},
            inside=self._into_history,
        )
        await self._context.publish(AttentionTerminated(at=now, attention=after, actor=BOT, reason=reason))
        # No resume: the bot itself is running this; it decides what to say next.
        return after

    async def _into_history(self, records: Records, ended: Attention) -> None:
        """Terminate's last step, in its transaction: the attention's searchable history document."""
        found = self._context.book.campaigns.get(ended.campaign_id)
        name = found.name if found is not None else (await records.campaigns.names()).get(ended.campaign_id)
        await records.history.write(ended, name)

    async def _into_history_and_resume(self, records: Records, ended: Attention) -> None:
        await self._into_history(records, ended)
        await records.resumes.add(ended, self._context.now())

    async def _resume(self, attention: Attention) -> None:
        try:
            await self._context.resumer.resume(attention)
        except Exception:
            # The attention is terminated and stays so; its resume row stays pending, so a
            # durable resumer's sweep (or the customer's next message) takes it up again.
            logger.exception("resuming the conversation of attention %s failed", attention.id)

"""Labels: supervisors keep the list; whoever may see an attention tags it."""

from __future__ import annotations

import re
from typing import Any

from handoff import permissions
from handoff.error_codes import ErrorCode
from handoff.errors import InvalidRequest, NotFound
from handoff.events import LabelApplied, LabelRemoved
from handoff.model import Actor, Agent, Attention, Label
from handoff.records import DuplicateRecord
from handoff.services.shared import ServiceContext, read_attention

LABEL_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


def _checked_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidRequest("a label needs a name of 1 to 100 characters", code=ErrorCode.LABEL_NAME)
    return name


def _check_colour(colour: str) -> None:
    if not LABEL_COLOUR.match(colour):
        raise InvalidRequest("colour is #rrggbb", code=ErrorCode.LABEL_COLOUR)


class Labels:
    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    async def create(self, agent: Agent, name: str, colour: str = "#888888") -> Label:
        permissions.require_supervisor(agent, "create labels")
        name = _checked_name(name)
        _check_colour(colour)
        try:
            async with self._context.storage.write() as records:
                label_id = await records.labels.insert(name, colour, self._context.now())
        except DuplicateRecord:
            raise InvalidRequest(f"a label named {name!r} exists already", code=ErrorCode.LABEL_EXISTS, name=name) from None
        return Label(id=label_id, name=name, colour=colour)

    async def update(
        self,
        agent: Agent,
        label_id: int,
        *,
        name: str | None = None,
        colour: str | None = None,
        retired: bool | None = None,
    ) -> Label:
        """Rename, recolour, retire or bring back a label (supervisors). Attentions keep it."""
        permissions.require_supervisor(agent, "change labels")
        values: dict[str, Any] = {}
        if name is not None:
            name = _checked_name(name)
            values["name"] = name
        if colour is not None:
            _check_colour(colour)
            values["colour"] = colour.lower()
        if retired is not None:
            values["retired"] = bool(retired)
        try:
            async with self._context.storage.write() as records:
                if not await records.labels.update(label_id, values):
                    raise NotFound("label", label_id)
                changed = await records.labels.get(label_id)
        except DuplicateRecord:
            raise InvalidRequest(f"a label named {name!r} exists already", code=ErrorCode.LABEL_EXISTS, name=name) from None
        assert changed is not None
        return changed

    async def all(self, include_retired: bool = False) -> list[Label]:
        async with self._context.storage.read() as records:
            return await records.labels.all_labels(include_retired)

    async def apply(self, attention_id: int, agent: Agent, label_id: int) -> Attention:
        return await self._label(attention_id, agent, label_id, apply=True)

    async def remove(self, attention_id: int, agent: Agent, label_id: int) -> Attention:
        return await self._label(attention_id, agent, label_id, apply=False)

    async def _label(self, attention_id: int, agent: Agent, label_id: int, apply: bool) -> Attention:
        now = self._context.now()
        async with self._context.storage.write() as records:
            current = await read_attention(records, attention_id)
            permissions.require_can_see(agent, current)
            found = await records.labels.get(label_id)
            if found is None:
                raise NotFound("label", label_id)
            if apply and found.retired:
                raise InvalidRequest(f"label {found.name!r} is retired", code=ErrorCode.LABEL_RETIRED, name=found.name)
            if apply:
                changed = await records.labels.apply(attention_id, label_id, agent.id, now)
            else:
                changed = await records.labels.remove(attention_id, label_id)
            if changed:
                await records.audit.record(
                    attention_id,
                    Actor.of(agent),
                    "label_applied" if apply else "label_removed",
                    now,
                    detail={"label_id": found.id, "label": found.name},
                )
            after = await read_attention(records, attention_id)
        if changed:
            kind = LabelApplied if apply else LabelRemoved
            await self._context.publish(kind(at=now, attention=after, actor=Actor.of(agent), label=found))
        return after

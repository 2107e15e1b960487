"""The desk WebSocket's frames (connectors/desk/live.py, built by
connectors/desk/serializers.py from the same records as the REST answers). Not part of
openapi.json, which has no words for a WebSocket; tests/desk/test_answers_contract.py
parses the frames a real server sends with these models."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import StrictInt, StrictStr

from connectors.desk.answers import REQUIRED, Agent, Label, Message, Shape, Summary, Time, sometimes
from handoff.model import ActorKind


class Ready(Shape):
    type: Literal["ready"]
    agent: Agent


class Pong(Shape):
    type: Literal["pong"]


class Resync(Shape):
    type: Literal["resync"]


class FrameError(Shape):
    type: Literal["error"]
    error: StrictStr
    code: StrictStr
    params: dict[StrictStr, object]


class MessageFrame(Shape):
    type: Literal["message.added", "message.updated"]
    at: Time
    attention_id: StrictInt
    message: Message


class FrameActor(Shape):
    kind: ActorKind
    agent_id: StrictInt | None = REQUIRED


class AttentionFrame(Shape):
    type: Literal[
        "attention.queued",
        "attention.opened",
        "attention.transferred",
        "attention.released",
        "attention.returned",
        "attention.terminated",
        "attention.form_saved",
        "attention.label_applied",
        "attention.label_removed",
    ]
    at: Time
    attention_id: StrictInt
    attention: Summary
    actor: FrameActor
    from_agent_id: StrictInt | None = sometimes("transferred, released, returned", nullable=True)
    from_campaign_id: StrictStr | None = sometimes("transferred", nullable=True)
    reason: StrictStr | None = sometimes("terminated: the bot's reason", nullable=True)
    label: Label = sometimes("label_applied, label_removed")


FRAMES: dict[str, type[Shape]] = {
    **dict.fromkeys(("message.added", "message.updated"), MessageFrame),
    **dict.fromkeys(get_args(AttentionFrame.__fields__["type"].outer_type_), AttentionFrame),
    "ready": Ready,
    "pong": Pong,
    "resync": Resync,
    "error": FrameError,
}


def frame_model(frame: dict[str, object]) -> type[Shape]:
    """The model of a frame, by its ``type`` (KeyError: a type no model describes)."""
    return FRAMES[str(frame.get("type"))]

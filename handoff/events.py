"""Domain events and the bus that carries them to whoever listens (the desk's WebSockets).

Every operation of the service publishes one typed event after its transaction commits.
The in-process bus fans out to bounded per-subscriber queues: ``publish`` never waits for
a subscriber, and a subscriber that falls too far behind loses its oldest events and is
told so (``Subscription.lagged``) so it can reload instead of showing a stale screen.

The ``EventBus`` protocol is what the service depends on; ``connectors.redis_bus`` implements
it over Redis pub/sub for several server processes, sending ``event_to_dict(event)`` over the
wire and rebuilding it with ``event_from_dict``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import types
import typing
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, ClassVar, Protocol, Union

from handoff.clock import utc_now
from handoff.model import Actor, Attention, Label, Message

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HandoffEvent:
    """Base of every event; ``type`` names it on the wire."""

    type: ClassVar[str] = "event"
    at: datetime


@dataclass(frozen=True)
class AttentionChanged(HandoffEvent):
    """Base of the events about an attention as a whole; ``attention`` is the state after."""

    attention: Attention
    actor: Actor

    @property
    def attention_id(self) -> int:
        return self.attention.id

    @property
    def campaign_id(self) -> str:
        return self.attention.campaign_id

    @property
    def agent_id(self) -> int | None:
        return self.attention.agent_id


@dataclass(frozen=True)
class AttentionQueued(AttentionChanged):
    """A handoff created a new queued attention."""

    type: ClassVar[str] = "attention.queued"


@dataclass(frozen=True)
class AttentionOpened(AttentionChanged):
    """An agent opened a queued attention: every other screen drops it from the queue."""

    type: ClassVar[str] = "attention.opened"


@dataclass(frozen=True)
class AttentionTransferred(AttentionChanged):
    """Moved to another campaign (back to its queue) or to another agent."""

    type: ClassVar[str] = "attention.transferred"
    from_campaign_id: str = ""
    from_agent_id: int | None = None


@dataclass(frozen=True)
class AttentionReleased(AttentionChanged):
    """The owner put it back in the queue."""

    type: ClassVar[str] = "attention.released"
    from_agent_id: int | None = None


@dataclass(frozen=True)
class AttentionReturned(AttentionChanged):
    """Orphaned: its agent was gone longer than the campaign's timeout; it is queued again."""

    type: ClassVar[str] = "attention.returned"
    from_agent_id: int | None = None


@dataclass(frozen=True)
class AttentionTerminated(AttentionChanged):
    """Ended; ``reason`` is the bot's (``customer_cancelled``: the customer gave up waiting)."""

    type: ClassVar[str] = "attention.terminated"
    reason: str | None = None


@dataclass(frozen=True)
class FormSaved(AttentionChanged):
    """The owner saved form values (a draft, before Terminar atención)."""

    type: ClassVar[str] = "attention.form_saved"


@dataclass(frozen=True)
class LabelApplied(AttentionChanged):
    type: ClassVar[str] = "attention.label_applied"
    label: Label | None = None


@dataclass(frozen=True)
class LabelRemoved(AttentionChanged):
    type: ClassVar[str] = "attention.label_removed"
    label: Label | None = None


@dataclass(frozen=True)
class MessageEvent(HandoffEvent):
    """Base of the message events; carries where the attention is so the desk can route it
    without a lookup (campaign screens, the owner's screen)."""

    attention_id: int
    campaign_id: str
    agent_id: int | None
    message: Message


@dataclass(frozen=True)
class MessageAdded(MessageEvent):
    """A customer message or event arrived, or an agent message was stored (pending)."""

    type: ClassVar[str] = "message.added"


@dataclass(frozen=True)
class MessageUpdated(MessageEvent):
    """An outbound message changed status: sent, delivered, read or failed."""

    type: ClassVar[str] = "message.updated"


@dataclass(frozen=True)
class EventsMissed(HandoffEvent):
    """Not an event of the domain: the marker that wakes a subscriber told it may have
    missed events (``Subscription.missed``). Never published, never sent over the wire."""

    type: ClassVar[str] = "events.missed"


EVENT_TYPES: dict[str, type[HandoffEvent]] = {
    cls.type: cls
    for cls in (
        AttentionQueued,
        AttentionOpened,
        AttentionTransferred,
        AttentionReleased,
        AttentionReturned,
        AttentionTerminated,
        FormSaved,
        LabelApplied,
        LabelRemoved,
        MessageAdded,
        MessageUpdated,
    )
}


def to_plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(key): to_plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(item) for item in value]
    return value


def event_to_dict(event: HandoffEvent) -> dict[str, Any]:
    """A JSON-ready dict of ``event`` with its ``type`` (the desk's WebSocket frames)."""
    return {"type": event.type, **to_plain(event)}


def event_from_dict(data: Mapping[str, Any]) -> HandoffEvent:
    """The typed event back from ``event_to_dict`` (after a JSON round trip): nested
    dataclasses, enums, datetimes and tuples as the domain builds them. Keys this version
    does not know are ignored (a newer process may send more). ValueError when ``type`` is
    unknown or a field does not fit."""
    kind = data.get("type")
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"unknown event type {kind!r}")
    try:
        return _rebuild_dataclass(cls, data)
    except (TypeError, ValueError, KeyError, AttributeError) as problem:
        raise ValueError(f"malformed {kind} event: {problem}") from problem


# Written out rather than pydantic's parse_obj_as: that one does rebuild these stdlib
# dataclasses, but it also swaps the __init__ of every class it meets (Attention, Message...)
# for a pydantic wrapper, process-wide, making each construction about ten times slower.


@functools.cache
def _field_hints(cls: type) -> tuple[tuple[str, Any], ...]:
    hints = typing.get_type_hints(cls)  # resolves the string annotations of ``from __future__``
    return tuple((field.name, hints[field.name]) for field in dataclasses.fields(cls) if field.init)


def _rebuild_dataclass(cls: type, data: Mapping[str, Any]) -> Any:
    if not isinstance(data, Mapping):
        raise TypeError(f"{cls.__name__} needs an object, not {type(data).__name__}")
    return cls(**{name: _rebuild(hint, data[name]) for name, hint in _field_hints(cls) if name in data})


def _rebuild(hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    # ``X | None`` (types.UnionType) and ``Optional[X]`` (typing.Union) are both spelt in the models.
    if origin is Union or origin is types.UnionType:
        if value is None:
            return None
        options = [option for option in typing.get_args(hint) if option is not type(None)]
        return _rebuild(options[0], value) if len(options) == 1 else value
    if origin is tuple:
        arguments = typing.get_args(hint)
        if len(arguments) == 2 and arguments[1] is Ellipsis:
            return tuple(_rebuild(arguments[0], item) for item in value)
        return tuple(_rebuild(argument, item) for argument, item in zip(arguments, value, strict=False))
    if origin is not None or hint is Any or not isinstance(hint, type):
        return value  # Mapping[str, Any] and the like: plain JSON already
    if value is None:
        return None
    if issubclass(hint, Enum):
        return hint(value)
    if issubclass(hint, datetime):
        return datetime.fromisoformat(value)
    if dataclasses.is_dataclass(hint):
        return _rebuild_dataclass(hint, value)
    return value


class Subscription:
    """One listener's queue. Iterate it (``async for event in subscription``); close it when done."""

    def __init__(self, bus: InMemoryEventBus, maxsize: int, accept: Callable[[HandoffEvent], bool] | None) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[HandoffEvent | None] = asyncio.Queue(maxsize=maxsize)
        self._accept = accept
        self._closed = False
        self.lagged = 0  # events dropped because this subscriber was too slow

    def offer(self, event: HandoffEvent) -> None:
        """Put ``event`` in the queue without waiting; drop the oldest one when it is full."""
        if self._closed or (self._accept is not None and not self._accept(event)):
            return
        self._put(event)

    def missed(self) -> None:
        """Events may have been lost before they reached this process (the Redis bus was
        cut off): counted in ``lagged`` like a local drop, and a waiting reader is woken with
        an ``EventsMissed`` marker so it reloads now rather than at the next event."""
        if self._closed:
            return
        self.lagged += 1
        self._put(EventsMissed(at=utc_now()))

    def _put(self, event: HandoffEvent) -> None:
        if self._queue.full():
            try:
                self._queue.get_nowait()
                self.lagged += 1
            except asyncio.QueueEmpty:  # pragma: no cover - only when racing a reader
                pass
        self._queue.put_nowait(event)

    async def get(self, timeout: float | None = None) -> HandoffEvent:
        """The next event; asyncio.TimeoutError after ``timeout`` seconds; StopAsyncIteration when closed."""
        event = await asyncio.wait_for(self._queue.get(), timeout)
        if event is None:
            raise StopAsyncIteration
        return event

    def pending(self) -> list[HandoffEvent]:
        """Everything queued now, without waiting (handy in tests)."""
        events = []
        while not self._queue.empty():
            event = self._queue.get_nowait()
            if event is not None:
                events.append(event)
        return events

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._bus._unsubscribe(self)
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(None)  # wakes a reader waiting in get()

    def __aiter__(self) -> AsyncIterator[HandoffEvent]:
        return self

    async def __anext__(self) -> HandoffEvent:
        if self._closed and self._queue.empty():
            raise StopAsyncIteration
        return await self.get()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()


class EventBus(Protocol):
    async def publish(self, event: HandoffEvent) -> None:
        """Hand ``event`` to every subscriber; must not wait for slow subscribers."""
        ...

    def subscribe(self, accept: Callable[[HandoffEvent], bool] | None = None, maxsize: int = 1000) -> Subscription:
        """A new subscription; ``accept`` filters events (e.g. one agent's campaigns)."""
        ...


class InMemoryEventBus:
    """The bus of one process."""

    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []

    async def publish(self, event: HandoffEvent) -> None:
        for subscription in list(self._subscriptions):
            try:
                subscription.offer(event)
            except Exception:  # a broken filter must not break the operation that published
                logger.exception("event subscriber failed on %s", event.type)

    def subscribe(self, accept: Callable[[HandoffEvent], bool] | None = None, maxsize: int = 1000) -> Subscription:
        subscription = Subscription(self, maxsize, accept)
        self._subscriptions.append(subscription)
        return subscription

    def missed(self) -> None:
        """Tell every subscriber that events may have been lost (``Subscription.missed``)."""
        for subscription in list(self._subscriptions):
            subscription.missed()

    def _unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

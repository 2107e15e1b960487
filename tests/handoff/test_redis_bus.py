"""The Redis event bus: several processes' buses on one real Redis channel, and what
happens when Redis goes away (a loopback cable between a bus and Redis that the test cuts).

Redis runs at 127.0.0.1:6379; without it these tests skip, unless CI=true (then they fail).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any, cast

import pytest

from connectors.redis_bus import Backoff, RedisEventBus, bus_from_environment
from handoff.events import (
    EVENT_TYPES,
    AttentionOpened,
    AttentionQueued,
    AttentionReleased,
    AttentionReturned,
    AttentionTerminated,
    AttentionTransferred,
    EventsMissed,
    FormSaved,
    HandoffEvent,
    LabelApplied,
    LabelRemoved,
    MessageAdded,
    MessageUpdated,
    Subscription,
    event_from_dict,
    event_to_dict,
)
from handoff.model import (
    BOT,
    Actor,
    ActorKind,
    Attention,
    Author,
    Channel,
    Direction,
    Label,
    Message,
    MessageDirection,
    MessageKind,
    MessageStatus,
)
from handoff.states import AttentionState
from tests.handoff.support import PAGE, START

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
QUICK = Backoff(first=0.05, longest=0.2)


def redis_or_skip() -> None:
    """In CI Redis must be there (a missing one fails); elsewhere these tests skip."""
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=1):
            return
    except OSError:
        pass
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but Redis is not reachable at {REDIS_HOST}:{REDIS_PORT}")
    pytest.skip(f"Redis is not reachable at {REDIS_HOST}:{REDIS_PORT} (it runs in CI)")


def unique_channel() -> str:
    return f"handoff:test:{uuid.uuid4().hex[:12]}"


class RedisCable:
    """A TCP relay on loopback between a bus and Redis, to cut (connections dropped, new
    ones closed at once: Redis is down) or freeze (sockets open, nothing flows: a peer gone
    without a word) and mend."""

    def __init__(self) -> None:
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._up = True
        self._flowing = asyncio.Event()
        self._flowing.set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.cut()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def cut(self) -> None:
        self._up = False
        for writer in list(self._writers):
            writer.close()

    def freeze(self) -> None:
        self._flowing.clear()

    def mend(self) -> None:
        self._up = True
        self._flowing.set()

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if not self._up:
            client_writer.close()
            return
        redis_reader, redis_writer = await asyncio.open_connection(REDIS_HOST, REDIS_PORT)
        self._writers |= {client_writer, redis_writer}
        try:
            await asyncio.gather(self._pump(client_reader, redis_writer), self._pump(redis_reader, client_writer))
        finally:
            for writer in (client_writer, redis_writer):
                self._writers.discard(writer)
                writer.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def running_bus(url: str = REDIS_URL, channel: str = "", **options) -> AsyncIterator[RedisEventBus]:
    bus = RedisEventBus(url, channel or unique_channel(), **{"backoff": QUICK, **options})
    bus.start()
    try:
        yield bus
    finally:
        await asyncio.wait_for(bus.close(), 5)


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


async def receive(subscription: Subscription, count: int, timeout: float = 5.0) -> list[HandoffEvent]:
    return [await subscription.get(timeout) for _ in range(count)]


# -- events on the wire ----------------------------------------------------------------


def every_event() -> list[HandoffEvent]:
    """One event of each type with every field set away from its default, so a field the
    wire drops or mistypes shows up as an inequality."""
    later = START + timedelta(minutes=5)
    vip = Label(id=7, name="VIP", colour="#d4a017", retired=True)
    attention = Attention(
        id=41,
        channel=Channel.INSTAGRAM,
        account_id=PAGE,
        customer_id="igsid_9",
        campaign_id="ventas",
        state=AttentionState.OPEN,
        direction=Direction.OUTBOUND,
        agent_id=3,
        form={"resultado": "resuelto", "monto": 12.5, "items": ["a", "b"], "nota": None},
        context=(
            {"author": "customer", "text": "quiero un humano", "time": START.isoformat(), "intent": "request_human"},
            {"author": "bot", "text": "Te comunico", "time": START.isoformat()},
        ),
        created_at=START,
        updated_at=later,
        intent="request_human",
        opened_at=later,
        assigned_at=later,
        terminated_at=later,
        last_customer_message_at=START,
        last_message_id=99,
        read_up_to_message_id=98,
        labels=(vip, Label(id=8, name="Reclamo", colour="#c00")),
    )
    message = Message(
        id=99,
        attention_id=41,
        direction=MessageDirection.OUT,
        author=Author.AGENT,
        kind=MessageKind.ATTACHMENT,
        status=MessageStatus.FAILED,
        created_at=START,
        updated_at=later,
        text="adjunto ñandú",
        payload={"attachment": {"type": "image", "url": "https://example.test/a.png"}},
        agent_id=3,
        mid="m_99",
        messaging_type="MESSAGE_TAG",
        tag="HUMAN_AGENT",
        error_code=10,
        error_subcode=2018278,
        error_message="outside the window",
        sent_at=START,
        delivered_at=later,
        read_at=later,
    )
    agent = Actor(ActorKind.AGENT, 3)
    changed: dict[str, Any] = {"at": later, "attention": attention, "actor": agent}
    about_message: dict[str, Any] = {"at": later, "attention_id": 41, "campaign_id": "ventas", "agent_id": 3, "message": message}
    return [
        AttentionQueued(at=START, attention=replace(attention, state=AttentionState.QUEUED, agent_id=None), actor=BOT),
        AttentionOpened(**changed),
        AttentionTransferred(**changed, from_campaign_id="soporte", from_agent_id=5),
        AttentionReleased(**changed, from_agent_id=5),
        AttentionReturned(at=later, attention=attention, actor=Actor(ActorKind.SYSTEM), from_agent_id=5),
        AttentionTerminated(**changed),
        FormSaved(**changed),
        LabelApplied(**changed, label=vip),
        LabelRemoved(**changed, label=vip),
        MessageAdded(**about_message),
        MessageUpdated(**{**about_message, "agent_id": None}),
    ]


def test_every_event_type_survives_the_wire_as_the_domain_types():
    samples = every_event()
    assert {type(event) for event in samples} == set(EVENT_TYPES.values()), "a new event type needs a sample here"
    for event in samples:
        rebuilt = event_from_dict(json.loads(json.dumps(event_to_dict(event))))
        assert rebuilt == event and type(rebuilt) is type(event)
    rebuilt = event_from_dict(json.loads(json.dumps(event_to_dict(samples[-2]))))
    assert isinstance(rebuilt, MessageAdded)
    assert type(rebuilt.message.status) is MessageStatus and rebuilt.message.created_at.tzinfo is not None
    assert type(rebuilt.message) is Message and isinstance(rebuilt.message.payload, dict)
    opened = event_from_dict(json.loads(json.dumps(event_to_dict(samples[1]))))
    assert isinstance(opened, AttentionOpened)
    assert type(opened.attention.labels) is tuple and type(opened.attention.labels[0]) is Label
    assert type(opened.attention.context) is tuple and opened.attention.state is AttentionState.OPEN


def test_a_newer_sender_is_tolerated_and_garbage_is_refused():
    wire = event_to_dict(every_event()[1])
    assert event_from_dict({**wire, "added_in_a_later_version": 1}) == every_event()[1]
    for bad in ({"type": "attention.exploded"}, {**wire, "at": "yesterday"}, {**wire, "attention": "x"}, {"at": 1}):
        with pytest.raises(ValueError):
            event_from_dict(bad)


# -- two processes on one channel ------------------------------------------------------


async def test_two_buses_see_each_others_events_once_and_their_own_once():
    redis_or_skip()
    channel = unique_channel()
    async with running_bus(channel=channel) as a, running_bus(channel=channel) as b:
        assert await a.wait_listening(5) and await b.wait_listening(5)
        on_a, on_b = a.subscribe(), b.subscribe()
        first, second, fence_a, fence_b = (_queued(n) for n in (1, 2, 3, 4))

        await a.publish(first)
        assert on_a.pending() == [first]  # at once, without the Redis round trip
        await b.publish(second)
        assert on_b.pending() == [second]
        assert await receive(on_a, 1) == [second] and await receive(on_b, 1) == [first]

        # Both are in Redis now. Each bus's listener reads one ordered stream, so once a's
        # hears a fence b published after that, any echo of a's own event is behind it.
        await a.publish(fence_a)
        await b.publish(fence_b)
        assert await receive(on_a, 2) == [fence_a, fence_b] and await receive(on_b, 2) == [fence_b, fence_a]
        assert on_a.pending() == [] and on_b.pending() == []
        assert on_a.lagged == on_b.lagged == 0


async def test_every_event_type_crosses_redis():
    redis_or_skip()
    channel = unique_channel()
    async with running_bus(channel=channel) as a, running_bus(channel=channel) as b:
        assert await a.wait_listening(5) and await b.wait_listening(5)
        on_b = b.subscribe()
        for event in every_event():
            await a.publish(event)
        received = await receive(on_b, len(every_event()))
        assert received == every_event() and [type(event) for event in received] == [type(e) for e in every_event()]


async def test_buses_on_other_channels_do_not_mix():
    redis_or_skip()
    async with (
        running_bus() as a,
        running_bus(channel=a.channel) as a_too,
        running_bus() as b,
        running_bus(channel=b.channel) as b_too,
    ):
        assert all([await bus.wait_listening(5) for bus in (a, a_too, b, b_too)])
        on_a_too, on_b = a_too.subscribe(), b.subscribe()
        await a.publish(_queued(1))
        assert await receive(on_a_too, 1) == [_queued(1)]
        # Published after the first reached Redis: b would have heard that one before this.
        await b_too.publish(_queued(2))
        assert await receive(on_b, 1) == [_queued(2)]
        assert on_b.pending() == []


# -- Redis away ------------------------------------------------------------------------


async def test_publishing_with_redis_down_neither_raises_nor_waits_and_logs_no_password(caplog):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: connections are refused
    caplog.set_level(logging.INFO, logger="connectors.redis_bus")
    async with running_bus(f"redis://worker:a-secret-password@127.0.0.1:{port}/0") as bus:
        local = bus.subscribe()
        for n in range(20):
            await asyncio.wait_for(bus.publish(_queued(n)), 0.05)
        queued = local.pending()
        assert all(isinstance(event, AttentionQueued) for event in queued)
        assert [cast(AttentionQueued, event).attention.id for event in queued] == list(range(20))
        await until(lambda: bus.dropped == 20)
        assert not bus.listening
    assert "a-secret-password" not in caplog.text and "worker" not in caplog.text
    assert f"redis://127.0.0.1:{port}/0" in caplog.text


async def test_a_listener_cut_off_tells_its_subscribers_they_may_have_missed_events():
    redis_or_skip()
    cable = RedisCable()
    await cable.start()
    try:
        async with running_bus(cable.url) as a, running_bus(channel=a.channel) as b:
            assert await a.wait_listening(5) and await b.wait_listening(5)
            on_a, on_b = a.subscribe(), b.subscribe()

            cable.cut()
            await until(lambda: not a.listening)
            await b.publish(_queued(1))  # a never hears this one
            await a.publish(_queued(2))  # nor does b hear this: a's sender cannot reach Redis
            assert on_a.pending() == [_queued(2)]
            await until(lambda: a.dropped == 1)
            assert on_b.pending() == [_queued(1)] and on_a.lagged == on_b.lagged == 0

            cable.mend()
            # Both sides learn it: a's listener subscribed again, b got a's gap notice; the
            # marker wakes a reader that is waiting, it does not wait for the next event.
            [marker] = await receive(on_a, 1)
            assert isinstance(marker, EventsMissed) and on_a.lagged == 1 and a.reconnects == 1
            [marker] = await receive(on_b, 1)
            assert isinstance(marker, EventsMissed) and on_b.lagged == 1

            await b.publish(_queued(3))
            await a.publish(_queued(4))
            assert await receive(on_a, 2) == [_queued(4), _queued(3)]
            assert await receive(on_b, 2) == [_queued(3), _queued(4)]
    finally:
        await cable.stop()


async def test_a_silent_connection_is_noticed_by_the_heartbeat():
    redis_or_skip()
    cable = RedisCable()
    await cable.start()
    try:
        async with running_bus(cable.url, heartbeat=0.2, connect_timeout=0.3) as a, running_bus(channel=a.channel) as b:
            assert await a.wait_listening(5) and await b.wait_listening(5)
            on_a = a.subscribe()
            cable.freeze()  # the socket stays open; nothing comes back
            await until(lambda: not a.listening, timeout=5)
            cable.mend()
            [marker] = await receive(on_a, 1)
            assert isinstance(marker, EventsMissed) and a.reconnects == 1
            await b.publish(_queued(5))
            assert await receive(on_a, 1) == [_queued(5)]
    finally:
        await cable.stop()


async def test_the_environment_chooses_the_bus(monkeypatch):
    monkeypatch.setenv("HANDOFF_REDIS_URL", "")
    assert bus_from_environment() is None
    monkeypatch.setenv("HANDOFF_REDIS_URL", "not-a-redis-url")
    with pytest.raises(ValueError):
        bus_from_environment()
    channel = unique_channel()
    monkeypatch.setenv("HANDOFF_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("HANDOFF_REDIS_CHANNEL", channel)
    bus = bus_from_environment()
    assert isinstance(bus, RedisEventBus) and bus.channel == channel
    await bus.close()


def _queued(attention_id: int) -> AttentionQueued:
    first = every_event()[0]
    assert isinstance(first, AttentionQueued)
    return replace(first, attention=replace(first.attention, id=attention_id))

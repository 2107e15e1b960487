"""The event bus of several server processes: Redis pub/sub on one channel.

Each process keeps an ``InMemoryEventBus`` for its own subscribers (the desk's WebSockets
connected to it) and mirrors every event to one Redis channel, tagged with a random
per-process origin. Local subscribers get an event at once, never waiting for Redis; the
copy that comes back from Redis is recognised by its origin and skipped, and the other
processes rebuild it (``event_from_dict``) and fan it out to theirs.

Pub/sub is at most once, and the database is the truth: whenever events may have been lost
(this process's listener was cut off and reconnected, or another process could not send
for a while), the local subscribers are told through ``Subscription.lagged`` and the desk
reloads its lists, which is what it already does when it falls behind.

Redis being down never reaches the operation that published: ``publish`` only queues the
wire copy for a background sender, and both background tasks retry with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from handoff.events import HandoffEvent, InMemoryEventBus, Subscription, event_from_dict, event_to_dict

logger = logging.getLogger(__name__)

REDIS_URL_VARIABLE = "HANDOFF_REDIS_URL"
REDIS_CHANNEL_VARIABLE = "HANDOFF_REDIS_CHANNEL"
DEFAULT_CHANNEL = "handoff:events"


@dataclass(frozen=True)
class Backoff:
    """Seconds between attempts to reach Redis again: doubling, capped, with jitter so the
    processes of a deployment do not all knock at the same instant."""

    first: float = 0.2
    longest: float = 5.0

    def delays(self) -> Iterator[float]:
        delay = self.first
        while True:
            yield delay * random.uniform(0.5, 1.0)
            delay = min(delay * 2, self.longest)


def redacted(url: str) -> str:
    """``url`` fit for a log: scheme, host, port and database, never a user or password."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "redis (unparsable URL)"
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


class RedisEventBus:
    """``EventBus`` over Redis pub/sub; ``start`` it on the server's loop, ``close`` it at stop."""

    def __init__(
        self,
        url: str,
        channel: str = DEFAULT_CHANNEL,
        *,
        backoff: Backoff = Backoff(),
        heartbeat: float = 10.0,
        connect_timeout: float = 2.0,
        outbox_size: int = 10_000,
    ) -> None:
        """``heartbeat``: seconds of silence after which the listener pings Redis; no answer
        within as long again and the connection counts as dead (a peer that vanished
        without closing the socket). ``outbox_size``: events waiting for the sender beyond
        which new ones are dropped (and the other processes told they missed some)."""
        self.origin = uuid.uuid4().hex
        self.channel = channel
        self.address = redacted(url)  # what logs may show
        self._redis = Redis.from_url(
            url, socket_connect_timeout=connect_timeout, socket_timeout=max(heartbeat, connect_timeout), socket_keepalive=True
        )
        self._backoff = backoff
        self._heartbeat = heartbeat
        self._connect_timeout = connect_timeout
        self._local = InMemoryEventBus()
        self._outbox: asyncio.Queue[str] = asyncio.Queue(outbox_size)
        self._gap_notice = json.dumps({"origin": self.origin, "gap": True})
        self._gap = False  # events were dropped since the sender last reached Redis
        self._listening = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.dropped = 0  # events the other processes never got from this one
        self.reconnects = 0  # times the listener subscribed again after losing Redis

    # -- EventBus ----------------------------------------------------------------------

    async def publish(self, event: HandoffEvent) -> None:
        await self._local.publish(event)
        try:
            payload = json.dumps({"origin": self.origin, "event": event_to_dict(event)}, ensure_ascii=False)
        except (TypeError, ValueError):
            logger.exception("event %s cannot be sent to the other servers", event.type)
            return
        try:
            self._outbox.put_nowait(payload)
        except asyncio.QueueFull:
            self.dropped += 1
            if not self._gap:
                logger.warning("Redis event bus at %s is not keeping up; other servers' desks will reload.", self.address)
            self._gap = True

    def subscribe(self, accept: Callable[[HandoffEvent], bool] | None = None, maxsize: int = 1000) -> Subscription:
        return self._local.subscribe(accept, maxsize)

    @property
    def subscriber_count(self) -> int:
        return self._local.subscriber_count

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Start listening and sending in the background; does not wait for Redis."""
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._listen()), asyncio.create_task(self._send())]

    @property
    def listening(self) -> bool:
        """Subscribed to the channel right now: events of the other processes reach us."""
        return self._listening.is_set()

    async def wait_listening(self, timeout: float) -> bool:
        """Whether the listener is subscribed (now or within ``timeout`` seconds)."""
        try:
            await asyncio.wait_for(self._listening.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    async def close(self, flush_timeout: float = 1.0) -> None:
        """Send what is queued (for at most ``flush_timeout`` seconds), then stop."""
        if self._tasks and not self._gap:
            try:
                await asyncio.wait_for(self._outbox.join(), flush_timeout)
            except asyncio.TimeoutError:
                logger.warning("%d events were not sent to Redis before stopping.", self._outbox.qsize())
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self._listening.clear()
        await self._redis.close(close_connection_pool=True)

    # -- sending -----------------------------------------------------------------------

    async def _send(self) -> None:
        delays = self._backoff.delays()
        while True:
            notice = self._gap
            payload = self._gap_notice if notice else await self._outbox.get()
            try:
                await self._redis.publish(self.channel, payload)
            except Exception as error:  # whatever Redis does, the sender stays alive
                if not self._gap:
                    logger.warning(
                        "Redis event bus at %s is unreachable (%s); other servers' desks miss this "
                        "server's events until it is back.",
                        self.address,
                        _describe(error),
                    )
                if not notice:
                    self.dropped += 1
                    self._outbox.task_done()
                self._gap = True
                await asyncio.sleep(next(delays))
                # What queued up meanwhile is dropped, not sent late: the others reload from
                # the database on the gap notice, and stale events after that would undo it.
                self.dropped += self._discard_outbox()
                continue
            if notice:
                self._gap = False
                delays = self._backoff.delays()
                logger.info("Redis event bus at %s is reachable again.", self.address)
            else:
                self._outbox.task_done()

    def _discard_outbox(self) -> int:
        discarded = 0
        while not self._outbox.empty():
            self._outbox.get_nowait()
            self._outbox.task_done()
            discarded += 1
        return discarded

    # -- listening ---------------------------------------------------------------------

    async def _listen(self) -> None:
        delays = self._backoff.delays()
        subscribed_before = False
        reachable = True
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                await self._confirmed(pubsub)
                self._listening.set()
                delays = self._backoff.delays()
                if subscribed_before:
                    self.reconnects += 1
                    logger.info("Redis event bus at %s: listening again; desks reload what they may have missed.", self.address)
                    self._local.missed()
                subscribed_before, reachable = True, True
                await self._receive(pubsub)
            except Exception as error:  # reconnect whatever went wrong; cancellation passes
                self._listening.clear()
                if reachable:
                    logger.warning("Redis event bus at %s: not listening (%s); retrying.", self.address, _describe(error))
                reachable = False
            finally:
                with contextlib.suppress(Exception):  # the connection is broken already
                    await pubsub.reset()
            await asyncio.sleep(next(delays))

    async def _confirmed(self, pubsub: Any) -> None:
        # SUBSCRIBE is only sent by subscribe(); Redis confirms it in the message stream, and
        # only from then on does a PUBLISH elsewhere reach us.
        message = await pubsub.get_message(timeout=self._connect_timeout)
        if message is None or message.get("type") != "subscribe":
            raise RedisConnectionError("Redis did not confirm the subscription")

    async def _receive(self, pubsub: Any) -> None:
        pinged = False
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=self._heartbeat)
            if message is None:
                if pinged:
                    raise RedisConnectionError(f"no answer to a ping in {self._heartbeat:g} s")
                await pubsub.ping()
                pinged = True
                continue
            pinged = False
            if message.get("type") == "message":
                await self._deliver(message["data"])

    async def _deliver(self, data: bytes) -> None:
        try:
            wire = json.loads(data)
            if wire.get("origin") == self.origin:
                return  # our own, fanned out locally when it was published
            if wire.get("gap"):
                self._local.missed()
                return
            event = event_from_dict(wire["event"])
        except (ValueError, KeyError, TypeError, AttributeError) as problem:
            # An event we cannot show (another version, a foreign publisher on the channel)
            # may leave a screen stale: the desks reload.
            logger.warning("Redis event bus: skipped a message on %s (%s).", self.channel, problem)
            self._local.missed()
            return
        await self._local.publish(event)


def _describe(error: BaseException) -> str:
    # The exception's text names host and port at most; redis-py never puts the password in it.
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def bus_from_environment() -> RedisEventBus | None:
    """A started ``RedisEventBus`` when ``HANDOFF_REDIS_URL`` is set, else None (the
    service's in-memory bus: one process). A malformed URL stops the server."""
    url = os.environ.get(REDIS_URL_VARIABLE, "").strip()
    if not url:
        return None
    bus = RedisEventBus(url, os.environ.get(REDIS_CHANNEL_VARIABLE, "").strip() or DEFAULT_CHANNEL)
    bus.start()
    logger.info("Desk events go through Redis at %s, channel %s.", bus.address, bus.channel)
    return bus

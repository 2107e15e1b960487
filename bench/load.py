"""The load generator: signed, Meta-shaped webhook deliveries, and where replies land.

Bodies are built with the sandbox's ``WebhookFactory`` (Meta's shapes) and encoded the
way Meta encodes them; every item has its own ``mid`` and, unless said otherwise, its own
sender. Each delivery carries both signatures Meta sends: ``X-Hub-Signature-256`` (ours
checks it) and the legacy ``X-Hub-Signature`` (Rasa's built-in channel checks that one).
Everything is built before the clock starts, so the timed loop only sends.

Two ways of sending:

* ``open_loop``: deliveries leave on a fixed schedule (``rate`` per second), each in its
  own task, whatever the server does; a slow answer never delays the next send, so there
  is no coordinated omission. ``lag`` (actual send time minus scheduled time) shows when
  the generator itself could not keep up.
* ``closed_loop``: ``concurrency`` deliveries in flight at any time, the next one leaving
  when an answer comes back (how Meta's "N concurrent deliveries" behave).

``ReplyProbe`` listens on a ``FakeGraphAPI`` running in this same process, so the send
time of a webhook and the arrival time of the reply share one clock (``time.perf_counter``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import aiohttp

from bench.servers import APP_SECRET, PAGE_ID
from sandbox.graph_api import FakeGraphAPI
from sandbox.graph_records import RecordedRequest
from sandbox.webhooks import WebhookFactory, encode_body, sign, sign_sha1

# First messages of a customer: greetings and questions the bot answers with a rule and
# a response (no custom action), in Spanish and English. Cycled over senders.
TEXTS = (
    "hola",
    "buenos días",
    "¿a qué hora abren?",
    "hola, buenas tardes",
    "hello there",
    "what time do you open?",
    "gracias",
    "buenas noches",
)

_RUN = itertools.count(1)


@dataclass(frozen=True)
class Delivery:
    """One POST of a webhook body: its bytes, headers, and the items it carries."""

    body: bytes
    headers: dict[str, str]
    senders: tuple[str, ...]
    mids: tuple[str, ...]


def sender_ids(tag: str, count: int) -> list[str]:
    """Distinct, readable PSIDs (``bench-<tag>-<run>-<n>``), never reused across calls."""
    run = next(_RUN)
    return [f"bench-{tag}-{run}-{n:06d}" for n in range(count)]


def message_item(sender: str, text: str, mid: str) -> dict:
    factory = WebhookFactory.messenger(sender, page_id=PAGE_ID)
    return factory.event(message={"mid": mid, "text": text})


def delivery(items: Sequence[dict], secret: str = APP_SECRET) -> Delivery:
    """A body with one entry per item (how Meta batches), signed twice."""
    now = int(time.time() * 1000)
    body = {"object": "page", "entry": [{"id": PAGE_ID, "time": now, "messaging": [item]} for item in items]}
    raw = encode_body(body)
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": sign(raw, secret),
        "X-Hub-Signature": sign_sha1(raw, secret),
    }
    return Delivery(
        raw,
        headers,
        tuple(item["sender"]["id"] for item in items),
        tuple(item["message"]["mid"] for item in items),
    )


def text_deliveries(senders: Sequence[str], per_delivery: int = 1, texts: Sequence[str] = TEXTS) -> list[Delivery]:
    """One text message per sender (distinct mids), ``per_delivery`` items per POST."""
    items = [message_item(sender, texts[n % len(texts)], f"m_{sender}_{n}") for n, sender in enumerate(senders)]
    return [delivery(items[start : start + per_delivery]) for start in range(0, len(items), per_delivery)]


def pooled_deliveries(count: int, pool: int, per_delivery: int = 1, tag: str = "pool") -> list[Delivery]:
    """``count`` deliveries whose items come from a pool of ``pool`` customers (each item
    still has its own mid): the shape of steady traffic from many ongoing conversations."""
    senders = sender_ids(tag, pool)
    deliveries = []
    n = 0
    for _ in range(count):
        items = []
        for _ in range(per_delivery):
            sender = senders[n % pool]
            items.append(message_item(sender, TEXTS[n % len(TEXTS)], f"m_{sender}_{n}"))
            n += 1
        deliveries.append(delivery(items))
    return deliveries


@dataclass
class Ack:
    """What happened to one delivery: times on ``time.perf_counter``'s clock."""

    delivery: Delivery
    scheduled: float
    sent: float = 0.0
    done: float = 0.0
    status: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.error is None

    @property
    def latency(self) -> float:
        return self.done - self.sent

    @property
    def lag(self) -> float:
        return self.sent - self.scheduled


def new_session(connections: int = 256) -> aiohttp.ClientSession:
    """Keep-alive connections (as Meta keeps them), TCP_NODELAY (aiohttp's default)."""
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections, force_close=False)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60))


async def _post(session: aiohttp.ClientSession, url: str, ack: Ack) -> Ack:
    ack.sent = time.perf_counter()
    try:
        async with session.post(url, data=ack.delivery.body, headers=ack.delivery.headers) as response:
            await response.read()
            ack.status = response.status
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
        ack.error = f"{error.__class__.__name__}: {error}"
    ack.done = time.perf_counter()
    return ack


def _urls(url: str | Sequence[str]) -> Sequence[str]:
    return (url,) if isinstance(url, str) else tuple(url)


async def open_loop(
    session: aiohttp.ClientSession, url: str | Sequence[str], deliveries: Sequence[Delivery], rate: float
) -> list[Ack]:
    """Send ``deliveries`` at ``rate`` per second on a fixed schedule; wait for every answer.
    Several URLs: delivery n goes to ``url[n % len(url)]`` (a round-robin balancer)."""
    urls = _urls(url)
    loop_start = time.perf_counter() + 0.05
    tasks = []
    for n, item in enumerate(deliveries):
        due = loop_start + n / rate
        delay = due - time.perf_counter()
        if delay > 0.0005:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(_post(session, urls[n % len(urls)], Ack(item, due))))
    return list(await asyncio.gather(*tasks))


async def closed_loop(
    session: aiohttp.ClientSession, url: str | Sequence[str], deliveries: Sequence[Delivery], concurrency: int
) -> list[Ack]:
    """``concurrency`` deliveries in flight; each answer lets the next one go (round-robin
    over several URLs, as in ``open_loop``)."""
    urls = _urls(url)
    queue = iter(enumerate(deliveries))
    results: list[Ack] = []

    async def worker() -> None:
        for n, item in queue:
            results.append(await _post(session, urls[n % len(urls)], Ack(item, time.perf_counter())))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


@dataclass
class ReplyProbe:
    """Records, per recipient, when each accepted Send API *message* (not sender action)
    reached the fake Graph API. Attach once; ``expect`` / ``wait`` per measurement."""

    api: FakeGraphAPI
    replies: dict[str, list[float]] = field(default_factory=dict)
    _expected: set[str] = field(default_factory=set)
    _answered: set[str] = field(default_factory=set)
    _event: asyncio.Event = field(default_factory=asyncio.Event)
    last_reply: float = 0.0

    def __post_init__(self) -> None:
        self.api.add_listener(self._on_request)

    def _on_request(self, record: RecordedRequest) -> None:
        if record.kind != "message" or not record.accepted or record.recipient_id is None:
            return
        recipient = record.recipient_id
        self.last_reply = time.perf_counter()
        self.replies.setdefault(recipient, []).append(self.last_reply)
        if recipient in self._expected and recipient not in self._answered:
            self._answered.add(recipient)
            if len(self._answered) >= len(self._expected):
                self._event.set()

    def expect(self, senders: Iterable[str]) -> None:
        self._expected = set(senders)
        self._answered = {s for s in self._expected if s in self.replies}
        self._event = asyncio.Event()
        if len(self._answered) >= len(self._expected):
            self._event.set()

    async def wait(self, timeout: float) -> bool:
        """True when every expected sender got a reply within ``timeout`` seconds."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    async def settle(self, timeout: float, quiet: float) -> bool:
        """Wait until every expected sender got a reply (True), or until no reply at all
        arrived for ``quiet`` seconds, or ``timeout`` passed (False): bounded, whatever the
        server does with what it was sent."""
        deadline = time.perf_counter() + timeout
        self.last_reply = max(self.last_reply, time.perf_counter())
        while not self._event.is_set():
            now = time.perf_counter()
            if now >= deadline or now - self.last_reply >= quiet:
                return False
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._event.wait(), min(0.25, deadline - now))
        return True

    def first_reply(self, sender: str) -> float | None:
        times = self.replies.get(sender)
        return times[0] if times else None

    def answered(self, senders: Iterable[str]) -> int:
        return sum(1 for s in senders if s in self.replies)

    def forget(self) -> None:
        """Drop what was recorded (and the fake API's own request log, to bound memory)."""
        self.replies.clear()
        self.api.requests.clear()

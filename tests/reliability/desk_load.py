"""The cast of the desk-side load test (``test_desk_load.py``) and the ledger of what each
of them saw.

- ``Customer``: writes through signed webhooks (batches, an item twice in one body, whole
  bodies delivered again later), answers what agents write on its phone (the FakeGraphAPI's
  accepted sends), and says goodbye once its attention ended.
- ``LoadBot``: the harness's ``on_new_message``. It echoes, hands a customer over when asked
  for "una persona" (through ``actions.handoff_api.HandoffClient``, what ``action_handoff``
  uses) and ends a queued attention on ``/cancel_handoff`` (``action_terminate_attention``).
  At the start of every turn it asks the database whether the customer has an active
  attention: a turn while one is queued or open is a violation (``/cancel_handoff`` aside).
- ``DeskAgent``: one browser (its own HTTP session and WebSocket) that races the others for
  the oldest queued attentions of its campaigns, loads the transcript, replies, waits for
  the customer's answer on the WebSocket, fills the form and terminates.
- ``Ledger``: every open attempt, transcript, reply, termination, WebSocket frame and
  request latency, read by the test's assertions afterwards.
"""

from __future__ import annotations

import asyncio
import collections
import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import sqlalchemy as sa
from rasa.core.channels.channel import UserMessage
from sqlalchemy.ext.asyncio import AsyncEngine

from actions.handoff_api import (
    AttentionHeldByAgent,
    AttentionNotActive,
    AttentionNotFound,
    Conversation,
    HandoffClient,
    HandoffRequest,
)
from connectors.meta.channel import sign
from connectors.meta.gateway import agent_message_id
from connectors.meta.graph import EchoReconciler
from connectors.storage.schema import attention, attention_event, history, inbox_item, message
from handoff.service import HandoffService
from sandbox.graph_records import RecordedRequest
from tests.connectors.fixtures import ACCOUNTS, envelope
from tests.connectors.harness import APP_SECRET, INSTAGRAM_SECRET, SERVICE_TOKEN, ConnectorServer
from tests.desk.support import Desk, auth_frame, login

HANDOFF_WORDS = "quiero hablar con una persona"
CANCEL = "/cancel_handoff"
CAMPAIGN_OF = {"messenger": "soporte", "instagram": "ventas"}  # data/campaigns.yml routing
# What an agent writes in the form at the end (required fields the bot could not fill).
DRAFTS: dict[str, dict[str, Any]] = {"soporte": {"numero_pedido": "P-4521"}, "ventas": {"presupuesto": 1500}}
FINAL_FORMS: dict[str, dict[str, Any]] = {
    "soporte": {"motivo": "consulta por un pedido atrasado", "resultado": "resuelto"},
    "ventas": {"productos": ["ropa", "calzado"], "resultado": "venta"},
}
REPLIES = (1, 1, 2)  # agent replies per attention, each answered by the customer
ARRIVALS_SECONDS = 8.0  # customers start writing over this long
IDLE_REFRESH_SECONDS = 10.0  # an idle desk reloads its list this often (the WebSocket keeps it current)


def token() -> str:
    """A word no other message has: what history search must find."""
    return "k" + uuid.uuid4().hex[:12]


def now_ms() -> int:
    return int(time.time() * 1000)


# -- what happened ---------------------------------------------------------------------


@dataclass(frozen=True)
class Turn:
    channel: str
    customer_id: str
    mid: str | None
    text: str
    active_attention_id: int | None  # the customer's queued/open attention as the turn began


@dataclass(frozen=True)
class OpenAttempt:
    attention_id: int
    agent_id: int
    status: int


@dataclass
class Handling:
    """One attention as its owner saw it."""

    attention_id: int
    agent_id: int
    customer: Customer
    frames_before_open: int  # frames the owner's socket had delivered when the open answered
    transcript: set[int] = field(default_factory=set)  # message ids loaded after opening
    replies: list[dict] = field(default_factory=list)  # the 201 answers' messages
    terminated: dict | None = None  # the terminate answer's attention
    form: dict[str, Any] = field(default_factory=dict)  # every value the agent submitted


@dataclass
class Ledger:
    turns: list[Turn] = field(default_factory=list)
    webhook_statuses: collections.Counter = field(default_factory=collections.Counter)
    acknowledged: set[str] = field(default_factory=set)
    opens: list[OpenAttempt] = field(default_factory=list)
    handled: dict[int, Handling] = field(default_factory=dict)
    cancelled_by_bot: set[int] = field(default_factory=set)
    latencies: dict[str, list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    problems: list[str] = field(default_factory=list)  # anything a participant found wrong on the spot


# -- customers -------------------------------------------------------------------------


@dataclass
class Customer:
    channel: str
    id: str
    handed_off: bool
    cancels: bool
    name: str
    sent: dict[str, str] = field(default_factory=dict)  # mid -> text (a postback's payload)
    final_mids: list[str] = field(default_factory=list)  # written after the attention ended
    attention_id: int | None = None  # what the service API answered the bot's handoff
    ended_by: str | None = None  # "agent" | "bot"
    phone: asyncio.Queue = field(default_factory=asyncio.Queue)  # agents' texts; None once ended
    _sequence: int = 0

    @property
    def key(self) -> tuple[str, str]:
        return self.channel, self.id

    @property
    def account_id(self) -> str:
        return ACCOUNTS[self.channel]

    def end(self, by: str) -> None:
        if self.ended_by is None:
            self.ended_by = by
            self.phone.put_nowait(None)

    def _mid(self) -> str:
        self._sequence += 1
        return f"{self.channel[0]}mid.{self.id}.{self._sequence}"

    def text_item(self, text: str) -> tuple[str, dict]:
        mid = self._mid()
        self.sent[mid] = text
        return mid, {
            "sender": {"id": self.id},
            "recipient": {"id": self.account_id},
            "timestamp": now_ms(),
            "message": {"mid": mid, "text": text},
        }

    def postback_item(self, payload: str) -> tuple[str, dict]:
        mid = self._mid()
        self.sent[mid] = payload
        return mid, {
            "sender": {"id": self.id},
            "recipient": {"id": self.account_id},
            "timestamp": now_ms(),
            "postback": {"mid": mid, "title": "Ya no quiero esperar", "payload": payload},
        }


def client_session() -> aiohttp.ClientSession:
    """A client that never reuses a connection the server may be closing: Sanic drops idle
    keep-alive connections after 5 s, aiohttp would reuse them for 15 s."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(keepalive_timeout=2))


class Meta:
    """Delivers webhook bodies as Meta does: signed, sometimes batched, sometimes twice."""

    def __init__(self, server: ConnectorServer, ledger: Ledger, rng: random.Random) -> None:
        self.server = server
        self.ledger = ledger
        self.rng = rng
        self.session = client_session()
        self.redeliveries: list[asyncio.Task] = []

    async def deliver(
        self, customer: Customer, items: list[tuple[str, dict]], *, twice_inside: bool = False, again_later: bool = False
    ) -> None:
        messaging = [raw for _, raw in items]
        if twice_inside:  # Meta repeats an item inside one delivery now and then
            messaging.insert(self.rng.randrange(len(messaging) + 1), self.rng.choice(messaging))
        raw = json.dumps(envelope(customer.channel, messaging)).encode()
        await self._post(customer.channel, raw, [mid for mid, _ in items])
        if again_later:
            self.redeliveries.append(asyncio.ensure_future(self._again(customer.channel, raw, [mid for mid, _ in items])))

    async def _again(self, channel: str, raw: bytes, mids: list[str]) -> None:
        await asyncio.sleep(self.rng.uniform(0.2, 2.0))
        await self._post(channel, raw, mids)

    async def _post(self, channel: str, raw: bytes, mids: list[str]) -> None:
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": sign(raw, INSTAGRAM_SECRET if channel == "instagram" else APP_SECRET),
        }
        started = time.monotonic()
        async with self.session.post(self.server.webhook(channel), data=raw, headers=headers) as response:
            await response.read()
        self.ledger.latencies["webhook"].append(time.monotonic() - started)
        self.ledger.webhook_statuses[response.status] += 1
        if response.status == 200:
            self.ledger.acknowledged.update(mids)

    async def finish(self) -> None:
        await asyncio.gather(*self.redeliveries)

    async def close(self) -> None:
        for task in self.redeliveries:
            task.cancel()
        await asyncio.gather(*self.redeliveries, return_exceptions=True)
        await self.session.close()


async def run_customer(customer: Customer, meta: Meta, rng: random.Random, ledger: Ledger, patience: float) -> None:
    async def say(*texts: str, twice_inside: bool = False, again_later: bool = False) -> None:
        items = [customer.text_item(f"{text} {token()}") for text in texts]
        await meta.deliver(customer, items, twice_inside=twice_inside, again_later=again_later)

    await asyncio.sleep(rng.uniform(0, ARRIVALS_SECONDS))
    await say("hola, buenas tardes", again_later=rng.random() < 0.3)
    await asyncio.sleep(rng.uniform(0.05, 0.5))
    if not customer.handed_off:
        await say(
            "¿hacen envíos a todo el país?", "¿y cuánto tarda?", twice_inside=rng.random() < 0.3, again_later=rng.random() < 0.2
        )
        return
    await say(HANDOFF_WORDS, again_later=rng.random() < 0.2)
    if customer.cancels:
        await asyncio.sleep(rng.uniform(0.0, 1.5))
        await meta.deliver(customer, [customer.postback_item(CANCEL)], again_later=rng.random() < 0.5)
    await asyncio.sleep(rng.uniform(0.1, 0.8))
    await say("¿sigue ahí alguien?", twice_inside=rng.random() < 0.2)  # while waiting in the queue
    deadline = time.monotonic() + patience
    while True:
        try:
            written = await asyncio.wait_for(customer.phone.get(), max(0.1, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            ledger.problems.append(f"customer {customer.id}: nobody answered nor ended the attention in {patience:.0f}s")
            return
        if written is None:
            break
        await asyncio.sleep(rng.uniform(0.0, 0.3))
        if rng.random() < 0.4:  # two lines in one delivery
            await say("perfecto", "les cuento más", twice_inside=rng.random() < 0.3, again_later=rng.random() < 0.3)
        else:
            await say("perfecto, gracias", again_later=rng.random() < 0.2)
            if rng.random() < 0.5:  # a second line that races with the agent's next move
                await asyncio.sleep(rng.uniform(0.0, 0.2))
                await say("una cosa más")
    await asyncio.sleep(rng.uniform(0.0, 0.3))
    mid, item = customer.text_item(f"gracias, eso era todo {token()}")
    customer.final_mids.append(mid)
    await meta.deliver(customer, [(mid, item)])


def phone_listener(customers: dict[str, Customer]):
    """What reaches a customer's phone: agents' texts (the bot's are not answered)."""

    def listen(record: RecordedRequest) -> None:
        customer = customers.get(record.recipient_id or "")
        metadata = (record.json or {}).get("message", {}).get("metadata")
        if customer is not None and agent_message_id(EchoReconciler.reference_of(metadata)) is not None:
            customer.phone.put_nowait((record.json or {}).get("message", {}).get("text"))

    return listen


# -- the bot ---------------------------------------------------------------------------


class LoadBot:
    """``on_new_message``: echo, hand over, cancel; every turn written in the ledger."""

    def __init__(self, ledger: Ledger, customers: dict[tuple[str, str], Customer]) -> None:
        self.ledger = ledger
        self.customers = customers
        self.service: HandoffService | None = None
        self.client: HandoffClient | None = None
        self.session: aiohttp.ClientSession | None = None

    def attach(self, server: ConnectorServer) -> None:
        self.service = server.runtime.service
        self.session = client_session()
        self.client = HandoffClient(f"{server.url}/webhooks/desk/service", SERVICE_TOKEN, session=self.session, timeout=60)

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def __call__(self, message: UserMessage) -> None:
        assert self.service is not None and self.client is not None
        channel, account_id = message.input_channel, (message.metadata or {}).get("account_id")
        assert isinstance(account_id, str), message.metadata  # the connectors always name the account
        active = await self.service.inbound.active_attention(channel, account_id, message.sender_id)
        text = message.text or ""
        self.ledger.turns.append(Turn(channel, message.sender_id, message.message_id, text, active.id if active else None))
        customer = self.customers[(channel, message.sender_id)]
        conversation = Conversation(channel, account_id, message.sender_id)
        output = message.output_channel
        if text == CANCEL:
            await output.send_text_message(message.sender_id, await self._cancel(conversation, customer))
        elif HANDOFF_WORDS in text:
            request = HandoffRequest(
                conversation,
                "request_human",
                {"customer_name": customer.name, "handoff_reason": "quiere hablar con alguien"},
                [{"author": "customer", "text": text, "time": time.time()}],
                customer.name,
                "es",
            )
            result = await self.client.request_handoff(request)
            customer.attention_id = result.attention.id
            await output.send_text_message(message.sender_id, result.handoff_message)
        else:
            await output.send_text_message(message.sender_id, f"eco: {text}")

    async def _cancel(self, conversation: Conversation, customer: Customer) -> str:
        assert self.client is not None
        try:
            current = await self.client.active_attention(conversation)
            if current is None:
                return "No tenías ninguna atención pendiente."
            await self.client.terminate(current.id, "customer_cancelled")
        except AttentionHeldByAgent:
            return "Ya te está atendiendo una persona."
        except (AttentionNotActive, AttentionNotFound):
            return "No tenías ninguna atención pendiente."
        self.ledger.cancelled_by_bot.add(current.id)
        customer.end("bot")
        return "Listo, cancelé tu solicitud."


# -- agents ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Browser:
    """What ``tests.desk.support.Desk`` needs of a server: its URL and an HTTP session."""

    url: str
    session: aiohttp.ClientSession


class DeskAgent:
    def __init__(
        self,
        url: str,
        username: str,
        campaigns: tuple[str, ...],
        ledger: Ledger,
        customers: dict[tuple[str, str], Customer],
        everyone_ended: asyncio.Event,
        rng: random.Random,
        *,
        hands: int = 1,
        answer_wait: float = 90.0,
        before_reply: Callable[[Customer], None] = lambda customer: None,
    ) -> None:
        self.url = url
        self.username = username
        self.campaigns = set(campaigns)
        self.ledger = ledger
        self.customers = customers
        self.everyone_ended = everyone_ended
        self.rng = rng
        self.hands = hands
        self.answer_wait = answer_wait
        self.before_reply = before_reply  # the test playing Meta: a hiccup on some sends
        self.desk: Desk | None = None
        self.session: aiohttp.ClientSession | None = None
        self.socket: aiohttp.ClientWebSocketResponse | None = None
        self.frames: list[dict] = []
        self.queue: set[int] = set()
        self.claimed: set[int] = set()
        # attention id -> [(frame index, message id)] of customer messages heard live
        self.heard: dict[int, list[tuple[int, int]]] = collections.defaultdict(list)
        self.news = asyncio.Condition()
        self._reader: asyncio.Task | None = None

    @property
    def id(self) -> int:
        assert self.desk is not None
        return self.desk.id

    async def log_in(self) -> None:
        self.session = client_session()
        self.desk = await login(Browser(self.url, self.session), self.username)

    async def connect(self) -> None:
        """The WebSocket, once its ``ready`` frame came (from then on nothing is missed)."""
        assert self.desk is not None and self.session is not None
        started = time.monotonic()
        self.socket = await self.session.ws_connect(self.desk.ws_url())  # no Origin: a program
        await self.socket.send_json(auth_frame(self.desk.token))
        ready = await self.socket.receive_json(timeout=30)
        self.ledger.latencies["connect"].append(time.monotonic() - started)
        assert ready["type"] == "ready", ready
        self._reader = asyncio.ensure_future(self._read())

    async def hang_up(self) -> None:
        if self.socket is not None:
            await self.socket.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    async def close(self) -> None:
        await self.hang_up()
        if self.session is not None:
            await self.session.close()

    async def _read(self) -> None:
        assert self.socket is not None
        async for frame_message in self.socket:
            if frame_message.type is not aiohttp.WSMsgType.TEXT:
                break
            frame = json.loads(frame_message.data)
            index = len(self.frames)
            self.frames.append(frame)
            kind = frame.get("type", "")
            if kind == "message.added" and frame["message"]["author"] == "customer":
                self.heard[frame["attention_id"]].append((index, frame["message"]["id"]))
            elif kind.startswith("attention."):
                self._track(frame["attention"])
            async with self.news:
                self.news.notify_all()

    def _track(self, summary: dict) -> None:
        if summary["state"] == "queued" and summary["agent_id"] is None and summary["campaign_id"] in self.campaigns:
            self.queue.add(summary["id"])
        else:
            self.queue.discard(summary["id"])

    async def _timed(self, name: str, method: str, path: str, body: Any = None):
        assert self.desk is not None
        started = time.monotonic()
        answer = await self.desk.call(method, path, body)
        self.ledger.latencies[name].append(time.monotonic() - started)
        return answer

    async def refresh(self) -> None:
        """The list API: what a page loads when it starts or reconnects."""
        answer = await self._timed("list", "GET", "/attentions")
        if answer.status != 200:
            self.ledger.problems.append(f"{self.username}: GET /attentions answered {answer.status}: {answer.body}")
            return
        for summary in answer.body["attentions"]:
            self._track(summary)

    async def work(self) -> None:
        await self.refresh()
        await asyncio.gather(*(self._hand() for _ in range(self.hands)))

    def _pick(self) -> int | None:
        candidates = sorted(self.queue - self.claimed)
        if not candidates:
            return None
        # Desks show the oldest first and many agents take it: that is where the races are.
        return candidates[0] if self.rng.random() < 0.4 else self.rng.choice(candidates[:12])

    async def _hand(self) -> None:
        while not self.everyone_ended.is_set():
            target = self._pick()
            if target is None:
                if not await self._wait(
                    lambda: bool(self.queue - self.claimed) or self.everyone_ended.is_set(), IDLE_REFRESH_SECONDS
                ):
                    await self.refresh()
                continue
            self.claimed.add(target)
            try:
                await self._try_open(target)
            finally:
                self.claimed.discard(target)
                self.queue.discard(target)

    async def _wait(self, condition, timeout: float) -> bool:
        try:
            async with self.news:
                await asyncio.wait_for(self.news.wait_for(condition), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    async def _try_open(self, attention_id: int) -> None:
        answer = await self._timed("open", "POST", f"/attentions/{attention_id}/open", {})
        self.ledger.opens.append(OpenAttempt(attention_id, self.id, answer.status))
        if answer.status == 200:
            await self._attend(attention_id, answer.body["attention"])
        elif answer.status != 409:
            self.ledger.problems.append(f"{self.username}: open {attention_id} answered {answer.status}: {answer.body}")

    async def _attend(self, attention_id: int, detail: dict) -> None:
        customer = self.customers[(detail["channel"], detail["customer"]["id"])]
        handling = Handling(attention_id, self.id, customer, frames_before_open=len(self.frames))
        self.ledger.handled[attention_id] = handling
        if detail["state"] != "open" or detail["agent_id"] != self.id:
            self.ledger.problems.append(
                f"{self.username}: open {attention_id} answered {detail['state']} for {detail['agent_id']}"
            )
        page = await self._timed("transcript", "GET", f"/attentions/{attention_id}?limit=200")
        if page.status != 200 or page.body["has_more"]:
            self.ledger.problems.append(f"{self.username}: transcript of {attention_id}: {page.status} {page.body}")
            return
        handling.transcript = {item["id"] for item in page.body["messages"]}
        self.before_reply(customer)
        for round_ in range(1, self.rng.choice(REPLIES) + 1):
            answers_before = self._answers_after_open(handling)
            text = f"Agente {self.username}: respuesta {round_} para {customer.id} {token()}"
            sent = await self._timed("reply", "POST", f"/attentions/{attention_id}/messages", {"text": text})
            if sent.status != 201:
                self.ledger.problems.append(f"{self.username}: reply in {attention_id} answered {sent.status}: {sent.body}")
                return
            handling.replies.append(sent.body["message"])
            if not await self._wait(lambda before=answers_before: self._answers_after_open(handling) > before, self.answer_wait):
                self.ledger.problems.append(
                    f"{self.username}: no answer of customer {customer.id} reached the socket "
                    f"within {self.answer_wait:.0f}s (attention {attention_id})"
                )
        campaign = detail["campaign_id"]
        if self.rng.random() < 0.3:  # some save a draft first
            saved = await self._timed("form", "PUT", f"/attentions/{attention_id}/form", {"values": DRAFTS[campaign]})
            if saved.status != 200:
                self.ledger.problems.append(f"{self.username}: form of {attention_id} answered {saved.status}: {saved.body}")
            handling.form.update(DRAFTS[campaign])
        handling.form.update(FINAL_FORMS[campaign])
        ended = await self._timed("terminate", "POST", f"/attentions/{attention_id}/terminate", {"values": FINAL_FORMS[campaign]})
        if ended.status != 200:
            self.ledger.problems.append(f"{self.username}: terminate {attention_id} answered {ended.status}: {ended.body}")
            return
        handling.terminated = ended.body["attention"]
        customer.end("agent")

    def _answers_after_open(self, handling: Handling) -> int:
        return sum(1 for index, _ in self.heard[handling.attention_id] if index >= handling.frames_before_open)


# -- the database afterwards -----------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    attentions: list[Any]
    messages: list[Any]
    trail: list[Any]
    documents: dict[int, str]
    inbox: collections.Counter


async def read_database(engine: AsyncEngine) -> Stored:
    async with engine.connect() as connection:
        attentions = (await connection.execute(sa.select(attention).order_by(attention.c.id))).all()
        messages = (await connection.execute(sa.select(message).order_by(message.c.id))).all()
        trail = (await connection.execute(sa.select(attention_event).order_by(attention_event.c.id))).all()
        documents = dict((await connection.execute(sa.select(history.c.attention_id, history.c.document))).all())
        states = (await connection.execute(sa.select(inbox_item.c.state, sa.func.count()).group_by(inbox_item.c.state))).all()
    return Stored(attentions, messages, trail, documents, collections.Counter(dict(states)))


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

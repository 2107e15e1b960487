"""The agents' side of part 3, in the bench process: accounts, attentions and live sockets.

Everything goes through the product's own doors, as people and the action server use them:

* the supervisor account with the account command (``python -m connectors.desk.accounts add``),
  before the server starts; the agents through the supervisor API (``POST /api/agents``);
* every agent logs in (``POST /api/login``) and opens its attentions
  (``POST /api/attentions/<id>/open``);
* the attentions through the service API the action server calls
  (``POST /webhooks/desk/service/attentions`` with ``HANDOFF_SERVICE_TOKEN``);
* one WebSocket per agent (``/webhooks/desk/ws``, its token in the first frame), read in this process so a
  frame's arrival and its webhook's send are read from one clock (``time.perf_counter``).

``AgentSockets`` records, per message id, which agent's socket got it and when: a message
is identified by its ``mid``, which the bench writes at the end of its text (the desk's
message frame carries the text, not Meta's id).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp

from bench import servers

PASSWORD = "bench-agent-password"
SUPERVISOR = "bench-supervisor"
CAMPAIGN = "soporte"  # where Messenger handoffs go (data/campaigns.yml)
API = "/webhooks/desk/api"
SERVICE = "/webhooks/desk/service"
T = TypeVar("T")


class SetupFailed(RuntimeError):
    pass


class ServerError(SetupFailed):
    """A 5xx during the set-up: retried (and counted) rather than ending the whole part."""


RETRIES = 3


@dataclass(frozen=True)
class Socket:
    """Where a socket connects, and the token its first frame carries (None: no auth frame)."""

    url: str
    token: str | None = None


@dataclass(frozen=True)
class DeskAgent:
    index: int  # 0..n-1, the bench's name for the agent (and the socket's)
    id: int
    username: str
    token: str


def message_text(mid: str) -> str:
    return f"¿siguen ahí? necesito ayuda con mi pedido [{mid}]"


def mid_of(text: str) -> str:
    return text.rsplit("[", 1)[-1].rstrip("]")


async def bounded(jobs: Sequence[Callable[[], Awaitable[T]]], concurrency: int) -> list[T]:
    """Run the jobs with at most ``concurrency`` at once; results in the jobs' order."""
    results: list[Any] = [None] * len(jobs)
    queue = iter(enumerate(jobs))

    async def worker() -> None:
        for n, job in queue:
            results[n] = await job()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


def add_supervisor(env: Mapping[str, str]) -> None:
    """The first account, with the command an operator uses (migrates the database too)."""
    command = [
        sys.executable,
        "-m",
        "connectors.desk.accounts",
        "add",
        SUPERVISOR,
        "--role",
        "supervisor",
        "--name",
        "Bench Supervisor",
        "--password-stdin",
    ]
    result = subprocess.run(
        command, input=PASSWORD + "\n", env=dict(env), cwd=servers.ROOT, capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0:
        raise SetupFailed(f"creating the supervisor failed: {result.stderr[-1500:]}")


async def _json(response: aiohttp.ClientResponse, expected: tuple[int, ...], what: str) -> Any:
    body = await response.json(content_type=None)
    if response.status not in expected:
        kind = ServerError if response.status >= 500 else SetupFailed
        raise kind(f"{what}: {response.status} {str(body)[:300]}")
    return body


async def _retried(job: Callable[[], Awaitable[T]], errors: list[str]) -> T:
    """``job``, again after a 5xx (at most RETRIES times); each 5xx is kept in ``errors``
    so the report can say how many there were."""
    for attempt in range(RETRIES):
        try:
            return await job()
        except ServerError as error:
            errors.append(str(error))
            if attempt == RETRIES - 1:
                raise
            await asyncio.sleep(0.5)
    raise AssertionError("unreachable")


async def login(session: aiohttp.ClientSession, base: str, username: str) -> tuple[str, dict[str, Any]]:
    async with session.post(base + API + "/login", json={"username": username, "password": PASSWORD}) as response:
        body = await _json(response, (200,), f"login of {username}")
    return body["token"], body["agent"]


async def create_agents(
    session: aiohttp.ClientSession, base: str, count: int, errors: list[str], concurrency: int = 8
) -> list[DeskAgent]:
    """``count`` agents of the campaign, created by the supervisor, each logged in."""
    supervisor, _ = await login(session, base, SUPERVISOR)
    headers = {"Authorization": f"Bearer {supervisor}"}

    def make(index: int) -> Callable[[], Awaitable[DeskAgent]]:
        async def job() -> DeskAgent:
            username = f"bench-agent-{index:02d}"
            body = {"username": username, "password": PASSWORD, "display_name": f"Agente {index:02d}", "campaigns": [CAMPAIGN]}

            async def create() -> None:
                async with session.post(base + API + "/agents", json=body, headers=headers) as response:
                    await _json(response, (201,), f"creating {username}")

            await _retried(create, errors)
            token, agent = await _retried(lambda: login(session, base, username), errors)
            return DeskAgent(index, agent["id"], username, token)

        return job

    return await bounded([make(index) for index in range(count)], concurrency)


async def create_attentions(
    session: aiohttp.ClientSession, base: str, customers: Sequence[str], errors: list[str], concurrency: int = 16
) -> list[int]:
    """One queued attention per customer, as ``action_handoff`` asks for it."""
    headers = {"Authorization": f"Bearer {servers.SERVICE_TOKEN}"}

    def make(customer: str) -> Callable[[], Awaitable[int]]:
        async def call() -> int:
            body = {
                "channel": "messenger",
                "account_id": servers.PAGE_ID,
                "customer_id": customer,
                "intent": "request_human",
                "customer_name": f"Cliente {customer[-6:]}",
                "language": "es",
                "slots": {"customer_name": f"Cliente {customer[-6:]}", "handoff_reason": "Mi pedido no llegó"},
                "context": [{"author": "customer", "text": "quiero hablar con una persona", "time": time.time() - 30}],
            }
            async with session.post(base + SERVICE + "/attentions", json=body, headers=headers) as response:
                answer = await _json(response, (200, 201), f"handoff of {customer}")
            return int(answer["attention"]["id"])

        return lambda: _retried(call, errors)

    return await bounded([make(customer) for customer in customers], concurrency)


async def open_attentions(
    session: aiohttp.ClientSession,
    base: str,
    owners: Sequence[DeskAgent],
    attention_ids: Sequence[int],
    errors: list[str],
    concurrency: int = 16,
) -> None:
    """Attention n is opened by ``owners[n]`` from its own session."""

    def make(agent: DeskAgent, attention_id: int) -> Callable[[], Awaitable[None]]:
        async def call() -> None:
            headers = {"Authorization": f"Bearer {agent.token}"}
            async with session.post(f"{base}{API}/attentions/{attention_id}/open", json={}, headers=headers) as response:
                await _json(response, (200,), f"{agent.username} opening attention {attention_id}")

        return lambda: _retried(call, errors)

    await bounded([make(agent, attention) for agent, attention in zip(owners, attention_ids, strict=False)], concurrency)


@dataclass
class AgentSockets:
    """One live socket per agent; what arrived on which, and when.

    ``expect`` names the messages of a step and their owners; ``settle`` waits until every
    one of them reached its owner's socket, or nothing arrived for ``quiet`` seconds, or
    ``timeout`` passed. Frames of other kinds are counted, frames of messages nobody
    expects (a previous step's stragglers) too."""

    arrivals: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # mid -> [(socket, time)]
    other_frames: collections.Counter[str] = field(default_factory=collections.Counter)
    stray: int = 0
    dropped: int = 0
    _closing: bool = False
    last_frame: float = 0.0
    _expected: dict[str, int] = field(default_factory=dict)  # mid -> owner's socket
    _waiting: int = 0
    _done: asyncio.Event = field(default_factory=asyncio.Event)
    _sockets: list[aiohttp.ClientWebSocketResponse] = field(default_factory=list)
    _readers: list[asyncio.Task[None]] = field(default_factory=list)

    async def connect(self, session: aiohttp.ClientSession, targets: Sequence[Socket]) -> None:
        """Socket n for ``targets[n]``; returns when every socket got its ``ready`` frame."""

        async def one(index: int, target: Socket) -> None:
            socket = await session.ws_connect(target.url, autoping=True, max_msg_size=0)
            if target.token is not None:
                await socket.send_json({"type": "auth", "token": target.token})
            ready = await socket.receive_json(timeout=30)
            if ready.get("type") != "ready":
                raise SetupFailed(f"socket {index}: first frame {ready}")
            self._sockets.append(socket)
            self._readers.append(asyncio.ensure_future(self._read(index, socket)))

        await asyncio.gather(*(one(index, target) for index, target in enumerate(targets)))

    async def _read(self, index: int, socket: aiohttp.ClientWebSocketResponse) -> None:
        async for message in socket:
            at = time.perf_counter()  # before any parsing: the arrival, not our reading of it
            if message.type == aiohttp.WSMsgType.TEXT:
                self._on_frame(index, at, message.data)
        if not self._closing:
            self.dropped += 1  # the server closed it during the measurement

    def _on_frame(self, index: int, at: float, data: str) -> None:
        self.last_frame = at
        frame: Any = None
        try:
            frame = json.loads(data)
            text = frame["message"]["text"] if frame.get("type") == "message.added" else None
        except (ValueError, KeyError, TypeError):
            text = None
        if not isinstance(text, str):
            self.other_frames[str(frame.get("type") if isinstance(frame, dict) else "unreadable")] += 1
            return
        mid = mid_of(text)
        owner = self._expected.get(mid)
        if owner is None:
            self.stray += 1
            return
        seen = self.arrivals.setdefault(mid, [])
        first_at_owner = index == owner and all(socket != owner for socket, _ in seen)
        seen.append((index, at))
        if first_at_owner:
            self._waiting -= 1
            if self._waiting <= 0:
                self._done.set()

    def expect(self, owners: Mapping[str, int]) -> None:
        self.arrivals.clear()
        self._expected = dict(owners)
        self._waiting = len(self._expected)
        self._done = asyncio.Event()
        if not self._waiting:
            self._done.set()

    async def settle(self, timeout: float, quiet: float) -> bool:
        deadline = time.perf_counter() + timeout
        self.last_frame = max(self.last_frame, time.perf_counter())
        while not self._done.is_set():
            now = time.perf_counter()
            if now >= deadline or now - self.last_frame >= quiet:
                return False
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._done.wait(), min(0.25, deadline - now))
        return True

    def owner_of(self, mid: str) -> int:
        return self._expected[mid]

    async def close(self) -> None:
        self._closing = True
        for socket in self._sockets:
            await socket.close()
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)

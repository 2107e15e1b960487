"""Part 3: the handoff path, from a customer's signed webhook to the owning agent's WebSocket.

What is measured: customers whose attention an agent has open write through the signed
Messenger webhook; the time from sending the webhook to the message's frame arriving on
the owning agent's WebSocket, the rate at which messages keep reaching the sockets, and
whether each message arrived exactly once, on its owner's socket only.

*Ours* is the real ``rasa run`` with the trained model, ``credentials.yml`` and
``endpoints.yml`` as shipped (our Messenger and Instagram channels and the desk, SQLite
handoff database, Rasa's in-memory tracker store), pointed at the fake Graph API in its
own process. Set up through the product's own doors: the supervisor with the account
command, 50 agents of the campaign through the supervisor API, N attentions through the
service API the action server calls, each agent logged in and opening its share (N/50),
then 50 WebSocket clients in the bench process, one per agent. A customer message then
goes: signature check, durable inbox, 200; then the attention lookup, the message insert,
the event bus, the desk's frame to the owner's socket, and the line on the customer's
paused Rasa tracker (logged without NLU: a paused conversation gains nothing from it).

*Bare* (the baseline, ``bench/handoff_relay.py``) is the least any server must do on the
same stack (Sanic + uvloop, its WebSockets): check the same signature with the same
function, parse the JSON and push the text to the owner's socket from an in-memory table,
nothing stored. Our latency over bare's at the same rate, in the same minutes, is what
durability, the lookup, the tracker line and the desk's rendering cost on this machine.

Load: ``bench.load.open_loop`` at fixed rates (one message per delivery, a distinct
``mid`` each, customers in rotation over the N attentions), bare and ours interleaved
(the order alternates every step), the ladder repeated. A step is **sustained** when
every delivery got its 200, every message reached its owner's socket exactly once and no
other socket, messages reached the sockets at ≥ 97 % of the offered rate (first send to
last arrival), and p95 stayed under 250 ms (a server that falls behind builds a queue,
and the latency of the step's last messages grows past any such bound). A server's
ladder stops after two unsustained steps in a row above 100 messages/s (the latency
target's rate is always measured). Before the next step every message of
the last one has arrived (or none arrived for 5 s). Every figure is the median over
repeats of one repeat's statistic; ratios are taken per repeat, then their median.
"""

from __future__ import annotations

import asyncio
import collections
import math
import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench import handoff_desk, load, profiling, servers
from bench.handoff_desk import AgentSockets, DeskAgent
from bench.report import Section, Verdict, table
from bench.stats import Summary, fmt, fmt_ratio, median, ms, ratio

KEY = "handoff"
TITLE = "3. Handoff path (webhook to agent WebSocket)"

AGENTS = 50
TARGET_RATE = 300.0  # messages/s, sustained
LATENCY_RATE = 100.0  # messages/s at which p95 is judged
TARGET_P95 = 0.050
MIN_ACHIEVED = 0.97
MAX_P95 = 0.250  # a step whose p95 passes this is falling behind
LAG_LIMIT = 0.010
QUIET = 5.0
SETTLE_LIMIT = 180.0
MIN_STEP_MESSAGES = 100
PROFILE_REPEAT = -2  # the step run while py-spy records: not part of the ladder


@dataclass(frozen=True)
class Sizes:
    attentions: int  # customers with an open attention, AGENTS agents share them
    rates: tuple[float, ...]
    step_seconds: float
    repeats: int
    profile_seconds: float


# The low rungs show the path's latency while the server keeps up; 100 and 300 are the
# issue's targets.
QUICK = Sizes(attentions=200, rates=(10, 50, 100, 200, 400), step_seconds=2.0, repeats=1, profile_seconds=4)
FULL = Sizes(attentions=1000, rates=(10, 25, 50, 100, 200, 300, 400, 600), step_seconds=5.0, repeats=3, profile_seconds=8)


@dataclass
class Target:
    name: str  # "ours" or "bare"
    server: servers.ServerProcess
    webhook: str
    sockets: AgentSockets
    idle_cpu: float = 0.0  # share of a core the server uses with no traffic (timers, pings)

    async def measure_idle(self, seconds: float = 3.0) -> None:
        before, started = self.server.cpu_seconds(), time.perf_counter()
        await asyncio.sleep(seconds)
        self.idle_cpu = (self.server.cpu_seconds() - before) / (time.perf_counter() - started)


@dataclass
class Step:
    server: str
    rate: float
    repeat: int
    offered: int
    acked: int
    delivered: int  # reached the owner's socket
    lost: int  # never reached the owner's socket
    duplicated: int  # extra copies on the owner's socket
    misrouted: int  # copies on any other agent's socket
    achieved: float  # delivered / (last arrival - first send)
    latency: Summary  # webhook send -> owner's socket
    ack: Summary  # webhook send -> 200
    lag: Summary  # generator: actual send - scheduled send
    cpu: float  # server process, share of one core over the step and its drain
    cpu_seconds: float  # server process, over the step and its drain, less its idle CPU
    loop_share: float  # of the server's CPU in the step, the share of its main (event loop) thread

    @property
    def generator_limited(self) -> bool:
        return self.lag.p99 > LAG_LIMIT

    @property
    def exact(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.misrouted == 0

    @property
    def sustained(self) -> bool:
        return (
            self.acked == self.offered
            and self.exact
            and self.achieved >= MIN_ACHIEVED * self.rate
            and self.latency.p95 <= MAX_P95
        )

    @property
    def cpu_ms_per_message(self) -> float:
        return self.cpu_seconds * 1000 / self.delivered if self.delivered else math.nan

    def as_dict(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "rate": self.rate,
            "repeat": self.repeat,
            "offered": self.offered,
            "acked": self.acked,
            "delivered": self.delivered,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "misrouted": self.misrouted,
            "achieved": self.achieved,
            "latency": self.latency.as_dict(),
            "ack": self.ack.as_dict(),
            "lag": self.lag.as_dict(),
            "cpu": self.cpu,
            "cpu_seconds": self.cpu_seconds,
            "cpu_ms_per_message": self.cpu_ms_per_message,
            "loop_share": self.loop_share,
            "sustained": self.sustained,
            "generator_limited": self.generator_limited,
        }


@dataclass
class Traffic:
    """Messages of the customers with open attentions, each with a distinct mid."""

    customers: Sequence[str]
    owners: dict[str, int]  # customer -> the index of the agent who opened the attention
    _next: int = 0

    def deliveries(self, count: int, tag: str) -> tuple[list[load.Delivery], dict[str, int]]:
        """``count`` single-message deliveries (customers in rotation) and mid -> owner."""
        deliveries, owners = [], {}
        for _ in range(count):
            customer = self.customers[self._next % len(self.customers)]
            mid = f"m_{tag}_{self._next}"
            self._next += 1
            deliveries.append(load.delivery([load.message_item(customer, handoff_desk.message_text(mid), mid)]))
            owners[mid] = self.owners[customer]
        return deliveries, owners


async def measure(
    session: aiohttp.ClientSession, target: Target, traffic: Traffic, rate: float, seconds: float, repeat: int
) -> Step:
    """One step of the ladder: send, wait for every frame (bounded), count."""
    count = max(MIN_STEP_MESSAGES if repeat >= 0 else 20, int(rate * seconds))
    deliveries, owners = traffic.deliveries(count, f"{target.name}{repeat}r{rate:g}")
    target.sockets.expect(owners)
    cpu_before, loop_before = target.server.cpu_seconds(), _main_thread_cpu(target.server)
    wall_before = time.perf_counter()
    acks = await load.open_loop(session, target.webhook, deliveries, rate)
    await target.sockets.settle(SETTLE_LIMIT, QUIET)
    wall = time.perf_counter() - wall_before
    used = target.server.cpu_seconds() - cpu_before
    cpu = used / wall
    loop_share = (_main_thread_cpu(target.server) - loop_before) / used if used > 0 else math.nan
    cpu_seconds = max(0.0, cpu - target.idle_cpu) * wall
    sent = {ack.delivery.mids[0]: ack.sent for ack in acks}
    latencies, lost, duplicated, misrouted, last = [], 0, 0, 0, 0.0
    for mid, owner in owners.items():
        seen = target.sockets.arrivals.get(mid, [])
        at_owner = [at for socket, at in seen if socket == owner]
        misrouted += len(seen) - len(at_owner)
        if not at_owner:
            lost += 1
            continue
        duplicated += len(at_owner) - 1
        latencies.append(at_owner[0] - sent[mid])
        last = max(last, at_owner[0])
    first = min(ack.sent for ack in acks)
    ok = [ack for ack in acks if ack.ok]
    return Step(
        target.name,
        rate,
        repeat,
        len(acks),
        len(ok),
        len(latencies),
        lost,
        duplicated,
        misrouted,
        len(latencies) / (last - first) if latencies and last > first else math.nan,
        Summary.of(latencies),
        Summary.of([ack.latency for ack in ok]),
        Summary.of([ack.lag for ack in acks]),
        cpu,
        cpu_seconds,
        loop_share,
    )


def _main_thread_cpu(server: servers.ServerProcess) -> float:
    """CPU seconds of the server's main thread, the one its event loop runs on (Python's
    work on this path, all of it under the GIL); the other threads are aiosqlite's."""
    pid = server.process.pid
    try:
        with open(f"/proc/{pid}/task/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return math.nan


@dataclass
class Ladder:
    steps: list[Step] = field(default_factory=list)
    extra: list[Step] = field(default_factory=list)  # run for a profile; counted only for exactness

    def at(self, server: str, rate: float) -> list[Step]:
        return [s for s in self.steps if s.server == server and s.rate == rate]

    def rates(self, server: str) -> list[float]:
        return sorted({s.rate for s in self.steps if s.server == server})

    def median_of(self, server: str, rate: float, what: str) -> float:
        pick = {
            "p50": lambda s: s.latency.p50,
            "p95": lambda s: s.latency.p95,
            "p99": lambda s: s.latency.p99,
            "achieved": lambda s: s.achieved,
            "ack_p95": lambda s: s.ack.p95,
            "cpu": lambda s: s.cpu,
            "cpu_ms": lambda s: s.cpu_ms_per_message,
        }[what]
        return median(pick(s) for s in self.at(server, rate))

    def sustained_rate(self, server: str) -> tuple[float, bool]:
        """Median over repeats of the highest sustained rate; True when the server may do
        more: that step was the ladder's top, or the generator limited it and no higher
        rate was tried."""
        best, open_ended = [], []
        top_rate = max(self.rates(server), default=0.0)
        for repeat in sorted({s.repeat for s in self.steps if s.server == server}):
            steps = [s for s in self.steps if s.server == server and s.repeat == repeat]
            top = max((s for s in steps if s.sustained), key=lambda s: s.rate, default=None)
            best.append(top.rate if top else 0.0)
            higher_failed = top is not None and any(s.rate > top.rate for s in steps)
            open_ended.append(bool(top and (top.rate == top_rate or (top.generator_limited and not higher_failed))))
        return median(best), any(open_ended)

    def peak_throughput(self, server: str) -> float:
        """Median over repeats of the most messages per second that reached the sockets in
        one step, sustained or not (a step run past capacity shows the capacity)."""
        peaks = []
        for repeat in sorted({s.repeat for s in self.steps if s.server == server}):
            achieved = [s.achieved for s in self.steps if s.server == server and s.repeat == repeat and s.lost == 0]
            peaks.append(max((a for a in achieved if not math.isnan(a)), default=math.nan))
        return median(peaks)

    def ratio_at(self, rate: float, what: str = "p95") -> float:
        ratios = []
        for ours in self.at("ours", rate):
            bare = [s for s in self.at("bare", rate) if s.repeat == ours.repeat]
            if bare:
                pick = (lambda s: s.latency.p95) if what == "p95" else (lambda s: s.latency.p50)
                ratios.append(ratio(pick(ours), pick(bare[0])))
        return median(ratios)


async def run_ladder(
    session: aiohttp.ClientSession, targets: dict[str, Target], traffic: dict[str, Traffic], sizes: Sizes, ladder: Ladder
) -> None:
    from bench.runner import log

    for repeat in range(sizes.repeats):
        failures = dict.fromkeys(targets, 0)
        for index, rate in enumerate(sizes.rates):
            order = list(targets) if (index + repeat) % 2 == 0 else list(reversed(list(targets)))
            for name in order:
                if failures[name] >= 2 and rate > LATENCY_RATE:  # the latency target's rate is always measured
                    continue
                step = await measure(session, targets[name], traffic[name], rate, sizes.step_seconds, repeat)
                ladder.steps.append(step)
                failures[name] = 0 if step.sustained else failures[name] + 1
                log(
                    f"  handoff {name:4} {rate:5.0f}/s: p50 {ms(step.latency.p50):8.2f} ms p95 {ms(step.latency.p95):8.2f} ms"
                    f" p99 {ms(step.latency.p99):8.2f} ms, {step.achieved:6.0f}/s delivered, ack p95 "
                    f"{ms(step.ack.p95):6.2f} ms, cpu {step.cpu:4.0%}, lost {step.lost} dup {step.duplicated} "
                    f"misrouted {step.misrouted}, {'sustained' if step.sustained else 'NOT sustained'}"
                    + (" (generator-limited)" if step.generator_limited else "")
                )
                await asyncio.sleep(0.3)
            if rate >= LATENCY_RATE and all(count >= 2 for count in failures.values()):
                break


@dataclass
class Setup:
    """What it took to get the desk ready (reported, not judged)."""

    seconds: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # 5xx answers retried during the set-up


async def _desk_ready(
    session: aiohttp.ClientSession,
    ours: servers.ServerProcess,
    bare: servers.ServerProcess,
    customers: Sequence[str],
    owners: dict[str, int],
    setup: Setup,
) -> list[DeskAgent]:
    """50 agents logged in, one open attention per customer (opened by its owner), and the
    same ownership told to the bare relay."""
    from bench.runner import log

    clock = time.perf_counter()
    agents = await handoff_desk.create_agents(session, ours.url, AGENTS, setup.errors)
    setup.seconds["agents_s"] = time.perf_counter() - clock
    clock = time.perf_counter()
    attention_ids = await handoff_desk.create_attentions(session, ours.url, customers, setup.errors)
    setup.seconds["attentions_s"] = time.perf_counter() - clock
    clock = time.perf_counter()
    await handoff_desk.open_attentions(session, ours.url, [agents[owners[c]] for c in customers], attention_ids, setup.errors)
    setup.seconds["opens_s"] = time.perf_counter() - clock
    async with session.post(bare.url + "/routes", json=owners) as answer:
        answer.raise_for_status()
    log(
        f"  handoff: {len(agents)} agents, {len(attention_ids)} attentions opened "
        f"({setup.seconds['attentions_s']:.0f} s to create, {setup.seconds['opens_s']:.0f} s to open)"
    )
    return agents


async def run(ctx) -> Section:
    sizes: Sizes = ctx.size(QUICK, FULL)
    loop = asyncio.get_running_loop()
    started: list[servers.ServerProcess] = []
    setup = Setup()

    async def start(make) -> servers.ServerProcess:
        process = await loop.run_in_executor(None, make)
        started.append(process)
        return process

    try:
        graph = await start(
            lambda: servers.python_server(
                "handoff-graph",
                "bench.graph_server",
                [],
                servers.base_env(),
                ctx.logs,
                "/v21.0/me?access_token=" + servers.PAGE_TOKEN,
            )
        )
        env = servers.product_env(
            graph.url,
            f"sqlite+aiosqlite:///{ctx.work / 'handoff.db'}",
            HANDOFF_SESSION_SECRET=secrets.token_urlsafe(48),
        )
        clock = time.perf_counter()
        await loop.run_in_executor(None, handoff_desk.add_supervisor, env)
        ours = await start(
            lambda: servers.rasa_run(
                "handoff-ours",
                env,
                ctx.logs,
                credentials=servers.ROOT / "credentials.yml",
                endpoints=servers.ROOT / "endpoints.yml",
                ready_path="/webhooks/desk/health",
            )
        )
        setup.seconds["rasa_start_s"] = time.perf_counter() - clock
        bare = await start(
            lambda: servers.python_server("handoff-bare", "bench.handoff_relay", [], servers.base_env(), ctx.logs, "/health")
        )
        return await _measure_all(ctx, sizes, ours, bare, setup)
    finally:
        for process in reversed(started):
            process.stop()


async def _measure_all(ctx, sizes: Sizes, ours: servers.ServerProcess, bare: servers.ServerProcess, setup: Setup) -> Section:
    customers = load.sender_ids("handoff", sizes.attentions)
    owners = {customer: n % AGENTS for n, customer in enumerate(customers)}
    ladder = Ladder()
    profile: list[tuple[str, float]] = []
    inclusive: dict[str, float] = {}
    profile_note = profiling.NOT_AVAILABLE
    async with load.new_session() as session, aiohttp.ClientSession() as live_session:
        agents = await _desk_ready(session, ours, bare, customers, owners, setup)
        targets = {
            "bare": Target("bare", bare, bare.url + "/webhooks/messenger/webhook", AgentSockets()),
            "ours": Target("ours", ours, ours.url + "/webhooks/messenger/webhook", AgentSockets()),
        }
        try:
            await targets["ours"].sockets.connect(live_session, [_desk_socket(ours, agent) for agent in agents])
            await targets["bare"].sockets.connect(live_session, [_relay_socket(bare, agent) for agent in agents])
            traffic = {name: Traffic(customers, owners) for name in targets}
            for name, target in targets.items():  # warm-up: pools, caches, first compilations
                await measure(session, target, traffic[name], 50, 1.0, -1)
                await target.measure_idle()
                setup.seconds[f"{name}_idle_cpu"] = target.idle_cpu
            await run_ladder(session, targets, traffic, sizes, ladder)

            missed = _latency_missed(ladder) or _throughput_missed(ladder)
            if missed and profiling.py_spy():
                # Past what the server carries, so every sample is spent on this path, but not
                # so far past it that the backlog takes minutes to drain.
                peak = ladder.peak_throughput("ours")
                profile_rate = min(TARGET_RATE, max(LATENCY_RATE, 2 * peak if not math.isnan(peak) else TARGET_RATE))
                profile, inclusive, profiled = await _profile(
                    ctx, session, targets["ours"], traffic["ours"], profile_rate, sizes.profile_seconds
                )
                ladder.extra.append(profiled)
                profile_note = (
                    f"py-spy for {sizes.profile_seconds:.0f} s at {profile_rate:.0f} messages/s on our "
                    f"server (it delivered {profiled.delivered} of {profiled.offered} at "
                    f"{fmt(profiled.achieved, 0)}/s), samples taken while the GIL is held (raw stacks in "
                    "`profiles/`, not checked in); each sample counts for the first row whose marker is "
                    "on its stack."
                )
            elif not missed:
                profile_note = "Not profiled: every target is met."
            server_errors = _logged_errors(ours)
        finally:
            for target in targets.values():
                await target.sockets.close()
    return _section(ctx, sizes, ladder, (profile, inclusive), profile_note, setup, targets, server_errors)


def _logged_errors(server: servers.ServerProcess) -> list[str]:
    """The server's ERROR lines and exceptions while it was measured (a message that
    failed on the way would show here, not at the socket only)."""
    return [
        line.strip()[:300]
        for line in server.log_text().splitlines()
        if " ERROR " in line or line.startswith("Traceback") or "Error:" in line
    ]


def _desk_socket(server: servers.ServerProcess, agent: DeskAgent) -> str:
    return f"{server.url.replace('http', 'ws', 1)}/webhooks/desk/ws?token={agent.token}"


def _relay_socket(server: servers.ServerProcess, agent: DeskAgent) -> str:
    return f"{server.url.replace('http', 'ws', 1)}/ws?agent={agent.index}"


def _latency_missed(ladder: Ladder) -> bool:
    value = ladder.median_of("ours", LATENCY_RATE, "p95")
    return math.isnan(value) or value > TARGET_P95


def _throughput_missed(ladder: Ladder) -> bool:
    return ladder.sustained_rate("ours")[0] < TARGET_RATE


async def _profile(
    ctx, session: aiohttp.ClientSession, target: Target, traffic: Traffic, rate: float, seconds: float
) -> tuple[list[tuple[str, float]], dict[str, float], Step]:
    """py-spy on the server during one step at ``rate``; the step is counted like the
    ladder's (lost, duplicated, misrouted) though it is run past capacity on purpose."""
    output = ctx.profiles / "handoff-ours.txt"
    recording = asyncio.ensure_future(profiling.record(target.server.process.pid, seconds, output))
    step = await measure(session, target, traffic, rate, seconds + 1.0, PROFILE_REPEAT)
    await recording
    return profiling.summarise(output, PROFILE_BUCKETS), _inclusive(output, INCLUSIVE), step


# Whatever called them: these cut across the rows above.
INCLUSIVE: dict[str, tuple[str, ...]] = {
    "SQLAlchemy (statement building, cache keys, compiled cache, execution, pool, greenlets)": ("sqlalchemy/",),
    "aiosqlite's threads (sqlite3)": ("_connection_worker_thread (aiosqlite/",),
    "Rasa's tracker line (lock, InMemoryTrackerStore retrieve and save)": ("log_message (rasa/core/processor.py",),
    # Not sanic/server/runners.py: the server's loop is at the root of every stack.
    "Sanic's HTTP and WebSocket protocol": (
        "sanic/http.py",
        "sanic/server/protocols/",
        "sanic/server/websockets/",
        "sanic/request.py",
        "sanic/response.py",
    ),
}


def _inclusive(collapsed: Path, markers: dict[str, tuple[str, ...]]) -> dict[str, float]:
    """Share of samples with one of a label's markers anywhere on the stack."""
    counts = dict.fromkeys(markers, 0)
    total = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, number = line.rpartition(" ")
        if not stack or not number.isdigit():
            continue
        total += int(number)
        for label, marker_set in markers.items():
            if any(marker in stack for marker in marker_set):
                counts[label] += int(number)
    return {label: count / total for label, count in counts.items()} if total else {}


# A sample counts for the first row with a marker on its stack, so the rows of the work
# after the 200 come before "_drain" and the webhook's rows before the HTTP protocol.
PROFILE_BUCKETS: list[profiling.Bucket] = [
    # In steady state every other statement on this path is in SQLAlchemy's compiled cache.
    (
        "SQL: compiling the inbox's INSERT ... ON CONFLICT DO NOTHING on every webhook (no cache key in "
        "SQLAlchemy 1.4's SQLite dialect)",
        ["visit_insert (sqlalchemy/"],
    ),
    ("before the 200: inbox write (Inbox.accept)", ["accept (connectors/meta/inbox.py"]),
    (
        "after the 200: the message into the attention (record_customer_event: lookup, insert, window)",
        ["record_customer_event (handoff/services/inbound.py"],
    ),
    (
        "after the 200: the line on the paused Rasa tracker (lock, tracker store)",
        ["log_paused (connectors/meta/routing.py", "(connectors/rasa_conversations.py"],
    ),
    (
        "after the 200: inbox marks (in progress / handled)",
        [
            "mark_handled (connectors/meta/inbox.py",
            "mark_handling (connectors/meta/inbox.py",
            "_finish (connectors/meta/inbox.py",
        ],
    ),
    ("desk: rendering the frame and writing it to the socket", ["(connectors/desk/live.py"]),
    ("event bus: offering each event to 50 subscriptions", ["(handoff/events.py"]),
    ("after the 200: the rest (parsing, routing, dispatcher)", ["_drain (connectors/meta/inbox.py"]),
    ("before the 200: signature check", ["is_valid_signature (connectors/meta/channel.py"]),
    (
        "before the 200: the rest (Sanic request and response, JSON, items)",
        ["_receive (connectors/meta/channel.py", "http1 (sanic/http.py", "connection_task ("],
    ),
    (
        "SQL statements in SQLAlchemy's greenlets (compile, execute, pool; py-spy does not see "
        "their caller: the inbox write, record_customer_event and the marks)",
        ["sqlalchemy/"],
    ),
    ("aiosqlite worker threads (sqlite3 calls)", ["aiosqlite/"]),
    ("WebSocket protocol (Sanic, websockets)", ["sanic/server/websockets", "websockets/", "websocket_protocol"]),
]


def _cell(steps: list[Step], pick, digits: int = 2, mark_limited: bool = False) -> str:
    if not steps:
        return "–"
    value = median(pick(s) for s in steps)
    limited = " ‡" if mark_limited and any(s.generator_limited for s in steps) else ""
    return fmt(value, digits) + limited


def _rows(ladder: Ladder) -> list[list[str]]:
    rows = []
    for rate in sorted(set(ladder.rates("ours")) | set(ladder.rates("bare"))):
        bare, ours = ladder.at("bare", rate), ladder.at("ours", rate)

        def sustained(steps: list[Step]) -> str:
            return "–" if not steps else f"{sum(s.sustained for s in steps)}/{len(steps)}"

        rows.append(
            [
                f"{rate:g}",
                _cell(bare, lambda s: ms(s.latency.p50)),
                _cell(bare, lambda s: ms(s.latency.p95), mark_limited=True),
                sustained(bare),
                _cell(ours, lambda s: ms(s.latency.p50)),
                _cell(ours, lambda s: ms(s.latency.p95), mark_limited=True),
                _cell(ours, lambda s: ms(s.latency.p99)),
                _cell(ours, lambda s: s.achieved, 0),
                sustained(ours),
                _cell(ours, lambda s: ms(s.ack.p95)),
                _cell(ours, lambda s: s.cpu_ms_per_message),
                _cell(bare, lambda s: s.cpu_ms_per_message),
                fmt_ratio(ladder.ratio_at(rate)),
            ]
        )
    return rows


def _exactness(ladder: Ladder, server: str) -> tuple[int, int, int, int]:
    steps = [s for s in ladder.steps + ladder.extra if s.server == server]
    return (
        sum(s.offered for s in steps),
        sum(s.lost for s in steps),
        sum(s.duplicated for s in steps),
        sum(s.misrouted for s in steps),
    )


def _section(
    ctx,
    sizes: Sizes,
    ladder: Ladder,
    profiled: tuple[list[tuple[str, float]], dict[str, float]],
    profile_note: str,
    setup: Setup,
    targets: dict[str, Target],
    server_errors: list[str],
) -> Section:
    profile, inclusive = profiled
    ours_sockets = targets["ours"].sockets
    lines = [(__doc__ or "").split("\n\n", 1)[1].strip(), ""]
    lines.append(
        f"Sizes: {AGENTS} agents, {sizes.attentions:,} open attentions ({sizes.attentions // AGENTS} per "
        f"agent), steps of {sizes.step_seconds:g} s (at least {MIN_STEP_MESSAGES} messages), "
        f"{sizes.repeats} repeat(s). Latency columns are milliseconds from the webhook's send to the frame "
        "on the owner's socket; delivered /s = messages on the sockets per second (first send to last "
        "arrival); ack p95 = our webhook's 200; CPU ms/msg = the server process's CPU time over the step "
        "and its drain, less its idle CPU, per message delivered (one core carries about 1000 / that "
        "messages per second on this path, with the machine to itself); ‡ = the generator fell behind its "
        "schedule in that step."
    )
    headers = [
        "offered /s",
        "bare p50",
        "bare p95",
        "bare sustained",
        "ours p50",
        "ours p95",
        "ours p99",
        "ours delivered /s",
        "ours sustained",
        "ours ack p95",
        "ours CPU ms/msg",
        "bare CPU ms/msg",
        "p95 ours/bare",
    ]
    lines += ["", table(headers, _rows(ladder))]

    ours_rate, ours_open = ladder.sustained_rate("ours")
    bare_rate, bare_open = ladder.sustained_rate("bare")
    peak = ladder.peak_throughput("ours")
    p95_at = ladder.median_of("ours", LATENCY_RATE, "p95")
    offered, lost, duplicated, misrouted = _exactness(ladder, "ours")
    b_offered, b_lost, b_duplicated, b_misrouted = _exactness(ladder, "bare")
    exceptions = collections.Counter(
        line
        for line in server_errors
        if line.startswith(("sqlalchemy.", "sqlite3.", "asyncio.")) or ("Error: " in line and "Traceback" not in line)
    )
    tracebacks = sum(line.startswith("Traceback") for line in server_errors)
    logged = f"Exceptions in our server's log (set-up included): {tracebacks} tracebacks (chained ones count apart)" + (
        ", ending in " + ", ".join(f"`{text[:150]}` ({count})" for text, count in exceptions.most_common(3)) if exceptions else ""
    )
    lines += [
        "",
        f"Highest sustained rate (median of repeats): ours {'≥ ' if ours_open else ''}{ours_rate:g} messages/s, "
        f"bare {'≥ ' if bare_open else ''}{bare_rate:g} messages/s; the most messages per second ours put on "
        f"the sockets in one step: {fmt(peak, 0)}.",
        "",
        f"Exactly once, owner only: of {offered:,} messages sent to ours (the ladder and the profiled "
        f"step), {lost} never reached their owner's socket, {duplicated} arrived twice or more, "
        f"{misrouted} copies reached another agent's socket "
        f"(bare: {b_offered:,} sent, {b_lost} lost, {b_duplicated} duplicated, {b_misrouted} misrouted). Other "
        f"frames on our agents' sockets during the run: {_frames_text(dict(ours_sockets.other_frames))}; "
        f"frames of an earlier step's messages after it was closed: {ours_sockets.stray}; sockets the server "
        f"closed: {ours_sockets.dropped}. {logged}.",
    ]
    loop = median(s.loop_share for s in ladder.steps if s.server == "ours")
    lines += [
        "",
        f"Of our server's CPU in the steps, {fmt(loop * 100, 0)} % (median) was its main thread, where the "
        "event loop runs all the Python of this path; the rest went to aiosqlite's threads (sqlite3 calls)."
        + (" The path is bound by Python on one thread, not by SQLite." if loop >= 0.7 else ""),
    ]
    if setup.seconds:
        timing = setup.seconds.get
        retried = f"set-up requests answered 5xx and retried: {len(setup.errors)}" + (
            f" (first: `{setup.errors[0][:200]}`)" if setup.errors else ""
        )
        lines += [
            "",
            f"Set-up (not measured against a target): `rasa run` ready in {timing('rasa_start_s', 0):.0f} "
            f"s; {AGENTS} agents created and logged in in {timing('agents_s', 0):.1f} s; "
            f"{sizes.attentions:,} attentions created in {timing('attentions_s', 0):.1f} s and opened in "
            f"{timing('opens_s', 0):.1f} s (16 requests in flight); idle CPU with the sockets connected: "
            f"ours {timing('ours_idle_cpu', 0):.0%} of a core, bare {timing('bare_idle_cpu', 0):.0%}; "
            f"{retried}.",
        ]

    ratio_100 = ladder.ratio_at(LATENCY_RATE)
    verdicts = [
        Verdict(
            f"throughput ≥ {TARGET_RATE:g} messages/s ({AGENTS} agents connected)",
            f"sustained {'≥ ' if ours_open else ''}{ours_rate:g} messages/s (peak delivered {fmt(peak, 0)}/s; "
            f"bare {'≥ ' if bare_open else ''}{bare_rate:g}/s)",
            ours_rate >= TARGET_RATE,
        ),
        Verdict(
            f"p95 ≤ {ms(TARGET_P95):.0f} ms at {LATENCY_RATE:g} messages/s",
            f"{fmt(ms(p95_at), 1)} ms (p50 {fmt(ms(ladder.median_of('ours', LATENCY_RATE, 'p50')), 1)} ms; bare p95 "
            f"{fmt(ms(ladder.median_of('bare', LATENCY_RATE, 'p95')), 1)} ms, ratio {fmt_ratio(ratio_100)})",
            None if math.isnan(p95_at) else p95_at <= TARGET_P95,
        ),
        Verdict(
            "every message on its owner's socket exactly once",
            f"{offered:,} sent: {lost} lost, {duplicated} duplicated, {misrouted} misrouted",
            offered > 0 and lost == duplicated == misrouted == 0,
        ),
    ]
    lines += ["", "### Profile", "", profile_note]
    if profile:
        lines += [
            "",
            table(
                ["where (first match in the stack)", "share of samples"], [[label, f"{share:.0%}"] for label, share in profile]
            ),
        ]
    if inclusive:
        lines += [
            "",
            "Across those rows (samples with the code anywhere on the stack): "
            + "; ".join(f"{label} {share:.0%}" for label, share in inclusive.items())
            + ".",
        ]
    if any(v.met is False for v in verdicts[:2]):
        lines += ["", _plan(ladder, profile, inclusive)]
    plots = [_plot_latency(ctx, ladder), _plot_throughput(ctx, ladder)]
    data = {
        "steps": [s.as_dict() for s in ladder.steps],
        "profiled_step": [s.as_dict() for s in ladder.extra],
        "profile": profile,
        "profile_inclusive": inclusive,
        "other_frames": {name: dict(t.sockets.other_frames) for name, t in targets.items()},
        "stray": {name: t.sockets.stray for name, t in targets.items()},
        "dropped": {name: t.sockets.dropped for name, t in targets.items()},
        "setup": setup.seconds,
        "setup_errors": setup.errors[:20],
        "server_errors": server_errors[:20],
        "sizes": sizes.__dict__,
    }
    return Section(KEY, TITLE, "\n".join(lines), verdicts, plots, data)


def _frames_text(frames: dict[str, int]) -> str:
    return ", ".join(f"{count} `{kind}`" for kind, count in sorted(frames.items())) or "none"


def _plan(ladder: Ladder, profile: list[tuple[str, float]], inclusive: dict[str, float]) -> str:
    """PLAN with this run's figures filled in."""
    cpu = ladder.median_of("ours", LATENCY_RATE, "cpu_ms")
    cpu_bare = ladder.median_of("bare", LATENCY_RATE, "cpu_ms")
    rows = [f"{label}: {share:.0%}" for label, share in profile[:4]]

    def share(label: str) -> str:
        return next((f"{v:.0%}" for k, v in inclusive.items() if k.startswith(label)), "n/a")

    return PLAN.format(
        rate=f"{LATENCY_RATE:g}",
        cpu=fmt(cpu, 1),
        cpu_bare=fmt(cpu_bare, 2),
        capacity=fmt(1000 / cpu, 0) if cpu and not math.isnan(cpu) else "n/a",
        top=("; ".join(rows) if rows else "no profile in this run (py-spy not found)"),
        sqlalchemy=share("SQLAlchemy"),
        tracker=share("Rasa's tracker"),
        sqlite=share("aiosqlite"),
        queue=(
            f" At {LATENCY_RATE:g}/s the server is offered more than it carries, so its p95 there is the "
            "time messages wait in a growing queue."
            if cpu and 1000 / cpu < LATENCY_RATE
            else ""
        ),
    )


PLAN = """### Why the targets are missed, and the plan

At {rate} messages/s our server spent {cpu} ms of CPU per message delivered (bare: {cpu_bare} ms):
one core carries about {capacity} messages/s on this path before messages queue, while
300 messages/s needs at most 3.3 ms per message from one process.{queue} Largest rows of
the profile: {top}.

The largest cost is SQLAlchemy's machinery around each statement, on the event loop's
thread: {sqlalchemy} of the samples have a SQLAlchemy frame on the stack (statements built
anew on every call, their cache keys generated, the compiled cache looked up, execution
contexts and results set up, pool checkout and return, greenlet switches to reach
aiosqlite), against {sqlite} for SQLite's own work in aiosqlite's threads. A customer
message on this path runs six statements in three transactions: the inbox insert before
the 200; the lookup, message insert, window update and re-read of the owner in
`record_customer_event`; the inbox's "handled" mark. Next is the line on the paused Rasa
tracker ({tracker}: Rasa's lock, then `InMemoryTrackerStore` deserialising and
re-serialising the customer's whole tracker on every line, so it grows with the
conversation); then the webhook request itself inside `rasa run` (Sanic, Rasa's CORS
middleware, JSON). The desk's part (one frame rendered once, 50 subscription filters,
one socket write) is small.

Plan (product code; this benchmark changes none):

0. The cheap one: SQLAlchemy 1.4 gives the SQLite dialect's `INSERT ... ON CONFLICT DO
   NOTHING` no cache key (its log says `[no key]`), so `Inbox.accept` compiles the
   statement anew on every webhook, before the 200 (the "compiling" row above). A
   cacheable form of the same statement (a `text()` with the same `ON CONFLICT` clause,
   or one compiled once per engine) removes that row.
1. Statements built once: the hot path's statements as module-level constructs with bind
   parameters (no `.values(**...)` / `.where(...)` per call), or, for these few fixed
   statements, the driver's prepared SQL through the connection's `exec_driver_sql`, so no
   cache key is generated and nothing is compiled per message.
2. One transaction after the 200 instead of two: mark the inbox item handled inside
   `record_customer_event`'s transaction (same database), which also makes "stored in the
   attention" and "handled" one atomic fact (a replay then needs no `recorded(mid)` check),
   and fewer statements in it: the lookup and the re-read folded into the update
   (`UPDATE attention ... WHERE active RETURNING agent_id, campaign_id`) and the insert.
3. The inbox write before the 200 as part 1 plans it: one round trip on a dedicated writer,
   concurrent deliveries group-committed.
4. Paused trackers: append the customer's lines to the tracker in one save when the
   conversation resumes (the attention already holds them), or a tracker store that
   appends instead of rewriting (SQL or Redis), so a long handoff does not slow down.
5. More than one core's worth: two workers or instances, the desk's events going between
   them through the Redis event bus (`HANDOFF_REDIS_URL`); this part measures one process
   as shipped."""


def _plot_latency(ctx, ladder: Ladder) -> str:
    figure, axes = ctx.plots.figure()
    for server, colour in (("bare", "tab:gray"), ("ours", "tab:blue")):
        rates = ladder.rates(server)
        if not rates:
            continue
        axes.plot(rates, [ms(ladder.median_of(server, r, "p95")) for r in rates], "o-", color=colour, label=f"{server} p95")
        axes.plot(
            rates, [ms(ladder.median_of(server, r, "p50")) for r in rates], "x--", color=colour, alpha=0.7, label=f"{server} p50"
        )
    axes.set_xscale("log")
    axes.set_yscale("log")
    rates = sorted(set(ladder.rates("ours")) | set(ladder.rates("bare")))
    axes.set_xticks(rates, [f"{rate:g}" for rate in rates])
    axes.minorticks_off()
    axes.axhline(ms(TARGET_P95), color="tab:red", linewidth=0.8, linestyle=":", label=f"target p95 {ms(TARGET_P95):.0f} ms")
    axes.axvline(TARGET_RATE, color="tab:green", linewidth=0.8, linestyle=":", label=f"target {TARGET_RATE:g} messages/s")
    axes.set_xlabel("offered load (customer messages/s)")
    axes.set_ylabel("webhook send → agent's socket (ms)")
    axes.set_title(f"Handoff path, {AGENTS} agents connected (median of repeats)")
    axes.legend(fontsize=8)
    return ctx.plots.save(figure, "handoff-latency")


def _plot_throughput(ctx, ladder: Ladder) -> str:
    figure, axes = ctx.plots.figure()
    top = max(ladder.rates("ours") + ladder.rates("bare") + [TARGET_RATE])
    axes.plot([0, top], [0, top], color="tab:gray", linewidth=0.8, linestyle=":", label="delivered = offered")
    for server, colour in (("bare", "tab:gray"), ("ours", "tab:blue")):
        rates = ladder.rates(server)
        if rates:
            axes.plot(rates, [ladder.median_of(server, r, "achieved") for r in rates], "o-", color=colour, label=server)
    axes.axhline(TARGET_RATE, color="tab:green", linewidth=0.8, linestyle=":", label=f"target {TARGET_RATE:g}/s")
    axes.set_xlabel("offered load (customer messages/s)")
    axes.set_ylabel("messages on the agents' sockets per second")
    axes.set_title("Handoff path throughput (median of repeats)")
    axes.legend(fontsize=8)
    return ctx.plots.save(figure, "handoff-throughput")

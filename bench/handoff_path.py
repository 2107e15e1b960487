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
import math
import secrets
import time

import aiohttp

from bench import handoff_desk, handoff_report, load, profiling, servers
from bench.handoff_desk import AgentSockets
from bench.handoff_ladder import Ladder, latency_missed, run_ladder, throughput_missed
from bench.handoff_profile import record
from bench.handoff_setup import Setup, desk_ready, desk_socket, relay_socket
from bench.handoff_step import AGENTS, FULL, LATENCY_RATE, QUICK, TARGET_RATE, Sizes, Target, Traffic, measure
from bench.report import Section
from bench.stats import fmt

KEY = "handoff"
TITLE = "3. Handoff path (webhook to agent WebSocket)"


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
        agents = await desk_ready(session, ours, bare, customers, owners, setup)
        targets = {
            "bare": Target("bare", bare, bare.url + "/webhooks/messenger/webhook", AgentSockets()),
            "ours": Target("ours", ours, ours.url + "/webhooks/messenger/webhook", AgentSockets()),
        }
        try:
            await targets["ours"].sockets.connect(live_session, [desk_socket(ours.url, agent) for agent in agents])
            await targets["bare"].sockets.connect(live_session, [relay_socket(bare.url, agent) for agent in agents])
            traffic = {name: Traffic(customers, owners) for name in targets}
            for name, target in targets.items():  # warm-up: pools, caches, first compilations
                await measure(session, target, traffic[name], 50, 1.0, -1)
                await target.measure_idle()
                setup.seconds[f"{name}_idle_cpu"] = target.idle_cpu
            await run_ladder(session, targets, traffic, sizes, ladder)

            missed = latency_missed(ladder) or throughput_missed(ladder)
            if missed and profiling.py_spy():
                # Past what the server carries, so every sample is spent on this path, but not
                # so far past it that the backlog takes minutes to drain.
                peak = ladder.peak_throughput("ours")
                profile_rate = min(TARGET_RATE, max(LATENCY_RATE, 2 * peak if not math.isnan(peak) else TARGET_RATE))
                profile, inclusive, profiled = await record(
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
    return handoff_report.section(
        ctx, KEY, TITLE, __doc__, sizes, ladder, (profile, inclusive), profile_note, setup, targets, server_errors
    )


def _logged_errors(server: servers.ServerProcess) -> list[str]:
    """The server's ERROR lines and exceptions while it was measured (a message that
    failed on the way would show here, not at the socket only)."""
    return [
        line.strip()[:300]
        for line in server.log_text().splitlines()
        if " ERROR " in line or line.startswith("Traceback") or "Error:" in line
    ]

"""Part 2: bot replies end to end, our Messenger connector against Rasa's built-in channel.

What is measured: customers write a first message through a signed webhook; the time
until the bot's reply reaches the fake Graph API, and how many customers per second get
their reply. Same trained model (``models/bot.tar.gz``), same ``rasa run``, same fake
Graph API (in the bench process, so send and reply times share one clock), same
messages, same load, for four servers started side by side and measured in turns:

* ``built-in``: Rasa's ``facebook`` channel (``bench/credentials-facebook.yml``), one
  process, Rasa's default in-memory tracker and lock stores. Its Graph API base URL is
  moved to the fake Graph API by ``bench/fb_shim/sitecustomize.py`` (see README).
* ``ours, 1 process``: our connectors as shipped (``credentials.yml``, ``endpoints.yml``,
  handoff database on SQLite), one process.
* ``ours, SANIC_WORKERS=2``: Rasa starts two Sanic worker processes on one listening
  socket (it allows more than one only with a lock store that works across processes),
  with Rasa's Redis lock store and Redis tracker store (``bench/endpoints-redis.yml``, a
  fresh key prefix) and the handoff database on PostgreSQL (a fresh schema), so both
  workers share every state. The kernel decides which worker accepts each connection.
* ``ours, 2 instances``: two ``rasa run`` processes on two ports with the same Redis and
  PostgreSQL set-up; the load generator sends delivery n to instance n mod 2 (a perfect
  round-robin balancer, without a proxy's own cost).

Each round, for each server (the order rotates every round):

1. **burst**: N new customers, one text each, one item per delivery, 20 deliveries in
   flight (the next one leaves when an acknowledgement comes back). Throughput =
   customers answered / (last first reply − first send).
2. **paced**: M new customers at a fixed rate below every server's capacity: first-reply
   latency and acknowledgement latency at the same load.
3. **batched**: 100 new customers delivered as 10 deliveries of 10 entries (as Meta
   batches): how many got a reply.

Waiting for replies is bounded: it ends when everyone is answered, when no reply at all
came for 6 s, or at a hard limit. Before the rounds, each of our inboxes gets a few
acknowledged-but-unhandled items before its server starts, as if a previous process had
acknowledged them and died (our webhook, with its dispatcher off, acknowledges them and
is stopped): how many replies each of those customers gets shows how the start-up replay
behaves with one and with two workers.
"""

from __future__ import annotations

import contextlib

from bench import bot_report, load, profiling, servers, stores
from bench.bot_phases import FULL, QUICK, Phase, Sizes, measure_phase, run_round
from bench.bot_profile import profile_text, record
from bench.bot_replay import Replay, count_replays
from bench.bot_servers import line_up, start_side_by_side
from bench.graph_server import EveryoneHasAProfile
from bench.report import Section
from sandbox.graph_api import FakeGraphAPI

KEY = "bot"
TITLE = "2. Bot replies end to end"


async def run(ctx) -> Section:
    from bench.runner import log

    sizes: Sizes = ctx.size(QUICK, FULL)
    shared_ok = stores.postgres_reachable() and stores.redis_reachable()
    note = "" if shared_ok else "PostgreSQL or Redis is not reachable on 127.0.0.1: the two-core servers are skipped."
    phases: list[Phase] = []
    replays: list[Replay] = []
    startup: dict[str, float] = {}
    profiles: dict[str, tuple[list[tuple[str, float]], float]] = {}  # rows, CPU ms per customer
    profile_note = ""
    async with contextlib.AsyncExitStack() as stack:
        api = await stack.enter_async_context(
            FakeGraphAPI(
                {servers.PAGE_TOKEN: "messenger", servers.INSTAGRAM_TOKEN: "instagram"}, emit_echoes=False, emit_deliveries=False
            )
        )
        api.profiles = EveryoneHasAProfile()
        probe = load.ReplyProbe(api)
        lineup = await line_up(ctx, stack, api.url, sizes.replay_items, shared_ok)
        configs = lineup.configs
        probe.expect([s for group in lineup.replay_senders.values() for s in group])
        log(f"  starting {sum(len(v) for v in lineup.starts.values())} rasa servers side by side")
        try:
            startup = await start_side_by_side(lineup)
            replays = await count_replays(probe, configs, lineup.replay_senders)
            probe.forget()
            async with load.new_session() as session:
                for config in configs:
                    senders = load.sender_ids(f"{config.key}w", sizes.warmup)
                    await measure_phase(session, probe, config, "warmup", -1, load.text_deliveries(senders), concurrency=4)
                for repeat in range(sizes.repeats):
                    order = configs[repeat % len(configs) :] + configs[: repeat % len(configs)]
                    for config in order:
                        phases += await run_round(session, probe, config, repeat, sizes)
                        probe.forget()
                if profiling.py_spy():
                    for config in configs:
                        if config.key in ("builtin", "ours1", "ours2i"):
                            profiles[config.key] = await record(ctx, session, probe, config, sizes)
                            probe.forget()
                else:
                    profile_note = profiling.NOT_AVAILABLE
        finally:
            for config in configs:
                for server in config.servers:
                    server.stop()
    section = bot_report.section(ctx, KEY, TITLE, __doc__, sizes, configs, phases, replays, startup, note)
    if profiles or profile_note:
        section.body += "\n\n### Profiles during a burst\n\n" + (profile_note or profile_text(configs, profiles))
        section.data["profiles"] = {key: {"rows": rows, "cpu_ms_per_customer": cpu} for key, (rows, cpu) in profiles.items()}
    if any(v.met is False for v in section.verdicts if "throughput" in v.target):
        section.body += "\n\n" + bot_report.plan(phases, profiles)
    return section

"""Part 2's profiles: py-spy on a server during an extra burst, its samples grouped by whose code ran."""

from __future__ import annotations

import asyncio
from typing import Any

from bench import load, profiling
from bench.bot_phases import Sizes, measure_phase
from bench.bot_servers import Config
from bench.report import table


def profile_text(configs: list[Config], profiles: dict[str, tuple[list[tuple[str, float]], float]]) -> str:
    keys = [c.key for c in configs if c.key in profiles]
    short = {c.key: c.label.split(" (")[0] for c in configs}
    names = [name for name, _ in PROFILE_BUCKETS] + [profiling.OTHER]
    rows = []
    for name in names:
        cells = []
        for key in keys:
            share = dict(profiles[key][0]).get(name, 0.0)
            cells.append(f"{share * profiles[key][1]:.1f} ({share:.0%})")
        if any(dict(profiles[key][0]).get(name, 0.0) >= 0.005 for key in keys):
            rows.append([name, *cells])
    rows.append(["**total: server CPU per customer in that burst**", *[f"{profiles[k][1]:.1f}" for k in keys]])
    return (
        "py-spy on one server process (for two instances, the first) during an extra burst after the measured "
        "rounds, sampling while the GIL is held (raw stacks in `profiles/`, not checked in). Each sample counts "
        "for the innermost frame's row: whose code was running; a row's share times the server's CPU per customer in "
        "that burst gives the approximate milliseconds per customer (work outside the GIL, such as TensorFlow "
        "kernels, is spread over the rows in proportion).\n\n"
        + table(["where", *[f"{short[k]}: ms per customer (share)" for k in keys]], rows)
    )


# Each sample goes to the row of the innermost frame that matches (whose code was running).
# Every stack of `rasa run` has rasa/core/run.py at its root, so the Rasa rows name modules.
PROFILE_BUCKETS: list[profiling.Bucket] = [
    (
        "built-in channel: synchronous Graph calls (fbmessenger, requests, http.client)",
        ["(fbmessenger/", "(requests/", "(urllib3/", "(http/client.py", "(socket.py"],
    ),
    (
        "Rasa: NLU pipeline and policies (featurizers, DIET on TensorFlow, rules)",
        [
            "rasa/nlu/",
            "rasa/core/policies/",
            "tensorflow",
            "rasa/engine/",
            "rasa/utils/tensorflow",
            "keras",
            "(numpy/",
            "(scipy/",
            "(sklearn/",
        ],
    ),
    ("Rasa: tracker and lock stores", ["rasa/core/tracker_store.py", "rasa/core/lock_store.py"]),
    (
        "Rasa: the rest of a turn (processor, trackers, events, actions, responses)",
        [
            "(rasa/core/processor.py",
            "(rasa/core/agent.py",
            "(rasa/core/actions/",
            "(rasa/core/nlg/",
            "(rasa/shared/",
            "(rasa/core/channels/",
            "(rasa/utils/",
            "(rasa/core/utils.py",
            "(rasa/core/featurizers/",
        ],
    ),
    ("ours: connectors and handoff service code", ["(connectors/", "(handoff/"]),
    ("SQLAlchemy (for the handoff database)", ["sqlalchemy/"]),
    ("asyncpg (the handoff database on PostgreSQL)", ["asyncpg/"]),
    ("aiosqlite, sqlite3 (the handoff database on SQLite)", ["aiosqlite/", "(sqlite3/"]),
    ("redis client (Rasa's Redis tracker and lock stores)", ["(redis/"]),
    ("aiohttp client (our Graph calls)", ["aiohttp/"]),
    ("Sanic HTTP protocol", ["sanic/"]),
]


async def record(
    ctx, session: Any, probe: load.ReplyProbe, config: Config, sizes: Sizes
) -> tuple[list[tuple[str, float]], float]:
    """An extra burst while py-spy samples the (first) server process of ``config``."""
    pid = max(config.servers[0].pids())  # the worker when there is a parent, else the server itself
    output = ctx.profiles / f"bot-{config.key}.txt"
    deliveries = load.text_deliveries(load.sender_ids(f"{config.key}prof", sizes.burst))
    seconds = max(4.0, min(12.0, sizes.burst / 40))
    recording = asyncio.ensure_future(profiling.record(pid, seconds, output))
    await asyncio.sleep(0.3)
    measured = await measure_phase(
        session, probe, config, "profile", -1, deliveries, concurrency=sizes.concurrency, limit=60 + sizes.burst / 5
    )
    await recording
    cpu_per_customer = measured.cores * 1000 / measured.throughput if measured.throughput else float("nan")
    return profiling.summarise(output, PROFILE_BUCKETS, innermost=True), cpu_per_customer

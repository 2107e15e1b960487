"""Part 3's profile: py-spy on our server during a step past its capacity, its samples grouped by what they were doing."""

from __future__ import annotations

import asyncio

import aiohttp

from bench import profiling
from bench.handoff_step import PROFILE_REPEAT, Step, Target, Traffic, measure


async def record(
    ctx, session: aiohttp.ClientSession, target: Target, traffic: Traffic, rate: float, seconds: float
) -> tuple[list[tuple[str, float]], dict[str, float], Step]:
    """py-spy on the server during one step at ``rate``; the step is counted like the
    ladder's (lost, duplicated, misrouted) though it is run past capacity on purpose."""
    output = ctx.profiles / "handoff-ours.txt"
    recording = asyncio.ensure_future(profiling.record(target.server.process.pid, seconds, output))
    step = await measure(session, target, traffic, rate, seconds + 1.0, PROFILE_REPEAT)
    await recording
    return profiling.summarise(output, PROFILE_BUCKETS), profiling.inclusive(output, INCLUSIVE), step


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

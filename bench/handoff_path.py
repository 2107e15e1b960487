"""Part 3, not measured yet: the handoff path, from a signed webhook to the agent's WebSocket.

What it will measure (issue 7): customer messages of customers with an active attention,
from the signed webhook to the agent's WebSocket, with 50 agents connected: throughput and
latency p50/p95. Targets: at least 300 messages/s; p95 at most 50 ms at 100 messages/s.

How it will plug in: start ``rasa run`` with our credentials (``bench.servers.rasa_run``),
create the attentions through the desk's service API and open them for 50 agents, connect
50 WebSocket clients in this process (same clock as the load generator), send customer
messages with ``bench.load.open_loop`` at fixed rates, and time each message from its
webhook's send to its arrival on the owning agent's socket.
"""

from __future__ import annotations

from bench.report import Section, Verdict

KEY = "handoff"
TITLE = "3. Handoff path (webhook to agent WebSocket)"
REASON = "the agent desk's WebSocket (handoff/desk/) is being written; this part is added when it exists"


async def run(ctx) -> Section:  # type: ignore[no-untyped-def]
    body = f"Not yet measured: {REASON}.\n\n" + (__doc__ or "").split("\n\n", 1)[1]
    return Section(
        KEY,
        TITLE,
        body,
        [
            Verdict("throughput >= 300 messages/s (50 agents connected)", f"not yet measured: {REASON}", None),
            Verdict("p95 <= 50 ms at 100 messages/s", f"not yet measured: {REASON}", None),
        ],
    )

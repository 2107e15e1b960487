"""Part 5, not measured yet: history search.

What it will measure (issue 7): p95 of keyword search over the attention history at 10k,
100k and 1M messages, on SQLite and on PostgreSQL (a growth curve). Target: at most 100 ms
at 1M messages.

How it will plug in: fill a fresh database (``bench.stores.postgres_schema`` or a SQLite
file) with generated attentions and messages in bulk, then time the history search
operation of the handoff service with keywords of varied frequency, repeated, per size.
"""

from __future__ import annotations

from bench.report import Section, Verdict

KEY = "history"
TITLE = "5. History search"
REASON = "history search is a later issue; this part is added with it"


async def run(ctx) -> Section:  # type: ignore[no-untyped-def]
    body = f"Not yet measured: {REASON}.\n\n" + (__doc__ or "").split("\n\n", 1)[1]
    return Section(KEY, TITLE, body, [Verdict("p95 <= 100 ms at 1M messages (SQLite, PostgreSQL)",
                                              f"not yet measured: {REASON}", None)])  # fmt: skip

"""Where the time of a search goes at the largest size: per statement, outside them, and the
plans of the slowest search's text-index statements; with what to change when a class misses."""

from __future__ import annotations

from dataclasses import dataclass

from bench.history_fill import HistoryStore
from bench.history_measure import CLASSES, LABEL_CLASS, TARGET_SECONDS, Step, search_once, viewers_of
from bench.history_profile import (
    FTS_MATCHING,
    FTS_PAGE,
    GIN_OLDER,
    ID_BOUNDS,
    INDEX_STATEMENTS,
    RECENT_WINDOW,
    StatementClock,
    plan,
)
from bench.history_report import ms_text, short_count
from bench.report import table
from bench.stats import median


@dataclass
class Breakdown:
    keyword_class: str
    searches: int
    total: float  # median seconds of one search
    p95: float  # the class's p95 (median of repeats)
    statements: list[tuple[str, float]]  # (kind, median seconds per search), costliest first
    outside: float  # median seconds per search outside the statements
    plan_of: str  # the search explained
    plan: str  # the plans of its text index statements


async def breakdowns_of(store: HistoryStore, step: Step) -> list[Breakdown]:
    """At the largest size: the slowest class of the target's mix, and the label-name class
    when it misses the target, each split by statement from the measured searches; then
    the slowest keyword of the class is searched once more and its costliest statement
    explained."""
    slowest = max(CLASSES, key=lambda cls: step.quoted(store.backend, cls)[1])
    classes = [slowest] + ([LABEL_CLASS] if step.quoted(store.backend, LABEL_CLASS)[1] > TARGET_SECONDS else [])
    found = []
    for keyword_class in classes:
        samples = [s for (b, r) in step.samples if b == store.backend for s in step.chosen(b, r, keyword_class)]
        if not samples:
            continue
        kinds = sorted({what for s in samples for what, _ in s.statements})
        rows = [(what, median(dict(s.statements).get(what, 0.0) for s in samples)) for what in kinds]
        rows.sort(key=lambda row: -row[1])
        outside = median(s.seconds - sum(seconds for _, seconds in s.statements) for s in samples)
        worst = max(samples, key=lambda s: s.seconds).job
        with StatementClock(store.engine) as clock:
            await search_once(store, viewers_of(store)[worst.viewer], worst.keyword)
        # The text index's statements are the ones whose work grows with the history.
        asked = [s for s in clock.statements if s.what in INDEX_STATEMENTS and s.what != ID_BOUNDS]
        plans = [f"-- {s.what} ({ms_text(s.seconds, 2)} ms here)\n{await plan(store.engine, s)}" for s in asked]
        found.append(
            Breakdown(
                keyword_class,
                len(samples),
                median(s.seconds for s in samples),
                step.quoted(store.backend, keyword_class)[1],
                rows,
                outside,
                f"keyword '{worst.keyword}', {worst.viewer}",
                "\n\n".join(plans),
            )
        )
    return found


OUTSIDE = "outside the statements"
# What to change in the product when a class misses the target, by its largest cost.
PLANS = {
    OUTSIDE: "fewer statements and less Python per page: read the page's attentions with their customers, labels "
    "and agent names in one statement, and keep labels and campaign names in memory (they change rarely), "
    "so that a search is two or three statements instead of eight; each statement is a hop to aiosqlite's "
    "thread or a round trip to PostgreSQL and, on a busy machine, a wait for a core.",
    FTS_MATCHING: "answer a keyword that names a label like the others: the text index newest first with a LIMIT, "
    "the label's attentions newest first with a LIMIT, and the newest 20 of the two pages. Today the OR "
    "of both collects every match and sorts them (MULTI-INDEX OR, TEMP B-TREE FOR ORDER BY), so its "
    "cost grows with the number of matches.",
    FTS_PAGE: "FTS5 merges the doclists of every term a prefix matches before the first row comes out: match long "
    "keywords as whole words first and fall back to the prefix, or index longer prefixes.",
    RECENT_WINDOW: "check fewer of the newest rows one by one (a smaller window) before asking the GIN index.",
    GIN_OLDER: "keep GIN's pending list short (fastupdate off, or a smaller gin_pending_list_limit) so that lookups "
    "do not scan it, and check how many older matches the lookup returns before the page is cut.",
}


def breakdown_lines(last: Step, breakdowns: dict[str, list[Breakdown]]) -> list[str]:
    lines = [
        f"**Where the time goes** at {short_count(last.messages)} messages, from the measured searches: each kind of "
        "statement (the database's work and the round trip to it) and what the search spends outside its "
        "statements (SQLAlchemy building statements and rows, records, the event loop, fetching from aiosqlite's "
        "thread, and waiting for a core), median per search:",
        "",
    ]
    for backend, found in breakdowns.items():
        for part in found:
            rows = [[what, ms_text(seconds, 2)] for what, seconds in part.statements]
            rows.append([OUTSIDE, ms_text(part.outside, 2)])
            what, seconds = max([*part.statements, (OUTSIDE, part.outside)], key=lambda row: row[1])
            reading = f"Largest cost: {what}, {ms_text(seconds)} of the median {ms_text(part.total)} ms."
            if part.p95 > TARGET_SECONDS:
                reading += f" The class misses the target (p95 {ms_text(part.p95)} ms). Plan: {PLANS.get(what, PLANS[OUTSIDE])}"
            lines += [
                f"{backend}, class *{part.keyword_class}* ({part.searches} searches, median {ms_text(part.total)} ms):",
                "",
                table(["statement", "ms per search"], rows),
                "",
                reading,
                "",
                f"<details><summary>{backend}: plans of the text index statements of the slowest search "
                f"({part.plan_of})</summary>\n\n```\n{part.plan}\n```\n</details>",
                "",
            ]
    return lines

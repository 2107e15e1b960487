"""Part 5: history search, on SQLite and on PostgreSQL, as the history grows.

What is measured: the latency of the desk's history search (``History.search``, what
``GET /api/history?q=...`` calls, with the desk's page of 20) for one keyword, at 10k,
100k and 1M stored messages, with the product's engine settings and full-text indexes
(SQLite FTS5, PostgreSQL tsvector + GIN; migration 0003). Besides the whole search, the
time of the statements that ask the text index is recorded for every search (*index*),
so that the growth of the index's work shows apart from the rest of the page (loading 20
attentions, customers, labels, agent and campaign names) and from waiting for a core.

The history is generated (``bench/history_corpus.py``): terminated attentions of about
20 messages each, Spanish and English, customers who come back, forms filled in, labels
on some, words with a Zipf-like frequency. One database of each kind is filled in bulk
through the product's tables (``bench/history_fill.py``) and grown 10k -> 100k -> 1M
messages; after each size the product-written documents and rows are compared with the
generated ones, searches by customer id must return exactly that customer's attentions,
and the smaller sizes are copied, so that all sizes are searched at the end, in the same
minutes (this machine's load changes from one minute to the next).

Keywords, typed as an agent would (accents included), in classes by how many documents
they match: *common* (content words in about a quarter of the documents), *medium* (about
1-3 %), *rare* (made-up names from the long tail: a handful, often none at the small
sizes), *two words* (a medium and a common word: both must match), and, reported apart
from the target's mix, *label name* (a keyword that also names a label: the product then
looks for the words or the label, with another query). Every other keyword is searched
by a supervisor (all history), the others by an agent of the smaller campaign (Ventas:
about a third of it). Every keyword is searched on every database of every size back to
back, in rotating order; a repeat is one shuffled pass over all keywords; figures are
medians over repeats of each repeat's p50 and p95.
"""

from __future__ import annotations

import os
import random
from contextlib import AsyncExitStack

from bench import stores
from bench.history_breakdown import Breakdown, breakdown_lines, breakdowns_of
from bench.history_corpus import Corpus
from bench.history_corpus_process import CorpusProcess
from bench.history_fill import (
    LABELS,
    HistoryStore,
    Ledger,
    describe,
    match_count,
    open_store,
    snapshot,
    staff_of,
    verify,
)
from bench.history_measure import CLASSES, LABEL_CLASS, VIEWERS, Job, Sizes, Step, measure
from bench.history_report import fill_lines, ms_text, plot, short_count, verdict_of
from bench.report import Section, Verdict, table
from bench.stats import fmt, median, ms

KEY = "history"
TITLE = "5. History search"

QUICK = Sizes((1_000, 10_000), 20, 1, 10)
FULL = Sizes((10_000, 100_000, 1_000_000), 50, 3, 40)


def keywords_of(corpus: Corpus, labels: list[str], per_class: int) -> dict[str, list[str]]:
    """The keyword classes; words that also name a label are kept for their own class."""
    from handoff import search

    def names_a_label(keyword: str) -> bool:
        pairs = search.query_terms(keyword)
        return any(search.matches(pairs, label) for label in labels)

    chosen = corpus.keywords(random.Random(11), per_class, exclude=names_a_label)
    vocabulary = [word for language in corpus.languages.values() for word in language.real_content]
    label_words = sorted({word for word in vocabulary if names_a_label(word)})
    rng = random.Random(13)
    chosen[LABEL_CLASS] = [rng.choice(label_words) for _ in range(per_class)] if label_words else []
    return chosen


async def grow(producer: CorpusProcess, backends: list[HistoryStore], ledger: Ledger, target: int, keywords: list[str]) -> Step:
    """Every database filled up to ``target`` messages, checked, and the keywords' matches counted."""
    from bench.runner import log

    async for batch in producer.batches(target):
        ledger.note(batch)
        for store in backends:
            await store.load(batch)
    for store in backends:
        await store.settle()
    checks = {store.backend: await verify(store, ledger, random.Random(target)) for store in backends}
    for backend, check in checks.items():
        if not check.ok:
            raise RuntimeError(f"{backend}: the filled history is not what the product writes: {describe(check)}")
    matches: dict[str, dict[str, int]] = {}
    for store in backends:
        matches[store.backend] = {keyword: await match_count(store, keyword) for keyword in keywords}
    step = Step(
        ledger.messages,
        ledger.attentions,
        producer.seconds,
        {s.backend: s.times.load for s in backends},
        {s.backend: s.times.settle for s in backends},
        {s.backend: await s.size_bytes() for s in backends},
        checks,
        matches,
    )
    log(
        f"  history {ledger.messages:,} messages ({ledger.attentions:,} attentions): generated {producer.seconds:.0f} s "
        "of CPU; loaded "
        + ", ".join(f"{b} {s:.0f} s" for b, s in step.load_seconds.items())
        + "; checked "
        + "; ".join(f"{b}: {describe(v)}" for b, v in checks.items())
    )
    return step


async def run(ctx) -> Section:
    from bench.runner import log

    sizes: Sizes = ctx.size(QUICK, FULL)
    notes: list[str] = []
    async with AsyncExitStack() as stack:
        backends = [await open_store("SQLite", f"sqlite+aiosqlite:///{ctx.work / 'history.db'}")]
        stack.push_async_callback(backends[0].close)
        if stores.postgres_reachable():
            url = await stack.enter_async_context(stores.postgres_schema())
            backends.append(await open_store("PostgreSQL", url))
            stack.push_async_callback(backends[1].close)
        else:
            notes.append("PostgreSQL is not reachable on 127.0.0.1:5432: only SQLite was measured.")
        staff = staff_of(backends[0])
        if any(staff_of(store) != staff for store in backends):
            raise RuntimeError("the databases got different agent or label ids; the same rows would not fit both")
        keywords = keywords_of(Corpus(staff), [name for name, _ in LABELS], sizes.per_class)
        # Keywords alternate between the viewers: each class has both, at half the searches.
        jobs = [Job(cls, VIEWERS[n % 2], keyword) for cls, words in keywords.items() for n, keyword in enumerate(words)]
        producer = CorpusProcess(staff)
        stack.callback(producer.close)
        ledger = Ledger()
        measured: list[tuple[Step, list[HistoryStore]]] = []
        for n, target in enumerate(sizes.steps):
            step = await grow(producer, backends, ledger, target, sorted({job.keyword for job in jobs}))
            if n == len(sizes.steps) - 1:
                measured.append((step, backends))
            else:
                measured.append((step, [await snapshot(store, stack, ctx.work, short_count(target)) for store in backends]))
        log(f"  history: {len(jobs)} keywords x {sizes.repeats} repeat(s) on {sum(len(f) for _, f in measured)} databases")
        await measure(measured, jobs, sizes)
        steps = [step for step, _ in measured]
        for step in steps:
            log(
                f"  history {short_count(step.messages)}: "
                + "; ".join(
                    f"{b} p50 {fmt(ms(step.quoted(b, 'all')[0]), 1)} ms, p95 {fmt(ms(step.quoted(b, 'all')[1]), 1)} ms, "
                    f"index p95 {fmt(ms(step.quoted(b, 'all', lambda s: s.index)[1]), 1)} ms"
                    for b in step.load_seconds
                )
            )
        breakdowns = {store.backend: await breakdowns_of(store, steps[-1]) for store in backends}
    return _section(ctx, sizes, steps, [s.backend for s in backends], keywords, breakdowns, notes)


def _section(
    ctx,
    sizes: Sizes,
    steps: list[Step],
    backends: list[str],
    keywords: dict[str, list[str]],
    breakdowns: dict[str, list[Breakdown]],
    notes: list[str],
) -> Section:
    last = steps[-1]
    lines = [(__doc__ or "").split("\n\n", 1)[1].strip(), ""]
    examples = "; ".join(f"{cls} *{', '.join(dict.fromkeys(words[:3]))}*" for cls, words in keywords.items() if words)
    lines += [
        f"Sizes: {', '.join(short_count(s) for s in sizes.steps)} messages; {sizes.per_class} keywords per class, each "
        f"every other one by each viewer; {sizes.repeats} repeat(s); {sizes.warmup} warm-up searches per database "
        f"before each size. Examples: {examples}.",
        *notes,
        "",
    ]
    lines += [
        "**All classes** (common, medium, rare, two words), milliseconds. *index p95*: the "
        "statements that ask the text index; *CPU*: median CPU time of the bench process per search (all of "
        "SQLite's work, only PostgreSQL's client side):",
        "",
    ]
    rows = []
    for step in steps:
        row = [short_count(step.messages), f"{step.attentions:,}"]
        for b in backends:
            p50, p95 = step.quoted(b, "all")
            row += [
                ms_text(p50),
                ms_text(p95),
                ms_text(step.quoted(b, "all", lambda s: s.index)[1], 2),
                ms_text(step.quoted(b, "all", lambda s: s.cpu)[0]),
            ]
        rows.append(row)
    lines += [
        table(["messages", "attentions", *[f"{b} {q}" for b in backends for q in ("p50", "p95", "index p95", "CPU")]], rows),
        "",
    ]
    machine = last.machine
    if machine:
        lines += [
            f"While the {len(steps) * len(backends)} databases were searched ({machine['seconds'] / 60:.1f} min), "
            f"the machine had {machine['other_cores']:.2f} of its {os.cpu_count()} cores busy with work outside "
            f"the bench process (PostgreSQL's server counts there) and the bench {machine['bench_cores']:.2f}; "
            f"load average {machine['loadavg']:.1f}.",
            "",
        ]
    lines += [
        "**Per class**: documents matching (median over the class's keywords, counted in the text index), "
        "milliseconds, and the median number of items on the first page (at most 20):",
        "",
    ]
    rows = []
    for cls in (*CLASSES, LABEL_CLASS):
        for step in steps:
            row = [cls, short_count(step.messages), fmt(median(step.class_matches(backends[0], cls)), 0)]
            for b in backends:
                p50, p95 = step.quoted(b, cls)
                row += [ms_text(p50), ms_text(p95), ms_text(step.quoted(b, cls, lambda s: s.index)[1], 2)]
            row.append(fmt(median(s.items for s in step.chosen(backends[0], 0, cls)), 0))
            rows.append(row)
    lines += [
        table(
            ["class", "messages", "matching", *[f"{b} {q}" for b in backends for q in ("p50", "p95", "index p95")], "page"], rows
        ),
        "",
    ]
    lines += [
        f"**Per viewer** at {short_count(last.messages)} messages (the supervisor sees all history; the agent serves "
        "Ventas only, so the search passes over the other campaign's matches), milliseconds:",
        "",
    ]
    rows = [[viewer, *[ms_text(last.quoted(b, f"viewer {viewer}")[i]) for b in backends for i in (0, 1)]] for viewer in VIEWERS]
    lines += [table(["viewer", *[f"{b} {q}" for b in backends for q in ("p50", "p95")]], rows), ""]
    if len(backends) > 1:
        counted = last.matches[backends[0]]
        agree = sum(1 for k in counted if len({last.matches[b][k] for b in backends}) == 1)
        lines += [
            f"Both databases count the same matching documents for {agree} of {len(counted)} keywords at "
            f"{short_count(last.messages)} messages (same rows, same words).",
            "",
        ]
    lines += fill_lines(steps, backends)
    lines += breakdown_lines(last, breakdowns)
    verdicts = [verdict_of(last, b) for b in backends]
    verdicts.append(
        Verdict(
            f"time to fill {short_count(last.messages)} messages (reported; no target)",
            ", ".join(f"{b} {(last.load_seconds[b] + last.settle_seconds[b]) / 60:.1f} min" for b in backends)
            + f"; generating them took {last.generated_seconds / 60:.1f} min of CPU in a process of its own, meanwhile",
            None,
        )
    )
    data = {
        "steps": [step.as_dict() for step in steps],
        "keywords": keywords,
        "sizes": sizes.__dict__,
        "breakdowns": {b: [found.__dict__ for found in v] for b, v in breakdowns.items()},
    }
    return Section(KEY, TITLE, "\n".join(lines), verdicts, [plot(ctx, steps, backends)], data)

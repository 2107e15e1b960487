"""Searching the history databases: the keyword jobs, one search's sample, the samples of a
size, and the measurement that interleaves every database of every size."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from bench.history_fill import HistoryStore, Verification
from bench.history_profile import INDEX_STATEMENTS, StatementClock, by_kind
from bench.stats import Summary, median

TARGET_SECONDS = 0.100
TARGET_MESSAGES = 1_000_000
CLASSES = ("common", "medium", "rare", "two words")  # the target's mix
LABEL_CLASS = "label name"
VIEWERS = ("supervisor", "agent")


@dataclass(frozen=True)
class Sizes:
    steps: tuple[int, ...]  # messages stored when measured
    per_class: int  # keywords per class
    repeats: int
    warmup: int  # searches per database before each step's repeats


@dataclass(frozen=True)
class Job:
    keyword_class: str
    viewer: str  # "supervisor" or "agent"
    keyword: str


@dataclass(frozen=True)
class Sample:
    job: Job
    seconds: float  # the whole search, as the desk's handler awaits it
    cpu: float  # CPU time of this process meanwhile: all of SQLite's work, only PostgreSQL's client side
    statements: tuple[tuple[str, float], ...]  # seconds per kind of statement
    items: int  # on the page

    @property
    def index(self) -> float:
        return sum(seconds for what, seconds in self.statements if what in INDEX_STATEMENTS)


Select = Callable[[Job], bool]
SELECTIONS: dict[str, Select] = {
    "all": lambda job: job.keyword_class in CLASSES,
    **{name: (lambda job, name=name: job.keyword_class == name) for name in (*CLASSES, LABEL_CLASS)},  # type: ignore[misc]
    **{
        f"viewer {viewer}": (lambda job, viewer=viewer: job.keyword_class in CLASSES and job.viewer == viewer)  # type: ignore[misc]
        for viewer in VIEWERS
    },
}


@dataclass
class Step:
    messages: int
    attentions: int
    generated_seconds: float  # cumulative CPU seconds, in the child process
    load_seconds: dict[str, float]  # cumulative per database
    settle_seconds: dict[str, float]
    size_bytes: dict[str, int]
    verification: dict[str, Verification]
    matches: dict[str, dict[str, int]]  # database -> keyword -> documents matching
    samples: dict[tuple[str, int], list[Sample]] = field(default_factory=dict)  # (database, repeat) -> searches
    machine: dict[str, float] = field(default_factory=dict)  # how busy the machine was while measuring

    def chosen(self, backend: str, repeat: int, select: str) -> list[Sample]:
        return [s for s in self.samples.get((backend, repeat), []) if SELECTIONS[select](s.job)]

    def quoted(self, backend: str, select: str, value: Callable[[Sample], float] = lambda s: s.seconds) -> tuple[float, float]:
        """(median over repeats of each repeat's p50, of its p95) of ``value`` for a selection."""
        summaries = [Summary.of([value(s) for s in self.chosen(backend, r, select)]) for (b, r) in self.samples if b == backend]
        return median(s.p50 for s in summaries), median(s.p95 for s in summaries)

    def class_matches(self, backend: str, keyword_class: str) -> list[int]:
        counts = self.matches.get(backend, {})
        return [counts[s.job.keyword] for s in self.chosen(backend, 0, keyword_class)]

    def as_dict(self) -> dict[str, Any]:
        backends = sorted({b for b, _ in self.samples})
        repeats = sorted({r for _, r in self.samples})
        return {
            "messages": self.messages,
            "attentions": self.attentions,
            "generated_seconds": self.generated_seconds,
            "load_seconds": self.load_seconds,
            "settle_seconds": self.settle_seconds,
            "size_bytes": self.size_bytes,
            "verification": {k: v.__dict__ for k, v in self.verification.items()},
            "machine": self.machine,
            "latency": {
                b: {
                    name: [Summary.of([s.seconds for s in self.chosen(b, r, name)]).as_dict() for r in repeats]
                    for name in SELECTIONS
                }
                for b in backends
            },
            "index": {b: {name: self.quoted(b, name, lambda s: s.index) for name in SELECTIONS} for b in backends},
            "cpu_p50": {b: self.quoted(b, "all", lambda s: s.cpu)[0] for b in backends},
            "median_matches": {
                b: {cls: median(self.class_matches(b, cls)) for cls in (*CLASSES, LABEL_CLASS)} for b in self.matches
            },
        }


async def search_once(store: HistoryStore, viewer: Any, keyword: str) -> tuple[float, float, int]:
    """(seconds, CPU seconds of this process, items on the page) of one search as the desk makes it."""
    from handoff.history import DEFAULT_HISTORY_PAGE
    from handoff.records import HistoryFilter

    cpu, started = time.process_time(), time.perf_counter()
    page = await store.service.history.search(viewer, HistoryFilter(keyword=keyword), limit=DEFAULT_HISTORY_PAGE)
    return time.perf_counter() - started, time.process_time() - cpu, len(page.items)


def viewers_of(store: HistoryStore) -> dict[str, Any]:
    return {"supervisor": store.supervisor, "agent": store.viewer("ventas")}


async def measure(measured: list[tuple[Step, list[HistoryStore]]], jobs: list[Job], sizes: Sizes) -> None:
    """Every keyword on every database of every size, back to back in rotating order, so that
    the sizes and the databases are compared in the same minutes."""
    from bench.runner import _cpu_snapshot

    rng = random.Random(7)
    pairs = [(step, store) for step, frozen in measured for store in frozen]
    for _, store in pairs:  # caches and pools warm, as on a server that has been running
        for job in rng.sample(jobs, min(sizes.warmup, len(jobs))):
            await search_once(store, viewers_of(store)[job.viewer], job.keyword)
    started, before = time.monotonic(), _cpu_snapshot()
    with ExitStack() as clocks:
        clock = {id(store): clocks.enter_context(StatementClock(store.engine)) for _, store in pairs}
        for repeat in range(sizes.repeats):
            order = list(jobs)
            rng.shuffle(order)
            for index, job in enumerate(order):
                shift = (index + repeat) % len(pairs)
                for step, store in pairs[shift:] + pairs[:shift]:
                    statements = clock[id(store)].statements
                    first = len(statements)
                    seconds, cpu, items = await search_once(store, viewers_of(store)[job.viewer], job.keyword)
                    sample = Sample(job, seconds, cpu, by_kind(statements[first:]), items)
                    del statements[first:]
                    step.samples.setdefault((store.backend, repeat), []).append(sample)
    after, wall = _cpu_snapshot(), max(time.monotonic() - started, 1e-6)
    machine = {
        "busy_cores": (after[0] - before[0]) / wall,
        "bench_cores": (after[1] - before[1]) / wall,
        "other_cores": max(0.0, (after[0] - before[0]) - (after[1] - before[1])) / wall,
        "loadavg": after[2],
        "seconds": wall,
    }
    for step, _ in measured:
        step.machine = machine

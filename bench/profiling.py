"""Profiles of a server under load with py-spy, summarised into a few named costs.

py-spy is not a project dependency. The bench looks for it in ``BENCH_PY_SPY`` (a path),
then on ``PATH``; without it, results.md says how to get a profile instead of showing one.
A throwaway environment is enough:

    python3 -m venv /tmp/prof-venv && /tmp/prof-venv/bin/pip install py-spy
    BENCH_PY_SPY=/tmp/prof-venv/bin/py-spy make bench

``record`` samples only threads holding the GIL (``--gil``): time spent waiting (on
sockets, on SQLite's worker threads, on locks) is not a cost to the event loop, what runs
Python is. Each sample is given to the first bucket whose marker appears in its stack
(see ``summarise``); the raw collapsed stacks are kept next to the report for flame graphs.
"""

from __future__ import annotations

import asyncio
import collections
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

Bucket = tuple[str, Sequence[str]]
OTHER = "other (event loop, Sanic, asyncio)"


def py_spy() -> str | None:
    candidate = os.environ.get("BENCH_PY_SPY") or shutil.which("py-spy")
    if candidate and os.access(candidate, os.X_OK):
        return candidate
    return None


NOT_AVAILABLE = (
    "Not profiled: py-spy was not found. Install it outside the project "
    "(`python3 -m venv /tmp/prof-venv && /tmp/prof-venv/bin/pip install py-spy`) and run with "
    "`BENCH_PY_SPY=/tmp/prof-venv/bin/py-spy`."
)


async def record(pid: int, seconds: float, output: Path, rate: int = 250) -> Path | None:
    """Sample ``pid`` (and its children) for ``seconds``; collapsed stacks into ``output``."""
    binary = py_spy()
    if binary is None:
        return None
    output.parent.mkdir(parents=True, exist_ok=True)
    process = await asyncio.create_subprocess_exec(
        binary,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, int(seconds))),
        "--rate",
        str(rate),
        "--format",
        "raw",
        "--output",
        str(output),
        "--nonblocking",
        "--gil",
        "--subprocesses",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, error = await process.communicate()
    if process.returncode != 0 or not output.exists():
        raise RuntimeError(f"py-spy failed: {error.decode(errors='replace')[-500:]}")
    return output


def summarise(collapsed: Path, buckets: Sequence[Bucket], innermost: bool = False) -> list[tuple[str, float]]:
    """Share of samples per bucket, largest first (``other`` collects the rest).

    By default a sample goes to the first bucket (in the given order) with a marker
    anywhere on its stack: "which caller was this for". With ``innermost`` it goes to the
    bucket of the innermost frame that matches any bucket: "whose code was running"."""
    counts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, number = line.rpartition(" ")
        if not stack or not number.isdigit():
            continue
        samples = int(number)
        total += samples
        label = _innermost(stack, buckets) if innermost else _first(stack, buckets)
        counts[label or OTHER] += samples
    if not total:
        return []
    return [(label, count / total) for label, count in counts.most_common()]


def _first(stack: str, buckets: Sequence[Bucket]) -> str | None:
    for label, markers in buckets:
        if any(marker in stack for marker in markers):
            return label
    return None


def _innermost(stack: str, buckets: Sequence[Bucket]) -> str | None:
    for frame in reversed(stack.split(";")):
        label = _first(frame, buckets)
        if label is not None:
            return label
    return None


def top_frames(collapsed: Path, prefixes: Sequence[str], limit: int = 8) -> list[tuple[str, float]]:
    """The project functions that are on the stack most often (inclusive share)."""
    counts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, number = line.rpartition(" ")
        if not stack or not number.isdigit():
            continue
        samples = int(number)
        total += samples
        seen = {frame for frame in stack.split(";") if any(f"({prefix}" in frame for prefix in prefixes)}
        for frame in seen:
            counts[frame] += samples
    if not total:
        return []
    return [(frame, count / total) for frame, count in counts.most_common(limit)]


def inclusive(collapsed: Path, markers: dict[str, tuple[str, ...]]) -> dict[str, float]:
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

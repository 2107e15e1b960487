"""Runs the parts, in the issue's order, and writes the report.

Every part is a module with ``KEY``, ``TITLE`` and ``async def run(ctx) -> Section``;
adding a part is adding a module to ``PARTS``. A part that fails is reported as failed
(with the error) and the others still run.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import resource
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeVar

from bench import report
from bench.report import Plots, Section, Verdict

BENCH = Path(__file__).resolve().parent
PARTS = {
    "ack": "bench.ack",
    "bot": "bench.bot_replies",
    "handoff": "bench.handoff_path",
    "open": "bench.open_race",
    "history": "bench.history_search",
    "memory": "bench.memory",
}
T = TypeVar("T")


@dataclass
class Context:
    quick: bool
    out: Path  # where results.md goes
    plots: Plots
    work: Path  # scratch: databases, server logs, raw profiles (removed unless --keep)

    def size(self, quick: T, full: T) -> T:
        return quick if self.quick else full

    @property
    def logs(self) -> Path:
        return self.work / "logs"

    @property
    def profiles(self) -> Path:
        path = self.out / "profiles"
        path.mkdir(parents=True, exist_ok=True)
        return path


def log(message: str) -> None:
    print(f"[bench {datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


def _cpu_snapshot() -> tuple[float, float, float]:
    """(machine busy CPU seconds, this process and its waited-for children's CPU seconds, load average)."""
    ticks = os.sysconf("SC_CLK_TCK")
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    busy = (sum(fields[:8]) - idle) / ticks
    mine = sum(
        getattr(resource.getrusage(who), attr)
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
        for attr in ("ru_utime", "ru_stime")
    )
    return busy, mine, os.getloadavg()[0]


async def run_parts(keys: list[str], ctx: Context) -> dict[str, Section]:
    sections: dict[str, Section] = {}
    for key in keys:
        module = importlib.import_module(PARTS[key])
        log(f"part {key}: {module.TITLE}")
        started = time.monotonic()
        before = _cpu_snapshot()
        try:
            section = await module.run(ctx)
        except Exception as error:  # one broken part must not hide the others
            traceback.print_exc()
            section = Section(
                key,
                module.TITLE,
                f"This part failed: `{error.__class__.__name__}: {error}`.",
                [Verdict("the part runs", "failed", False)],
            )
        section.seconds = time.monotonic() - started
        after = _cpu_snapshot()
        wall = max(section.seconds, 1e-6)
        section.data["machine_load"] = {
            "loadavg_start": before[2],
            "loadavg_end": after[2],
            "busy_cores": (after[0] - before[0]) / wall,
            "bench_cores": (after[1] - before[1]) / wall,
            "other_cores": max(0.0, (after[0] - before[0]) - (after[1] - before[1])) / wall,
        }
        section.run_at = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        section.quick = ctx.quick
        sections[key] = section
        log(f"part {key} done in {section.seconds:.0f} s")
    return sections


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Benchmarks of the project (bench/README.md).")
    parser.add_argument("--quick", action="store_true", help="small sizes and one repeat: a quick look (~3 min)")
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts among {','.join(PARTS)}")
    parser.add_argument("--out", type=Path, help="output directory (default: bench/ for a full run, bench/quick/ for --quick)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (databases, server logs)")
    args = parser.parse_args(argv)
    keys = [key.strip() for key in args.only.split(",") if key.strip()]
    unknown = [key for key in keys if key not in PARTS]
    if unknown:
        parser.error(f"unknown parts: {', '.join(unknown)} (known: {', '.join(PARTS)})")
    keys = [key for key in PARTS if key in keys]
    out = args.out or (BENCH / "quick" if args.quick else BENCH)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    ctx = Context(args.quick, out, Plots(out / "plots", out), work)
    log(f"parts {', '.join(keys)}; {'quick' if args.quick else 'full'} sizes; output {out}; scratch {work}")
    started = time.monotonic()
    machine = report.machine()  # the code and machine as they were when the run started
    import uvloop

    uvloop.install()
    try:
        sections = asyncio.run(run_parts(keys, ctx))
    finally:
        if args.keep:
            log(f"scratch kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    merged = {**report.previous_sections(out), **sections}
    command = (
        "python -m bench" + (" --quick" if args.quick else "") + (f" --only {','.join(keys)}" if len(keys) < len(PARTS) else "")
    )
    path = report.write(out, merged, machine, command, time.monotonic() - started)
    log(f"wrote {path} in {(time.monotonic() - started) / 60:.1f} min")
    failed = [key for key, section in sections.items() if any(v.measured == "failed" for v in section.verdicts)]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""``results.md``, ``results.json`` and the PNG plots (matplotlib, Agg backend).

Each part returns a ``Section``: markdown text with its tables, the plots it drew, and one
``Verdict`` per target of the issue (met, missed, or not measured). The report puts the
machine and a summary of every verdict first, then the sections in the order of the issue.
A run of some parts only (``--only``) keeps the other parts' sections from the previous
``results.json`` of the same output directory, each stamped with the run it came from.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import contextlib

import matplotlib.pyplot as plt

ORDER = ("ack", "bot", "handoff", "open", "history", "memory")


@dataclass
class Verdict:
    target: str
    measured: str
    met: bool | None  # None: not measured

    @property
    def mark(self) -> str:
        if self.met is None:
            return "not measured" if self.measured.startswith(("not yet", "failed")) else "reported (no target)"
        return "met" if self.met else "**missed**"


@dataclass
class Section:
    key: str
    title: str
    body: str
    verdicts: list[Verdict] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    run_at: str = ""
    quick: bool = False

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Section:
        raw = dict(raw)
        raw["verdicts"] = [Verdict(**v) for v in raw.get("verdicts", [])]
        return cls(**raw)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table; cells are used as they are (format numbers before)."""
    line = "| " + " | ".join(headers) + " |"
    rule = "|" + "|".join("---" for _ in headers) + "|"
    body = ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join([line, rule, *body])


class Plots:
    """Where the plots of one run go; each returns the path relative to the report."""

    def __init__(self, directory: Path, relative_to: Path) -> None:
        self.directory = directory
        self.relative_to = relative_to
        directory.mkdir(parents=True, exist_ok=True)

    def save(self, figure: Any, name: str) -> str:
        path = self.directory / f"{name}.png"
        figure.tight_layout()
        figure.savefig(path, dpi=110)
        plt.close(figure)
        return os.path.relpath(path, self.relative_to)

    @staticmethod
    def figure(width: float = 7.5, height: float = 4.2) -> tuple[Any, Any]:
        figure, axes = plt.subplots(figsize=(width, height))
        axes.grid(True, alpha=0.3)
        return figure, axes


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def machine() -> dict[str, Any]:
    """What results.md says about the machine the numbers come from."""
    cpuinfo = _read("/proc/cpuinfo")
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), "unknown")
    mhz = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("cpu MHz")), "")
    meminfo = _read("/proc/meminfo")
    total_kb = next((int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal")), 0)
    versions: dict[str, str] = {}
    for package in ("rasa", "sanic", "aiohttp", "SQLAlchemy", "aiosqlite", "asyncpg", "uvloop", "redis"):
        try:
            from importlib.metadata import version

            versions[package] = version(package)
        except Exception:  # pragma: no cover - informative only
            versions[package] = "?"
    postgres = redis_version = "?"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        postgres = subprocess.run(["psql", "--version"], capture_output=True, text=True, timeout=5).stdout.strip()
    try:
        redis_version = subprocess.run(
            ["redis-cli", "-h", "127.0.0.1", "INFO", "server"], capture_output=True, text=True, timeout=5
        ).stdout
        redis_version = next(
            (line.split(":", 1)[1].strip() for line in redis_version.splitlines() if line.startswith("redis_version")), "?"
        )
    except (OSError, subprocess.SubprocessError):
        pass
    root = Path(__file__).resolve().parents[1]
    commit = dirty = "?"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5
        ).stdout.strip()
        product = [
            "connectors",
            "handoff",
            "actions",
            "bot",
            "sandbox",
            "data",
            "config.yml",
            "domain.yml",
            "credentials.yml",
            "endpoints.yml",
        ]
        status = subprocess.run(
            ["git", "status", "--porcelain", "--", *product], cwd=root, capture_output=True, text=True, timeout=5
        ).stdout
        dirty = str(len([line for line in status.splitlines() if line.strip()]))
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "git_commit": commit,
        "git_uncommitted_product_files": dirty,
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "cpu_mhz": mhz,
        "memory_gib": round(total_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": versions,
        "postgresql_client": postgres,
        "redis_server": redis_version,
        "sqlite": __import__("sqlite3").sqlite_version,
    }


def _machine_text(info: dict[str, Any]) -> str:
    packages = ", ".join(f"{name} {version}" for name, version in info["packages"].items())
    return "\n".join(
        [
            f"- CPU: {info['nproc']} cores (`nproc`), {info['cpu_model']}"
            + (f" at {float(info['cpu_mhz']):.0f} MHz" if info.get("cpu_mhz") else ""),
            f"- Memory: {info['memory_gib']} GiB; Linux {info['kernel']}",
            f"- Python {info['python']}; {packages}",
            f"- SQLite {info['sqlite']}; PostgreSQL: {info['postgresql_client']} (server on 127.0.0.1); "
            f"Redis server {info['redis_server']} (127.0.0.1)",
            f"- Code: commit `{info.get('git_commit', '?')}` with {info.get('git_uncommitted_product_files', '?')} "
            "uncommitted product files (connectors, handoff, actions, bot, sandbox, data, the YAML files) "
            "in the working tree at the time of the run.",
            "- Everything (load generator, fake Graph API, servers, databases) shares these cores, "
            "so every comparison is made in the same run and quoted as a median of repeats.",
        ]
    )


def _load_text(sections: Sequence[Section]) -> str:
    loads = [(s.seconds, load) for s in sections if (load := s.data.get("machine_load")) and s.seconds > 5]
    if not loads:
        return ""
    total = sum(seconds for seconds, _ in loads)
    other = sum(seconds * load["other_cores"] for seconds, load in loads) / total
    busy = sum(seconds * load["busy_cores"] for seconds, load in loads) / total
    return (
        f"- While the parts ran, the machine was {busy:.2f} of {os.cpu_count()} cores busy on average, "
        f"{other:.2f} of them in processes outside this benchmark (other sessions' work; PostgreSQL and "
        "Redis also count as outside). Each section gives its own figure."
    )


def write(out: Path, sections: dict[str, Section], info: dict[str, Any], command: str, total_seconds: float) -> Path:
    """Writes results.md and results.json into ``out``; returns the markdown path."""
    ordered = [sections[key] for key in ORDER if key in sections]
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    quick = any(section.quick for section in ordered)
    readme = os.path.relpath(Path(__file__).resolve().parent / "README.md", out.resolve())
    lines = [
        "# Benchmarks" + (" (quick look: small sizes, not the checked-in figures)" if quick else ""),
        "",
        f"Generated by `{command}` on {now} in {total_seconds / 60:.1f} min. "
        f"How each part is measured, and why the comparisons are fair: [bench/README.md]({readme}).",
        "",
        "## Machine",
        "",
        _machine_text(info),
        _load_text(ordered),
        "",
        "## Targets",
        "",
        table(
            ["part", "target", "measured (median of repeats)", "verdict"],
            [[section.title, v.target, v.measured, v.mark] for section in ordered for v in section.verdicts],
        ),
        "",
    ]
    for section in ordered:
        lines += [f"## {section.title}", ""]
        stamp = f"_Measured {section.run_at}" + (f" in {section.seconds:.0f} s" if section.seconds else "")
        load = section.data.get("machine_load")
        if all(v.met is None and v.measured.startswith("not yet") for v in section.verdicts):
            stamp, load = "_Nothing measured yet", None
        if load:
            stamp += (
                f"; the machine was {load['busy_cores']:.2f} of {os.cpu_count()} cores busy on average, "
                f"{load['other_cores']:.2f} of them outside this benchmark's processes (PostgreSQL and Redis "
                f"count as outside); load average {load['loadavg_start']:.1f} → {load['loadavg_end']:.1f}"
            )
        stamp += "._"
        lines += [stamp, "", section.body.strip(), ""]
        for plot in section.plots:
            lines += [f"![{Path(plot).stem}]({plot})", ""]
    markdown = out / "results.md"
    markdown.write_text("\n".join(lines))
    payload = {"machine": info, "generated": now, "command": command, "sections": {s.key: asdict(s) for s in ordered}}
    (out / "results.json").write_text(json.dumps(payload, indent=1, default=_jsonable, allow_nan=True))
    return markdown


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "as_dict"):
        return value.as_dict()
    return str(value)


def previous_sections(out: Path) -> dict[str, Section]:
    try:
        raw = json.loads((out / "results.json").read_text())
    except (OSError, ValueError):
        return {}
    return {key: Section.from_json(value) for key, value in raw.get("sections", {}).items()}

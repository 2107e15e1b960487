"""The history part's report pieces: sizes and milliseconds as text, the target's verdict, the
filling table and the plot."""

from __future__ import annotations

import math

from bench.history_fill import describe
from bench.history_measure import CLASSES, LABEL_CLASS, TARGET_MESSAGES, TARGET_SECONDS, Step
from bench.report import Verdict, table
from bench.stats import fmt, ms


def short_count(messages: int) -> str:
    if messages >= 1_000_000:
        return f"{messages / 1_000_000:.3g}M"
    return f"{round(messages / 1000)}k" if messages >= 1000 else str(messages)


def ms_text(value: float, digits: int = 1) -> str:
    return fmt(ms(value), digits)


def verdict_of(last: Step, backend: str) -> Verdict:
    p50, p95 = last.quoted(backend, "all")
    index = last.quoted(backend, "all", lambda s: s.index)[1]
    worst = max(CLASSES, key=lambda cls: last.quoted(backend, cls)[1])
    measured = (
        f"p95 {ms_text(p95)} ms, p50 {ms_text(p50)} ms at {short_count(last.messages)} messages (slowest class {worst}: "
        f"p95 {ms_text(last.quoted(backend, worst)[1])} ms; the text index's statements: p95 {ms_text(index, 2)} ms)"
    )
    if last.messages < TARGET_MESSAGES:
        return Verdict(f"keyword search p95 <= 100 ms at 1M messages, {backend}", f"quick run, smaller: {measured}", None)
    return Verdict(
        f"keyword search p95 <= 100 ms at 1M messages, {backend}", measured, not math.isnan(p95) and p95 <= TARGET_SECONDS
    )


def fill_lines(steps: list[Step], backends: list[str]) -> list[str]:
    lines = [
        "**Filling** (cumulative). The corpus is generated once, in a process of its own, while the databases "
        "load one after the other, batch by batch; PostgreSQL's time includes a `VACUUM ANALYZE` after each "
        "step (what autovacuum does after bulk writes):",
        "",
    ]
    rows = []
    for step in steps:
        row = [short_count(step.messages), f"{step.generated_seconds:.0f}"]
        for b in backends:
            row += [
                f"{step.load_seconds[b] + step.settle_seconds[b]:.0f}",
                f"{step.messages / max(step.load_seconds[b], 1e-9):,.0f}",
                f"{step.size_bytes[b] / 2**20:,.0f}",
            ]
        rows.append(row)
    lines += [
        table(["messages", "generation, s of CPU", *[f"{b} {q}" for b in backends for q in ("s", "messages/s", "MiB")]], rows),
        "",
    ]
    lines += [
        "Checks after each step: "
        + "; ".join(
            f"{short_count(step.messages)}: " + ", ".join(f"{b} {describe(step.verification[b])}" for b in backends)
            for step in steps
        )
        + ".",
        "",
    ]
    return lines


def plot(ctx, steps: list[Step], backends: list[str]) -> str:
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11.0, 5.6))
    colours = {"SQLite": "tab:blue", "PostgreSQL": "tab:purple"}
    xs = [step.messages for step in steps]
    for b in backends:
        colour = colours.get(b)
        left.plot(xs, [ms(s.quoted(b, "all")[1]) for s in steps], "o-", color=colour, label=f"{b} p95")
        left.plot(xs, [ms(s.quoted(b, "all")[0]) for s in steps], "o:", color=colour, alpha=0.7, label=f"{b} p50")
        left.plot(
            xs,
            [ms(s.quoted(b, "all", lambda x: x.index)[1]) for s in steps],
            "s-.",
            color=colour,
            alpha=0.6,
            label=f"{b} p95, text index statements",
        )
        for cls, marker in zip((*CLASSES, LABEL_CLASS), ("o", "s", "^", "D", "x"), strict=False):
            right.plot(
                xs,
                [ms(s.quoted(b, cls)[1]) for s in steps],
                marker=marker,
                linestyle="-" if b == "SQLite" else "--",
                color=colour,
                alpha=0.8,
                label=f"{b} {cls}",
            )
    for axes in (left, right):
        axes.set_xscale("log")
        axes.grid(True, alpha=0.3, which="both")
        axes.set_xlabel("messages in the database")
        axes.axhline(ms(TARGET_SECONDS), color="tab:red", linestyle="--", linewidth=1)
    left.annotate(
        "target at 1M: 100 ms",
        (xs[-1], ms(TARGET_SECONDS)),
        textcoords="offset points",
        xytext=(-2, 4),
        ha="right",
        color="tab:red",
        fontsize=8,
    )
    left.set_ylabel("latency of one search (ms)")
    left.set_ylim(bottom=0)
    left.set_title("keyword search, all classes (median of repeats)")
    left.legend(fontsize=7, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.14))
    right.set_yscale("log")
    right.set_ylabel("p95 (ms, log)")
    right.set_title("p95 per keyword class")
    right.legend(fontsize=7, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.14))
    return ctx.plots.save(figure, "history-search")

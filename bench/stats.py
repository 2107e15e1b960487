"""Percentiles and medians over repeated runs.

Every figure in ``results.md`` is a median over repeats of a statistic computed within one
repeat (for example the median, over three repeats, of each repeat's p99). Ratios are
computed per repeat against a baseline measured in the same repeat, and then the median
of those ratios is reported, so a slow moment of a noisy machine hits both sides.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


def median(values: Iterable[float]) -> float:
    """Median ignoring NaN; NaN when nothing is left."""
    kept = [v for v in values if v is not None and not math.isnan(v)]
    return float(statistics.median(kept)) if kept else math.nan


def ratio(numerator: float, denominator: float) -> float:
    if denominator is None or numerator is None or denominator == 0 or math.isnan(denominator):
        return math.nan
    return numerator / denominator


@dataclass(frozen=True)
class Summary:
    """Distribution of one sample (latencies in seconds, or anything else)."""

    count: int
    p50: float
    p95: float
    p99: float
    max: float
    mean: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        if not values:
            return cls(0, math.nan, math.nan, math.nan, math.nan, math.nan)
        return cls(
            len(values),
            percentile(values, 50),
            percentile(values, 95),
            percentile(values, 99),
            float(max(values)),
            float(statistics.fmean(values)),
        )

    def as_dict(self) -> dict[str, float]:
        return {"count": self.count, "p50": self.p50, "p95": self.p95, "p99": self.p99, "max": self.max, "mean": self.mean}


def ms(seconds: float) -> float:
    return seconds * 1000.0


def fmt(value: float, digits: int = 1, unit: str = "") -> str:
    """A number for a table cell; "n/a" for NaN or None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return f"{value:,.{digits}f}{unit}"


def fmt_ratio(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.2f}x"

"""Settings an operator gives through the environment, checked so a typo stops the server."""

from __future__ import annotations

import math
import os


def seconds_from_environment(variable: str, default: float) -> float:
    """A positive number of seconds from ``variable``; ``default`` when it is unset or empty.
    A wrong value raises ValueError naming the variable, rather than running with a surprise."""
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{variable} must be a number of seconds, not {raw!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{variable} must be a positive number of seconds, not {raw!r}")
    return value

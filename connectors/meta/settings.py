"""The Meta channels' settings, read from ``credentials.yml``.

Optional credentials besides the secrets and tokens (all numbers may be strings, as
``${VAR}`` gives them): ``max_body_bytes`` (webhook bodies above it get 413; default
10 MB, far above Meta's largest batches), ``max_batch_items`` (items per delivery,
counted as the ``messaging``, ``standby`` and ``changes`` items of all entries; more
get 413; default 1,000, Meta's ceiling), ``graph_timeout`` (seconds per Graph API call,
default 10), ``retry_attempts`` (default 4), ``retry_backoff`` and
``rate_limit_backoff`` (seconds before the first retry, doubled each time; defaults 0.5
and 5) and ``echo_wait`` (how long a send that timed out waits for its echo before it is
retried; default 3).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connectors.meta.graph import DEFAULT_GRAPH_URL, DEFAULT_GRAPH_VERSION, RetryPolicy
from connectors.meta.indicators import DEFAULT_TYPING_DELAY

DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
# Meta batches at most 1,000 updates per delivery: a signed body with more is not Meta's.
DEFAULT_MAX_BATCH_ITEMS = 1000
DEFAULT_GRAPH_TIMEOUT = 10.0


@dataclass(frozen=True)
class MetaChannelSettings:
    app_secrets: tuple[str, ...]
    verify_token: str
    access_token: str
    graph_url: str = DEFAULT_GRAPH_URL
    graph_version: str = DEFAULT_GRAPH_VERSION
    app_id: str | None = None
    typing_indicators: bool = True
    typing_delay: float = DEFAULT_TYPING_DELAY
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_batch_items: int = DEFAULT_MAX_BATCH_ITEMS
    graph_timeout: float = DEFAULT_GRAPH_TIMEOUT
    retry: RetryPolicy = RetryPolicy()

    def __repr__(self) -> str:  # secrets never reach a log line through repr
        return f"MetaChannelSettings(graph_url={self.graph_url!r}, graph_version={self.graph_version!r})"


def settings_from_credentials(channel: str, access_token_key: str, credentials: Mapping[str, Any]) -> MetaChannelSettings:
    """The settings of ``channel``; a ValueError names what is missing or not a number."""
    given = {key: value for key, value in credentials.items() if value not in (None, "")}
    missing = [key for key in ("app_secret", "verify_token", access_token_key) if key not in given]
    if missing:
        raise ValueError(f"{channel} channel: set {', '.join(missing)} in credentials.yml")
    secrets = [str(given["app_secret"])]
    if given.get("secondary_app_secret"):
        secrets.append(str(given["secondary_app_secret"]))
    default = RetryPolicy()
    retry = RetryPolicy(
        attempts=_number(given, "retry_attempts", default.attempts, int, minimum=1),
        backoff=_number(given, "retry_backoff", default.backoff, float),
        rate_limit_backoff=_number(given, "rate_limit_backoff", default.rate_limit_backoff, float),
        max_delay=default.max_delay,
        echo_wait=_number(given, "echo_wait", default.echo_wait, float),
    )
    return MetaChannelSettings(
        app_secrets=tuple(secrets),
        verify_token=str(given["verify_token"]),
        access_token=str(given[access_token_key]),
        graph_url=str(given.get("graph_url", DEFAULT_GRAPH_URL)),
        graph_version=str(given.get("graph_version", DEFAULT_GRAPH_VERSION)),
        app_id=str(given["app_id"]) if given.get("app_id") else None,
        typing_indicators=str(given.get("typing_indicators", "true")).lower() != "false",
        typing_delay=_number(given, "typing_delay", DEFAULT_TYPING_DELAY, float),
        max_body_bytes=_number(given, "max_body_bytes", DEFAULT_MAX_BODY_BYTES, int, minimum=1),
        max_batch_items=_number(given, "max_batch_items", DEFAULT_MAX_BATCH_ITEMS, int, minimum=1),
        graph_timeout=_number(given, "graph_timeout", DEFAULT_GRAPH_TIMEOUT, float, minimum=0.001),
        retry=retry,
    )


def _number(given: Mapping[str, Any], key: str, default: Any, kind: type, minimum: float = 0.0) -> Any:
    if key not in given:
        return default
    try:
        value = kind(given[key])
    except (TypeError, ValueError):
        raise ValueError(f"credentials.yml: {key} must be a number, got {given[key]!r}") from None
    if value < minimum:
        raise ValueError(f"credentials.yml: {key} must be at least {minimum}")
    return value

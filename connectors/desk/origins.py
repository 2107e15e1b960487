"""Which web pages may open the desk's live updates: the WebSocket's ``Origin`` rule.

A browser sends ``Origin`` on every WebSocket handshake, and another site's page open in an
agent's browser would send its own: checking it stops cross-site WebSocket hijacking. The
desk's public origin (``public_url`` / ``HANDOFF_PUBLIC_URL``) is the only one accepted when
it is configured; with none (the local sandbox), a page whose host:port is the request's
``Host``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def web_origin(url: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL as browsers write ``Origin`` (lowercase,
    the default port left out); None for anything else, ``null`` included."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:  # a port that is not a number, a broken IPv6 literal
        return None
    scheme, host = parts.scheme.lower(), parts.hostname
    if scheme not in ("http", "https") or not host:
        return None
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}" if port in (None, _DEFAULT_PORTS[scheme]) else f"{scheme}://{host}:{port}"


def _authority(host: str, port: int | None, scheme: str) -> str:
    return f"{host}:{port if port is not None else _DEFAULT_PORTS[scheme]}"


def same_host(origin: str, host_header: str) -> bool:
    """Whether a page at ``origin`` asked the host it came from (host:port equal; the scheme
    is not compared, a proxy may end TLS before this server)."""
    page = urlsplit(origin)
    try:
        asked = urlsplit(f"//{host_header.strip()}")
        if not asked.hostname or page.hostname is None:
            return False
        return _authority(page.hostname, page.port, page.scheme) == _authority(asked.hostname, asked.port, page.scheme)
    except ValueError:
        return False


class OriginRule:
    """Which pages may open the desk's socket: the desk's public origin when one is
    configured, else (the local sandbox) the page of the host the request names."""

    def __init__(self, public_url: str | None) -> None:
        self.public_origin: str | None = None
        if public_url:
            self.public_origin = web_origin(public_url)
            if self.public_origin is None:
                raise ValueError(f"the desk's public URL must be an http(s) URL, not {public_url!r}")

    def allows(self, origin: str | None, host_header: str | None) -> bool:
        if origin is None:
            return True  # not a browser; its credential is the first frame (connectors.desk.live)
        given = web_origin(origin)
        if given is None:
            return False
        if self.public_origin is not None:
            return given == self.public_origin
        return same_host(given, host_header or "")

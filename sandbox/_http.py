"""HTTP response helper: JSON answers written to the socket in a single write.

aiohttp 3.9 writes the header block and the body with two `transport.write()` calls. With
TCP_NODELAY (which aiohttp sets on every connection) that costs an extra packet; without it
the second write could wait for the peer's delayed ACK (~40 ms), which would dominate a
benchmark of the connector against this server. Joining them keeps every answer one
segment. Newer aiohttp versions join them on their own, so the trick only runs on 3.9.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import aiohttp
from aiohttp import web

_JOIN_WRITES = aiohttp.__version__.startswith("3.9.")


class OneWriteResponse(web.Response):
    """A `web.Response` with a bytes body whose headers and body leave in one write."""

    _held_status_line: str | None = None

    async def _write_headers(self) -> None:
        writer = self._payload_writer
        joinable = (
            _JOIN_WRITES
            and isinstance(self._body, bytes)
            and not self._chunked
            and not self._compression
            and writer is not None
            and not getattr(writer, "chunked", False)
            and getattr(writer, "_compress", None) is None
        )
        if not joinable:
            await super()._write_headers()
            return
        request = self._req
        assert request is not None
        version = request.version
        # Hold the header block; write_eof() sends it together with the body.
        self._held_status_line = f"HTTP/{version[0]}.{version[1]} {self._status} {self._reason}"

    async def write_eof(self, data: bytes = b"") -> None:
        if self._eof_sent or self._held_status_line is None:
            await super().write_eof(data)
            return
        writer = self._payload_writer
        assert writer is not None
        lines = [self._held_status_line]
        for name, value in self._headers.items():
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
                raise ValueError("newline in a response header")
            lines.append(f"{name}: {value}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
        body = self._body if (isinstance(self._body, bytes) and not self._must_be_empty_body) else b""
        # The writer truncates writes to Content-Length; the head is not part of it.
        writer.length = None
        self._held_status_line = None
        await writer.write(head + body)
        await web.StreamResponse.write_eof(self)


def json_response(data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> OneWriteResponse:
    """A compact JSON response sent in one write."""
    body = json.dumps(data, separators=(",", ":")).encode("utf-8")
    return OneWriteResponse(body=body, status=status, headers=headers, content_type="application/json")

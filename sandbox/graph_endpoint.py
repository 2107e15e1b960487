"""The plumbing every route of the fake Graph API shares: reading and recording a request,
answering it in one write, and sleeping in a way that ``stop()`` interrupts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from ._http import json_response
from .graph_records import RecordedRequest, RequestWaiters
from .meta import Channel, graph_error


class GraphEndpoint:
    """What the Graph API's routes need of the server; ``FakeGraphAPI`` sets these attributes."""

    tokens: dict[str, Channel]
    page_id: str
    ig_account_id: str
    requests: list[RecordedRequest]
    _waiters: RequestWaiters
    _stopping: asyncio.Event

    def account_id(self, channel: Channel) -> str:
        """The business account that sends on `channel` (Page id or IG account id)."""
        return self.page_id if channel == "messenger" else self.ig_account_id

    async def _record(self, request: web.Request, *, kind: str) -> RecordedRequest:
        raw = await request.read()
        parsed = parse_body(raw, request.content_type)
        token = token_of(request, parsed)
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=dict(request.headers),
            json=parsed,
            time=time.time(),
            kind=kind,
            version=request.match_info.get("version"),
            node=request.match_info.get("node"),
            token=token,
            channel=self.tokens.get(token or ""),
            body=raw,
        )
        self.requests.append(record)
        self._waiters.changed(record)
        return record

    async def _answer(
        self,
        request: web.Request,
        record: RecordedRequest,
        status: int,
        payload: Any,
        outcome: str,
        headers: Mapping[str, str] | None = None,
    ) -> web.StreamResponse:
        record.response_status, record.response_json, record.outcome = status, payload, outcome
        response = json_response(payload, status=status, headers=headers)
        try:
            # Written here (not by aiohttp after we return) so that echoes are only
            # emitted once the answer has left, as with Meta.
            await response.prepare(request)
            await response.write_eof()
            record.answered = True
        except (ConnectionError, RuntimeError):
            record.answered = False
        self._waiters.changed(record)
        return response

    async def _sleep(self, seconds: float) -> None:
        """Sleep that ends early when the server stops (so stop() is never stuck)."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)


def token_error() -> dict[str, Any]:
    return graph_error(
        "Error validating access token: The session has been invalidated because the user "
        "changed their password or Facebook has changed the session for security reasons.",
        code=190,
        subcode=463,
    )


def token_of(request: web.Request, parsed: Any) -> str | None:
    token = request.query.get("access_token")
    if token:
        return token
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and value.strip():
        return value.strip()
    if isinstance(parsed, Mapping) and isinstance(parsed.get("access_token"), str):
        return parsed["access_token"]
    return None


def parse_body(raw: bytes, content_type: str) -> Any:
    """JSON bodies, or form bodies whose values are JSON (the Graph API accepts both)."""
    if not raw:
        return None
    if content_type == "application/x-www-form-urlencoded":
        from urllib.parse import parse_qsl

        form: dict[str, Any] = {}
        for key, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
            try:
                form[key] = json.loads(value)
            except ValueError:
                form[key] = value
        return form
    try:
        return json.loads(raw)
    except ValueError:
        return None

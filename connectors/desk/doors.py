"""What each desk route requires, decided in one place and checked before its body is read.

Every route of the desk channel declares a :class:`Door` (``ctx_door=`` on its decorator).
One Sanic signal, ``http.routing.after``, runs between routing and Sanic's reading of the
body, so the keeper answers there: a missing or wrong credential gets 401/403, a declared
body above the door's limit 413, an id no database row can have 404; nothing is buffered
first (an unauthenticated 90 MB post costs nothing). The limit also caps a chunked body
while Sanic reads it. Routes of the same server that declare no door (Rasa's own) get
:data:`UNDECLARED_BODY_LIMIT`.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sanic import Blueprint
from sanic.exceptions import PayloadTooLarge
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.desk.accounts import InvalidSession
from connectors.desk.auth import unauthorized
from connectors.desk.http import error, request_token
from connectors.desk.origins import OriginRule
from connectors.headers import same_secret
from handoff.error_codes import ErrorCode

logger = logging.getLogger(__name__)

KIB = 1024
MIB = 1024 * KIB
# Database ids are signed 64-bit on PostgreSQL and SQLite: a bigger one names no row, and
# must not reach the driver (it overflows there, as a 500).
MAX_ID = 2**63 - 1
UNDECLARED_BODY_LIMIT = 1 * MIB
NO_STORE = "no-store"
_MULTIPART_FRAMING = 64 * KIB


class Credential(enum.Enum):
    NONE = "none"  # public: login, the page, its files, media Meta fetches, health
    AGENT = "agent"  # a desk session (any role)
    SUPERVISOR = "supervisor"  # a desk session of a supervisor
    SERVICE = "service"  # the action server's bearer secret (HANDOFF_SERVICE_TOKEN)
    # The desk's WebSocket: the session comes in its first frame (connectors.desk.live); the
    # door refuses, before the upgrade, a page of another origin and a token in the URL.
    FIRST_FRAME = "first_frame"


@dataclass(frozen=True)
class Door:
    credential: Credential
    body_limit: int  # bytes; 0: the route takes no body
    # Only the desk's own files may be kept by a browser or a proxy: every other answer is
    # a token, a customer's conversation or an error about them.
    cacheable: bool = False


# A login is two short strings; the JSON routes carry a message (2,000 characters, four
# bytes each at worst), a form or a note; the service API also carries the bot's context
# lines and slots. Uploads may be big, and only after the session is checked.
PUBLIC = Door(Credential.NONE, 0)
ASSET = Door(Credential.NONE, 0, cacheable=True)
SOCKET = Door(Credential.FIRST_FRAME, 0)
LOGIN = Door(Credential.NONE, 4 * KIB)
AGENT = Door(Credential.AGENT, 64 * KIB)
SUPERVISOR = Door(Credential.SUPERVISOR, 64 * KIB)
SERVICE = Door(Credential.SERVICE, 256 * KIB)


def upload_door(max_file_bytes: int) -> Door:
    return Door(Credential.AGENT, max_file_bytes + _MULTIPART_FRAMING)


class DoorClosed(Exception):
    def __init__(self, status: int, message: str, code: str, **params: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.params = params


@dataclass(frozen=True)
class Keys:
    """How the keeper checks credentials: the desk's sessions and the service secret."""

    session: Callable[[str | None], Awaitable[Any]]  # DeskAuth.session: a Session or InvalidSession
    service_token: Callable[[], str | None]
    origins: OriginRule


def install(blueprint: Blueprint, keys: Keys) -> None:
    """The keeper of every door on this server (installed once, by the desk channel)."""

    @blueprint.signal("http.routing.after")
    async def keep(request: Request, route: Any, kwargs: Mapping[str, Any], handler: Any) -> None:
        door: Door | None = getattr(route.ctx, "door", None)
        _limit_body(request, door.body_limit if door else UNDECLARED_BODY_LIMIT)
        if door is None:
            return
        await _check_credential(request, door.credential, keys)
        _check_declared_size(request, door.body_limit)
        _check_ids(kwargs)

    @blueprint.middleware("response")
    async def not_stored(request: Request, response: HTTPResponse) -> None:
        door = _door_of(request)
        if door is None or not door.cacheable:
            response.headers.setdefault("Cache-Control", NO_STORE)

    @blueprint.exception(DoorClosed)
    async def closed(_request: Request, problem: DoorClosed) -> HTTPResponse:
        if problem.status == 401:
            answer = unauthorized(str(problem), problem.code)
        else:
            answer = error(problem.status, str(problem), code=problem.code, params=problem.params)
        answer.headers["Cache-Control"] = NO_STORE
        return answer

    @blueprint.exception(PayloadTooLarge)
    async def too_large(request: Request, _problem: PayloadTooLarge) -> HTTPResponse:
        limit = _limit_of(request)
        answer = error(
            413,
            f"the body is larger than this route accepts ({limit} bytes)",
            code=ErrorCode.REQUEST_TOO_LARGE,
            params={"limit_bytes": limit},
        )
        answer.headers["Cache-Control"] = NO_STORE
        return answer


def _door_of(request: Request) -> Door | None:
    route = getattr(request, "route", None)
    return getattr(route.ctx, "door", None) if route is not None else None


def _limit_body(request: Request, limit: int) -> None:
    # Sanic reads the body after this signal, up to the stream's limit, and after an early
    # answer it drains what is left only up to that limit too, then closes the connection.
    stream = request.stream
    if stream is not None:
        stream.request_max_size = limit
    request.ctx.body_limit = limit


def _limit_of(request: Request) -> int:
    return int(getattr(request.ctx, "body_limit", UNDECLARED_BODY_LIMIT))


def _check_declared_size(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise DoorClosed(
            413, f"the body is larger than this route accepts ({limit} bytes)", ErrorCode.REQUEST_TOO_LARGE, limit_bytes=limit
        )


async def _check_credential(request: Request, credential: Credential, keys: Keys) -> None:
    if credential is Credential.NONE:
        return
    if credential is Credential.FIRST_FRAME:
        _check_handshake(request, keys.origins)
        return
    if credential is Credential.SERVICE:
        expected = keys.service_token()
        if not expected:
            raise DoorClosed(503, "the service API is off: set HANDOFF_SERVICE_TOKEN", ErrorCode.SERVICE_OFF)
        if not same_secret(request_token(request), expected):
            raise DoorClosed(401, "a valid service token is required", ErrorCode.SERVICE_TOKEN_REQUIRED)
        return
    try:
        session = await keys.session(request_token(request))
    except InvalidSession as problem:
        raise DoorClosed(401, str(problem), problem.code) from None
    if credential is Credential.SUPERVISOR and not session.agent.is_supervisor:
        raise DoorClosed(403, "only a supervisor may do this", ErrorCode.AUTH_SUPERVISOR_ONLY)
    request.ctx.session = session


def _check_handshake(request: Request, origins: OriginRule) -> None:
    if "token" in request.get_args(keep_blank_values=True):  # "?token=" too
        # Already in some log by now; refused so that the client gets fixed.
        raise DoorClosed(
            400,
            'the token goes in the first frame, {"type": "auth", "token": ...}, never in the URL',
            ErrorCode.AUTH_TOKEN_IN_URL,
        )
    origin = request.headers.get("origin")
    if not origins.allows(origin, request.headers.get("host")):
        expected = origins.public_origin or "the request's Host"
        logger.warning("desk WebSocket refused: Origin %r is not %s", origin[:200] if origin else origin, expected)
        # RFC 6455, 4.2.2: 403 for an Origin the server does not accept.
        raise DoorClosed(403, "this page's origin may not open the desk's live updates", ErrorCode.AUTH_ORIGIN_FORBIDDEN)


def _check_ids(kwargs: Mapping[str, Any]) -> None:
    for name, value in kwargs.items():
        if isinstance(value, int) and not 0 <= value <= MAX_ID:
            raise DoorClosed(404, f"no such {name.removesuffix('_id')}", ErrorCode.NOT_FOUND, kind=name.removesuffix("_id"))

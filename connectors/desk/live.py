"""Live updates: ``GET /webhooks/desk/ws`` (WebSocket).

The handshake is checked by the route's door (``connectors.desk.doors``, ``SOCKET``) before the
upgrade, so a refused page costs no subscription:

- an ``Origin`` other than the desk's public origin (``public_url`` / ``HANDOFF_PUBLIC_URL``),
  or, with none configured (the local sandbox), one whose host:port is not the request's
  ``Host``: 403. This is what stops another site's page, open in an agent's browser, from
  using the desk's socket (cross-site WebSocket hijacking);
- a ``token`` in the query string: 400. URLs end up in proxies' access logs, so the
  credential never travels there, and a client that still puts it there is told so
  instead of being served.

A handshake with no ``Origin`` at all is accepted: browsers always send one on a WebSocket
handshake, so its absence means a program (a test, a load generator), which could write any
``Origin`` it liked anyway. The check exists for browsers, and what a browser would attach
on its own (cookies) is never a credential here; the credential is the first frame,
``{"type": "auth", "token": "..."}``, within :data:`AUTH_DEADLINE_SECONDS`, which only a
holder of the token can send. No such frame in time, a malformed one or an invalid token
closes the socket with 4401.

After the auth frame each connection subscribes to the service's event bus with a filter for
what concerns its agent's desk (``handoff.visibility.hears``: the attention is in one of their
lists, or just left one) and gets ``{"type": "ready"}``, then one JSON frame per event, in the
contract's shapes (Summary, Message). An attention frame's ``attention.list`` says, for that
agent, which list the attention is in now ("queued", "open", or null: off their page); the
page places it there and decides nothing itself. The client pings every 30 s;
a ping refreshes the agent's presence (``presence.seen``) and re-checks the session, so a
deactivated agent or an expired token is disconnected (close code 4401). When an agent's
last connection closes, ``presence.left`` starts the orphan timers of their open attentions.

Frames are rendered once per event whatever the number of connections (the customer's
name and the unread count come from the database); only the few ``list`` variants differ.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from sanic import Blueprint
from sanic.exceptions import WebsocketClosed
from sanic.request import Request
from websockets.exceptions import ConnectionClosed

from connectors.desk import doors
from connectors.desk.accounts import InvalidSession
from connectors.desk.auth import DeskAuth, Session
from connectors.desk.serializers import agent_json, attention_frame, message_frame
from handoff import visibility
from handoff.error_codes import ErrorCode
from handoff.events import AttentionChanged, HandoffEvent, MessageEvent
from handoff.model import Agent
from handoff.service import HandoffService

logger = logging.getLogger(__name__)

CLOSE_UNAUTHORIZED = 4401
CLOSE_GOING_AWAY = 1001
_RENDERED_EVENTS_KEPT = 256
# Long enough for a page on a slow link to send its first frame right after the upgrade,
# short enough that a socket nobody authenticates does not linger.
AUTH_DEADLINE_SECONDS = 5.0


def _auth_token(data: Any) -> str | None:
    """The token of a ``{"type": "auth", "token": "..."}`` frame, else None."""
    try:
        frame = json.loads(data) if isinstance(data, (str, bytes)) else None
    except ValueError:
        return None
    if not isinstance(frame, dict) or frame.get("type") != "auth":
        return None
    token = frame.get("token")
    return token if isinstance(token, str) and token else None


class _Rendered:
    """One event's frame: read and built once; its text once per ``list`` value."""

    def __init__(self, event: HandoffEvent, frame: asyncio.Future[dict[str, Any] | None]) -> None:
        self.event = event  # held, so its id is not reused meanwhile
        self.frame = frame
        self.texts: dict[str | None, str] = {}


class FrameRenderer:
    """Turns events into JSON text once, shared by every connection that gets them."""

    def __init__(self, service: Callable[[], HandoffService]) -> None:
        self._service = service
        self._rendered: OrderedDict[int, _Rendered] = OrderedDict()

    async def frame(self, event: HandoffEvent, agent: Agent | None = None) -> str | None:
        """The frame's text; an attention frame for ``agent`` says which of their lists the
        attention is in (``attention.list``)."""
        key = id(event)
        kept = self._rendered.get(key)
        if kept is None or kept.event is not event:
            kept = _Rendered(event, asyncio.ensure_future(self._render(event)))
            self._rendered[key] = kept
            while len(self._rendered) > _RENDERED_EVENTS_KEPT:
                self._rendered.popitem(last=False)
        frame = await asyncio.shield(kept.frame)
        if frame is None:
            return None
        placed = visibility.list_of(agent, event.attention) if agent is not None and isinstance(event, AttentionChanged) else None
        text = kept.texts.get(placed)
        if text is None:
            if isinstance(event, AttentionChanged) and agent is not None:
                frame = {**frame, "attention": {"list": placed, **frame["attention"]}}
            text = kept.texts[placed] = json.dumps(frame, ensure_ascii=False)
        return text

    async def _render(self, event: HandoffEvent) -> dict[str, Any] | None:
        try:
            if isinstance(event, MessageEvent):
                return message_frame(event)
            if isinstance(event, AttentionChanged):
                [summary] = await self._service().queries.summaries([event.attention])
                return attention_frame(event, summary)
        except Exception:
            logger.exception("rendering the desk frame of %s failed", event.type)
        return None


class Connection:
    def __init__(self, ws: Any, session: Session) -> None:
        self.ws = ws
        self.session = session
        self.agent: Agent = session.agent
        self.closing = False

    async def send(self, frame: Any) -> None:
        await self.ws.send(frame if isinstance(frame, str) else json.dumps(frame, ensure_ascii=False))

    async def close(self, code: int, reason: str) -> None:
        self.closing = True
        with contextlib.suppress(Exception):  # already gone
            await self.ws.close(code=code, reason=reason)


class LiveHub:
    """The desk's WebSocket connections of this process, by agent."""

    def __init__(
        self,
        service: Callable[[], HandoffService],
        auth: Callable[[], DeskAuth],
        auth_deadline: float = AUTH_DEADLINE_SECONDS,
    ) -> None:
        self._service = service
        self._auth = auth
        self.auth_deadline = auth_deadline
        self.frames = FrameRenderer(service)
        self._connections: dict[int, set[Connection]] = {}
        self._stopping = False

    def connections_of(self, agent_id: int) -> set[Connection]:
        return set(self._connections.get(agent_id, ()))

    @property
    def connection_count(self) -> int:
        return sum(len(items) for items in self._connections.values())

    async def close_all(self, timeout: float = 2.0) -> None:
        """The server is stopping: close every connection (the pages reconnect, maybe to
        another instance) without counting the agents as gone."""
        self._stopping = True
        for connections in list(self._connections.values()):
            for connection in list(connections):
                await connection.close(CLOSE_GOING_AWAY, ErrorCode.LIVE_RESTARTING)
        deadline = asyncio.get_running_loop().time() + timeout
        while self._connections and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)

    async def end_session(self, session: Session) -> None:
        """Logout: close the connections opened with that session and record that the
        agent left, unless another of their sessions is still connected here."""
        agent_id = session.agent.id
        mine = self._connections.get(agent_id, set())
        ending = [connection for connection in mine if connection.session.claims.session_id == session.claims.session_id]
        # Forgotten before they close: their closing, which comes later, must not record a
        # "left" after the agent has already logged in again.
        for connection in ending:
            mine.discard(connection)
        if not mine:
            self._connections.pop(agent_id, None)
            await self._service().presence.left(agent_id)
        for connection in ending:
            await connection.close(CLOSE_UNAUTHORIZED, ErrorCode.AUTH_SESSION_ENDED)

    async def agent_changed(self, agent: Agent, password_changed: bool = False) -> None:
        """A supervisor edited the agent: new campaigns apply to their open connections at
        once; deactivated (or with a new password) they are disconnected."""
        for connection in self.connections_of(agent.id):
            if not agent.active or password_changed:
                await connection.close(
                    CLOSE_UNAUTHORIZED, ErrorCode.AUTH_DEACTIVATED if not agent.active else ErrorCode.AUTH_PASSWORD_CHANGED
                )
            else:
                connection.agent = agent

    async def _authenticate(self, ws: Any) -> Session | None:
        """The session of the first frame; None once the socket is closed with 4401."""
        try:
            data = await ws.recv(timeout=self.auth_deadline)  # None when the deadline passes
        except (ConnectionClosed, WebsocketClosed):  # the client left before authenticating
            return None
        token = _auth_token(data)
        if token is None:
            # The close reason is an error code (the page words it); why, in English, goes to the log.
            logger.info(
                "desk WebSocket closed: %s", "no auth frame in time" if data is None else "the first frame is not an auth frame"
            )
            await ws.close(code=CLOSE_UNAUTHORIZED, reason=ErrorCode.AUTH_UNAUTHORIZED)
            return None
        try:
            return await self._auth().session(token)
        except InvalidSession as problem:
            await ws.close(code=CLOSE_UNAUTHORIZED, reason=problem.code)
            return None

    async def serve(self, request: Request, ws: Any) -> None:
        if self._stopping:
            await ws.close(code=CLOSE_GOING_AWAY, reason=ErrorCode.LIVE_RESTARTING)
            return
        session = await self._authenticate(ws)
        if session is None:
            return
        if self._stopping:  # the server began to stop while this socket was authenticating
            await ws.close(code=CLOSE_GOING_AWAY, reason=ErrorCode.LIVE_RESTARTING)
            return
        connection = Connection(ws, session)
        service = self._service()
        # Subscribed before "ready" is sent: nothing that happens after it is missed.
        subscription = service.bus.subscribe(lambda event: visibility.hears(connection.agent, event))
        self._connections.setdefault(session.agent.id, set()).add(connection)
        tasks: list[asyncio.Task[None]] = []
        try:
            await service.presence.seen(session.agent.id)
            await connection.send({"type": "ready", "agent": agent_json(session.agent)})
            tasks = [asyncio.ensure_future(self._read(connection)), asyncio.ensure_future(self._write(connection, subscription))]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            subscription.close()
            await self._forget(connection)

    async def _forget(self, connection: Connection) -> None:
        agent_id = connection.session.agent.id
        remaining = self._connections.get(agent_id, set())
        if connection not in remaining:
            return  # already forgotten by a logout, which recorded the leaving itself
        remaining.discard(connection)
        if not remaining:
            self._connections.pop(agent_id, None)
            if self._stopping:
                return
            try:
                await self._service().presence.left(agent_id)
            except Exception:
                logger.exception("recording that agent %s left failed", agent_id)

    async def _read(self, connection: Connection) -> None:
        while not connection.closing:
            data = await connection.ws.recv()
            if data is None:
                return
            try:
                message = json.loads(data)
            except (TypeError, ValueError):
                await connection.send(
                    {"type": "error", "error": "frames are JSON objects", "code": ErrorCode.LIVE_FRAME_INVALID, "params": {}}
                )
                continue
            if not isinstance(message, dict) or message.get("type") != "ping":
                await connection.send(
                    {
                        "type": "error",
                        "error": 'the desk accepts {"type": "ping"}',
                        "code": ErrorCode.LIVE_FRAME_INVALID,
                        "params": {},
                    }
                )
                continue
            try:
                session = await self._auth().session(connection.session.token)
            except InvalidSession as problem:
                await connection.close(CLOSE_UNAUTHORIZED, problem.code)
                return
            connection.agent = session.agent
            await self._service().presence.seen(session.agent.id)
            await connection.send({"type": "pong"})

    async def _write(self, connection: Connection, subscription: Any) -> None:
        lagged = 0
        async for event in subscription:
            if subscription.lagged != lagged:
                lagged = subscription.lagged
                # Events were dropped for this slow connection: the page reloads its lists.
                await connection.send({"type": "resync"})
            frame = await self.frames.frame(event, connection.agent)
            if frame is not None:
                await connection.send(frame)


def add_live_routes(desk: Blueprint, hub: Callable[[], LiveHub]) -> None:
    @desk.websocket("/ws", ctx_door=doors.SOCKET)
    async def live(request: Request, ws: Any) -> None:
        await hub().serve(request, ws)

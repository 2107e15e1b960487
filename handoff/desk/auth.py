"""Who is calling the desk: login with its rate limit, the session behind each request,
and what an agent may see.

Every API call and WebSocket carries a session token (``handoff.desk.accounts``). Each use
reads the agent again, so a deactivated agent, or one whose password changed, is out at
once; a logged-out session is remembered as revoked until it would have expired anyway.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Optional

from sanic.request import Request
from sanic.response import HTTPResponse

from handoff.desk.accounts import (
    InvalidSession,
    IssuedSession,
    SessionClaims,
    SessionTokens,
    password_fingerprint,
    verify_or_waste_time,
)
from handoff.desk.http import error, request_token
from handoff.events import AttentionChanged, HandoffEvent, MessageEvent
from handoff.model import Agent, Attention
from handoff.service import HandoffService
from handoff.states import AttentionState

ServiceGetter = Callable[[], HandoffService]


class TooManyAttempts(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Session:
    """An authenticated caller: the agent as stored now and the token's claims."""

    agent: Agent
    claims: SessionClaims
    token: str


class LoginLimiter:
    """Failed logins per key in a sliding window, in memory (one process; enough to stop
    guessing, since every guess costs an scrypt too)."""

    def __init__(self, max_failures: int, window_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window = window_seconds
        self._clock = clock
        self._failures: dict[Any, deque[float]] = {}

    def _recent(self, key: Any) -> Optional[deque[float]]:
        times = self._failures.get(key)
        if times is None:
            return None
        horizon = self._clock() - self.window
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def check(self, key: Any) -> None:
        """TooManyAttempts while ``key`` has used up its failures."""
        times = self._recent(key)
        if times is not None and len(times) >= self.max_failures:
            raise TooManyAttempts(max(1, int(times[0] + self.window - self._clock()) + 1))

    def fail(self, key: Any) -> None:
        if len(self._failures) > 10_000:  # forget stale keys rather than grow without end
            for stale in list(self._failures)[:5_000]:
                self._recent(stale)
        self._failures.setdefault(key, deque()).append(self._clock())

    def forget(self, key: Any) -> None:
        self._failures.pop(key, None)


class RevokedSessions:
    """Session ids ended by logout, kept until the token would have expired."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    def revoke(self, claims: SessionClaims) -> None:
        now = time.time()
        self._until = {key: until for key, until in self._until.items() if until > now}
        self._until[claims.session_id] = claims.expires_at.timestamp()

    def __contains__(self, session_id: str) -> bool:
        return session_id in self._until


class DeskAuth:
    """Logins and sessions of one desk channel."""

    def __init__(
        self,
        tokens: SessionTokens,
        service: ServiceGetter,
        *,
        max_failures_per_user: int = 5,
        max_failures_per_address: int = 30,
        window_seconds: float = 60.0,
    ) -> None:
        self.tokens = tokens
        self._service = service
        self.per_user = LoginLimiter(max_failures_per_user, window_seconds)
        self.per_address = LoginLimiter(max_failures_per_address, window_seconds)
        self.revoked = RevokedSessions()

    async def login(self, username: str, password: str, address: str) -> tuple[IssuedSession, Agent]:
        """A new session; TooManyAttempts (429) or InvalidSession (401)."""
        user_key = (username.strip().lower(), address)
        self.per_address.check(address)
        self.per_user.check(user_key)
        found = await self._service().agent_credentials(username=username.strip().lower())
        agent, stored = found if found is not None else (None, None)
        if not await asyncio.to_thread(verify_or_waste_time, password, stored) or agent is None:
            self.per_user.fail(user_key)
            self.per_address.fail(address)
            raise InvalidSession("wrong username or password")
        if not agent.active:
            raise InvalidSession("this account is deactivated")
        self.per_user.forget(user_key)
        return self.tokens.issue(agent, stored), agent

    async def session(self, token: Optional[str]) -> Session:
        """The caller behind ``token``; InvalidSession when there is none any more."""
        claims = self.tokens.read(token)
        if claims.session_id in self.revoked:
            raise InvalidSession("the session has ended; log in again")
        found = await self._service().agent_credentials(agent_id=claims.agent_id)
        if found is None:
            raise InvalidSession("the account no longer exists")
        agent, stored = found
        if not agent.active:
            raise InvalidSession("this account is deactivated")
        if password_fingerprint(stored) != claims.password:
            raise InvalidSession("the password has changed; log in again")
        assert token is not None
        return Session(agent, claims, token)

    def logout(self, session: Session) -> None:
        self.revoked.revoke(session.claims)


def unauthorized(message: str) -> HTTPResponse:
    answer = error(401, message)
    answer.headers["WWW-Authenticate"] = 'Bearer realm="desk"'
    return answer


Handler = Callable[..., Awaitable[HTTPResponse]]


def authenticated(auth: Callable[[], DeskAuth], *, supervisor: bool = False) -> Callable[[Handler], Handler]:
    """The handler runs only for a valid session (``request.ctx.session``); 401 otherwise,
    and 403 for an agent when ``supervisor`` is asked."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def checked(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
            try:
                session = await auth().session(request_token(request))
            except InvalidSession as problem:
                return unauthorized(str(problem))
            if supervisor and not session.agent.is_supervisor:
                return error(403, "only a supervisor may do this")
            request.ctx.session = session
            return await handler(request, *args, **kwargs)

        return checked

    return decorate


# -- what an agent may see ---------------------------------------------------------------------


def may_view(agent: Agent, attention: Attention) -> bool:
    """The desk's rule for one attention: supervisors see all; an agent sees the queued
    attentions of their campaigns and the ones they hold (or held, once terminated).
    Stricter than the domain's ``can_see``: another agent's open attention is theirs alone."""
    if agent.is_supervisor or attention.agent_id == agent.id:
        return True
    return attention.state is AttentionState.QUEUED and attention.campaign_id in agent.campaigns


def sees_event(agent: Agent, event: HandoffEvent) -> bool:
    """Whether the agent's screen gets this event. Beyond what ``may_view`` allows, the
    agents of a campaign hear that a queued attention was opened (or ended) by someone
    else, and an agent hears that an attention left them: their lists drop it."""
    if agent.is_supervisor:
        return True
    if isinstance(event, MessageEvent):
        if event.agent_id is not None:
            return event.agent_id == agent.id
        return event.campaign_id in agent.campaigns
    if isinstance(event, AttentionChanged):
        attention = event.attention
        if attention.agent_id == agent.id or getattr(event, "from_agent_id", None) == agent.id:
            return True
        if attention.campaign_id not in agent.campaigns:
            return False
        # Queued (or just ended while queued), or just opened out of the queue.
        return attention.agent_id is None or event.type == "attention.opened"
    return False

"""Who is calling the desk: login with its rate limit, the session behind each request,
and what an agent may see.

Every API call and WebSocket carries a session token (``connectors.desk.accounts``), checked
by the route's door (``connectors.desk.doors``) for the API. Each use
reads the agent again, so a deactivated agent, or one whose password changed, is out at
once; a logged-out session is remembered as revoked until it would have expired anyway.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from sanic.response import HTTPResponse

from connectors.desk.accounts import (
    InvalidSession,
    IssuedSession,
    SessionClaims,
    SessionTokens,
    password_fingerprint,
    verify_or_waste_time,
)
from connectors.desk.http import error
from handoff.error_codes import ErrorCode
from handoff.model import Agent
from handoff.service import HandoffService

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
    token: str = field(repr=False)  # a bearer credential: never in a log line


# Keys longer than any username (accounts.USERNAME_PATTERN: at most 150) are cut to 151
# characters: still no account's key, and a megabyte-long "username" costs no megabyte here.
_ACCOUNT_KEY_LENGTH = 151
_ADDRESS_KEY_LENGTH = 100


def address_key(address: str) -> str:
    """The client address as the limiter counts it: an IPv6 client by its /64 (one home or
    office network, which can hand out as many addresses as it likes), an IPv4-mapped one as
    IPv4; a non-IP value (an obfuscated ``Forwarded`` identifier, a socket) cut short."""
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return address[:_ADDRESS_KEY_LENGTH]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


@dataclass
class _Failures:
    since: float  # start of the current window
    last: float  # the latest failure
    count: int = 0  # failures in the current window
    lockouts: int = 0  # lockouts in a row: the next one lasts twice as long
    locked_until: float = 0.0


class LoginLimit:
    """Failed logins per key, in memory: ``max_failures`` within ``window`` seconds lock
    the key for ``lockout`` seconds, twice as long for every further lockout in a row, up to
    ``max_lockout`` (slow guessing gains nothing by waiting); a key quiet for ``max_lockout``
    starts afresh. At most ``capacity`` keys are kept, the least recently failing dropped
    first, so an attacker cycling usernames or addresses cannot grow it without bound."""

    def __init__(
        self,
        max_failures: int,
        window: float = 60.0,
        *,
        lockout: float = 60.0,
        max_lockout: float = 900.0,
        capacity: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.lockout = lockout
        self.max_lockout = max_lockout
        self.capacity = capacity
        self._clock = clock
        self._keys: OrderedDict[Hashable, _Failures] = OrderedDict()  # least recently failing first

    def __len__(self) -> int:
        return len(self._keys)

    def _stale(self, failures: _Failures, now: float) -> bool:
        return now - max(failures.last, failures.locked_until) >= self.max_lockout

    def check(self, key: Hashable) -> None:
        """TooManyAttempts while ``key`` is locked out, or once it has used up its failures."""
        failures, now = self._keys.get(key), self._clock()
        if failures is None:
            return
        if failures.locked_until <= now and failures.count >= self.max_failures and now - failures.since < self.window:
            # The lockout starts with the attempt after the last failure, so an attempt
            # whose count was taken back (a right password) never causes one.
            failures.lockouts += 1
            failures.locked_until = now + min(self.max_lockout, self.lockout * 2 ** (failures.lockouts - 1))
            failures.since, failures.count = now, 0
        if failures.locked_until > now:
            raise TooManyAttempts(max(1, math.ceil(failures.locked_until - now)))

    def fail(self, key: Hashable) -> None:
        now = self._clock()
        failures = self._keys.pop(key, None)
        if failures is None or self._stale(failures, now):
            failures = _Failures(since=now, last=now)
        if now - failures.since >= self.window:
            failures.since, failures.count = now, 0
        failures.count += 1
        failures.last = now
        self._keys[key] = failures
        # The front holds the longest quiet keys: drop the stale ones, then the oldest beyond capacity.
        while self._keys:
            oldest = next(iter(self._keys.values()))
            if len(self._keys) <= self.capacity and not self._stale(oldest, now):
                break
            self._keys.popitem(last=False)

    def take_back(self, key: Hashable) -> None:
        """Undoes one ``fail``: an attempt counted in advance was no wrong guess."""
        failures = self._keys.get(key)
        if failures is not None and failures.count > 0:
            failures.count -= 1

    def forget(self, key: Hashable) -> None:
        self._keys.pop(key, None)


class FamiliarPlaces:
    """(account, address) pairs with a recent successful login, kept ``days`` and at most
    ``capacity`` of them: the per-account ceiling and the per-address limit spare them, so
    failures from elsewhere never keep an agent out of the place she usually logs in from
    (the "familiar location" rule of smart lockouts). Only a right password adds a pair, so
    an attacker cannot fill it without accounts."""

    def __init__(self, days: float = 30.0, capacity: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = days * 86_400
        self.capacity = capacity
        self._clock = clock
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()  # oldest login first

    def __len__(self) -> int:
        return len(self._seen)

    def remember(self, pair: tuple[str, str]) -> None:
        now = self._clock()
        self._seen.pop(pair, None)
        self._seen[pair] = now
        while self._seen and (len(self._seen) > self.capacity or next(iter(self._seen.values())) <= now - self.seconds):
            self._seen.popitem(last=False)

    def __contains__(self, pair: object) -> bool:
        seen = self._seen.get(pair)  # type: ignore[call-overload]
        return seen is not None and seen > self._clock() - self.seconds


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
    ) -> None:
        self.tokens = tokens
        self._service = service
        # One account from one address: the agent mistyping, or an attacker at that account;
        # it locks only that pair, so the agent elsewhere is not affected.
        self.per_pair = LoginLimit(5, 60.0)
        # One address trying many accounts (password spraying).
        self.per_address = LoginLimit(30, 60.0)
        # One account from many addresses (a distributed guess): a larger ceiling over a
        # longer window, which spares the agent's familiar places.
        self.per_account = LoginLimit(50, 900.0)
        self.familiar = FamiliarPlaces()
        self.revoked = RevokedSessions()

    async def login(self, username: str, password: str, address: str) -> tuple[IssuedSession, Agent]:
        """A new session; TooManyAttempts (429) or InvalidSession (401). ``address`` is the
        real client's (``api._client_address``); unknown usernames count like known ones,
        so a 429 does not tell which exist."""
        account = username.strip().lower()[:_ACCOUNT_KEY_LENGTH]
        pair = (account, address_key(address))
        # From a familiar place only the pair's own failures count: a spray from a shared
        # address, or guesses at her account from elsewhere, do not keep the agent out.
        if pair not in self.familiar:
            self.per_address.check(pair[1])
            self.per_account.check(account)
        self.per_pair.check(pair)
        # Counted as a failure before the password is checked (the awaits below), so guesses
        # sent all at once cannot all pass the checks above first.
        self._count(pair)
        try:
            found = await self._service().agents.credentials(username=account)
            agent, stored = found if found is not None else (None, None)
            right = await asyncio.to_thread(verify_or_waste_time, password, stored) and agent is not None
        except BaseException:  # the database failed or the client left: no guess was answered
            self._take_back(pair)
            raise
        if not right or agent is None:
            raise InvalidSession("wrong username or password", ErrorCode.AUTH_WRONG_CREDENTIALS)
        # The right password ends the pair's streak; the address and account keep their
        # other failures, or one known password would wipe out a spray of guesses at others.
        self._take_back(pair)
        self.per_pair.forget(pair)
        if not agent.active:
            raise InvalidSession("this account is deactivated", ErrorCode.AUTH_DEACTIVATED)
        self.familiar.remember(pair)
        return self.tokens.issue(agent, stored), agent

    def _count(self, pair: tuple[str, str]) -> None:
        self.per_pair.fail(pair)
        self.per_address.fail(pair[1])
        self.per_account.fail(pair[0])

    def _take_back(self, pair: tuple[str, str]) -> None:
        self.per_pair.take_back(pair)
        self.per_address.take_back(pair[1])
        self.per_account.take_back(pair[0])

    async def session(self, token: str | None) -> Session:
        """The caller behind ``token``; InvalidSession when there is none any more."""
        claims = self.tokens.read(token)
        if claims.session_id in self.revoked:
            raise InvalidSession("the session has ended; log in again", ErrorCode.AUTH_SESSION_ENDED)
        found = await self._service().agents.credentials(agent_id=claims.agent_id)
        if found is None:
            raise InvalidSession("the account no longer exists", ErrorCode.AUTH_ACCOUNT_GONE)
        agent, stored = found
        if not agent.active:
            raise InvalidSession("this account is deactivated", ErrorCode.AUTH_DEACTIVATED)
        if password_fingerprint(stored) != claims.password:
            raise InvalidSession("the password has changed; log in again", ErrorCode.AUTH_PASSWORD_CHANGED)
        assert token is not None
        return Session(agent, claims, token)

    def logout(self, session: Session) -> None:
        self.revoked.revoke(session.claims)


def unauthorized(message: str, code: str = ErrorCode.AUTH_UNAUTHORIZED) -> HTTPResponse:
    answer = error(401, message, code=code)
    answer.headers["WWW-Authenticate"] = 'Bearer realm="desk"'
    return answer

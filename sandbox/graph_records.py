"""What the fake Graph API remembers about each request, and how tests wait for them."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

RequestKind = str  # "message" | "sender_action" | "profile" | "account" | "thread_control" | "unknown"
Predicate = Callable[["RecordedRequest"], bool]
_SEQUENCE = itertools.count(1)


@dataclass
class RecordedRequest:
    """One request received by the fake Graph API and the answer it got.

    `outcome` is "pending" until answered, then one of: "ok", "error" (token or limit
    check failed), "fault" (injected error), "closed" (connection dropped on purpose),
    "dropped" (delayed request whose client gave up before Meta "processed" it).
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    time: float
    kind: RequestKind
    version: str | None = None
    node: str | None = None
    token: str | None = None
    channel: str | None = None
    body: bytes = b""
    response_status: int | None = None
    response_json: Any = None
    outcome: str = "pending"
    message_id: str | None = None
    accepted: bool = False
    answered: bool = False
    fault: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    seq: int = field(default_factory=lambda: next(_SEQUENCE))  # arrival order, unique

    @property
    def recipient_id(self) -> str | None:
        """`recipient.id` of a send (None for other requests)."""
        if isinstance(self.json, Mapping) and isinstance(self.json.get("recipient"), Mapping):
            value = self.json["recipient"].get("id")
            return None if value is None else str(value)
        return None

    @property
    def target_id(self) -> str | None:
        """The id a fault can target: the recipient of a send, or the user of a profile."""
        return self.node if self.kind == "profile" else self.recipient_id

    @property
    def message(self) -> dict[str, Any] | None:
        """The `message` object of a send, if any."""
        if isinstance(self.json, Mapping) and isinstance(self.json.get("message"), Mapping):
            return dict(self.json["message"])
        return None

    @property
    def text(self) -> str | None:
        """`message.text` of a send, if any."""
        message = self.message
        return message.get("text") if message else None

    @property
    def sender_action(self) -> str | None:
        """`sender_action` of a send, if any."""
        if isinstance(self.json, Mapping):
            return self.json.get("sender_action")
        return None

    @property
    def ok(self) -> bool:
        """True when the request was answered 200."""
        return self.response_status == 200

    def summary(self) -> str:
        """One line for error messages and logs."""
        what = self.text or self.sender_action or self.node or ""
        return f"{self.method} {self.path} [{self.kind}] -> {self.response_status} {self.outcome} {what!r:.60}"


@dataclass(eq=False)
class _Waiter:
    predicate: Predicate
    needed: int
    future: asyncio.Future[list[RecordedRequest]]
    matched: set[int] = field(default_factory=set)  # seq numbers of matching records


def _any_record(_record: RecordedRequest) -> bool:
    return True


def _matches(predicate: Predicate, record: RecordedRequest) -> bool:
    try:
        return bool(predicate(record))
    except Exception:  # a sloppy predicate (r.json["x"] on a profile GET) means "no"
        return False


class RequestWaiters:
    """Futures resolved when enough matching requests are recorded (no polling).

    Each change re-evaluates only the record that changed, so waiting for 10 000 sends
    during a benchmark costs O(1) per request, not a scan of everything recorded so far.
    """

    def __init__(self, records: list[RecordedRequest]) -> None:
        self._records = records
        self._waiters: list[_Waiter] = []

    def changed(self, record: RecordedRequest) -> None:
        """Re-check waiters against `record`; call after it is added or answered."""
        for waiter in list(self._waiters):
            if waiter.future.done():
                self._waiters.remove(waiter)
                continue
            if _matches(waiter.predicate, record):
                waiter.matched.add(record.seq)
            else:
                waiter.matched.discard(record.seq)
            if len(waiter.matched) >= waiter.needed:
                # Confirm with a full scan: a record may have stopped matching meanwhile.
                matches = [r for r in self._records if _matches(waiter.predicate, r)]
                if len(matches) >= waiter.needed:
                    waiter.future.set_result(matches)
                    self._waiters.remove(waiter)
                else:
                    waiter.matched = {r.seq for r in matches}

    async def wait(self, what: Predicate | int | None, count: int | None, timeout: float) -> list[RecordedRequest]:
        """Wait for `count` records matching `what` (an int alone means "that many requests")."""
        if isinstance(what, int):
            predicate: Predicate = _any_record
            needed = what if count is None else count
        else:
            predicate = what or _any_record
            needed = 1 if count is None else count
        matches = [r for r in self._records if _matches(predicate, r)]
        if len(matches) >= needed:
            return matches
        waiter = _Waiter(predicate, needed, asyncio.get_running_loop().create_future(), {r.seq for r in matches})
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(waiter.future, timeout)
        except asyncio.TimeoutError:
            got = [r for r in self._records if _matches(predicate, r)]
            recent = "; ".join(r.summary() for r in self._records[-5:]) or "no requests"
            raise WaitTimeout(
                f"waited {timeout}s for {needed} matching Graph API request(s), got {len(got)} (last requests: {recent})"
            ) from None
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)


class WaitTimeout(asyncio.TimeoutError):
    """`FakeGraphAPI.wait_for` gave up; the message lists what did arrive."""


class RequestQueries:
    """The ``FakeGraphAPI`` methods that read and wait for what it recorded."""

    requests: list[RecordedRequest]
    _waiters: RequestWaiters

    def sent_messages(self, recipient_id: str | None = None, *, channel: str | None = None) -> list[RecordedRequest]:
        """Accepted message sends (not sender actions), optionally for one recipient/channel."""
        return [
            r
            for r in self.requests
            if r.kind == "message"
            and r.accepted
            and (recipient_id is None or r.recipient_id == recipient_id)
            and (channel is None or r.channel == channel)
        ]

    def sender_actions(
        self, recipient_id: str | None = None, *, action: str | None = None, channel: str | None = None
    ) -> list[RecordedRequest]:
        """Accepted sender actions (typing_on / typing_off / mark_seen)."""
        return [
            r
            for r in self.requests
            if r.kind == "sender_action"
            and r.accepted
            and (recipient_id is None or r.recipient_id == recipient_id)
            and (action is None or r.sender_action == action)
            and (channel is None or r.channel == channel)
        ]

    def profile_requests(self, user_id: str | None = None) -> list[RecordedRequest]:
        """Profile lookups (answered or not), optionally for one user."""
        return [r for r in self.requests if r.kind == "profile" and (user_id is None or r.node == user_id)]

    def profile_request_count(self, user_id: str | None = None) -> int:
        """How many times a profile was asked for (to prove the connector caches)."""
        return len(self.profile_requests(user_id))

    async def wait_for(
        self, what: Predicate | int | None = 1, timeout: float = 5.0, *, count: int | None = None
    ) -> list[RecordedRequest]:
        """Wait until enough requests arrived and return all that match.

        `wait_for(3)` waits for 3 requests of any kind; `wait_for(pred, count=2)` for two
        matching `pred(record)`. A predicate is re-evaluated when a request arrives and
        when it is answered. Raises `WaitTimeout` (an asyncio.TimeoutError) on timeout.
        """
        return await self._waiters.wait(what, count, timeout)

    async def wait_for_messages(
        self, count: int = 1, timeout: float = 5.0, *, recipient_id: str | None = None
    ) -> list[RecordedRequest]:
        """Wait for `count` accepted message sends (optionally to one recipient)."""
        return await self.wait_for(
            lambda r: r.kind == "message" and r.accepted and (recipient_id is None or r.recipient_id == recipient_id),
            count=count,
            timeout=timeout,
        )

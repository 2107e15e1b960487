"""Scripted failures for the fake Graph API: errors, slow answers, dropped connections.

A test arms a fault (`api.fail_next(...)`) before the call it wants to break; the next
matching request consumes it. Faults are matched in the order they were armed, by kind of
request and optionally by recipient (or profile user) id, so one conversation can fail
while another one keeps flowing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .meta import Channel, graph_error

# "early_echo" is not a failure but a scripted race: the echo arrives before the answer.
FaultAction = Literal["error", "delay", "close", "early_echo"]
# Which requests a fault applies to: "message" sends, "sender_action" sends, "send"
# (both), "profile" lookups, or "any" request.
FaultKind = Literal["message", "sender_action", "send", "profile", "any"]
FAULT_KINDS = ("message", "sender_action", "send", "profile", "any")


@dataclass
class Fault:
    """One armed fault; `times` counts how many more requests it will hit."""

    action: FaultAction
    times: int = 1
    kind: FaultKind = "message"
    recipient_id: str | None = None
    http_status: int = 500
    code: int = 1200
    subcode: int | None = None
    message: str = "Temporary send message failure. Please try again later."
    error_type: str = "OAuthException"
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    accept: bool = False

    def __post_init__(self) -> None:
        if self.times < 1:
            raise ValueError("times must be >= 1")
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {FAULT_KINDS}")

    def matches(self, kind: str, target_id: str | None) -> bool:
        """Does this fault apply to a request of `kind` about `target_id`?"""
        if self.recipient_id is not None and self.recipient_id != target_id:
            return False
        if self.kind == "any":
            return True
        if self.kind == "send":
            return kind in ("message", "sender_action")
        return self.kind == kind

    def error_body(self) -> dict[str, Any]:
        """Meta's error body for this fault (a fresh fbtrace_id every time)."""
        return graph_error(self.message, code=self.code, subcode=self.subcode, error_type=self.error_type)


class FaultQueue:
    """Armed faults in FIFO order."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        """Arm a fault."""
        self._faults.append(fault)
        return fault

    def take(self, kind: str, target_id: str | None) -> Fault | None:
        """Consume one use of the first fault matching this request, if any."""
        for fault in self._faults:
            if fault.matches(kind, target_id):
                fault.times -= 1
                if fault.times == 0:
                    self._faults.remove(fault)
                return fault
        return None

    def clear(self) -> None:
        """Disarm everything."""
        self._faults.clear()

    @property
    def pending(self) -> list[Fault]:
        """Faults still armed (a copy)."""
        return list(self._faults)


class FaultControls:
    """The ``FakeGraphAPI`` methods that arm faults on its ``faults`` queue."""

    faults: FaultQueue

    def fail_next(
        self,
        times: int = 1,
        *,
        http_status: int = 500,
        code: int = 1200,
        subcode: int | None = None,
        message: str = "Temporary send message failure. Please try again later.",
        error_type: str = "OAuthException",
        recipient_id: str | None = None,
        kind: FaultKind = "message",
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """Answer the next `times` matching requests with Meta's error body."""
        return self.faults.add(
            Fault("error", times, kind, recipient_id, http_status, code, subcode, message, error_type, dict(headers or {}))
        )

    def rate_limit_next(
        self,
        times: int = 1,
        *,
        code: int = 613,
        http_status: int = 400,
        message: str = "(#613) Calls to this api have exceeded the rate limit.",
        recipient_id: str | None = None,
        kind: FaultKind = "message",
    ) -> Fault:
        """Answer with a rate-limit error (613 by default; 4, 17, 32 are also Meta's)."""
        usage = json.dumps({"call_count": 100, "total_cputime": 35, "total_time": 41})
        return self.fail_next(
            times,
            http_status=http_status,
            code=code,
            message=message,
            recipient_id=recipient_id,
            kind=kind,
            headers={"X-App-Usage": usage},
        )

    def outside_window_next(self, times: int = 1, *, channel: Channel = "messenger", recipient_id: str | None = None) -> Fault:
        """Answer as if the 24 h window were closed (10 / 2018278 Messenger, 10 / 2534022 Instagram)."""
        subcode = 2018278 if channel == "messenger" else 2534022
        return self.fail_next(
            times,
            http_status=400,
            code=10,
            subcode=subcode,
            recipient_id=recipient_id,
            message="(#10) This message is sent outside of allowed window.",
        )

    def user_unavailable_next(self, times: int = 1, *, recipient_id: str | None = None) -> Fault:
        """Answer 551 / 1545041: the person blocked the Page or is not available."""
        return self.fail_next(
            times,
            http_status=400,
            code=551,
            subcode=1545041,
            recipient_id=recipient_id,
            message="(#551) This person isn't available right now.",
        )

    def delay_next(
        self,
        seconds: float,
        times: int = 1,
        *,
        accept: bool = False,
        recipient_id: str | None = None,
        kind: FaultKind = "message",
    ) -> Fault:
        """Answer the next `times` matching requests only after `seconds`.

        accept=False: Meta had not processed the message yet; if the client gives up
        (times out) before the delay ends, the message is dropped, else it is processed.
        accept=True: the ambiguous timeout; the message is accepted (recorded, echoed)
        at once and only the answer is late, so a blind retry sends it twice.
        """
        return self.faults.add(Fault("delay", times, kind, recipient_id, seconds=seconds, accept=accept))

    def close_connection_next(
        self, times: int = 1, *, accept: bool = False, recipient_id: str | None = None, kind: FaultKind = "message"
    ) -> Fault:
        """Drop the TCP connection without answering (accept=True: after accepting the message)."""
        return self.faults.add(Fault("close", times, kind, recipient_id, accept=accept))

    def early_echo_next(self, times: int = 1, *, recipient_id: str | None = None) -> Fault:
        """Deliver the echo webhook *before* answering the send (a race Meta really has)."""
        return self.faults.add(Fault("early_echo", times, "message", recipient_id))

    def clear_faults(self) -> None:
        """Disarm every pending fault."""
        self.faults.clear()

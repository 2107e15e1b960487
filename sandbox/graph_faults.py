"""Scripted failures for the fake Graph API: errors, slow answers, dropped connections.

A test arms a fault (`api.fail_next(...)`) before the call it wants to break; the next
matching request consumes it. Faults are matched in the order they were armed, by kind of
request and optionally by recipient (or profile user) id, so one conversation can fail
while another one keeps flowing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .meta import graph_error

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

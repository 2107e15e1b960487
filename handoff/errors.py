"""Typed errors of the handoff domain.

Adapters map them to their world (the desk: 404, 403, 409, 422; the actions: a bot
answer); the domain never speaks HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime
from typing import Any, ClassVar

from handoff.error_codes import ErrorCode


@dataclass(frozen=True)
class FieldError:
    """What is wrong with one form field (an InvalidForm has one per field)."""

    field: str
    code: str  # required, unknown_field, not_text, too_short, too_long, not_a_number,
    # below_min, above_max, not_an_option, not_a_list, invalid_date
    message: str  # English, for developers and logs
    params: Mapping[str, Any] = dataclass_field(default_factory=dict)  # what a translated text needs (min, max, length)

    def __str__(self) -> str:
        return f"field '{self.field}': {self.message}"


class HandoffError(Exception):
    """Base of every error the handoff domain raises on purpose.

    ``code`` (handoff/error_codes.py) and ``params`` say what happened in a form any
    adapter can put into words; the message is English for developers and logs."""

    default_code: str = ErrorCode.REQUEST_INVALID

    def __init__(self, message: str = "", *, code: str | None = None, **params: Any) -> None:
        super().__init__(message)
        self.code = code or self.default_code
        self.params: dict[str, Any] = params


class NotFound(HandoffError):
    """No such attention, agent, label, message or campaign (desk: 404)."""

    CODES: ClassVar[Mapping[str, str]] = {
        "attention": ErrorCode.ATTENTION_NOT_FOUND,
        "active attention": ErrorCode.ATTENTION_NOT_FOUND,
        "agent": ErrorCode.AGENT_NOT_FOUND,
        "label": ErrorCode.LABEL_NOT_FOUND,
        "message": ErrorCode.MESSAGE_NOT_FOUND,
        "campaign": ErrorCode.CAMPAIGN_NOT_FOUND,
        "history item": ErrorCode.HISTORY_NOT_FOUND,
    }

    def __init__(self, kind: str, key: object) -> None:
        super().__init__(f"{kind} {key!r} not found", code=self.CODES.get(kind, ErrorCode.NOT_FOUND), kind=kind, key=str(key))
        self.kind = kind
        self.key = key


class Forbidden(HandoffError):
    """The actor may not do this to this attention (desk: 403)."""

    default_code = ErrorCode.ATTENTION_NOT_YOURS

    def __init__(self, actor: str, reason: str, *, code: str | None = None, **params: Any) -> None:
        super().__init__(f"{actor}: {reason}", code=code, **params)
        self.actor = actor
        self.reason = reason


class Conflict(HandoffError):
    """The attention changed under the caller: someone else opened, transferred or ended it
    between the caller's look and its write (desk: 409)."""

    default_code = ErrorCode.ATTENTION_CHANGED

    def __init__(
        self, attention_id: int, reason: str, current_state: str | None = None, *, code: str | None = None, **params: Any
    ) -> None:
        extra = {"state": current_state} if current_state is not None else {}
        super().__init__(f"attention {attention_id}: {reason}", code=code, attention_id=attention_id, **extra, **params)
        self.attention_id = attention_id
        self.reason = reason
        self.current_state = current_state


class IllegalTransition(HandoffError):
    """The state machine has no such move from this state (desk: 409)."""

    def __init__(self, attention_id: int | None, from_state: str, action: str) -> None:
        where = f"attention {attention_id}" if attention_id is not None else "attention"
        super().__init__(
            f"{where}: cannot {action} when {from_state}",
            code=ErrorCode.ILLEGAL_TRANSITION,
            attention_id=attention_id,
            state=from_state,
            action=action,
        )
        self.attention_id = attention_id
        self.from_state = from_state
        self.action = action


class WindowClosed(HandoffError):
    """Meta would refuse the message: the customer's last message is too old (desk: 409).

    Raised before anything is stored or sent."""

    default_code = ErrorCode.WINDOW_CLOSED

    def __init__(
        self, attention_id: int, last_customer_message_at: datetime | None, reason: str, *, code: str | None = None
    ) -> None:
        super().__init__(f"attention {attention_id}: {reason}", code=code, attention_id=attention_id)
        self.attention_id = attention_id
        self.last_customer_message_at = last_customer_message_at
        self.reason = reason


class OutboundNotAllowed(WindowClosed):
    """An agent may not start an outbound attention now: Meta's windows since the
    customer's last message are closed (desk: 409 with the reason and the window)."""

    def __init__(
        self,
        attention_id: int,
        last_customer_message_at: datetime | None,
        reason: str,
        response_until: datetime | None = None,
        human_agent_until: datetime | None = None,
        human_agent_allowed: bool = False,
    ) -> None:
        super().__init__(attention_id, last_customer_message_at, reason, code=ErrorCode.OUTBOUND_WINDOW_CLOSED)
        self.response_until = response_until
        self.human_agent_until = human_agent_until
        self.human_agent_allowed = human_agent_allowed


class CustomerBusy(Conflict):
    """The customer already has an active attention (desk: 409 naming it)."""

    def __init__(self, active_attention_id: int, active_state: str, agent_id: int | None) -> None:
        super().__init__(
            active_attention_id,
            f"the customer already has an active attention (#{active_attention_id}, {active_state})",
            active_state,
            code=ErrorCode.CUSTOMER_BUSY,
            active_attention_id=active_attention_id,
        )
        self.active_attention_id = active_attention_id
        self.active_agent_id = agent_id


class InvalidRequest(HandoffError):
    """The request cannot be carried out as asked: bad input, not a permission or a race (422)."""


class InvalidForm(InvalidRequest):
    """Form values that break the campaign's form; one entry per field (desk: 422)."""

    def __init__(self, attention_id: int | None, errors: Sequence[FieldError]) -> None:
        super().__init__("; ".join(str(error) for error in errors), code=ErrorCode.FORM_INVALID, count=len(errors))
        self.attention_id = attention_id
        self.errors = list(errors)


class InvalidMessage(InvalidRequest):
    """An agent message the channel cannot carry: empty, too long, unknown attachment (422)."""

    default_code = ErrorCode.MESSAGE_EMPTY


class InvalidTransfer(InvalidRequest):
    """A transfer to a campaign or agent that cannot take the attention (422)."""

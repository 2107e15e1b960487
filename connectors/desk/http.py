"""HTTP plumbing shared by the desk's APIs: JSON bodies, and (``problem_answer``) the one map
from domain errors and refused input to status codes."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from pydantic import ValidationError
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.headers import bearer_token
from connectors.storage.db import TRANSIENT_STORAGE_ERRORS
from handoff.error_codes import ErrorCode
from handoff.errors import (
    Conflict,
    CustomerBusy,
    Forbidden,
    HandoffError,
    IllegalTransition,
    InvalidForm,
    InvalidRequest,
    NotFound,
    OutboundNotAllowed,
    WindowClosed,
)
from handoff.events import to_plain

logger = logging.getLogger(__name__)

Handler = Callable[..., Coroutine[Any, Any, HTTPResponse]]


class BadRequest(Exception):
    """The request itself is malformed (400); ``params`` name what is wrong (``field``)."""

    def __init__(self, message: str, *, code: str = ErrorCode.REQUEST_INVALID, **params: Any) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


def json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, RecursionError):  # RecursionError: nested deeper than any request of ours
        raise BadRequest("the body is not JSON", code=ErrorCode.REQUEST_NOT_JSON) from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", code=ErrorCode.REQUEST_NOT_JSON)
    return body


def ok(payload: Mapping[str, Any], status: int = 200) -> HTTPResponse:
    return response.json(to_plain(dict(payload)), status=status)


def error(status: int, message: str, *, code: str, params: Mapping[str, Any] | None = None, **extra: Any) -> HTTPResponse:
    """An error answer: ``code`` and ``params`` for the page to put into words (its
    catalogue), ``error`` in English for developers and logs."""
    return response.json(
        {"error": message, "code": code, "params": to_plain(dict(params or {})), **to_plain(extra)}, status=status
    )


def domain_error(status: int, problem: HandoffError, **extra: Any) -> HTTPResponse:
    return error(status, str(problem), code=problem.code, params=problem.params, **extra)


class InvalidInput(Exception):
    """A body or query string its route's model refused; the route says with what status
    and code (the agents' API: 400 ``request.invalid``, the service API: 422)."""

    def __init__(self, problem: ValidationError, status: int, code: str) -> None:
        self.fields = {".".join(str(part) for part in failure["loc"]): failure["msg"] for failure in problem.errors()}
        super().__init__("invalid request: " + "; ".join(f"{name}: {text}" for name, text in self.fields.items()))
        self.status = status
        self.code = code


def _invalid(status: int, message: str, code: str, fields: Mapping[str, str]) -> HTTPResponse:
    field_errors = {name: {"code": ErrorCode.FIELD_INVALID, "params": {"field": name}} for name in fields}
    params = {"field": next(iter(fields), None), "fields": list(fields)}
    return error(status, message, code=code, params=params, fields=dict(fields), field_errors=field_errors)


def problem_answer(problem: Exception) -> HTTPResponse | None:
    """The one map from what went wrong to the answer the API documents (None: a bug,
    left to Sanic's 500). The route table wraps every handler with it (``domain_errors``)."""
    if isinstance(problem, InvalidInput):
        return _invalid(problem.status, str(problem), problem.code, problem.fields)
    if isinstance(problem, BadRequest):
        return error(400, str(problem), code=problem.code, params=problem.params)
    if isinstance(problem, ValidationError):  # a model a handler parsed itself
        fields = {".".join(str(part) for part in failure["loc"]): failure["msg"] for failure in problem.errors()}
        return _invalid(422, "invalid request: " + ", ".join(fields), ErrorCode.REQUEST_INVALID, fields)
    if isinstance(problem, HandoffError):
        return _domain_answer(problem)
    if isinstance(problem, TRANSIENT_STORAGE_ERRORS):
        # The transaction rolled back: nothing happened, and the same call succeeds a
        # moment later. Said as such, so callers retry instead of reporting a bug.
        logger.warning("Answered 503: the database was busy (%s).", type(problem).__name__)
        answer = error(503, "the database is busy; nothing was changed, try again", code=ErrorCode.STORAGE_BUSY)
        answer.headers["Retry-After"] = "1"
        return answer
    return None


def _domain_answer(problem: HandoffError) -> HTTPResponse:
    if isinstance(problem, NotFound):
        return domain_error(404, problem)
    if isinstance(problem, Forbidden):
        return domain_error(403, problem)
    if isinstance(problem, InvalidForm):
        # ``fields`` keeps its shape (field id: English text); ``field_errors`` says the same as codes.
        fields = {field_error.field: field_error.message for field_error in problem.errors}
        field_errors = {
            field_error.field: {"code": f"field.{field_error.code}", "params": dict(field_error.params)}
            for field_error in problem.errors
        }
        return domain_error(422, problem, fields=fields, field_errors=field_errors)
    if isinstance(problem, InvalidRequest):
        return domain_error(422, problem)
    if isinstance(problem, OutboundNotAllowed):
        window = {
            "last_customer_message_at": problem.last_customer_message_at,
            "response_until": problem.response_until,
            "human_agent_until": problem.human_agent_until,
            "human_agent_allowed": problem.human_agent_allowed,
        }
        return domain_error(409, problem, window_closed=True, reason=problem.reason, window=window)
    if isinstance(problem, WindowClosed):
        return domain_error(409, problem, window_closed=True)
    if isinstance(problem, CustomerBusy):
        return domain_error(
            409,
            problem,
            active_attention_id=problem.active_attention_id,
            active_state=problem.current_state,
            active_agent_id=problem.active_agent_id,
        )
    if isinstance(problem, (Conflict, IllegalTransition)):
        return domain_error(409, problem)
    return domain_error(400, problem)


def domain_errors(handler: Handler) -> Handler:
    """Every handler of the route tables, wrapped once (connectors.desk.routes)."""

    @functools.wraps(handler)
    async def wrapped(*args: Any, **kwargs: Any) -> HTTPResponse:
        try:
            return await handler(*args, **kwargs)
        except Exception as problem:
            answer = problem_answer(problem)
            if answer is None:
                raise
            return answer

    return wrapped


def request_token(request: Request) -> str | None:
    return bearer_token(request.headers.get("Authorization"))

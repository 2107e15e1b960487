"""HTTP plumbing shared by the desk's APIs: JSON bodies, domain errors as status codes."""

from __future__ import annotations

import functools
import json
import logging
from typing import Any, Callable, Coroutine, Mapping, Optional

from pydantic import ValidationError
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

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
from connectors.headers import bearer_token

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


def error(status: int, message: str, *, code: str, params: Optional[Mapping[str, Any]] = None, **extra: Any) -> HTTPResponse:
    """An error answer: ``code`` and ``params`` for the page to put into words (its
    catalogue), ``error`` in English for developers and logs."""
    return response.json(
        {"error": message, "code": code, "params": to_plain(dict(params or {})), **to_plain(extra)}, status=status
    )


def domain_error(status: int, problem: HandoffError, **extra: Any) -> HTTPResponse:
    return error(status, str(problem), code=problem.code, params=problem.params, **extra)


def domain_errors(handler: Handler) -> Handler:
    """Domain errors become the status codes the API documents."""

    @functools.wraps(handler)
    async def wrapped(*args: Any, **kwargs: Any) -> HTTPResponse:
        try:
            return await handler(*args, **kwargs)
        except BadRequest as problem:
            return error(400, str(problem), code=problem.code, params=problem.params)
        except ValidationError as problem:
            fields = {".".join(str(part) for part in failure["loc"]): failure["msg"] for failure in problem.errors()}
            field_errors = {name: {"code": ErrorCode.FIELD_INVALID, "params": {"field": name}} for name in fields}
            return error(422, "invalid request: " + ", ".join(fields), code=ErrorCode.REQUEST_INVALID,
                         params={"fields": list(fields)}, fields=fields, field_errors=field_errors)  # fmt: skip
        except NotFound as problem:
            return domain_error(404, problem)
        except Forbidden as problem:
            return domain_error(403, problem)
        except InvalidForm as problem:
            # ``fields`` keeps its shape (field id: English text); ``field_errors`` says the same as codes.
            fields = {field_error.field: field_error.message for field_error in problem.errors}
            field_errors = {
                field_error.field: {"code": f"field.{field_error.code}", "params": dict(field_error.params)}
                for field_error in problem.errors
            }
            return domain_error(422, problem, fields=fields, field_errors=field_errors)
        except InvalidRequest as problem:
            return domain_error(422, problem)
        except OutboundNotAllowed as problem:
            window = {
                "last_customer_message_at": problem.last_customer_message_at,
                "response_until": problem.response_until,
                "human_agent_until": problem.human_agent_until,
                "human_agent_allowed": problem.human_agent_allowed,
            }
            return domain_error(409, problem, window_closed=True, reason=problem.reason, window=window)
        except WindowClosed as problem:
            return domain_error(409, problem, window_closed=True)
        except CustomerBusy as problem:
            return domain_error(409, problem, active_attention_id=problem.active_attention_id,
                                active_state=problem.current_state, active_agent_id=problem.active_agent_id)  # fmt: skip
        except (Conflict, IllegalTransition) as problem:
            return domain_error(409, problem)
        except HandoffError as problem:
            return domain_error(400, problem)
        except TRANSIENT_STORAGE_ERRORS as problem:
            # The transaction rolled back: nothing happened, and the same call succeeds a
            # moment later. Said as such, so callers retry instead of reporting a bug.
            logger.warning("Answered 503: the database was busy (%s).", type(problem).__name__)
            answer = error(503, "the database is busy; nothing was changed, try again", code=ErrorCode.STORAGE_BUSY)
            answer.headers["Retry-After"] = "1"
            return answer

    return wrapped


def request_token(request: Request) -> str | None:
    return bearer_token(request.headers.get("Authorization"))

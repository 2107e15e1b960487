"""HTTP plumbing shared by the desk's APIs: JSON bodies, domain errors as status codes."""

from __future__ import annotations

import functools
import json
import logging
from typing import Any, Callable, Coroutine, Mapping

from pydantic import ValidationError
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from handoff.db import TRANSIENT_STORAGE_ERRORS
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
from handoff.headers import bearer_token

logger = logging.getLogger(__name__)

Handler = Callable[..., Coroutine[Any, Any, HTTPResponse]]


class BadRequest(Exception):
    """The request itself is malformed (400)."""


def json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, RecursionError):  # RecursionError: nested deeper than any request of ours
        raise BadRequest("the body is not JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def ok(payload: Mapping[str, Any], status: int = 200) -> HTTPResponse:
    return response.json(to_plain(dict(payload)), status=status)


def error(status: int, message: str, **extra: Any) -> HTTPResponse:
    return response.json({"error": message, **to_plain(extra)}, status=status)


def domain_errors(handler: Handler) -> Handler:
    """Domain errors become the status codes the API documents."""

    @functools.wraps(handler)
    async def wrapped(*args: Any, **kwargs: Any) -> HTTPResponse:
        try:
            return await handler(*args, **kwargs)
        except BadRequest as problem:
            return error(400, str(problem))
        except ValidationError as problem:
            fields = {".".join(str(part) for part in failure["loc"]): failure["msg"] for failure in problem.errors()}
            return error(422, "invalid request: " + ", ".join(fields), fields=fields)
        except NotFound as problem:
            return error(404, str(problem))
        except Forbidden as problem:
            return error(403, str(problem))
        except InvalidForm as problem:
            fields = {field_error.field: field_error.message for field_error in problem.errors}
            return error(422, str(problem), fields=fields)
        except InvalidRequest as problem:
            return error(422, str(problem))
        except OutboundNotAllowed as problem:
            window = {
                "last_customer_message_at": problem.last_customer_message_at,
                "response_until": problem.response_until,
                "human_agent_until": problem.human_agent_until,
                "human_agent_allowed": problem.human_agent_allowed,
            }
            return error(409, str(problem), window_closed=True, reason=problem.reason, window=window)
        except WindowClosed as problem:
            return error(409, str(problem), window_closed=True)
        except CustomerBusy as problem:
            return error(409, str(problem), active_attention_id=problem.active_attention_id,
                         active_state=problem.current_state, active_agent_id=problem.active_agent_id)  # fmt: skip
        except (Conflict, IllegalTransition) as problem:
            return error(409, str(problem))
        except HandoffError as problem:
            return error(400, str(problem))
        except TRANSIENT_STORAGE_ERRORS as problem:
            # The transaction rolled back: nothing happened, and the same call succeeds a
            # moment later. Said as such, so callers retry instead of reporting a bug.
            logger.warning("Answered 503: the database was busy (%s).", type(problem).__name__)
            answer = error(503, "the database is busy; nothing was changed, try again")
            answer.headers["Retry-After"] = "1"
            return answer

    return wrapped


def request_token(request: Request) -> str | None:
    return bearer_token(request.headers.get("Authorization"))

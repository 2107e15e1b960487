"""The route table's machinery: a :class:`Route` is declared once - method, path, door,
request models, answers (each with its body's model, ``connectors.desk.answer_bodies``),
handler, summary - and both the blueprint (``register``) and the OpenAPI document
(``connectors.desk.openapi``) are made from the same tables, so the server and its
contract cannot disagree.

Each handler gets a :class:`Call` whose ``body`` and ``query`` are already parsed by the
route's models; what went wrong is answered in one place (``http.problem_answer``). The
door (``connectors.desk.doors``) still decides before the body is read: ``register`` hands
each route's door to Sanic, and the keeper checks it between routing and the body.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.desk.answers import Error
from connectors.desk.doors import Door
from connectors.desk.http import Handler, InvalidInput, domain_errors, json_body
from handoff.error_codes import ErrorCode
from handoff.service import HandoffService

JSON = "application/json"
MULTIPART = "multipart/form-data"  # read by its handler (request.files); the model only documents it


@dataclass(frozen=True)
class Answer:
    """One status a route answers: what it means, and the model of its JSON body
    (``connectors.desk.answers``; None: no body, or an error's, which is :class:`Error`)."""

    description: str
    model: type[BaseModel] | None = None


@dataclass
class Call:
    """One request, as a handler sees it."""

    request: Request
    parts: Any  # the desk channel (connectors.desk.parts.DeskParts), or what the service API needs
    body: Any = None
    query: Any = None

    @property
    def service(self) -> HandoffService:
        return self.parts.service  # the desk channel's or the service API's (both give one)

    @property
    def session(self) -> Any:
        return self.request.ctx.session  # set by the door (doors._check_credential)

    @property
    def agent(self) -> Any:
        return self.session.agent

    @property
    def language(self) -> str:
        return getattr(self.query, "language", "es")


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # Sanic's, under the desk's blueprint: "/api/attentions/<attention_id:int>"
    door: Door
    handler: Handler  # async (call, **path parameters) -> HTTPResponse
    summary: str
    answers: Mapping[int, Answer]  # the route's own answers; the usual errors are added by the document
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    content_type: str = JSON
    # A body or query its model refuses: the agents' API says 400 (as before the models),
    # the service API 422 (its callers read ``fields``).
    invalid_status: int = 400
    invalid_code: str = ErrorCode.REQUEST_INVALID

    @property
    def name(self) -> str:
        return self.handler.__name__

    def answer_model(self, status: int) -> type[BaseModel] | None:
        """The model of the body this route answers with ``status``: the declared one, the
        error's for any error (declared or one of the usual ones), else None (no body)."""
        declared = self.answers.get(status)
        if declared is not None and declared.model is not None:
            return declared.model
        return Error if status >= 400 else None


def _query(route: Route, request: Request) -> Any:
    if route.query is None:
        return None
    # An empty parameter is an absent one, as the page sends ``?channel=`` for "any".
    given = {name: request.args.get(name) for name in request.args if request.args.get(name) not in (None, "")}
    try:
        return route.query.parse_obj(given)
    except ValidationError as problem:
        raise InvalidInput(problem, route.invalid_status, route.invalid_code) from None


def _body(route: Route, request: Request) -> Any:
    if route.body is None or route.content_type != JSON:
        return None
    raw = json_body(request)  # 400 request.not_json: not JSON, or not an object
    try:
        return route.body.parse_obj(raw)
    except ValidationError as problem:
        raise InvalidInput(problem, route.invalid_status, route.invalid_code) from None


def endpoint(route: Route, parts: Any) -> Handler:
    async def answer(request: Request, **path: Any) -> HTTPResponse:
        call = Call(request, parts, query=_query(route, request), body=_body(route, request))
        return await route.handler(call, **path)

    answer.__name__ = route.name
    answer.__qualname__ = route.name
    return domain_errors(answer)


def register(blueprint: Blueprint, routes: Iterable[Route], parts: Any) -> None:
    """Every route of the table on the blueprint, with its door (``route.ctx.door``)."""
    for route in routes:
        blueprint.add_route(endpoint(route, parts), route.path, methods=[route.method], name=route.name, ctx_door=route.door)

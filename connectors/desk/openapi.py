"""The desk's APIs as OpenAPI 3 (``GET /webhooks/desk/api/openapi.json``), generated.

Made from the route tables (``connectors.desk.api.API_ROUTES``,
``connectors.desk.service_api.SERVICE_ROUTES`` and this module's own route) - the same ones
the blueprint is registered from - and the ``schema()`` of the models they name: the
requests' (connectors/desk/schemas.py), written in place, and the answers'
(connectors/desk/answers.py, answer_bodies.py), each a component of its own; every model's
definitions are hoisted into the components. The errors every route of a kind can answer
(its door's, a refused body or query, an id no row has, a busy database) are added here,
from the route's declaration. tests/desk/test_openapi.py walks the registered routes;
tests/desk/test_answers_contract.py checks real answers against the answers' models.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel
from sanic import Blueprint, response
from sanic.response import HTTPResponse

from connectors.desk import doors
from connectors.desk.answer_bodies import OpenApiDocument
from connectors.desk.api import API_ROUTES
from connectors.desk.doors import Credential
from connectors.desk.routes import JSON, Answer, Call, Route, register
from connectors.desk.service_api import SERVICE_ROUTES

BASE = "/webhooks/desk"
COMPONENTS = "#/components/schemas/{model}"
_PARAMETER = re.compile(r"<([a-z_]+)(?::([a-z]+))?>")
_PATH_TYPES: dict[str, dict[str, Any]] = {"int": {"type": "integer", "minimum": 0}, "str": {"type": "string"}}
SECURITY: dict[Credential, list[dict[str, list[str]]]] = {Credential.NONE: [], Credential.SERVICE: [{"service": []}]}


def openapi_path(route_path: str) -> str:
    """Sanic's ``/api/attentions/<attention_id:int>`` as OpenAPI's ``/api/attentions/{attention_id}``."""
    return _PARAMETER.sub(r"{\1}", route_path)


def model_schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    """The model's schema with its definitions moved into ``components``."""
    schema = copy.deepcopy(model.schema(ref_template=COMPONENTS))
    for name, definition in schema.pop("definitions", {}).items():
        if components.setdefault(name, definition) != definition:
            raise ValueError(f"two schemas are called {name}: rename one of the models")
    return schema


def answer_schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    """A reference to the answer's model, put in ``components`` (with its definitions) by its name."""
    schema = model_schema(model, components)
    if components.setdefault(model.__name__, schema) != schema:
        raise ValueError(f"two schemas are called {model.__name__}: rename one of the models")
    return {"$ref": COMPONENTS.format(model=model.__name__)}


def _standard_answers(route: Route) -> dict[int, str]:
    """The errors a route answers because of how it is declared."""
    answers: dict[int, str] = {}
    credential = route.door.credential
    if credential in (Credential.AGENT, Credential.SUPERVISOR):
        answers[401] = "no, an expired or a forged session token"
        answers[403] = "not allowed (another agent's attention or campaign, supervisors only)"
    if credential is Credential.SERVICE:
        answers[401] = "no or a wrong service token"
        answers[503] = "the service API is off (no HANDOFF_SERVICE_TOKEN), or the database was busy"
    if route.body is not None:
        answers[400] = "the body is not a JSON object" if route.content_type == JSON else "no file in the form"
        answers[413] = f"the body is larger than this route accepts ({route.door.body_limit} bytes)"
    if route.body is not None or route.query is not None:
        refused = "a value its schema refuses (params.field and fields name it)"
        earlier = answers.get(route.invalid_status)
        answers[route.invalid_status] = f"{earlier}, or {refused}" if earlier else refused
    if "<" in route.path:
        answers[404] = "no such " + ", ".join(name.removesuffix("_id") for name, _ in _PARAMETER.findall(route.path))
    if route.method != "GET" and re.search(r"<(attention|message)_id", route.path):
        # A change to an attention (or its message) meets its state as it is by then.
        answers[409] = "the attention is not in a state that allows it (taken by another agent, ended, changed meanwhile)"
    answers.setdefault(503, "the database was busy: nothing was changed, call again after Retry-After")
    return answers


def _answer(route: Route, answer: Answer, status: int, components: dict[str, Any]) -> dict[str, Any]:
    described: dict[str, Any] = {"description": answer.description}
    model = route.answer_model(status)
    if model is not None:
        described["content"] = {JSON: {"schema": answer_schema(model, components)}}
    return described


def _parameters(route: Route, components: dict[str, Any]) -> list[dict[str, Any]]:
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": dict(_PATH_TYPES.get(kind or "str", _PATH_TYPES["str"]))}
        for name, kind in _PARAMETER.findall(route.path)
    ]
    if route.query is not None:
        schema = model_schema(route.query, components)
        required = set(schema.get("required", ()))
        for name, property_schema in schema.get("properties", {}).items():
            parameter = {"name": name, "in": "query", "required": name in required, "schema": property_schema}
            if "description" in property_schema:
                parameter["description"] = property_schema["description"]
            parameters.append(parameter)
    return parameters


def operation(route: Route, components: dict[str, Any]) -> dict[str, Any]:
    answers = {status: Answer(text) for status, text in _standard_answers(route).items()}
    answers.update(route.answers)
    described: dict[str, Any] = {
        "operationId": route.name,
        "summary": route.summary,
        "responses": {str(status): _answer(route, answers[status], status, components) for status in sorted(answers)},
    }
    parameters = _parameters(route, components)
    if parameters:
        described["parameters"] = parameters
    if route.body is not None:
        body = model_schema(route.body, components)
        # Every field of a JSON body may be left out or the body itself (an empty body is {})
        # only when the model has no required field.
        described["requestBody"] = {"required": bool(body.get("required")), "content": {route.content_type: {"schema": body}}}
    if route.door.credential in SECURITY:
        described["security"] = SECURITY[route.door.credential]
    return described


def build_document(routes: Iterable[Route]) -> dict[str, Any]:
    components: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        methods = paths.setdefault(openapi_path(route.path), {})
        if route.method.lower() in methods:
            raise ValueError(f"{route.method} {route.path} is declared twice")
        methods[route.method.lower()] = operation(route, components)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Agent desk API",
            "version": "1.0",
            "description": "The agent desk of the handoff project (docs/desk-api.md): the agents' API under /api "
            "(a session token) and the action server's under /service (HANDOFF_SERVICE_TOKEN). Live updates: "
            "the WebSocket GET /webhooks/desk/ws (docs/desk-api.md). Errors: {error, code, params}; a refused "
            "value also names its fields (fields, field_errors).",
        },
        "servers": [{"url": BASE}],
        "components": {
            "securitySchemes": {
                "session": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "service": {"type": "http", "scheme": "bearer", "description": "HANDOFF_SERVICE_TOKEN"},
            },
            "schemas": components,
        },
        "security": [{"session": []}],
        "paths": paths,
    }


async def api_openapi(_call: Call) -> HTTPResponse:
    return response.json(openapi_document())


OPENAPI_ROUTES = [
    Route("GET", "/api/openapi.json", doors.PUBLIC, api_openapi, "This document", {200: Answer("OpenAPI 3", OpenApiDocument)})
]


def all_routes() -> list[Route]:
    return [*API_ROUTES, *OPENAPI_ROUTES, *SERVICE_ROUTES]


def add_openapi_routes(desk: Blueprint) -> None:
    register(desk, OPENAPI_ROUTES, None)


@functools.lru_cache(maxsize=1)
def _document() -> Mapping[str, Any]:
    return build_document(all_routes())


def openapi_document() -> dict[str, Any]:
    return copy.deepcopy(dict(_document()))

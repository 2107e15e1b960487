"""openapi.json is made from the route tables and the request models: every route the
server registers under /api and /service is in it with its parameters, its body's schema
(the model the route parses with) and its answers; and what the models refuse is answered
in the contract's shape, naming the field."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.desk import schemas
from connectors.desk.answer_bodies import MessageAnswer
from connectors.desk.openapi import all_routes, build_document, model_schema, openapi_document, openapi_path
from connectors.desk.routes import Answer, Route
from tests.connectors.harness import SERVICE_TOKEN
from tests.desk.support import account, handoff
from tests.desk.test_files_and_page import DOCUMENTED, _openapi_path


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _table() -> dict[tuple[str, str], Route]:
    return {(openapi_path(route.path), route.method.lower()): route for route in all_routes()}


async def test_every_registered_route_is_in_the_document_with_its_schemas(server):
    async with server.session.get(server.url + "/webhooks/desk/api/openapi.json") as response:
        assert response.status == 200
        document = await response.json()
    assert document == openapi_document()
    table = _table()
    walked = set()
    for route in server.app.router.routes:
        if not route.path.startswith(DOCUMENTED):
            continue
        path = _openapi_path(route.path)
        for method in {method.lower() for method in route.methods} - {"head", "options"}:
            assert (path, method) in table, f"{method} {path} is registered but not declared in a route table"
            declared = table[(path, method)]
            operation = document["paths"][path][method]
            walked.add((path, method))
            names = re.findall(r"<([a-z_]+)", route.path)
            listed = {(parameter["in"], parameter["name"]) for parameter in operation.get("parameters", [])}
            assert {("path", name) for name in names} <= listed, (path, method)
            if declared.query is not None:
                query = set(declared.query.schema(by_alias=True)["properties"])
                assert {("query", name) for name in query} <= listed, (path, method)
            if declared.body is not None:
                [(content_type, body)] = operation["requestBody"]["content"].items()
                assert content_type == declared.content_type
                assert body["schema"] == model_schema(declared.body, {}), (path, method)
                assert str(declared.invalid_status) in operation["responses"], (path, method)
            else:
                assert "requestBody" not in operation, (path, method)
            answers = operation["responses"]
            assert any(status.startswith("2") for status in answers), (path, method)
            for status, answer in answers.items():
                assert answer["description"], (path, method, status)
                if int(status) >= 400:
                    assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert walked == set(table), "declared routes the server did not register"
    components = document["components"]["schemas"]
    for reference in set(_refs(document)):
        assert reference.removeprefix("#/components/schemas/") in components, reference


def test_a_routes_models_and_answers_are_what_the_document_says():
    async def api_example(_call, attention_id):  # never called: only documented
        raise AssertionError

    from connectors.desk import doors

    route = Route(
        "POST",
        "/api/examples/<attention_id:int>",
        doors.AGENT,
        api_example,
        "An example",
        {201: Answer("made", MessageAnswer)},
        body=schemas.SendBody,
        query=schemas.AttentionPageQuery,
    )
    document = build_document([route])
    operation = document["paths"]["/api/examples/{attention_id}"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"]["properties"]["attachment"] == {
        "$ref": "#/components/schemas/AttachmentBody"
    }
    assert "AttachmentBody" in document["components"]["schemas"]  # the nested model, hoisted
    made = operation["responses"]["201"]["content"]["application/json"]["schema"]
    assert made == {"$ref": "#/components/schemas/MessageAnswer"}  # the answer's model, a component
    assert {"MessageAnswer", "Message", "AuthorAgent", "MessageKind", "Error"} <= set(document["components"]["schemas"])
    limit = next(parameter for parameter in operation["parameters"] if parameter["name"] == "limit")
    assert limit["schema"]["maximum"] == schemas.MAX_PAGE_SIZE and limit["schema"]["default"] == 50
    assert set(operation["responses"]) >= {"201", "400", "401", "403", "404", "413", "503"}
    with pytest.raises(ValueError, match="declared twice"):
        build_document([route, route])


def test_the_limits_the_models_enforce_are_in_the_document():
    document = openapi_document()
    note = document["paths"]["/api/attentions/{attention_id}/transfer"]["post"]["requestBody"]["content"]
    assert note["application/json"]["schema"]["properties"]["note"]["maxLength"] == 1000
    history = {parameter["name"]: parameter for parameter in document["paths"]["/api/history"]["get"]["parameters"]}
    assert history["limit"]["schema"]["maximum"] == 100 and "from" in history and "to" in history
    assert history["channel"]["schema"] == {"$ref": "#/components/schemas/Channel"}
    service = document["paths"]["/service/attentions"]["post"]
    assert service["requestBody"]["content"]["application/json"]["schema"]["properties"]["customer_id"]["maxLength"] == 64
    assert "422" in service["responses"] and service["security"] == [{"service": []}]
    patch = document["paths"]["/api/agents/{agent_id}"]["patch"]["requestBody"]["content"]["application/json"]["schema"]
    assert patch["additionalProperties"] is False  # unknown keys are refused


async def test_a_refused_value_names_its_field(server):
    ana = await account(server, "ana")
    attention = await handoff(server, "6001")
    assert (await ana.post(f"/attentions/{attention['id']}/open")).status == 200
    cases = [
        (await ana.post(f"/attentions/{attention['id']}/read", {"up_to_message_id": True}), "up_to_message_id"),
        (await ana.call("PUT", f"/attentions/{attention['id']}/form", {"values": [["motivo", "x"]]}), "values"),
        (await ana.post(f"/attentions/{attention['id']}/transfer", {"campaign_id": "ventas", "note": "x" * 1001}), "note"),
        (await ana.post(f"/attentions/{attention['id']}/messages", {"attachment": {"type": "image"}}), "attachment.url"),
        (await ana.get(f"/attentions/{attention['id']}", params={"limit": "201"}), "limit"),
        (await ana.get("/history", params={"to": "2026-02-30"}), "to"),
    ]
    for answer, field in cases:
        assert answer.status == 400, (field, answer.body)
        assert answer.body["code"] == "request.invalid" and answer.body["params"]["field"] == field, answer.body
        assert field in answer.body["fields"] and answer.body["field_errors"][field]["code"] == "field.invalid"
    # The service API's callers read the fields of a 422 (actions/handoff_api.py).
    body = json.dumps({"channel": "fax", "customer_id": "6002"})
    async with server.session.post(
        server.url + "/webhooks/desk/service/attentions", data=body, headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}
    ) as response:
        assert response.status == 422
        refused = await response.json()
    assert refused["code"] == "request.invalid" and set(refused["fields"]) == {"channel"}

"""No input gives a 500: every operation of the desk's OpenAPI document (the agents' API
and the action server's service API), called with a valid credential and hostile values
(huge and negative ints, calendar-end dates, deep nesting, wrong types, 10 MB strings,
bodies that are not JSON), answers below 500."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.desk.openapi import BASE, openapi_document
from tests.connectors.harness import SERVICE_TOKEN, running_connectors
from tests.desk.support import PASSWORD, SESSION_SECRET, handoff, login, make_account

pytestmark = pytest.mark.timeout(240)

DOCUMENT = openapi_document()
OPERATIONS = sorted((path, method) for path, methods in DOCUMENT["paths"].items() for method in methods)
CALENDAR_ENDS = [
    "9999-12-31",
    "0001-01-01",
    "9999-12-31T23:59:59.999999+14:00",
    "0001-01-01T00:00:00-14:00",
    "9999-12-31T23:59:59Z",
    "2026-02-30",
    "2026-13-01",
    "99999-01-01",
    "2026-11-25T25:61:00",
]
HUGE_INTS = [0, -1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**100]
ODD_TEXT = [
    "",
    " ",
    "null",
    "[]",
    "{}",
    "NaN",
    "1e309",
    "-0",
    "\x00",
    "%00",
    "../../etc/passwd",
    "🙂" * 50,
    "' OR 1=1 --",
    '"*"',
    "NEAR(",
    "a\u0301",
    "\ud7ff",
    "ñ" * 3000,
]
TEN_MB = "x" * (10 * 1024 * 1024)

ints = st.one_of(st.integers(-(2**80), 2**80), st.sampled_from(HUGE_INTS))
texts = st.one_of(st.text(max_size=40), st.sampled_from(ODD_TEXT + CALENDAR_ENDS))
scalars = st.one_of(st.none(), st.booleans(), ints, st.floats(allow_nan=False, allow_infinity=False), texts)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4), max_leaves=12
)


def deep(depth: int) -> bytes:
    return b'{"values": ' + b"[" * depth + b"]" * depth + b"}"


raw_bodies = st.sampled_from(
    [
        deep(1500),
        deep(30_000),
        b"[" * 3000,
        b"not json",
        b"\xff\xfe",
        b"[]",
        b"7",
        b'"x"',
        b"",
        json.dumps({"text": TEN_MB}).encode(),
        b'{"a": NaN}',
        b'{"a": 1e999999}',
    ]
)


def schema_of(operation: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = operation.get("requestBody", {}).get("content", {})
    media: dict[str, Any] = next(iter(body.values()), {})
    return media.get("schema", {})


def parameter_value(parameter: dict[str, Any]) -> st.SearchStrategy[Any]:
    typed = ints if parameter.get("schema", {}).get("type") == "integer" else texts
    return st.one_of(typed, texts, st.sampled_from(CALENDAR_ENDS + [str(number) for number in HUGE_INTS]))


@st.composite
def calls(draw: st.DrawFn) -> tuple[str, str, dict[str, str], Any]:
    path, method = draw(st.sampled_from(OPERATIONS))
    operation = DOCUMENT["paths"][path][method]
    query: dict[str, str] = {}
    url = path
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            # Sanic routes only digits to an <id:int>: other text is the router's 404.
            number = draw(st.one_of(st.integers(0, 3), st.sampled_from([2**63 - 1, 2**63, 2**64, 10**40])))
            url = url.replace("{" + parameter["name"] + "}", str(number))
        elif draw(st.booleans()):
            query[parameter["name"]] = str(draw(parameter_value(parameter)))
    for name in draw(st.lists(st.sampled_from(["from", "to", "limit", "before", "q", "page", "lang"]), max_size=2)):
        kind = "integer" if name in ("limit", "before", "page") else "string"
        query[name] = str(draw(parameter_value({"schema": {"type": kind}})))
    body: Any = None
    if method in ("post", "put", "patch"):
        properties = schema_of(operation).get("properties", {})
        shaped = {name: draw(values) for name in properties if draw(st.booleans())}
        body = draw(st.one_of(st.just(shaped), st.dictionaries(texts, values, max_size=3), raw_bodies))
    return method.upper(), url, query, body


def plain_call(path: str, method: str) -> tuple[str, str, dict[str, str], Any]:
    """The operation once, with id 1 and an empty body: the tour that makes sure each
    documented operation is walked, whatever the random walk draws."""
    url = re.sub(r"\{[a-z_]+\}", "1", path)
    return method.upper(), url, {}, {} if method in ("post", "put", "patch") else None


def answered_by_the_desk(status: int, content: bytes) -> bool:
    """A success, or an error in the desk's shape (its ``code``): the route is there and its
    handler or door answered, not the server's "no such route"."""
    if status < 300:
        return True
    try:
        return isinstance(body := json.loads(content), dict) and "code" in body
    except ValueError:
        return False


async def new_client() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))


def test_no_operation_of_the_openapi_document_answers_500(tmp_path):
    loop = asyncio.new_event_loop()
    context = running_connectors(
        f"sqlite+aiosqlite:///{tmp_path / 'walk.db'}",
        desk={"session_secret": SESSION_SECRET, "uploads_dir": str(tmp_path / "uploads")},
    )
    server = loop.run_until_complete(context.__aenter__())
    answers: dict[int, int] = {}
    failures: list[tuple[str, str, dict[str, str], int, bytes]] = []

    async def prepare() -> str:
        await make_account(server, "walker", role="supervisor", campaigns=("soporte", "ventas"))
        await make_account(server, "ana")
        desk = await login(server, "walker")
        queued = await handoff(server, "7001")
        await desk.post(f"/attentions/{queued['id']}/open")
        await handoff(server, "7002")
        return str(desk.token)

    session = {"token": loop.run_until_complete(prepare())}
    # A new connection per call: after refusing a big body the server closes its
    # connection, and a pooled one would fail the next call on the client's side.
    client = loop.run_until_complete(new_client())

    async def call(method: str, url: str, query: dict[str, str], body: Any) -> tuple[int, bytes]:
        token = SERVICE_TOKEN if url.startswith("/service") else session["token"]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        data = body if isinstance(body, bytes) else (None if body is None else json.dumps(body).encode())
        # A big body waits for the server's go-ahead, as careful clients do: the door's 413
        # comes before it is sent (a client that just sends finds the connection closed).
        big = data is not None and len(data) > 1024 * 1024
        async with client.request(
            method, server.url + BASE + url, params=query, data=data, headers=headers, expect100=big
        ) as answer:
            content = await answer.read()
        if answer.status == 401 and not url.startswith("/service"):  # a walk that logged itself out logs in again
            session["token"] = str((await login(server, "walker", PASSWORD)).token)
        answers[answer.status] = answers.get(answer.status, 0) + 1
        if answer.status >= 500:
            failures.append((method, url, query, answer.status, content[:300]))
        return answer.status, content

    known = [  # what an attacker found, kept as a regression list
        ("POST", "/api/login", {}, deep(1500)),
        ("GET", "/api/history", {"to": "9999-12-31"}, None),
        ("GET", "/api/history", {"from": "0001-01-01T00:00:00-14:00"}, None),
        ("GET", f"/api/attentions/{2**63}", {}, None),
        ("GET", "/api/attentions/1", {"before": str(2**63)}, None),
        ("POST", "/service/attentions", {}, {"channel": "messenger", "customer_id": "1", "slots": [1], "context": "x"}),
    ]

    @settings(
        max_examples=700,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )
    @given(call_=calls())
    def walk(call_: tuple[str, str, dict[str, str], Any]) -> None:
        loop.run_until_complete(call(*call_))

    try:
        for case in known:
            loop.run_until_complete(call(*case))
        unserved = [
            (path, method)
            for path, method in OPERATIONS
            if not answered_by_the_desk(*loop.run_until_complete(call(*plain_call(path, method))))
        ]
        walk()
        alive, _ = loop.run_until_complete(call("GET", "/api/me", {}, None))
    finally:
        loop.run_until_complete(client.close())
        loop.run_until_complete(context.__aexit__(None, None, None))
        loop.close()
    assert failures == [], failures[:10]
    assert alive == 200
    assert sum(count for status, count in answers.items() if 200 <= status < 300) > 50, answers  # it went deep
    assert {400, 404, 413, 422} <= set(answers), answers
    assert unserved == []  # every documented operation is served: a success, or the desk's own error


def test_the_walk_covers_the_agents_and_the_service_api():
    assert {re.sub(r"/\{.*", "", path) for path, _ in OPERATIONS} >= {"/api/login", "/api/history", "/service/attentions"}

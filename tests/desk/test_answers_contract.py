"""The answers' contract: a realistic day at the desk over a real server (real SQLite, the
fake Graph API, no mocks), and every JSON answer it gets parsed with the model its route
declares (``Route.answer_model``, what openapi.json says), every status one the document
lists, every WebSocket frame parsed with its model (connectors/desk/answer_frames.py).
The flow reaches every route of the tables with a success, so no answer model goes
unchecked; and the models are strict enough that a missing or mistyped key fails."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

import aiohttp
import pytest
from pydantic import BaseModel, ValidationError

from connectors.desk import answer_bodies, answers
from connectors.desk.answer_frames import frame_model
from connectors.desk.openapi import all_routes, openapi_document, openapi_path
from connectors.desk.routes import Route
from connectors.desk.serializers import message_json
from handoff.model import Author, Message, MessageDirection, MessageKind, MessageStatus
from tests.connectors.harness import IG_ACCOUNT_ID, PAGE_ID, SERVICE_TOKEN
from tests.desk.support import PASSWORD, Answer, Desk, auth_frame, customer_writes, make_account

DONE = {"values": {"motivo": "consulta", "resultado": "resuelto"}}


def _pattern(route: Route) -> re.Pattern[str]:
    parts = re.split(r"(<[a-z_]+(?::[a-z]+)?>)", route.path)
    regex = "".join(
        (r"\d+" if part.endswith(":int>") else "[^/]+") if part.startswith("<") else re.escape(part) for part in parts
    )
    return re.compile(f"^{regex}$")


class Contract:
    """Checks each answer against its route's declaration and remembers what it saw."""

    def __init__(self) -> None:
        self.routes = [(route, _pattern(route)) for route in all_routes()]
        self.document = openapi_document()
        self.succeeded: set[str] = set()
        self.statuses: set[tuple[str, int]] = set()
        self.frames: list[dict[str, Any]] = []

    def route_of(self, method: str, path: str) -> Route:
        [route] = [route for route, pattern in self.routes if route.method == method and pattern.match(path)]
        return route

    def check(self, method: str, path: str, answer: Answer) -> None:
        route = self.route_of(method, path.split("?")[0])
        documented = self.document["paths"][openapi_path(route.path)][method.lower()]["responses"]
        assert str(answer.status) in documented, f"{method} {path} answered {answer.status}, not documented: {answer.body}"
        model = route.answer_model(answer.status)
        if model is None:
            assert answer.body is None, f"{method} {path} {answer.status} has a body no model describes"
        else:
            try:
                model.parse_obj(answer.body)
            except ValidationError as problem:
                raise AssertionError(f"{method} {path} {answer.status} is not a {model.__name__}: {problem}") from None
        self.statuses.add((route.name, answer.status))
        if answer.status < 300:
            self.succeeded.add(route.name)

    def check_frames(self, frames: Iterable[dict[str, Any]]) -> None:
        for frame in frames:
            try:
                frame_model(frame).parse_obj(frame)
            except ValidationError as problem:
                raise AssertionError(f"frame {frame.get('type')} is not its model's: {problem}") from None
            self.frames.append(frame)


class CheckedDesk(Desk):
    """A browser whose every answer goes through the contract."""

    def __init__(self, server: Any, contract: Contract) -> None:
        super().__init__(server)
        self.contract = contract

    async def call(self, method: str, path: str, body: Any = None, *, token: str | None = "mine", **kwargs: Any) -> Answer:
        answer = await super().call(method, path, body, token=token, **kwargs)
        self.contract.check(method, "/api" + path, answer)
        return answer

    async def ok(self, method: str, path: str, body: Any = None, status: int = 200, **kwargs: Any) -> Any:
        answer = await self.call(method, path, body, **kwargs)
        assert answer.status == status, (method, path, answer.status, answer.body)
        return answer.body

    async def socket(self) -> aiohttp.ClientWebSocketResponse:
        headers = {"Origin": self.origin} if self.origin else {}
        socket = await self.server.session.ws_connect(self.ws_url(), headers=headers)
        await socket.send_json(auth_frame(self.token))
        return socket


async def checked_login(server: Any, contract: Contract, username: str) -> CheckedDesk:
    desk = CheckedDesk(server, contract)
    body = await desk.ok("POST", "/login", {"username": username, "password": PASSWORD}, token=None)
    desk.token, desk.agent = body["token"], body["agent"]
    return desk


async def service(server: Any, contract: Contract, method: str, path: str, body: Any = None, **params: str) -> Answer:
    """The action server's call, through the contract."""
    url = server.url + "/webhooks/desk" + path
    headers = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
    async with server.session.request(method, url, json=body, params=params or None, headers=headers) as response:
        answer = Answer(response.status, await response.json(), response.headers)
    contract.check(method, path, answer)
    return answer


async def handed_over(server: Any, contract: Contract, customer_id: str, channel: str = "messenger", **extra: Any) -> dict:
    body = {
        "channel": channel,
        "account_id": PAGE_ID if channel == "messenger" else IG_ACCOUNT_ID,
        "customer_id": customer_id,
        "intent": "request_human",
        "slots": {"customer_name": f"Cliente {customer_id}", "handoff_reason": "mi pedido no llegó"},
        **extra,
    }
    answer = await service(server, contract, "POST", "/service/attentions", body)
    assert answer.status == 201, answer.body
    again = await service(server, contract, "POST", "/service/attentions", body)
    assert again.status == 200 and again.body["attention"]["id"] == answer.body["attention"]["id"]
    return answer.body["attention"]


async def drain(socket: aiohttp.ClientWebSocketResponse, wait: float = 0.5) -> list[dict[str, Any]]:
    frames = []
    while True:
        try:
            frames.append(await socket.receive_json(timeout=wait))
        except asyncio.TimeoutError:
            return frames


async def test_every_answer_of_a_day_at_the_desk_is_its_routes_model(server):
    contract = Contract()
    await make_account(server, "sofia", role="supervisor", campaigns=("soporte", "ventas"))
    await make_account(server, "ana", campaigns=("soporte", "ventas"))
    sofia = await checked_login(server, contract, "sofia")
    ana = await checked_login(server, contract, "ana")
    assert (await ana.call("POST", "/login", {"username": "ana", "password": "wrong"}, token=None)).status == 401

    # Accounts, campaigns, labels (supervisors).
    bruno_id = (await sofia.ok("POST", "/agents", {"username": "bruno", "password": PASSWORD, "display_name": "B"}, 201))[
        "agent"
    ]["id"]
    await sofia.ok("PATCH", f"/agents/{bruno_id}", {"display_name": "Bruno", "campaigns": ["soporte"]})
    bruno = await checked_login(server, contract, "bruno")
    await sofia.ok("GET", "/agents")
    await ana.ok("GET", "/me")
    await ana.ok("GET", "/campaigns")
    urgent = (await sofia.ok("POST", "/labels", {"name": "Urgente", "colour": "#cc0000"}, 201))["label"]
    old = (await sofia.ok("POST", "/labels", {"name": "Viejo"}, 201))["label"]
    await sofia.ok("PATCH", f"/labels/{old['id']}", {"retired": True})
    await ana.ok("GET", "/labels")
    await sofia.ok("GET", "/labels", params={"all": "true"})
    sockets = [await desk.socket() for desk in (ana, sofia)]

    # A customer asks for a person; the bot records what it knows.
    attention = await handed_over(server, contract, "6001")
    number = attention["id"]
    await customer_writes(server, "Hola, ¿me ayudan con mi pedido?", "6001")
    active = await service(server, contract, "GET", "/service/attentions/active", **_customer(attention))
    assert active.status == 200 and active.body["attention"]["id"] == number
    recorded = await service(server, contract, "POST", f"/service/attentions/{number}/form", {"values": {"numero_pedido": "A-1"}})
    assert recorded.status == 200
    await service(server, contract, "POST", f"/service/attentions/{number}/form", {"slots": {"order_number": "A-2"}})
    assert (await service(server, contract, "POST", f"/service/attentions/{number}/form", {})).status == 400

    # Ana takes it, writes, fails once and retries, sends a file, reads, saves the form.
    await ana.ok("GET", "/attentions")
    await ana.ok("GET", "/attentions", params={"search": "Cliente"})
    await ana.ok("GET", f"/attentions/{number}")
    await ana.ok("POST", f"/attentions/{number}/open")
    assert (await bruno.call("POST", f"/attentions/{number}/open", {})).status in (403, 409)
    await ana.ok("POST", f"/attentions/{number}/messages", {"text": "Hola, soy Ana 👋"}, 201)
    server.graph.user_unavailable_next()
    failed = (await ana.ok("POST", f"/attentions/{number}/messages", {"text": "¿Sigues ahí?"}, 201))["message"]
    assert failed["status"] == "failed"
    await ana.ok("POST", f"/messages/{failed['id']}/retry")
    form = aiohttp.FormData()
    form.add_field("file", b"%PDF-1.4 factura", filename="factura.pdf", content_type="application/pdf")
    stored = await ana.ok("POST", "/uploads", data=form, status=201)
    sent = {"attachment": {"type": stored["type"], "url": stored["url"], "filename": "factura.pdf"}, "text": "Su factura"}
    page = await ana.ok("POST", f"/attentions/{number}/messages", sent, 201)
    assert (await ana.call("POST", f"/attentions/{number}/messages", {"text": "x" * 2001})).status == 422
    assert (await ana.call("POST", f"/attentions/{number}/read", {"up_to_message_id": "7"})).status == 400
    await ana.ok("POST", f"/attentions/{number}/read", {"up_to_message_id": page["messages"][-1]["id"]}, 204)
    await ana.ok("PUT", f"/attentions/{number}/form", {"values": {"motivo": "factura"}}, params={"lang": "en"})
    refused = await ana.call("POST", f"/attentions/{number}/terminate", {"values": {"resultado": None}})
    assert refused.status == 422 and refused.body["field_errors"], refused.body
    await ana.ok("POST", f"/attentions/{number}/labels/{urgent['id']}")
    await ana.ok("DELETE", f"/attentions/{number}/labels/{urgent['id']}")
    await ana.ok("POST", f"/attentions/{number}/labels/{urgent['id']}")
    await ana.ok("GET", f"/attentions/{number}", params={"limit": "2"})

    # She hands it to Bruno, who ends it.
    await ana.ok("GET", f"/attentions/{number}/transfer-targets")
    await ana.ok("POST", f"/attentions/{number}/transfer", {"agent_id": bruno_id, "note": "Pide la factura"})
    listed = await bruno.ok("GET", "/attentions")
    assert listed["attentions"][0]["transfer"]["note"] == "Pide la factura"
    await bruno.ok("POST", f"/attentions/{number}/terminate", DONE)
    assert (await bruno.call("POST", f"/attentions/{number}/terminate", DONE)).status == 409
    assert (await ana.call("GET", "/attentions/999999")).status == 404

    # The customer's next request is cancelled by the bot; one on Instagram goes to Ventas.
    cancelled = await handed_over(server, contract, "6002", reason="quiero hablar con alguien")
    ended = await service(
        server, contract, "POST", f"/service/attentions/{cancelled['id']}/terminate", {"reason": "customer_cancelled"}
    )
    assert ended.status == 200
    again = await service(server, contract, "POST", f"/service/attentions/{cancelled['id']}/terminate", {"reason": "x"})
    assert again.status == 409
    instagram = await handed_over(server, contract, "7001", channel="instagram")
    await customer_writes(server, "hola", "7001", "instagram")
    await ana.ok("POST", f"/attentions/{instagram['id']}/open", params={"lang": "en"})
    await ana.ok("GET", f"/attentions/{instagram['id']}")
    await ana.ok("POST", f"/attentions/{instagram['id']}/terminate", {"values": {"productos": ["ropa"], "resultado": "venta"}})

    # History: search, detail, a new outbound attention, and its conflicts.
    await ana.ok("GET", "/history")
    await ana.ok("GET", "/history", params={"keyword": "factura", "limit": "1"})
    await sofia.ok("GET", "/history", params={"label_id": str(urgent["id"]), "channel": "messenger"})
    for past in (number, cancelled["id"], instagram["id"]):
        detail = await ana.ok("GET", f"/history/{past}", params={"lang": "en"})
        assert detail["item"]["trail"]
    assert (await ana.call("POST", f"/history/{instagram['id']}/outbound", {})).status == 422
    started = (await ana.ok("POST", f"/history/{number}/outbound", {}, 201))["attention"]
    busy = await bruno.call("POST", f"/history/{number}/outbound", {})
    assert busy.status == 409 and busy.body["active_attention_id"] == started["id"], busy.body
    await ana.ok("POST", f"/attentions/{started['id']}/messages", {"text": "Hola de nuevo"}, 201)

    # The supervisor's view, the document, and the way out.
    await sofia.ok("GET", "/supervisor/overview")
    await sofia.ok("GET", "/openapi.json")
    assert (await bruno.call("GET", "/agents")).status == 403
    for socket in sockets:
        await socket.send_json({"type": "ping"})
        await socket.send_str("not json")
        contract.check_frames(await drain(socket))
        await socket.close()
    await ana.ok("POST", "/logout", {"return_to_queue": True}, 204)
    assert (await ana.call("GET", "/me")).status == 401

    every = {route.name for route in all_routes()}
    assert every - contract.succeeded == set(), "routes the flow never answered with a success"
    seen = {frame["type"] for frame in contract.frames}
    assert {"ready", "pong", "error", "message.added", "message.updated"} <= seen, seen
    assert {"attention.queued", "attention.opened", "attention.transferred", "attention.terminated"} <= seen, seen
    assert {"attention.form_saved", "attention.label_applied", "attention.label_removed"} <= seen, seen
    assert {status for _, status in contract.statuses} >= {200, 201, 204, 400, 401, 403, 404, 409, 422}


def _customer(attention: dict) -> dict[str, str]:
    return {key: attention[key] for key in ("channel", "account_id", "customer_id")}


def _message() -> dict[str, Any]:
    at = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
    return message_json(
        Message(
            id=7,
            attention_id=3,
            direction=MessageDirection.OUT,
            author=Author.AGENT,
            kind=MessageKind.TEXT,
            status=MessageStatus.SENT,
            created_at=at,
            updated_at=at,
            text="Hola",
            agent_id=2,
            agent_name="Ana",
            sent_at=at,
        )
    )


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda body: body.pop("status"), "a key the serializer always sends is missing"),
        (lambda body: body.pop("read_at"), "a nullable key is missing (null is not the same as absent)"),
        (lambda body: body.update(attention_id="3"), "an id as text"),
        (lambda body: body.update(status="lost"), "a status outside the closed set"),
        (lambda body: body.update(sent_at=1772366400), "a time as a number"),
        (lambda body: body.update(sent_at="2026-03-01T12:00:00"), "a time without its zone"),
        (lambda body: body.update(text=5), "a number for a text"),
        (lambda body: body.update(payload=[["a", 1]]), "pairs for an object"),
        (lambda body: body.update(agent={"id": 2}), "a nested record missing a key"),
        (lambda body: body.update(seen=True), "a key no model describes"),
    ],
)
def test_the_check_fails_on_an_answer_that_is_not_its_model(change, why):
    body = _message()
    answers.Message.parse_obj(body)  # what the serializer sends is the model
    change(body)
    with pytest.raises(ValidationError):
        answers.Message.parse_obj(body)
        raise AssertionError(why)


def test_a_key_sent_only_sometimes_may_be_absent_but_not_null_unless_said():
    base: dict[str, Any] = {"error": "x", "code": "storage.busy", "params": {}}
    answers.Error.parse_obj(base)
    answers.Error.parse_obj({**base, "active_agent_id": None})  # who holds it: nobody, said as null
    for key, value in (("retry_after", None), ("retry_after", "60"), ("window_closed", 1)):
        with pytest.raises(ValidationError):
            answers.Error.parse_obj({**base, key: value})
    with pytest.raises(ValidationError):
        answers.Error.parse_obj({"error": "x", "code": "storage.busy"})  # params is always sent


def test_every_route_names_a_model_for_its_successes_and_the_document_shows_it():
    document = openapi_document()
    for route in all_routes():
        for status in route.answers:
            model = route.answer_model(status)
            described = document["paths"][openapi_path(route.path)][route.method.lower()]["responses"][str(status)]
            if status == 204:
                assert model is None and "content" not in described, route.name
                continue
            assert isinstance(model, type) and issubclass(model, BaseModel), (route.name, status)
            assert described["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{model.__name__}"}
            component = document["components"]["schemas"][model.__name__]
            assert component["additionalProperties"] is False, model.__name__  # exactly these keys
    nullable = document["components"]["schemas"]["Summary"]["properties"]
    assert nullable["agent_id"]["nullable"] is True and "nullable" not in nullable["id"]
    assert nullable["transfer"] == {"allOf": [{"$ref": "#/components/schemas/Transfer"}], "nullable": True}
    assert answer_bodies.AttentionAnswer.__fields__["attention"].type_ is answers.Detail

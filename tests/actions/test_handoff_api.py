"""The handoff API client against the real service API on loopback: the service does what
the client asks, and its answers (and the faults a proxy injects) become typed errors."""

from __future__ import annotations

import pytest
from aiohttp import web

from actions.handoff_api import (
    BUSY_RETRIES,
    DEFAULT_SERVICE_URL,
    SERVICE_TOKEN_ENV,
    SERVICE_URL_ENV,
    AttentionHeldByAgent,
    AttentionNotActive,
    AttentionNotFound,
    Conversation,
    HandoffClient,
    HandoffError,
    HandoffNotConfigured,
    HandoffRequest,
    HandoffRequestRejected,
    HandoffUnavailable,
    InvalidFormValues,
)
from handoff.model import ActorKind
from handoff.states import AttentionState
from tests.actions.faulty_proxy import FaultyProxy
from tests.actions.real_service import SERVICE_PATH, active, core, customer_of, handoff_message, opened_by_an_agent, queued, trail
from tests.connectors.harness import SERVICE_TOKEN, ConnectorServer

CUSTOMER = Conversation("messenger", "100000000000001", "7001234567890123")
CUSTOMER_KEY = (CUSTOMER.channel, CUSTOMER.account_id, CUSTOMER.customer_id)
CONTEXT = [{"author": "customer", "text": "agente", "time": "2026-11-25T15:00:00+00:00", "intent": "request_human"}]


def _request(language: str = "es") -> HandoffRequest:
    return HandoffRequest(
        conversation=CUSTOMER,
        intent="request_human",
        slots={"customer_name": "Ana", "order_number": "45678"},
        context=CONTEXT,
        customer_name="Ana",
        language=language,
    )


async def _stored(server: ConnectorServer):
    """The customer's active attention, as the service has it."""
    return await active(server, *CUSTOMER_KEY)


def _client(base: str, **kwargs) -> HandoffClient:
    """A client of the service API under ``base`` (the server's or the proxy's URL)."""
    return HandoffClient(f"{base}{SERVICE_PATH}", SERVICE_TOKEN, **kwargs)


def test_the_request_body_is_the_contracts() -> None:
    assert _request().to_json() == {
        "channel": "messenger",
        "account_id": "100000000000001",
        "customer_id": "7001234567890123",
        "intent": "request_human",
        "slots": {"customer_name": "Ana", "order_number": "45678"},
        "context": CONTEXT,
        "customer_name": "Ana",
        "language": "es",
        "reason": None,
        "customer_picture_url": None,
    }


async def test_create_then_the_same_attention_again(service: ConnectorServer) -> None:
    async with _client(service.url) as client:
        first = await client.request_handoff(_request())
        second = await client.request_handoff(_request("en"))
        found = await client.active_attention(CUSTOMER)
    assert first.created and not second.created and found is not None
    assert first.attention.id == second.attention.id == found.id
    assert first.attention.state == "queued" and first.attention.campaign_id == "soporte"
    assert first.attention.form == {"nombre": "Ana", "numero_pedido": "45678"}
    assert first.handoff_message == handoff_message(service, "soporte", "es")
    assert second.handoff_message == handoff_message(service, "soporte", "en")
    assert second.handoff_message.startswith("I'm connecting you")

    # What the service keeps: one attention, with the bot's part and the customer's name.
    stored = await _stored(service)
    assert stored is not None and stored.id == first.attention.id
    assert stored.intent == "request_human"
    assert [dict(entry) for entry in stored.context] == CONTEXT
    assert (await customer_of(service, stored.id)).name == "Ana"
    assert [(event.actor.kind, event.action) for event in await trail(service, stored.id)] == [(ActorKind.BOT, "queued")]


async def test_no_active_attention_is_none(service: ConnectorServer) -> None:
    async with _client(service.url) as client:
        assert await client.active_attention(CUSTOMER) is None


async def test_form_and_terminate_errors(service: ConnectorServer) -> None:
    attention = await queued(service, *CUSTOMER_KEY)
    async with _client(service.url) as client:
        with pytest.raises(InvalidFormValues) as invalid:
            await client.save_form(attention.id, {"nombre": "Ana", "color_favorito": "azul"})
        assert invalid.value.status == 422 and set(invalid.value.fields) == {"color_favorito"}
        saved = await client.save_form(attention.id, {"nombre": "Ana"})
        assert saved.form == {"nombre": "Ana"}
        with pytest.raises(AttentionNotFound):
            await client.save_form(attention.id + 99, {"nombre": "Ana"})
        ended = await client.terminate(attention.id, "customer_cancelled")
        assert ended.state == "terminated"
        with pytest.raises(AttentionNotActive):
            await client.terminate(attention.id, "customer_cancelled")
        with pytest.raises(AttentionNotActive):
            await client.save_form(attention.id, {"nombre": "Ana"})
        with pytest.raises(AttentionNotFound):
            await client.terminate(attention.id + 99, "customer_cancelled")
    after = await core(service).attentions.get(attention.id)
    assert after.state is AttentionState.TERMINATED and after.form == {"nombre": "Ana"}


async def test_save_slots_fills_the_fields_that_name_them(service: ConnectorServer) -> None:
    """The campaign's prefill_from_slot maps slots to fields; other slots and invalid
    values are left out (the agent fills those)."""
    attention = await queued(service, *CUSTOMER_KEY, slots={"handoff_reason": "antes"})
    slots = {"customer_name": "Ana", "order_number": "x" * 30, "attachment_type": "image", "handoff_reason": "ahora"}
    async with _client(service.url) as client:
        saved = await client.save_slots(attention.id, slots)
        assert saved.form == {"nombre": "Ana", "motivo": "ahora"}
        assert (await client.save_slots(attention.id, {"attachment_type": "image"})).form == saved.form
        await client.terminate(attention.id, "customer_cancelled")
        with pytest.raises(AttentionNotActive):
            await client.save_slots(attention.id, {"customer_name": "Ana"})
    assert (await core(service).attentions.get(attention.id)).form == {"nombre": "Ana", "motivo": "ahora"}
    saves = [event for event in await trail(service, attention.id) if event.action == "form_saved"]
    assert [(event.actor.kind, event.detail["fields"]) for event in saves] == [(ActorKind.BOT, ["motivo", "nombre"])]


async def test_terminate_an_open_attention_is_refused(service: ConnectorServer) -> None:
    attention, agent = await opened_by_an_agent(service, await queued(service, *CUSTOMER_KEY))
    async with _client(service.url) as client:
        with pytest.raises(AttentionHeldByAgent) as refused:
            await client.terminate(attention.id, "customer_cancelled")
    assert refused.value.status == 403
    after = await core(service).attentions.get(attention.id)
    assert after.state is AttentionState.OPEN and after.agent_id == agent.id


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, HandoffRequestRejected), (418, HandoffRequestRejected), (500, HandoffUnavailable), (503, HandoffUnavailable)],
)
async def test_status_codes_map_to_errors(
    service: ConnectorServer, proxy: FaultyProxy, status: int, error: type[HandoffError]
) -> None:
    proxy.answer_next(status, times=1 + BUSY_RETRIES)  # a 503 is asked again before it counts
    async with _client(proxy.url) as client:
        with pytest.raises(error) as raised:
            await client.request_handoff(_request())
    assert raised.value.status == status
    assert await _stored(service) is None


async def test_the_proxy_passes_everything_else_through(service: ConnectorServer, proxy: FaultyProxy) -> None:
    proxy.answer_next(500, method="POST", path="/terminate$")
    async with _client(proxy.url) as client:
        created = await client.request_handoff(_request())
        found = await client.active_attention(CUSTOMER)
        assert found is not None and found.id == created.attention.id
        with pytest.raises(HandoffUnavailable):
            await client.terminate(created.attention.id, "customer_cancelled")
        assert (await client.terminate(created.attention.id, "customer_cancelled")).state == "terminated"
    assert [method for method, _ in proxy.requests] == ["POST", "GET", "POST", "POST"]


async def test_a_busy_service_is_asked_again_and_the_handoff_happens_once(service: ConnectorServer, proxy: FaultyProxy) -> None:
    """503 says the service's database was busy and nothing changed: asking again is safe."""
    proxy.answer_next(503, method="POST", path="/attentions$", times=BUSY_RETRIES)
    async with _client(proxy.url) as client:
        created = await client.request_handoff(_request())
    assert [method for method, _ in proxy.requests] == ["POST"] * (BUSY_RETRIES + 1)
    assert (await _stored(service)).id == created.attention.id


async def test_wrong_token_is_unavailable(service: ConnectorServer) -> None:
    async with HandoffClient(f"{service.url}{SERVICE_PATH}", "wrong") as client:
        with pytest.raises(HandoffUnavailable, match="401") as raised:
            await client.request_handoff(_request())
    assert raised.value.status == 401
    assert await _stored(service) is None


async def test_timeout_is_unavailable(service: ConnectorServer, proxy: FaultyProxy) -> None:
    proxy.delay_next(1.0)
    async with _client(proxy.url, timeout=0.2) as client:
        with pytest.raises(HandoffUnavailable, match="no answer"):
            await client.active_attention(CUSTOMER)


async def test_connection_refused_is_unavailable(closed_port_url: str) -> None:
    async with HandoffClient(closed_port_url, "token") as client:
        with pytest.raises(HandoffUnavailable):
            await client.request_handoff(_request())


async def test_an_answer_that_is_not_json_is_unavailable() -> None:
    """E.g. HANDOFF_SERVICE_URL points at some other web server that answers 200."""

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="<html>hello</html>", content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        async with HandoffClient(f"http://{host}:{port}", "token") as client:
            with pytest.raises(HandoffUnavailable, match="without a JSON object"):
                await client.request_handoff(_request())
    finally:
        await runner.cleanup()


async def test_from_env_reaches_the_service(service: ConnectorServer) -> None:
    """The ``service`` fixture configures the action server's environment."""
    async with HandoffClient.from_env() as client:
        created = await client.request_handoff(_request())
    assert created.created and (await _stored(service)).id == created.attention.id


def test_from_env(monkeypatch) -> None:
    monkeypatch.delenv(SERVICE_URL_ENV, raising=False)
    monkeypatch.setenv(SERVICE_TOKEN_ENV, " secret ")
    client = HandoffClient.from_env()
    assert client._base_url == DEFAULT_SERVICE_URL
    assert client._headers["Authorization"] == "Bearer secret"
    monkeypatch.setenv(SERVICE_TOKEN_ENV, "")
    with pytest.raises(HandoffNotConfigured):
        HandoffClient.from_env()
    with pytest.raises(HandoffNotConfigured):
        HandoffClient.from_env({SERVICE_URL_ENV: "http://x"})


async def test_the_session_is_closed_on_exit(service: ConnectorServer) -> None:
    client = _client(service.url)
    async with client:
        await client.active_attention(CUSTOMER)
        session = client._session
        assert session is not None and not session.closed
    assert session.closed

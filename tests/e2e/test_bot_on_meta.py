"""The real Rasa server with our connectors and the trained bot, talking HTTP to a fake
Graph API: a customer writes on Messenger or Instagram and gets the bot's answer."""

from __future__ import annotations

import json

import aiohttp
import pytest
import pytest_asyncio

from connectors.meta.channel import sign
from sandbox.graph_api import FakeGraphAPI
from tests.connectors.fixtures import envelope, item, with_mid
from tests.e2e.rasa_server import (
    APP_ID,
    APP_SECRET,
    INSTAGRAM_TOKEN,
    PAGE_TOKEN,
    Product,
    free_port,
    product_environment,
    require_trained_model,
)

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def graph():
    async with FakeGraphAPI(
        {PAGE_TOKEN: "messenger", INSTAGRAM_TOKEN: "instagram"}, app_id=APP_ID, emit_echoes=False, emit_deliveries=False
    ) as api:
        api.add_profile("e2e-ana", first_name="Ana", last_name="Pérez")
        yield api


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def product(graph, tmp_path_factory):
    require_trained_model()
    directory = tmp_path_factory.mktemp("e2e-bot")
    env = product_environment(graph.url, f"sqlite+aiosqlite:///{directory / 'handoff.db'}", free_port())
    running = Product(env, directory).start()
    yield running
    running.stop()


async def say(product: Product, channel: str, raw: dict) -> None:
    body = json.dumps(envelope(channel, [raw])).encode()
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{product.url}/webhooks/{channel}/webhook",
            data=body,
            headers={"X-Hub-Signature-256": sign(body, APP_SECRET), "Content-Type": "application/json"},
        ) as response,
    ):
        assert response.status == 200


async def replies_to(graph: FakeGraphAPI, customer: str, count: int = 1) -> list[dict]:
    records = await graph.wait_for_messages(count, timeout=30, recipient_id=customer)
    return [record.json["message"] for record in records]


def customer_text(channel: str, customer: str, mid: str, text: str) -> dict:
    raw = with_mid(item(f"{channel}/text"), mid, sender=customer)
    raw["message"]["text"] = text
    return raw


async def test_a_messenger_customer_is_greeted_in_spanish(product, graph):
    await say(product, "messenger", customer_text("messenger", "e2e-ana", "e2e_m1", "hola, buenas tardes"))
    [reply] = await replies_to(graph, "e2e-ana")
    assert reply["text"].startswith("¡Hola!")


async def test_an_instagram_customer_is_answered_in_english(product, graph):
    await say(product, "instagram", customer_text("instagram", "e2e-ig", "e2e_i1", "hello there, good morning"))
    [reply] = await replies_to(graph, "e2e-ig")
    assert reply["text"].startswith("Hi!")


async def test_an_attachment_gets_the_attachment_rule(product, graph):
    raw = with_mid(item("messenger/image"), "e2e_img", sender="e2e-photo")
    await say(product, "messenger", raw)
    [reply] = await replies_to(graph, "e2e-photo")
    assert "http" not in reply.get("text", "")
    assert reply["text"]


async def test_a_redelivered_message_is_answered_once(product, graph):
    raw = customer_text("messenger", "e2e-twice", "e2e_dup", "hola")
    for _ in range(3):
        await say(product, "messenger", raw)
    await replies_to(graph, "e2e-twice")
    await say(product, "messenger", customer_text("messenger", "e2e-twice", "e2e_dup2", "gracias"))
    replies = await replies_to(graph, "e2e-twice", 2)
    assert len(graph.sent_messages(recipient_id="e2e-twice")) == 2, replies


@pytest.mark.parametrize(
    "method, path",
    [
        ("POST", "/webhooks/rest/webhook"),  # Rasa's REST channel: keyed by a PSID anyone may know
        ("POST", "/webhooks/callback/webhook"),
        ("GET", "/conversations/e2e-ana/tracker"),  # Rasa's HTTP API stays off (no --enable-api)
        ("POST", "/conversations/e2e-ana/messages"),
        ("POST", "/model/parse"),
        ("GET", "/status"),
    ],
)
async def test_nothing_on_the_public_port_talks_to_the_bot_without_a_credential(product, method, path):
    body = json.dumps({"sender": "e2e-ana", "message": "hola", "text": "hola"}).encode()
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, f"{product.url}{path}", data=body, headers={"Content-Type": "application/json"}) as response,
    ):
        assert response.status == 404, (path, await response.text())


@pytest.mark.parametrize(
    "channel, customer, text, answer",
    [
        ("messenger", "e2e-order-es", "mi pedido 48213 no llegó, ya pasaron 10 días", "revisando el pedido 48213..."),
        ("instagram", "e2e-order-en", "my order 48213 didn't arrive, it's been 10 days", "looking into order 48213..."),
    ],
)
async def test_the_bot_names_the_order_the_customer_named(product, graph, channel, customer, text, answer):
    """Issue 13: the model tagged both numbers and Rasa kept the last: "revisando el pedido 10"."""
    await say(product, channel, customer_text(channel, customer, f"{customer}-1", text))
    [reply] = await replies_to(graph, customer)
    assert answer in reply["text"]


async def test_a_size_is_not_an_order_number(product, graph):
    await say(product, "messenger", customer_text("messenger", "e2e-size", "e2e-size-1", "tienen zapatillas talla 42?"))
    [reply] = await replies_to(graph, "e2e-size")
    text = reply["attachment"]["payload"]["text"]  # the shopping offer, with its buttons
    assert "ventas" in text and "pedido 42" not in text

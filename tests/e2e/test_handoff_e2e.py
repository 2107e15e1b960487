"""The whole handoff, end to end: the real Rasa server (our connectors, the trained bot,
the desk channel), the real action server, and a fake Graph API on loopback.

A customer asks for a human, gives name and reason; a queued attention appears with the
bot's context and the pre-filled form; the bot stays silent while the customer writes; an
agent opens it and replies; terminate fails without a required field and succeeds with
it; the history holds transcript and form; the bot answers again; a second handoff is a
second attention.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

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
    ROOT,
    Product,
    free_port,
    product_environment,
    require_trained_model,
)

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

CUSTOMER = "e2e-handoff-customer"
PAGE_ID = "100000000000001"
PASSWORD = "clave-de-prueba-e2e"
SERVICE_TOKEN = "e2e-handoff-service-token"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def graph():
    async with FakeGraphAPI(
        {PAGE_TOKEN: "messenger", INSTAGRAM_TOKEN: "instagram"}, app_id=APP_ID, emit_echoes=False, emit_deliveries=False
    ) as api:
        yield api


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def product(graph, tmp_path_factory):
    require_trained_model()
    directory = tmp_path_factory.mktemp("e2e-handoff")
    database_url = f"sqlite+aiosqlite:///{directory / 'handoff.db'}"
    env = product_environment(
        graph.url,
        database_url,
        free_port(),
        HANDOFF_SERVICE_TOKEN=SERVICE_TOKEN,
        HANDOFF_SESSION_SECRET="e2e-session-secret-long-enough-for-hs256",
    )
    running = Product(env, directory, with_actions=True)
    running._env["HANDOFF_SERVICE_URL"] = f"{running.url}/webhooks/desk/service"
    # The agent account, made with the operators' command before the server starts.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "connectors.desk.accounts",
            "add",
            "ana",
            "--name",
            "Ana",
            "--campaigns",
            "soporte",
            "--password-stdin",
        ],
        input=PASSWORD.encode(),
        cwd=ROOT,
        env=env,
        check=True,
    )
    running.start()
    yield running
    running.stop()


class Customer:
    def __init__(self, product: Product, graph: FakeGraphAPI, customer_id: str, channel: str = "messenger") -> None:
        self.product, self.graph, self.id, self.channel = product, graph, customer_id, channel
        self.count = 0

    async def says(self, text: str) -> None:
        self.count += 1
        raw = with_mid(item(f"{self.channel}/text"), f"{self.id}-{self.count}", sender=self.id)
        raw["message"]["text"] = text
        body = json.dumps(envelope(self.channel, [raw])).encode()
        headers = {"X-Hub-Signature-256": sign(body, APP_SECRET)}
        url = f"{self.product.url}/webhooks/{self.channel}/webhook"
        async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=headers) as response:
            assert response.status == 200

    def replies(self) -> list[dict]:
        return [record.json["message"] for record in self.graph.sent_messages(recipient_id=self.id)]

    async def wait_replies(self, count: int) -> list[dict]:
        await self.graph.wait_for_messages(count, timeout=60, recipient_id=self.id)
        return self.replies()


class AgentDesk:
    def __init__(self, product: Product) -> None:
        self.base = f"{product.url}/webhooks/desk/api"
        self.token: str | None = None

    async def call(self, method: str, path: str, body=None) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, self.base + path, json=body, headers=headers) as response,
        ):
            return response.status, await response.json(content_type=None)

    async def login(self) -> None:
        status, answer = await self.call("POST", "/login", {"username": "ana", "password": PASSWORD})
        assert status == 200, answer
        self.token = answer["token"]


async def _queries(product: Product):
    from connectors.storage.db import create_engine
    from connectors.storage.records import SqlStorage
    from handoff.campaigns import load_campaigns
    from handoff.queries import Queries

    engine = create_engine(product._env["HANDOFF_DATABASE_URL"])
    return engine, Queries(SqlStorage(engine), load_campaigns(ROOT / "data" / "campaigns.yml"))


async def stored_attention(product: Product, attention_id: int):
    engine, queries = await _queries(product)
    try:
        return await queries.detail(attention_id)
    finally:
        await engine.dispose()


async def kept_trail(product: Product, attention_id: int):
    engine, queries = await _queries(product)
    try:
        return await queries.audit_trail(attention_id)
    finally:
        await engine.dispose()


def text_of(message: dict) -> str:
    if "text" in message:
        return message["text"]
    return message["attachment"]["payload"].get("text", "")


async def test_a_customer_is_handed_to_an_agent_and_back_to_the_bot(product, graph):
    customer = Customer(product, graph, CUSTOMER)
    desk = AgentDesk(product)
    await desk.login()

    await customer.says("quiero hablar con una persona")
    assert "cómo te llamas" in text_of((await customer.wait_replies(1))[-1])
    await customer.says("Ana Pérez")
    assert "en qué te podemos ayudar" in text_of((await customer.wait_replies(2))[-1])
    await customer.says("tengo un problema con mi factura de noviembre")
    hand_over = (await customer.wait_replies(3))[-1]
    assert text_of(hand_over).startswith("Te comunico con una persona")

    status, listing = await desk.call("GET", "/attentions?channel=messenger")
    [queued] = [a for a in listing["attentions"] if a["customer"]["id"] == CUSTOMER]
    assert queued["state"] == "queued"
    status, detail = await desk.call("GET", f"/attentions/{queued['id']}")
    attention = detail["attention"]
    assert attention["form"]["nombre"] == "Ana Pérez"
    assert attention["form"]["motivo"] == "tengo un problema con mi factura de noviembre"
    context_texts = [line.get("text") for line in attention["context"]]
    assert "quiero hablar con una persona" in context_texts and any(line["author"] == "bot" for line in attention["context"])

    # The bot is silent while the attention is active; the message lands in the attention.
    await customer.says("¿hay alguien ahí?")
    await asyncio.sleep(3)
    assert len(customer.replies()) == 3
    status, detail = await desk.call("GET", f"/attentions/{queued['id']}")
    assert [m["text"] for m in detail["messages"]] == ["¿hay alguien ahí?"]

    status, _ = await desk.call("POST", f"/attentions/{queued['id']}/open")
    assert status == 200
    status, sent = await desk.call("POST", f"/attentions/{queued['id']}/messages", {"text": "Hola Ana, soy Ana del equipo."})
    assert status == 201 and sent["message"]["status"] == "sent"
    assert text_of((await customer.wait_replies(4))[-1]) == "Hola Ana, soy Ana del equipo."

    status, refused = await desk.call("POST", f"/attentions/{queued['id']}/terminate", {"values": {}})
    assert status == 422 and "resultado" in refused["fields"]
    status, ended = await desk.call("POST", f"/attentions/{queued['id']}/terminate", {"values": {"resultado": "resuelto"}})
    assert status == 200 and ended["attention"]["state"] == "terminated"

    # The designers' follow-up: a goodbye and the satisfaction question.
    follow_up = await customer.wait_replies(6)
    assert text_of(follow_up[4]).startswith("Gracias por escribirnos")
    assert "atención" in text_of(follow_up[5])

    # History keeps transcript and form (read from the handoff database the server wrote).
    kept = await stored_attention(product, queued["id"])
    assert kept.attention.state.value == "terminated"
    assert kept.attention.form["resultado"] == "resuelto" and kept.attention.form["nombre"] == "Ana Pérez"
    assert [m.text for m in reversed(kept.messages)] == ["¿hay alguien ahí?", "Hola Ana, soy Ana del equipo."]
    assert [entry.action for entry in await kept_trail(product, queued["id"])][:3] == ["queued", "open", "terminate"]
    await customer.says("hola")
    greeting = await customer.wait_replies(7)
    assert text_of(greeting[6]).startswith("¡Hola!")

    # A second handoff is a second attention (the name is known; the reason is asked again).
    await customer.says("quiero hablar con un agente")
    await customer.wait_replies(8)
    await customer.says("otra consulta sobre un envío")
    await customer.wait_replies(9)
    status, listing = await desk.call("GET", "/attentions?channel=messenger")
    [second] = [a for a in listing["attentions"] if a["customer"]["id"] == CUSTOMER]
    assert second["id"] != queued["id"] and second["state"] == "queued"


async def test_an_instagram_refund_complaint_reaches_support(product, graph):
    """Issue 13, end to end: the bot's NLU and rules, the action server, the service's
    routing. Routing saw only the "sí" that opened the form, so Instagram went to Ventas."""
    customer = Customer(product, graph, "e2e-ig-refund", channel="instagram")
    desk = AgentDesk(product)
    await desk.login()

    await customer.says("me cobraron dos veces, quiero un reembolso")
    assert "soporte" in text_of((await customer.wait_replies(1))[-1])  # utter_refund_offer_human
    await customer.says("sí")
    assert "cómo te llamas" in text_of((await customer.wait_replies(2))[-1])
    await customer.says("Lucía Gómez")
    assert "en qué te podemos ayudar" in text_of((await customer.wait_replies(3))[-1])
    await customer.says("quiero que me devuelvan el dinero")
    hand_over = (await customer.wait_replies(4))[-1]
    assert text_of(hand_over).startswith("Te comunico con una persona de nuestro equipo de soporte")

    _status, listing = await desk.call("GET", "/attentions?channel=instagram")
    [queued] = [a for a in listing["attentions"] if a["customer"]["id"] == customer.id]
    assert queued["campaign_id"] == "soporte"
    trail = await kept_trail(product, queued["id"])
    assert trail[0].detail["intent"] == "affirm" and trail[0].detail["routing_rule"] == 1


# -- a queued customer who gives up in words (issue 13) ---------------------------------------
# "ya no quiero esperar" / "I don't want to wait anymore" end the queued attention like the
# hand-over button's cancel (the bot says so; the desk's open answers that the customer
# cancelled; the line stays in the attention); "sigo esperando" does not; once an agent
# holds the attention the same words are the agent's alone. In this module so that one
# product (Rasa, the action server) serves both.


async def queued_by_words(customer: Customer, desk: AgentDesk, english: bool = False) -> int:
    """The customer asks for a person, gives a name and a reason: a queued attention."""
    lines = (
        ["I want to talk to a person", "Ann Smith", "I have a problem with my November invoice"]
        if english
        else ["quiero hablar con una persona", "Ana Pérez", "tengo un problema con mi factura de noviembre"]
    )
    for count, line in enumerate(lines, start=1):
        await customer.says(line)
        await customer.wait_replies(count)
    _status, listing = await desk.call("GET", "/attentions?channel=messenger")
    [found] = [a for a in listing["attentions"] if a["customer"]["id"] == customer.id]
    assert found["state"] == "queued"
    return found["id"]


async def silent_for(customer: Customer, seconds: float = 3.0) -> None:
    before = len(customer.replies())
    await asyncio.sleep(seconds)
    assert len(customer.replies()) == before, customer.replies()[before:]


async def test_a_queued_customer_who_gives_up_in_words_is_cancelled_and_the_desk_says_so(product, graph):
    customer = Customer(product, graph, "e2e-words-es")
    desk = AgentDesk(product)
    await desk.login()
    attention_id = await queued_by_words(customer, desk)

    await customer.says("sigo esperando")  # still_waiting, not a cancel: it stays queued
    await silent_for(customer)
    assert (await desk.call("GET", f"/attentions/{attention_id}"))[1]["attention"]["state"] == "queued"

    await customer.says("ya no quiero esperar")
    answer = (await customer.wait_replies(4))[-1]
    assert text_of(answer).startswith("Listo, cancelé tu solicitud")
    status, refused = await desk.call("POST", f"/attentions/{attention_id}/open")
    assert status == 409 and refused["code"] == "attention.cancelled_by_customer", refused
    kept = await stored_attention(product, attention_id)
    assert [m.text for m in reversed(kept.messages)] == ["sigo esperando", "ya no quiero esperar"]  # the agents' record
    trail = await kept_trail(product, attention_id)
    assert trail[-1].action == "terminate" and trail[-1].detail.get("reason") == "customer_cancelled"


async def test_english_words_cancel_too(product, graph):
    customer = Customer(product, graph, "e2e-words-en")
    desk = AgentDesk(product)
    await desk.login()
    attention_id = await queued_by_words(customer, desk, english=True)
    await customer.says("I don't want to wait anymore")
    answer = (await customer.wait_replies(4))[-1]
    assert text_of(answer).startswith("Done, I cancelled your request")
    status, refused = await desk.call("POST", f"/attentions/{attention_id}/open")
    assert status == 409 and refused["code"] == "attention.cancelled_by_customer", refused


async def test_once_an_agent_holds_it_the_words_are_the_agents(product, graph):
    customer = Customer(product, graph, "e2e-words-open")
    desk = AgentDesk(product)
    await desk.login()
    attention_id = await queued_by_words(customer, desk)
    status, _ = await desk.call("POST", f"/attentions/{attention_id}/open")
    assert status == 200
    await customer.says("ya no quiero esperar")
    await silent_for(customer)
    status, detail = await desk.call("GET", f"/attentions/{attention_id}")
    assert detail["attention"]["state"] == "open"
    assert "ya no quiero esperar" in [message["text"] for message in detail["messages"]]

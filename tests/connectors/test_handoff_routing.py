"""Customers in an attention: their messages go to the attention, not the bot; agents'
replies go out through the Graph API; Meta's statuses come back to the message; the
service API for the action server."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from handoff.model import Author, MessageKind, MessageStatus
from tests.connectors.fixtures import envelope, item, with_mid
from tests.connectors.harness import APP_ID, PAGE_ID, SERVICE_TOKEN

SERVICE = "/webhooks/desk/service"


async def call(server, method: str, path: str, body=None, token: str | None = SERVICE_TOKEN):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    async with server.session.request(method, server.url + path, data=data, headers=headers) as response:
        return response.status, await response.json()


def customer(customer_id: str = "6001", channel: str = "messenger", account_id: str = PAGE_ID) -> dict:
    return {"channel": channel, "account_id": account_id, "customer_id": customer_id}


def _minutes_ago(minutes: int) -> str:
    """The customer wrote recently: inside Meta's 24 h window whenever the test runs."""
    return (datetime.now(timezone.utc) - timedelta(minutes=minutes)).isoformat()


async def handoff(server, customer_id: str = "6001", **extra) -> dict:
    body = {
        **customer(customer_id),
        "intent": "request_human",
        "slots": {"customer_name": "Ana", "handoff_reason": "factura"},
        "context": [{"author": "customer", "text": "quiero una persona", "time": _minutes_ago(1)}],
        **extra,
    }
    status, answer = await call(server, "POST", f"{SERVICE}/attentions", body)
    assert status in (200, 201), answer
    return answer


async def messages_of(server, attention_id: int):
    detail = await server.runtime.service.queries.detail(attention_id)
    return list(reversed(detail.messages))


async def test_the_service_api_creates_one_attention_per_customer(server):
    first = await handoff(server)
    status, again = await call(server, "POST", f"{SERVICE}/attentions", {**customer(), "slots": {}})
    assert status == 200 and again["attention"]["id"] == first["attention"]["id"]
    assert first["attention"]["state"] == "queued" and first["attention"]["campaign_id"] == "soporte"
    assert first["attention"]["form"]["nombre"] == "Ana" and first["attention"]["form"]["motivo"] == "factura"
    assert first["handoff_message"].startswith("Te comunico")
    status, active = await call(
        server, "GET", f"{SERVICE}/attentions/active?channel=messenger&account_id={PAGE_ID}&customer_id=6001"
    )
    assert status == 200 and active["attention"]["id"] == first["attention"]["id"]


async def test_the_service_api_refuses_bad_tokens_and_bodies(server):
    assert (await call(server, "POST", f"{SERVICE}/attentions", customer(), token="wrong"))[0] == 401
    assert (await call(server, "POST", f"{SERVICE}/attentions", customer(), token=None))[0] == 401
    assert (await call(server, "POST", f"{SERVICE}/attentions", b"{nope"))[0] == 400
    status, answer = await call(server, "POST", f"{SERVICE}/attentions", {"channel": "messenger"})
    assert status == 422 and "customer_id" in answer["fields"]
    status, _ = await call(server, "GET", f"{SERVICE}/attentions/active?channel=messenger&account_id=x&customer_id=nobody")
    assert status == 404


async def test_the_bot_records_form_fields_and_ends_a_queued_attention(server):
    attention_id = (await handoff(server))["attention"]["id"]
    status, answer = await call(
        server, "POST", f"{SERVICE}/attentions/{attention_id}/form", {"values": {"numero_pedido": "12345"}}
    )
    assert status == 200 and answer["attention"]["form"]["numero_pedido"] == "12345"
    status, answer = await call(server, "POST", f"{SERVICE}/attentions/{attention_id}/form", {"values": {"nope": 1}})
    assert status == 422
    status, answer = await call(server, "POST", f"{SERVICE}/attentions/{attention_id}/terminate", {"reason": "cancelled"})
    assert status == 200 and answer["attention"]["state"] == "terminated"
    assert (await call(server, "POST", f"{SERVICE}/attentions/{attention_id}/terminate", {}))[0] == 409


async def test_customer_activity_during_an_attention_goes_to_it_not_to_the_bot(server):
    attention_id = (await handoff(server))["attention"]["id"]
    page_inbox_echo = item("messenger/echo_page_inbox")
    await server.post(
        "messenger",
        envelope("messenger", [item("messenger/text"), item("messenger/image"), item("messenger/reaction"), page_inbox_echo]),
    )
    await server.settle()
    assert server.turns == []
    stored = await messages_of(server, attention_id)
    assert [(m.kind, m.author) for m in stored] == [
        (MessageKind.TEXT, Author.CUSTOMER),
        (MessageKind.ATTACHMENT, Author.CUSTOMER),
        (MessageKind.REACTION, Author.CUSTOMER),
        (MessageKind.TEXT, Author.EXTERNAL),
    ]
    assert stored[1].payload["attachments"][0]["type"] == "image"
    assert stored[2].payload["emoji"] == "❤️"


async def test_an_agent_reply_goes_out_and_metas_statuses_come_back(server):
    service = server.runtime.service
    attention_id = (await handoff(server))["attention"]["id"]
    await server.post("messenger", envelope("messenger", [item("messenger/text")]))
    await server.settle()
    agent = await service.agents.add("ana", "Ana Agente", "agent", ["soporte"])
    await service.attentions.open(attention_id, agent)
    sent = await service.outbox.send_agent_message(attention_id, agent, "Hola, soy Ana. ¿En qué te ayudo?")
    assert sent.status is MessageStatus.SENT and sent.mid
    [request] = server.graph.sent_messages(recipient_id="6001")
    assert request.json["messaging_type"] == "RESPONSE" and request.json["message"]["text"].startswith("Hola, soy Ana")
    echo = item("messenger/echo_ours")
    echo["message"].update(mid=sent.mid, metadata=request.json["message"]["metadata"], app_id=int(APP_ID))
    delivery = item("messenger/delivery")
    delivery["delivery"]["mids"] = [sent.mid]
    await server.post("messenger", envelope("messenger", [echo, delivery]))
    await server.settle()
    assert (await messages_of(server, attention_id))[-1].status is MessageStatus.DELIVERED
    read = item("messenger/read")
    read["read"]["watermark"] = 4102444800000  # everything up to 2100 was read
    await server.post("messenger", envelope("messenger", [read]))
    await server.settle()
    last = (await messages_of(server, attention_id))[-1]
    assert last.status is MessageStatus.READ and server.turns == []


async def test_a_refused_agent_message_keeps_metas_error(server):
    service = server.runtime.service
    attention_id = (await handoff(server))["attention"]["id"]
    agent = await service.agents.add("luis", "Luis", "agent", ["soporte"])
    await service.attentions.open(attention_id, agent)
    server.graph.user_unavailable_next()
    failed = await service.outbox.send_agent_message(attention_id, agent, "¿Sigues ahí?")
    assert failed.status is MessageStatus.FAILED and failed.error_code == 551 and failed.error_subcode == 1545041


async def test_a_queued_customer_who_cancels_reaches_the_bot(server):
    await handoff(server)
    cancel = with_mid(item("messenger/postback"), "m_cancel")
    cancel["postback"].update(title="Cancelar", payload="/cancel_handoff")
    await server.post("messenger", envelope("messenger", [cancel]))
    [turn] = await server.wait_turns(1)
    assert turn.text == "/cancel_handoff"


async def test_after_the_attention_ends_the_bot_answers_again(server):
    service = server.runtime.service
    attention_id = (await handoff(server))["attention"]["id"]
    agent = await service.agents.add("eva", "Eva", "agent", ["soporte"])
    await service.attentions.open(attention_id, agent)
    await service.attentions.terminate(attention_id, agent, {"resultado": "resuelto"})
    await server.post("messenger", envelope("messenger", [item("messenger/text")]))
    [turn] = await server.wait_turns(1)
    assert turn.text.startswith("Hola")


async def test_an_unsend_and_each_edit_are_new_items_not_redeliveries(server):
    attention = await handoff(server, channel="instagram", account_id="17841400000000001", customer_id="7001")
    edit = item("instagram/message_edit")
    second_edit = json.loads(json.dumps(edit))
    second_edit["message_edit"].update(num_edit=2, text="hola otra vez")
    await server.post("instagram", envelope("instagram", [item("instagram/text"), edit, second_edit, item("instagram/deleted")]))
    await server.settle()
    kinds = [m.kind for m in await messages_of(server, attention["attention"]["id"])]
    assert kinds == [MessageKind.TEXT, MessageKind.EDIT, MessageKind.EDIT, MessageKind.DELETED]

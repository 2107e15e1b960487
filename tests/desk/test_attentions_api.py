"""The attentions API over real HTTP: what each agent may see and do, the list, search,
the open race, sending through the fake Graph API, forms, terminate, labels, read marks."""

from __future__ import annotations

import asyncio

from tests.connectors.fixtures import envelope, item
from tests.desk.support import account, customer_writes, handoff


async def test_the_list_queued_first_newest_first_with_counts(server):
    ana = await account(server, "ana", campaigns=["soporte"])
    first = await handoff(server, "6001")
    second = await handoff(server, "6002")
    third = await handoff(server, "6003")
    await handoff(server, "7001", channel="instagram")  # ventas: not Ana's
    assert (await ana.post(f"/attentions/{first['id']}/open")).status == 200
    listed = await ana.get("/attentions")
    assert listed.status == 200
    assert [item["id"] for item in listed.body["attentions"]] == [third["id"], second["id"], first["id"]]
    assert [item["state"] for item in listed.body["attentions"]] == ["queued", "queued", "open"]
    assert listed.body["counts"] == {"open": 1, "queued": 2}
    summary = listed.body["attentions"][0]
    assert summary["customer"] == {"id": "6003", "name": "6003", "picture_url": None}
    assert summary["campaign_name"] == "Soporte" and summary["channel"] == "messenger" and summary["labels"] == []
    assert set(summary) >= {"direction", "campaign_id", "agent_id", "created_at", "updated_at", "last_message", "unread"}
    only_instagram = await ana.get("/attentions?channel=instagram")
    assert only_instagram.body == {"attentions": [], "counts": {"open": 0, "queued": 0}}
    assert (await ana.get("/attentions?channel=fax")).status == 400


async def test_customer_messages_show_as_preview_and_unread(server):
    ana = await account(server, "ana")
    attention = await handoff(server, "6001", customer_name="Carla Pérez")
    await customer_writes(server, "mi pedido no llegó", "6001")
    [summary] = (await ana.get("/attentions")).body["attentions"]
    assert summary["customer"]["name"] == "Carla Pérez"
    assert summary["last_message"]["text"] == "mi pedido no llegó" and summary["last_message"]["author"] == "customer"
    assert summary["unread"] == 1
    await ana.post(f"/attentions/{attention['id']}/open")
    detail = await ana.get(f"/attentions/{attention['id']}")
    [message] = detail.body["messages"]
    assert (await ana.post(f"/attentions/{attention['id']}/read", {"up_to_message_id": message["id"]})).status == 204
    [summary] = (await ana.get("/attentions")).body["attentions"]
    assert summary["unread"] == 0


async def test_an_agent_sees_only_their_campaigns_and_their_own_open_attentions(server):
    ana = await account(server, "ana", campaigns=["soporte"])
    bruno = await account(server, "bruno", campaigns=["soporte"])
    ventas = await handoff(server, "7001", channel="instagram")
    taken = await handoff(server, "6001")
    assert (await bruno.post(f"/attentions/{taken['id']}/open")).status == 200
    await customer_writes(server, "hola", "6001")

    # Another campaign's attention: not listed, not readable, not to be opened or ended.
    assert ventas["id"] not in [item["id"] for item in (await ana.get("/attentions")).body["attentions"]]
    assert (await ana.get(f"/attentions/{ventas['id']}")).status == 403
    assert (await ana.post(f"/attentions/{ventas['id']}/open")).status == 403
    assert (await ana.post(f"/attentions/{ventas['id']}/messages", {"text": "hola"})).status == 403
    assert (await ana.post(f"/attentions/{ventas['id']}/terminate", {"values": {}})).status == 403
    assert (await ana.post(f"/attentions/{ventas['id']}/read", {"up_to_message_id": 1})).status == 403

    # Bruno's open attention of Ana's own campaign: Bruno's alone.
    assert taken["id"] not in [item["id"] for item in (await ana.get("/attentions")).body["attentions"]]
    assert (await ana.get(f"/attentions/{taken['id']}")).status == 403
    assert (await ana.post(f"/attentions/{taken['id']}/messages", {"text": "me meto"})).status == 403
    assert (await ana.call("PUT", f"/attentions/{taken['id']}/form", {"values": {"nombre": "Otro"}})).status == 403
    assert (await ana.post(f"/attentions/{taken['id']}/terminate", {"values": {"resultado": "resuelto"}})).status == 403
    assert (await ana.post(f"/attentions/{taken['id']}/read", {"up_to_message_id": 1})).status == 403
    assert (await bruno.get(f"/attentions/{taken['id']}")).status == 200
    # Each attention the API sends says which of the caller's lists it is in.
    assert (await bruno.get(f"/attentions/{taken['id']}")).body["attention"]["list"] == "open"
    assert {item["id"]: item["list"] for item in (await bruno.get("/attentions")).body["attentions"]} == {taken["id"]: "open"}

    # Supervisor-only calls.
    assert (await ana.get("/agents")).status == 403
    assert (await ana.post("/agents", {"username": "eve", "password": "secreta-123"})).status == 403
    assert (await ana.call("PATCH", f"/agents/{bruno.id}", {"active": False})).status == 403
    assert (await ana.post("/labels", {"name": "VIP"})).status == 403
    assert (await ana.get("/attentions/999999")).status == 404


async def test_a_supervisor_sees_everything(server):
    boss = await account(server, "jefa", role="supervisor", campaigns=[])
    bruno = await account(server, "bruno", campaigns=["soporte"])
    ventas = await handoff(server, "7001", channel="instagram")
    taken = await handoff(server, "6001")
    await bruno.post(f"/attentions/{taken['id']}/open")
    listed = await boss.get("/attentions")
    assert {item["id"] for item in listed.body["attentions"]} == {ventas["id"], taken["id"]}
    assert listed.body["counts"] == {"open": 1, "queued": 1}
    assert {item["id"]: item["list"] for item in listed.body["attentions"]} == {ventas["id"]: "queued", taken["id"]: "open"}
    assert (await boss.get(f"/attentions/{taken['id']}")).status == 200
    # A supervisor ends a queued attention of any campaign (a customer who should not wait).
    ended = await boss.post(f"/attentions/{ventas['id']}/terminate", {"values": {}})
    assert ended.status == 200 and ended.body["attention"]["state"] == "terminated"
    assert ended.body["attention"]["list"] is None  # in no list: history has it


async def test_search_finds_open_attentions_only_by_name_id_label_or_text(server):
    boss = await account(server, "jefa", role="supervisor", campaigns=[])
    ana = await account(server, "ana")
    carla = await handoff(server, "6001", customer_name="Carla Pérez")
    luis = await handoff(server, "6002", customer_name="Luis Gómez")
    queued = await handoff(server, "6003", customer_name="Carlos Queue")
    for attention in (carla, luis):
        await ana.post(f"/attentions/{attention['id']}/open")
    await customer_writes(server, "la factura 100% duplicada", "6002")
    vip = (await boss.post("/labels", {"name": "Cliente VIP", "colour": "#aa0000"})).body["label"]
    assert (await ana.post(f"/attentions/{carla['id']}/labels/{vip['id']}")).status == 200

    async def found(q: str) -> list[int]:
        answer = await ana.get("/attentions", params={"q": q})
        assert answer.status == 200
        return [item["id"] for item in answer.body["attentions"]]

    assert await found("carl") == [carla["id"]]  # the queued Carlos is hidden while searching
    assert await found("FACTURA") == [luis["id"]]
    assert await found("100%") == [luis["id"]]
    assert await found("0%d") == []  # % and _ are literal characters
    assert await found("vip") == [carla["id"]]
    assert await found(f"#{luis['id']:03d}") == [luis["id"]]  # "#002": 3+ characters
    assert await found("6002") == [luis["id"]]
    assert await found("nadie") == []
    assert sorted(await found("ca")) == sorted([queued["id"], luis["id"], carla["id"]])  # under 3 characters: no search
    counts = (await ana.get("/attentions", params={"q": "carl"})).body["counts"]
    assert counts == {"open": 2, "queued": 1}  # the counters stay the whole list's


async def test_two_agents_open_the_same_attention_one_wins(server):
    ana = await account(server, "ana")
    bruno = await account(server, "bruno")
    attention = await handoff(server, "6001")
    answers = await asyncio.gather(*(desk.post(f"/attentions/{attention['id']}/open") for desk in (ana, bruno)))
    assert sorted(answer.status for answer in answers) == [200, 409]
    winner = next(answer for answer in answers if answer.status == 200)
    assert winner.body["attention"]["state"] == "open"
    assert winner.body["attention"]["agent_id"] in (ana.id, bruno.id)
    loser = next(answer for answer in answers if answer.status == 409)
    assert "error" in loser.body


async def test_the_detail_pages_messages_oldest_first_with_before(server):
    ana = await account(server, "ana")
    attention = await handoff(server, "6001", context=[{"author": "bot", "text": "¿En qué te ayudo?"}])
    await ana.post(f"/attentions/{attention['id']}/open")
    for n in range(5):
        await customer_writes(server, f"mensaje {n}", "6001", mid=f"m_page_{n}")
    page = await ana.get(f"/attentions/{attention['id']}", params={"limit": 2})
    assert [m["text"] for m in page.body["messages"]] == ["mensaje 3", "mensaje 4"] and page.body["has_more"]
    earlier = await ana.get(f"/attentions/{attention['id']}", params={"limit": 3, "before": page.body["messages"][0]["id"]})
    assert [m["text"] for m in earlier.body["messages"]] == ["mensaje 0", "mensaje 1", "mensaje 2"]
    assert not earlier.body["has_more"]
    detail = page.body["attention"]
    assert detail["context"][0]["text"] == "¿En qué te ayudo?"
    assert detail["form"]["nombre"] == "Cliente 6001"
    assert detail["window"]["human_agent_allowed"] is True and detail["window"]["response_until"]
    fields = {field["id"]: field for field in detail["campaign"]["form"]}
    assert fields["nombre"]["label"] == "Nombre" and fields["nombre"]["required"] and fields["nombre"]["min_length"] == 2
    # Options: the id is the stored value, the label (data/campaigns.yml) what the agent reads.
    assert fields["resultado"]["type"] == "single_choice" and fields["resultado"]["options"] == [
        {"id": "resuelto", "label": "Resuelto"},
        {"id": "escalado", "label": "Escalado"},
        {"id": "sin_respuesta", "label": "Sin respuesta"},
    ]
    english = await ana.get(f"/attentions/{attention['id']}", params={"lang": "en"})
    english_fields = {f["id"]: f for f in english.body["attention"]["campaign"]["form"]}
    assert english_fields["nombre"]["label"] == "Name"
    assert [option["label"] for option in english_fields["resultado"]["options"]] == ["Solved", "Escalated", "No answer"]
    assert (await ana.get(f"/attentions/{attention['id']}", params={"limit": "many"})).status == 400


async def test_an_agent_message_goes_to_meta_and_comes_back_with_its_status(server):
    ana = await account(server, "ana")
    attention = await handoff(server, "6001")
    queued_send = await ana.post(f"/attentions/{attention['id']}/messages", {"text": "hola"})
    assert queued_send.status == 403  # not hers yet
    await ana.post(f"/attentions/{attention['id']}/open")
    sent = await ana.post(f"/attentions/{attention['id']}/messages", {"text": "Hola, soy Ana 👋"})
    assert sent.status == 201
    message = sent.body["message"]
    assert message["status"] == "sent" and message["author"] == "agent" and message["direction"] == "out"
    assert message["agent_id"] == ana.id and message["sent_at"]
    [request] = server.graph.sent_messages(recipient_id="6001")
    assert request.json["message"]["text"] == "Hola, soy Ana 👋"

    server.graph.user_unavailable_next()
    failed = await ana.post(f"/attentions/{attention['id']}/messages", {"text": "¿Sigues ahí?"})
    assert failed.status == 201 and failed.body["message"]["status"] == "failed"
    assert failed.body["message"]["error_code"] == 551 and failed.body["message"]["error_message"]
    retried = await ana.post(f"/messages/{failed.body['message']['id']}/retry")
    assert retried.status == 200 and retried.body["message"]["status"] == "sent"

    picture = await ana.post(
        f"/attentions/{attention['id']}/messages", {"attachment": {"type": "image", "url": "https://cdn.example.test/foto.jpg"}}
    )
    assert (
        picture.status == 201
        and picture.body["message"]["payload"]["attachments"][0]["url"] == "https://cdn.example.test/foto.jpg"
    )
    assert server.graph.sent_messages(recipient_id="6001")[-1].json["message"]["attachment"]["type"] == "image"
    bad = await ana.post(f"/attentions/{attention['id']}/messages", {"attachment": {"type": "exe", "url": "https://x.test/a"}})
    assert bad.status == 422
    assert (await ana.post(f"/attentions/{attention['id']}/messages", {"text": "   "})).status == 422

    delivery = item("messenger/delivery")
    delivery["delivery"]["mids"] = [message["mid"]] if "mid" in message else [request.json.get("mid", "")]
    # Meta's delivery webhook for everything sent up to now.
    delivery["delivery"].pop("mids")
    delivery["delivery"]["watermark"] = 4102444800000
    await server.post("messenger", envelope("messenger", [delivery]))
    await server.settle()
    messages = (await ana.get(f"/attentions/{attention['id']}")).body["messages"]
    assert messages[0]["id"] == message["id"] and messages[0]["status"] == "delivered"


async def test_the_window_closed_is_409_before_anything_is_sent(server):
    ana = await account(server, "ana")
    attention = await handoff(
        server, "7001", channel="instagram", context=[{"author": "customer", "text": "hola", "time": "2020-01-01T00:00:00+00:00"}]
    )
    await server.runtime.service.agents.set_campaigns(ana.id, ["soporte", "ventas"])
    await ana.post(f"/attentions/{attention['id']}/open")
    closed = await ana.post(f"/attentions/{attention['id']}/messages", {"text": "hola"})
    assert closed.status == 409 and closed.body["window_closed"] is True
    assert server.graph.sent_messages(recipient_id="7001") == []


async def test_terminate_names_missing_fields_then_ends_the_attention(server):
    ana = await account(server, "ana")
    attention = await handoff(server, "6001")
    await ana.post(f"/attentions/{attention['id']}/open")
    missing = await ana.post(f"/attentions/{attention['id']}/terminate", {"values": {}})
    assert missing.status == 422 and set(missing.body["fields"]) == {"motivo", "resultado"}
    invalid = await ana.call("PUT", f"/attentions/{attention['id']}/form", {"values": {"resultado": "quizas"}})
    assert invalid.status == 422 and "resultado" in invalid.body["fields"]
    saved = await ana.call("PUT", f"/attentions/{attention['id']}/form", {"values": {"motivo": "factura duplicada"}})
    assert saved.status == 200 and saved.body["attention"]["form"]["motivo"] == "factura duplicada"
    still = await ana.post(f"/attentions/{attention['id']}/terminate", {"values": {}})
    assert still.status == 422 and set(still.body["fields"]) == {"resultado"}
    ended = await ana.post(f"/attentions/{attention['id']}/terminate", {"values": {"resultado": "resuelto"}})
    assert ended.status == 200 and ended.body["attention"]["state"] == "terminated"
    assert ended.body["attention"]["form"]["resultado"] == "resuelto"
    assert (await ana.get("/attentions")).body["attentions"] == []
    assert (await ana.post(f"/attentions/{attention['id']}/terminate", {"values": {}})).status == 409


async def test_labels_are_listed_applied_and_removed(server):
    boss = await account(server, "jefa", role="supervisor", campaigns=[])
    ana = await account(server, "ana")
    created = await boss.post("/labels", {"name": "Urgente", "colour": "#ff0000"})
    assert created.status == 201
    assert (await boss.post("/labels", {"name": "Urgente"})).status == 422
    assert (await boss.post("/labels", {"name": "Otro", "colour": "red"})).status == 422
    label = created.body["label"]
    assert (await ana.get("/labels")).body == {"labels": [label]}
    attention = await handoff(server, "6001")
    await ana.post(f"/attentions/{attention['id']}/open")
    applied = await ana.post(f"/attentions/{attention['id']}/labels/{label['id']}")
    assert applied.status == 200 and applied.body["attention"]["labels"] == [label]
    removed = await ana.call("DELETE", f"/attentions/{attention['id']}/labels/{label['id']}")
    assert removed.status == 200 and removed.body["attention"]["labels"] == []
    assert (await ana.post(f"/attentions/{attention['id']}/labels/9999")).status == 404


async def test_bad_bodies_are_400(server):
    ana = await account(server, "ana")
    attention = await handoff(server, "6001")
    await ana.post(f"/attentions/{attention['id']}/open")
    async with server.session.post(
        f"{server.url}/webhooks/desk/api/attentions/{attention['id']}/messages",
        data=b"{nope",
        headers={"Authorization": f"Bearer {ana.token}"},
    ) as response:
        assert response.status == 400
    assert (await ana.call("PUT", f"/attentions/{attention['id']}/form", {"values": "x"})).status == 400
    assert (await ana.post(f"/attentions/{attention['id']}/read", {"up_to_message_id": "x"})).status == 400

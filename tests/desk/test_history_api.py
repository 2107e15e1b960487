"""History over the API: search, detail, starting an outbound attention from it; label
management; the supervisor's overview; who may call each of them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.desk.support import account, customer_writes, handoff

DONE = {"values": {"motivo": "consulta", "resultado": "resuelto"}}


async def ended(desk, server, customer_id: str, writes: str = "", channel: str = "messenger", values=None, **extra) -> dict:
    attention = await handoff(server, customer_id, channel=channel, **extra)
    if writes:
        await customer_writes(server, writes, customer_id, channel)
    assert (await desk.post(f"/attentions/{attention['id']}/open")).status == 200
    answer = await desk.post(f"/attentions/{attention['id']}/terminate", values or DONE)
    assert answer.status == 200, answer.body
    return answer.body["attention"]


async def sale(seller, server, customer_id: str = "7001", writes: str = "") -> dict:
    return await ended(
        seller, server, customer_id, writes, channel="instagram", values={"values": {"productos": ["ropa"], "resultado": "venta"}}
    )


async def test_history_lists_searches_and_shows_a_terminated_attention(server):
    ana = await account(server, "ana")
    first = await ended(ana, server, "6001", "Necesito la FACTURA de marzo", customer_name="Carla Pérez")
    second = await ended(ana, server, "6002", "el envío no llegó", customer_name="Luis Gómez")
    listed = await ana.get("/history")
    assert listed.status == 200 and listed.body["next_cursor"] is None
    assert [item["id"] for item in listed.body["items"]] == [second["id"], first["id"]]  # newest first
    item = listed.body["items"][1]
    assert item["customer"] == {"id": "6001", "name": "Carla Pérez", "picture_url": None, "initials": "CP"}
    assert (item["campaign_name"], item["direction"], item["channel"]) == ("Soporte", "inbound", "messenger")
    assert item["agent"] == {"id": ana.id, "display_name": "Ana"} and item["ended_at"] and item["labels"] == []
    for keyword, expected in (
        ("fact", [first]),
        ("ENVIO llego", [second]),
        ("gómez", [second]),
        ("soporte", [second, first]),
        (datetime.now(timezone.utc).date().isoformat(), [second, first]),
        ("nada", []),
    ):
        found = await ana.get("/history", params={"q": keyword})
        assert [item["id"] for item in found.body["items"]] == [a["id"] for a in expected], keyword
    page = await ana.get("/history", params={"limit": 1})
    assert [item["id"] for item in page.body["items"]] == [second["id"]] and page.body["next_cursor"]
    rest = await ana.get("/history", params={"limit": 1, "cursor": page.body["next_cursor"]})
    assert [item["id"] for item in rest.body["items"]] == [first["id"]] and rest.body["next_cursor"] is None
    today = datetime.now(timezone.utc).date()
    assert len((await ana.get("/history", params={"from": today.isoformat(), "to": today.isoformat()})).body["items"]) == 2
    assert (await ana.get("/history", params={"to": (today - timedelta(days=1)).isoformat()})).body["items"] == []
    assert (await ana.get("/history", params={"from": "ayer"})).status == 400
    assert (await ana.get("/history", params={"direction": "sideways"})).status == 400

    detail = await ana.get(f"/history/{first['id']}", params={"lang": "en"})
    assert detail.status == 200
    shown = detail.body["item"]
    assert [message["text"] for message in detail.body["messages"]] == ["Necesito la FACTURA de marzo"]
    assert shown["form"]["resultado"] == "resuelto"
    assert {field["id"]: field["label"] for field in shown["form_fields"]}["resultado"] == "Outcome"
    assert [entry["action"] for entry in shown["trail"]] == ["queued", "open", "terminate"]
    assert shown["trail"][1]["actor"] == {"kind": "agent", "agent_id": ana.id, "name": "Ana"}
    assert (await ana.get("/history/999999")).status == 404
    open_one = await handoff(server, "6003")
    assert (await ana.get(f"/history/{open_one['id']}")).status == 404  # not ended: not history


async def test_history_shows_choice_values_by_their_labels_and_keeps_the_ids(server):
    """Issue 13: agents and history saw 'cotizacion', 'sin_interes'; the labels (with their
    accents, per language) are shown, the ids stay the stored values."""
    seller = await account(server, "vera", campaigns=["ventas"])
    values = {"productos": ["ropa", "accesorios"], "resultado": "cotizacion", "origen": "recomendacion"}
    done = await ended(seller, server, "7001", channel="instagram", values={"values": values})
    assert done["form"]["resultado"] == "cotizacion"  # stored: the id
    spanish = (await seller.get(f"/history/{done['id']}")).body["item"]
    shown = {field["id"]: field for field in spanish["form_fields"]}
    assert (shown["resultado"]["value"], shown["resultado"]["value_label"]) == ("cotizacion", "Cotización")
    assert shown["origen"]["value_label"] == "Recomendación"
    assert shown["productos"]["value_label"] == ["Ropa", "Accesorios"]
    assert spanish["form"]["resultado"] == "cotizacion"
    english = (await seller.get(f"/history/{done['id']}", params={"lang": "en"})).body["item"]
    in_english = {field["id"]: field for field in english["form_fields"]}
    assert in_english["resultado"]["value_label"] == "Quote"
    assert (in_english["origen"]["value_label"], in_english["productos"]["value_label"]) == (
        "Recommendation",
        ["Clothing", "Accessories"],
    )
    assert [in_english[name]["value"] for name in ("resultado", "origen", "productos")] == [
        "cotizacion",
        "recomendacion",
        ["ropa", "accesorios"],
    ]


async def test_labels_filter_and_match_history(server):
    boss = await account(server, "jefa", role="supervisor", campaigns=[])
    ana = await account(server, "ana")
    label = (await boss.post("/labels", {"name": "Reclamo", "colour": "#aa0000"})).body["label"]
    first = await ended(ana, server, "6001", "hola")
    await ended(ana, server, "6002", "hola")
    assert (await ana.post(f"/attentions/{first['id']}/labels/{label['id']}")).status == 200
    by_label = await ana.get("/history", params={"label_id": label["id"]})
    assert [item["id"] for item in by_label.body["items"]] == [first["id"]]
    assert by_label.body["items"][0]["labels"] == [label]
    assert [item["id"] for item in (await ana.get("/history", params={"q": "reclam"})).body["items"]] == [first["id"]]


async def test_who_may_read_history(server):
    ana = await account(server, "ana")
    vale = await account(server, "vale", campaigns=["ventas"])
    boss = await account(server, "jefa", role="supervisor", campaigns=[])
    mine = await ended(ana, server, "6001", "hola")
    theirs = await sale(vale, server, "7001", "hola")
    assert [item["id"] for item in (await ana.get("/history")).body["items"]] == [mine["id"]]
    assert [item["id"] for item in (await vale.get("/history")).body["items"]] == [theirs["id"]]
    assert [item["id"] for item in (await boss.get("/history", params={"q": "hola"})).body["items"]] == [theirs["id"], mine["id"]]
    assert (await ana.get(f"/history/{theirs['id']}")).status == 403  # another campaign
    assert (await ana.get("/history", params={"campaign_id": "ventas"})).status == 403
    assert (await boss.get("/history", params={"campaign_id": "ventas"})).status == 200
    for path in ("/history", f"/history/{mine['id']}"):
        assert (await ana.get(path, token=None)).status == 401
    assert (await ana.post(f"/history/{mine['id']}/outbound", token=None)).status == 401


async def test_an_outbound_attention_from_history(server):
    ana = await account(server, "ana")
    bruno = await account(server, "bruno")
    vale = await account(server, "vale", campaigns=["ventas", "soporte"])
    past = await ended(ana, server, "6001", "gracias", customer_name="Carla Pérez")
    socket = await ana.live()
    started = await ana.post(f"/history/{past['id']}/outbound", {})
    assert started.status == 201, started.body
    attention = started.body["attention"]
    assert (attention["state"], attention["direction"], attention["agent_id"], attention["campaign_id"]) == (
        "open",
        "outbound",
        ana.id,
        "soporte",
    )
    assert attention["customer"]["name"] == "Carla Pérez" and attention["window"]["response_until"]
    assert [field["id"] for field in attention["campaign"]["form"]] == ["nombre", "motivo", "numero_pedido", "resultado"]
    frame = await socket.receive_json(timeout=5)
    assert frame["type"] == "attention.opened" and frame["attention"]["direction"] == "outbound"
    await socket.close()
    listed = (await ana.get("/attentions")).body["attentions"]
    assert [item["id"] for item in listed] == [attention["id"]]
    sent = await ana.post(f"/attentions/{attention['id']}/messages", {"text": "Hola Carla, te escribo por tu pedido"})
    assert sent.status == 201 and sent.body["message"]["status"] == "sent"

    busy = await bruno.post(f"/history/{past['id']}/outbound", {})
    assert busy.status == 409 and busy.body["active_attention_id"] == attention["id"] and busy.body["active_state"] == "open"
    stranger = await account(server, "otro", campaigns=["ventas"])
    assert (await stranger.post(f"/history/{past['id']}/outbound", {})).status == 403  # not their campaign's history
    assert (await ana.post(f"/history/{past['id']}/outbound", {"campaign_id": "ventas"})).status == 403  # not ana's campaign
    trail = (await ana.get(f"/attentions/{attention['id']}")).body
    assert trail["attention"]["direction"] == "outbound"

    instagram = await sale(vale, server, "7001", "hola")
    refused = await vale.post(f"/history/{instagram['id']}/outbound", {})
    assert refused.status == 422 and "Instagram" in refused.body["error"]


async def test_outbound_explains_a_closed_window(server):
    ana = await account(server, "ana")
    long_ago = (datetime.now(timezone.utc) - timedelta(days=8)).isoformat()
    past = await ended(ana, server, "6001", context=[{"author": "customer", "text": "hola", "time": long_ago}])
    closed = await ana.post(f"/history/{past['id']}/outbound", {})
    assert closed.status == 409 and closed.body["window_closed"] is True
    assert "7 days" in closed.body["reason"]
    window = closed.body["window"]
    assert window["human_agent_allowed"] is True and window["last_customer_message_at"].startswith(long_ago[:16])
    assert window["human_agent_until"] < datetime.now(timezone.utc).isoformat()


async def test_supervisors_manage_labels(server):
    boss = await account(server, "jefa", role="supervisor", campaigns=[])
    ana = await account(server, "ana")
    label = (await boss.post("/labels", {"name": "VIP", "colour": "#ff0000"})).body["label"]
    assert label["retired"] is False
    renamed = await boss.call("PATCH", f"/labels/{label['id']}", {"name": "Cliente VIP", "colour": "#00AA00"})
    assert renamed.status == 200 and renamed.body["label"] == {**label, "name": "Cliente VIP", "colour": "#00aa00"}
    retired = await boss.call("PATCH", f"/labels/{label['id']}", {"retired": True})
    assert retired.body["label"]["retired"] is True
    assert (await ana.get("/labels")).body["labels"] == []
    assert [item["id"] for item in (await boss.get("/labels", params={"all": "true"})).body["labels"]] == [label["id"]]
    assert (await ana.get("/labels", params={"all": "true"})).body["labels"] == []
    other = (await boss.post("/labels", {"name": "Queja", "colour": "#0000ff"})).body["label"]
    assert (await boss.call("PATCH", f"/labels/{other['id']}", {"name": "Cliente VIP"})).status == 422
    assert (await boss.call("PATCH", f"/labels/{other['id']}", {"colour": "azul"})).status == 422
    assert (await boss.call("PATCH", f"/labels/{other['id']}", {"shape": "round"})).status == 400
    assert (await boss.call("PATCH", f"/labels/{other['id']}", {"retired": "yes"})).status == 400
    assert (await boss.call("PATCH", "/labels/999999", {"name": "X"})).status == 404
    assert (await ana.call("PATCH", f"/labels/{other['id']}", {"name": "X"})).status == 403
    assert (await ana.post("/labels", {"name": "X", "colour": "#000000"})).status == 403
    assert (await ana.call("PATCH", f"/labels/{other['id']}", {"name": "X"}, token=None)).status == 401


async def test_the_supervisor_overview(server):
    boss = await account(server, "jefa", role="supervisor", campaigns=[])
    ana = await account(server, "ana")
    vale = await account(server, "vale", campaigns=["ventas"])
    socket = await ana.live()
    first = await handoff(server, "6001")
    await handoff(server, "6002")
    await handoff(server, "7001", channel="instagram")
    await ana.post(f"/attentions/{first['id']}/open")
    view = await boss.get("/supervisor/overview")
    assert view.status == 200
    soporte, ventas = view.body["campaigns"]
    assert (soporte["id"], soporte["queued"], soporte["open"], soporte["agents_online"]) == ("soporte", 1, 1, 1)
    assert soporte["oldest_waiting_seconds"] >= 0 and soporte["oldest_queued_since"]
    assert {(entry["id"], entry["online"], entry["open"]) for entry in soporte["agents"]} == {(ana.id, True, 1)}
    assert (ventas["queued"], ventas["open"], ventas["agents_online"]) == (1, 0, 1)  # vale logged in a moment ago
    people = {entry["id"]: entry for entry in view.body["agents"]}
    assert people[ana.id]["online"] and people[ana.id]["open"] == 1 and people[ana.id]["open_by_campaign"] == {"soporte": 1}
    assert people[vale.id]["open"] == 0
    await socket.close()
    assert (await ana.get("/supervisor/overview")).status == 403
    assert (await ana.get("/supervisor/overview", token=None)).status == 401

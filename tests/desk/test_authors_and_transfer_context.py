"""The desk names who wrote each message and carries a transfer's context, over the real
API and WebSocket (issue 13: authors, transfer context, the queued card).

Own campaigns file: the designers' one plus a Messenger billing campaign whose form shares
the name with Soporte, names the order number differently and asks for the reason."""

from __future__ import annotations

import pytest

from tests.connectors.harness import running_connectors
from tests.desk.support import BILLING, account, campaigns_with, customer_writes, handoff, next_frame

REASON = "mi pedido 48213 no llegó, ya pasaron 10 días"


@pytest.fixture
async def server(database_url, desk_settings, tmp_path, monkeypatch):
    monkeypatch.setenv("HANDOFF_CAMPAIGNS", str(campaigns_with(tmp_path, BILLING)))
    async with running_connectors(database_url, desk=desk_settings) as running:
        yield running


async def queued_with_reason(server, customer_id: str = "6001") -> dict:
    slots = {"customer_name": "Carla Pérez", "order_number": "48213", "handoff_reason": REASON}
    return await handoff(server, customer_id, slots=slots, reason=REASON)


async def frame_of_type(socket, kind: str) -> dict:
    while True:
        frame = await next_frame(socket)
        if frame["type"] == kind:
            return frame


async def test_every_message_names_its_agent_live_in_the_list_and_in_history(server):
    ana, bruno = await account(server, "ana"), await account(server, "bruno")
    boss = await account(server, "jefa", role="supervisor", campaigns=[])
    attention = await queued_with_reason(server)
    assert (await ana.post(f"/attentions/{attention['id']}/open")).status == 200
    watching = await boss.live()
    assert (await ana.post(f"/attentions/{attention['id']}/messages", {"text": "Hola, soy Ana"})).status == 201
    added = await frame_of_type(watching, "message.added")
    # The supervisor's desk learns who wrote it, not just "an agent".
    assert added["message"]["author"] == "agent" and added["message"]["agent"] == {"id": ana.id, "name": "Ana"}
    handover = {"agent_id": bruno.id, "note": "cambio de turno"}
    assert (await ana.post(f"/attentions/{attention['id']}/transfer", handover)).status == 200
    assert (await bruno.post(f"/attentions/{attention['id']}/messages", {"text": "Hola, sigo yo"})).status == 201

    listed = {item["id"]: item for item in (await boss.get("/attentions")).body["attentions"]}
    assert listed[attention["id"]]["last_message"]["agent"] == {"id": bruno.id, "name": "Bruno"}
    shown = await boss.get(f"/attentions/{attention['id']}")
    authors = [(m["author"], (m["agent"] or {}).get("name"), m["text"]) for m in shown.body["messages"]]
    assert authors == [
        ("agent", "Ana", "Hola, soy Ana"),
        ("system", None, "cambio de turno"),
        ("agent", "Bruno", "Hola, sigo yo"),
    ]

    done = {"values": {"motivo": "envío", "resultado": "resuelto"}}
    assert (await bruno.post(f"/attentions/{attention['id']}/terminate", done)).status == 200
    history = await boss.get(f"/history/{attention['id']}")
    # History renders each message with its own author, as the live desk did.
    assert [(m["author"], (m["agent"] or {}).get("name"), m["text"]) for m in history.body["messages"]] == authors
    await watching.close()


async def test_a_transfer_carries_its_note_the_bot_context_and_the_values(server):
    ana = await account(server, "ana")
    carla = await account(server, "carla", campaigns=["facturacion"])
    attention = await queued_with_reason(server)
    assert (await ana.post(f"/attentions/{attention['id']}/open")).status == 200
    assert (await ana.call("PUT", f"/attentions/{attention['id']}/form", {"values": {"nombre": "Carla P."}})).status == 200
    carla_socket = await carla.live()
    handover = {"campaign_id": "facturacion", "note": "  Pide la factura de marzo  "}
    moved = await ana.post(f"/attentions/{attention['id']}/transfer", handover)
    assert moved.status == 200

    frame = await frame_of_type(carla_socket, "attention.transferred")
    card = frame["attention"]
    # The receiving agent's card: the note, who sent it and from where.
    assert card["transfer"]["note"] == "Pide la factura de marzo"
    assert (card["transfer"]["by_agent_name"], card["transfer"]["from_campaign_name"]) == ("Ana", "Soporte")
    assert card["reason"] == REASON
    line = await frame_of_type(carla_socket, "message.added")
    said = line["message"]
    assert (said["author"], said["kind"], said["direction"]) == ("system", "transfer", "internal")
    assert line["message"]["payload"]["note"] == "Pide la factura de marzo"

    assert (await carla.post(f"/attentions/{attention['id']}/open")).status == 200
    detail = (await carla.get(f"/attentions/{attention['id']}")).body["attention"]
    # The agent's value of the shared field is kept; the new fields start from what the bot collected.
    assert detail["form"] == {"nombre": "Carla P.", "pedido_facturado": "48213", "detalle": REASON}
    assert detail["bot_values"]["order_number"] == "48213"
    assert detail["transfer"]["note"] == "Pide la factura de marzo"
    assert server.graph.sent_messages("6001") == [], "a transfer line is the desk's own: Meta receives nothing"
    await carla_socket.close()


async def test_a_queued_card_shows_the_reason_and_what_the_customer_sent(server):
    ana = await account(server, "ana")
    attention = await queued_with_reason(server)
    card = {item["id"]: item for item in (await ana.get("/attentions")).body["attentions"]}[attention["id"]]
    assert card["reason"] == REASON and card["state"] == "queued"
    await customer_writes(server, "¿hay alguien?", "6001")
    card = {item["id"]: item for item in (await ana.get("/attentions")).body["attentions"]}[attention["id"]]
    assert card["last_message"]["text"] == "¿hay alguien?" and card["last_message"]["author"] == "customer"
    assert card["reason"] == REASON

"""A server killed (SIGKILL) with open attentions, queued attentions and an agent message
in the middle of its send; after the restart all of it is still there and moving.

The stand-in server (``standin_server.py``) runs the product's channels, the desk and the
handoff service on a SQLite file; the fake Graph API plays Meta and hangs on the one send
the kill must interrupt (Meta never processes it, so no echo comes: the message ends
``unknown`` and the agent's retry sends it, once). The outbox sweep is configured as a deployment would configure
it, through the environment, with a small stale threshold and interval.
"""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import aiohttp
import pytest

from connectors.desk.accounts import create_account
from connectors.storage.db import create_engine
from connectors.storage.records import SqlStorage
from handoff.campaigns import load_campaigns
from handoff.service import HandoffService
from tests.desk.support import PASSWORD, login, next_frame
from tests.handoff.support import CAMPAIGNS_FILE
from tests.reliability.support import StandIn, body_of, create_attention, post, query, text_item

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

OUTBOX = {"HANDOFF_OUTBOX_SWEEP_SECONDS": "0.2", "HANDOFF_OUTBOX_STALE_SECONDS": "1"}
FORM = {"nombre": "Carla Pérez", "motivo": "Mi pedido no llegó", "resultado": "resuelto"}
STUCK_TEXT = "Te confirmo el envío en un momento"


async def add_agent(server: StandIn, username: str) -> None:
    """Agents are accounts in the server's database (``python -m connectors.desk.accounts add``)."""
    engine = create_engine(f"sqlite+aiosqlite:///{server.database}")
    try:
        await create_account(
            HandoffService(SqlStorage(engine), load_campaigns(CAMPAIGNS_FILE)), username, PASSWORD, campaigns=["soporte"]
        )
    finally:
        await engine.dispose()


async def customer_writes(session: aiohttp.ClientSession, server: StandIn, customer: str, mid: str, text: str) -> None:
    item = text_item("messenger", customer, mid, text, timestamp=int(time.time() * 1000))
    assert await post(session, server.url, "messenger", body_of("messenger", [[item]])) == 200
    await server.settle()


def outbound(server: StandIn, text: str) -> dict:
    [row] = query(
        server.database, "SELECT id, status, mid, error_message FROM message WHERE direction = 'out' AND text = ?", text
    )
    return dict(row)


async def until_sent(server: StandIn, text: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while (row := outbound(server, text))["status"] == "pending":
        if time.monotonic() > deadline:
            raise TimeoutError(f"message still pending:\n{server.logs()[-3000:]}")
        await asyncio.sleep(0.1)
    return row


async def test_attentions_and_a_pending_agent_message_survive_a_sigkill(tmp_path, graph):
    server = StandIn(tmp_path, graph.url)
    server.env.update(OUTBOX)
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            desk = SimpleNamespace(url=server.url, session=session)
            await add_agent(server, "ana")
            queued = await create_attention(session, server.url, "messenger", "c-queued")
            talking = await create_attention(session, server.url, "messenger", "c-open")
            stuck = await create_attention(session, server.url, "messenger", "c-pending")
            for customer in ("c-queued", "c-open", "c-pending"):
                await customer_writes(session, server, customer, f"m-{customer}-1", f"hola, soy {customer}")
            ana = await login(desk, "ana")
            for attention_id in (talking, stuck):
                assert (await ana.post(f"/attentions/{attention_id}/open")).status == 200
            said = await ana.post(f"/attentions/{talking}/messages", {"text": "Hola, soy Ana"})
            assert said.status == 201 and said.body["message"]["status"] == "sent"

            # Meta hangs on this send; the server dies while it waits.
            graph.delay_next(60, accept=False, recipient_id="c-pending")
            sending = asyncio.create_task(ana.post(f"/attentions/{stuck}/messages", {"text": STUCK_TEXT}))
            await graph.wait_for(lambda r: r.kind == "message" and r.recipient_id == "c-pending", count=1, timeout=15)
            await asyncio.sleep(1.5)  # past the stale threshold: the live process must not resend its own send
            assert len([r for r in graph.requests if r.kind == "message" and r.recipient_id == "c-pending"]) == 1
            server.kill()
            await asyncio.gather(sending, return_exceptions=True)
            left = outbound(server, STUCK_TEXT)
            assert left["status"] == "pending" and graph.sent_messages(recipient_id="c-pending") == []

            await server.start()
            # It was handed to Meta when the server died and no echo came: the sweep says
            # so ("unknown") and never sends it again by itself; the agent's retry does.
            unknown = await until_sent(server, STUCK_TEXT)
            assert unknown["status"] == "unknown" and "not known whether Meta got it" in unknown["error_message"]
            assert graph.sent_messages(recipient_id="c-pending") == []
            ana = await login(desk, "ana")  # sessions were signed by the dead process
            assert (await ana.post(f"/messages/{left['id']}/retry")).status == 200
            [resent] = await graph.wait_for_messages(1, timeout=30, recipient_id="c-pending")
            assert resent.text == STUCK_TEXT and f"msg{left['id']}:" in resent.message["metadata"]
            sent = await until_sent(server, STUCK_TEXT)
            assert (sent["status"], sent["mid"], sent["error_message"]) == ("sent", resent.message_id, None)

            listing = await ana.get("/attentions")
            states = {item["id"]: (item["state"], item["agent_id"]) for item in listing.body["attentions"]}
            assert states == {queued: ("queued", None), talking: ("open", ana.id), stuck: ("open", ana.id)}

            # Customers' new messages reach their attentions, live on the agent's screen too.
            socket = await ana.live()
            await customer_writes(session, server, "c-open", "m-c-open-2", "¿sigues ahí?")
            while (frame := await next_frame(socket, timeout=10))["type"] != "message.added":
                pass
            assert frame["message"]["text"] == "¿sigues ahí?" and frame["message"]["attention_id"] == talking
            await socket.close()
            await customer_writes(session, server, "c-queued", "m-c-queued-2", "¿me atienden?")

            # The queued one can be opened, the open one answered and terminated.
            assert (await ana.post(f"/attentions/{queued}/open")).status == 200
            reply = await ana.post(f"/attentions/{talking}/messages", {"text": "Sí, ya está resuelto"})
            assert reply.status == 201 and reply.body["message"]["status"] == "sent"
            assert (await ana.post(f"/attentions/{talking}/terminate", {"values": FORM})).status == 200
            history = await ana.get(f"/history/{talking}")
            assert history.status == 200
            assert [m["text"] for m in history.body["messages"] if m["kind"] == "text"] == [
                "hola, soy c-open",
                "Hola, soy Ana",
                "¿sigues ahí?",
                "Sí, ya está resuelto",
            ]
            opened = await ana.get(f"/attentions/{queued}")
            assert [m["text"] for m in opened.body["messages"]] == ["hola, soy c-queued", "¿me atienden?"]

        assert len(graph.sent_messages(recipient_id="c-pending")) == 1  # sent once, never twice
        assert "no echo came: status unknown, not sent again" in server.logs()
    finally:
        server.stop()

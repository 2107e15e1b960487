"""Send-then-record after a SIGKILL (security issue 12): a reply Meta accepted is recorded
as sent and never sent again, for the bot's replies and the agents' messages.

The fake Graph API accepts each of these sends at once (records it, gives it a mid) and
holds its answer back; the server is killed while it waits, so Meta has the message
and the server never learnt its mid: the window between the "sending" record and the
"sent" one. Meta's echo (which carries our metadata) is delivered once the server is
back, late, as Meta's webhook retries are: after the outbox sweep has looked at it.
"""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import aiohttp
import pytest

from tests.desk.support import login
from tests.reliability.support import (
    APP_ID,
    PAGE_ID,
    StandIn,
    body_of,
    create_attention,
    post,
    query,
    text_item,
)
from tests.reliability.test_restart_attentions import OUTBOX, add_agent, customer_writes, outbound

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

CUSTOMERS = ("c-reply-1", "c-reply-2", "c-reply-3")


class ReplyingStandIn(StandIn):
    """The stand-in whose every bot turn sends one reply (``eco: <text>``) mid-turn."""

    def command(self) -> list[str]:
        return [*super().command(), "--reply"]


def echo_item(accepted) -> dict:
    """Meta's echo of an accepted send: our metadata and Meta's mid."""
    message = accepted.message
    return {
        "sender": {"id": PAGE_ID},
        "recipient": {"id": accepted.recipient_id},
        "timestamp": int(time.time() * 1000),
        "message": {
            "is_echo": True,
            "app_id": int(APP_ID),
            "mid": accepted.message_id,
            "metadata": message["metadata"],
            "text": message.get("text"),
        },
    }


def replies(server: StandIn) -> list[dict]:
    return [
        dict(row)
        for row in query(server.database, "SELECT recipient_id, token, state, mid, error FROM outbound_reply ORDER BY id")
    ]


def inbox_states(server: StandIn) -> dict[str, tuple[str, str | None]]:
    return {row["dedup_key"].split(":", 1)[1]: (row["state"], row["error"]) for row in server.inbox()}


async def until(predicate, server: StandIn, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}:\n{server.logs()[-3000:]}")
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("memory", ["durable", "volatile"])
async def test_bot_replies_meta_accepted_before_a_sigkill_are_recorded_sent_and_sent_once(tmp_path, graph, memory):
    server = ReplyingStandIn(tmp_path, graph.url, memory)
    server.env.update(OUTBOX)
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            # Meta takes each reply and keeps its answer: the server dies waiting for the mids.
            graph.delay_next(60, times=len(CUSTOMERS), accept=True)
            items = [[text_item("messenger", customer, f"m-{customer}", f"hola {customer}")] for customer in CUSTOMERS]
            assert await post(session, server.url, "messenger", body_of("messenger", items)) == 200
            accepted = await graph.wait_for_messages(len(CUSTOMERS), timeout=20)
            server.kill()
            assert all(record.message_id and not record.answered for record in accepted)

            await server.start()
            await server.settle()
            await asyncio.sleep(2.5)  # the sweep (stale after 1 s) runs before Meta's echoes come
            for record in accepted:  # Meta's webhook retries bring the echoes
                entry = [[echo_item(record)]]
                assert await post(session, server.url, "messenger", body_of("messenger", entry)) == 200
            await server.settle()
            await until(lambda: all(row["state"] == "sent" for row in replies(server)), server, "replies not settled")

        # Meta got each reply exactly once: nothing was sent again after the restart.
        for customer in CUSTOMERS:
            sent = graph.sent_messages(recipient_id=customer)
            assert [r.message["text"] for r in sent] == [f"eco: hola {customer}"], server.logs()[-3000:]
        # Each item whose reply Meta accepted is recorded as answered, not "failed: interrupted".
        states = inbox_states(server)
        for customer in CUSTOMERS:
            state, note = states[f"m-{customer}"]
            assert state == "handled", (customer, state, note)
        # And each reply is recorded as sent, with Meta's mid and the metadata it carried.
        recorded = {row["recipient_id"]: row for row in replies(server)}
        assert len(replies(server)) == len(CUSTOMERS)
        for record in accepted:
            row = recorded[record.recipient_id]
            assert (row["state"], row["mid"], row["token"]) == ("sent", record.message_id, record.message["metadata"])
        if memory == "durable":
            # The tracker proves the turns were cut short: each ran again, to completion,
            # once, and its reply (already at Meta) was not sent again.
            assert server.tracker_turns() == {f"m-{customer}": 1 for customer in CUSTOMERS}
        else:
            # Nothing can tell where the turns stopped: not run again (at most once); the
            # inbox says why, and that the reply went.
            assert server.turn_log() == {}
            assert all("replies went to Meta" in (states[f"m-{customer}"][1] or "") for customer in CUSTOMERS)
        assert "not sent again" in server.logs() or memory == "volatile"
    finally:
        server.stop()


async def test_an_agent_message_meta_accepted_before_a_sigkill_is_recorded_sent_and_sent_once(tmp_path, graph):
    server = StandIn(tmp_path, graph.url)
    server.env.update(OUTBOX)
    await server.start()
    text = "Ya revisé tu pedido: sale hoy"
    try:
        async with aiohttp.ClientSession() as session:
            desk = SimpleNamespace(url=server.url, session=session)
            await add_agent(server, "ana")
            attention = await create_attention(session, server.url, "messenger", "c-agent")
            await customer_writes(session, server, "c-agent", "m-c-agent-1", "hola, ¿y mi pedido?")
            ana = await login(desk, "ana")
            assert (await ana.post(f"/attentions/{attention}/open")).status == 200

            graph.delay_next(60, accept=True, recipient_id="c-agent")
            sending = asyncio.create_task(ana.post(f"/attentions/{attention}/messages", {"text": text}))
            [accepted] = await graph.wait_for_messages(1, timeout=15, recipient_id="c-agent")
            server.kill()
            await asyncio.gather(sending, return_exceptions=True)
            assert outbound(server, text)["status"] == "pending"

            await server.start()
            await asyncio.sleep(2.5)  # several sweeps past the stale threshold, before the echo
            assert len(graph.sent_messages(recipient_id="c-agent")) == 1, server.logs()[-3000:]
            left = outbound(server, text)
            assert left["status"] == "unknown" and "not known whether Meta got it" in left["error_message"]

            # Meta's echo of the accepted send comes (its webhook retry): sent, with Meta's mid.
            assert await post(session, server.url, "messenger", body_of("messenger", [[echo_item(accepted)]])) == 200
            await server.settle()
            await until(lambda: outbound(server, text)["status"] == "sent", server, "message not sent")
            row = outbound(server, text)
            assert (row["mid"], row["error_message"]) == (accepted.message_id, None)
            await asyncio.sleep(0.5)
        assert len(graph.sent_messages(recipient_id="c-agent")) == 1
    finally:
        server.stop()

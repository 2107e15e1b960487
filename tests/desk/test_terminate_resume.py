"""Terminar atención answers the agent after the state change; the bot's turn and its Graph
API send follow, durably (issue 14).

Real servers (the connectors' harness: Meta channels, the desk, the fake Graph API on
loopback). The Rasa agent is the only stand-in: ``GoodbyeBot`` is the runtime's
``RasaConversations`` with its resume doing what the trained bot's rule does after
``EXTERNAL_attention_terminated`` - one goodbye through the channel's real output, over
HTTP to the fake Graph API - so it can be held back or made to fail.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from connectors import runtime as runtime_module
from connectors.rasa_conversations import RasaConversations
from connectors.storage.resumes import ResumeRows
from handoff.model import Attention
from tests.connectors.fixtures import envelope, item, with_mid
from tests.connectors.harness import running_connectors
from tests.desk.support import account, cancel_as_the_bot, handoff

GOODBYE = "Gracias por escribirnos. 🙌"


@dataclass
class Script:
    """What the stand-in bot does on resume: wait for ``gate``, fail the first
    ``failures`` times, else send the goodbye."""

    gate: asyncio.Event = field(default_factory=asyncio.Event)
    failures: int = 0
    calls: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.gate.set()


class GoodbyeBot(RasaConversations):
    def __init__(self, holder, script: Script) -> None:
        super().__init__(holder)
        self._script = script

    async def resume(self, attention: Attention) -> None:
        self._script.calls.append(attention.id)
        await self._script.gate.wait()
        if self._script.failures > 0:
            self._script.failures -= 1
            raise ConnectionError("the tracker store is down")
        output = self._output_for(attention.channel.value)
        await output.send_text_message(attention.customer_id, GOODBYE)


@pytest.fixture
def script(monkeypatch) -> Script:
    """Every runtime built in the test resumes through ``GoodbyeBot``; sweeps are quick."""
    shared = Script()
    monkeypatch.setattr(runtime_module, "RasaConversations", lambda holder: GoodbyeBot(holder, shared))
    monkeypatch.setenv("HANDOFF_RESUME_SWEEP_SECONDS", "0.2")
    monkeypatch.setenv("HANDOFF_RESUME_RETRY_SECONDS", "0.1")
    return shared


def goodbyes(server, customer_id: str) -> list[str]:
    return [r.json["message"].get("text") for r in server.graph.sent_messages(recipient_id=customer_id)]


async def resume_row(server, attention_id: int):
    async with server.runtime.engine.connect() as connection:
        return await ResumeRows(connection).state_of(attention_id)


async def wait_until(condition, timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not await condition():
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), timeout)


async def opened_attention(server, customer_id: str) -> tuple:
    ana = await account(server, "ana")
    attention = await handoff(server, customer_id)
    assert (await ana.post(f"/attentions/{attention['id']}/open")).status == 200
    return ana, attention


async def terminate(ana, attention: dict):
    return await ana.post(f"/attentions/{attention['id']}/terminate", {"values": {"motivo": "factura", "resultado": "resuelto"}})


async def test_the_desk_is_answered_before_the_goodbye_which_still_reaches_the_customer(script, database_url, desk_settings):
    async with running_connectors(database_url, desk=desk_settings) as server:
        ana, attention = await opened_attention(server, "6101")
        script.gate.clear()  # the bot's turn is slow: the answer must not wait for it

        ended = await asyncio.wait_for(terminate(ana, attention), 5)

        assert ended.status == 200 and ended.body["attention"]["state"] == "terminated"
        assert goodbyes(server, "6101") == []
        row = await resume_row(server, attention["id"])
        assert row is not None and row.resumed_at is None  # written with the terminate
        script.gate.set()
        await server.graph.wait_for_messages(1, timeout=5, recipient_id="6101")
        assert goodbyes(server, "6101") == [GOODBYE]
        await wait_until(lambda: _resumed(server, attention["id"]))


async def _resumed(server, attention_id: int) -> bool:
    row = await resume_row(server, attention_id)
    return row is not None and row.resumed_at is not None


async def test_a_resume_that_fails_once_is_retried_by_the_sweep_and_the_bot_speaks_once(script, database_url, desk_settings):
    script.failures = 1
    async with running_connectors(database_url, desk=desk_settings) as server:
        ana, attention = await opened_attention(server, "6102")

        assert (await terminate(ana, attention)).status == 200

        await server.graph.wait_for_messages(1, timeout=5, recipient_id="6102")
        await wait_until(lambda: _resumed(server, attention["id"]))
        await asyncio.sleep(0.6)  # a few more sweeps: a row once marked is never resumed again
        assert goodbyes(server, "6102") == [GOODBYE]
        assert script.calls == [attention["id"], attention["id"]]
        row = await resume_row(server, attention["id"])
        assert row.attempts == 2 and row.last_error is None


async def test_a_process_stopped_after_the_answer_resumes_at_the_next_start(script, database_url, desk_settings, monkeypatch):
    async with running_connectors(database_url, desk=desk_settings) as server:
        ana, attention = await opened_attention(server, "6103")
        resumes = server.runtime.resumes
        assert resumes is not None

        async def dies_before_resuming(_attention: Attention) -> None:
            return None  # the process stops between the answer and the resume

        monkeypatch.setattr(resumes, "resume", dies_before_resuming)
        assert (await terminate(ana, attention)).status == 200
        assert (await resume_row(server, attention["id"])).resumed_at is None
    assert script.calls == []

    async with running_connectors(database_url, desk=desk_settings) as server:
        await server.graph.wait_for_messages(1, timeout=5, recipient_id="6103")
        await wait_until(lambda: _resumed(server, attention["id"]))
        assert goodbyes(server, "6103") == [GOODBYE]
        assert script.calls == [attention["id"]]


async def test_the_bots_own_terminate_answers_at_once_and_leaves_nothing_to_resume(script, database_url, desk_settings):
    """action_terminate_attention runs inside the bot's turn (the router resumed the tracker
    for the cancel): the service answers it after the state change, and no later resume
    says a second goodbye over the bot's own answer."""
    async with running_connectors(database_url, desk=desk_settings) as server:
        attention = await handoff(server, "6104")
        script.gate.clear()  # were a resume waited for, the call below would time out

        await asyncio.wait_for(cancel_as_the_bot(server, attention["id"]), 5)

        assert await resume_row(server, attention["id"]) is None
        await asyncio.sleep(0.5)  # sweeps come and go
        assert script.calls == [] and goodbyes(server, "6104") == []


async def test_a_customer_who_writes_before_the_resume_gets_the_goodbye_then_a_bot_turn(script, database_url, desk_settings):
    """Rasa's tracker is paused until resumed: a message routed to it first would only be
    logged. The router settles the pending resume first, then the message is a turn."""
    order: list[str] = []

    async def bot(message) -> None:
        order.append(f"turn: {message.text}")

    async with running_connectors(database_url, bot=bot, desk=desk_settings) as server:
        server.graph.add_listener(
            lambda record: order.append(f"graph: {record.json['message']['text']}") if "message" in (record.json or {}) else None
        )
        ana, attention = await opened_attention(server, "6105")
        script.gate.clear()
        assert (await terminate(ana, attention)).status == 200
        raw = with_mid(item("messenger/text"), "m_6105_after", sender="6105")
        raw["message"]["text"] = "una cosa más"
        await server.post("messenger", envelope("messenger", [raw]))
        await asyncio.sleep(0.3)
        assert [turn.text for turn in server.turns] == []  # waits for the resume in flight
        script.gate.set()
        await server.wait_turns(1)
        assert order == [f"graph: {GOODBYE}", "turn: una cosa más"]
        assert script.calls == [attention["id"]]

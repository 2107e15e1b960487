"""A queued customer who gives up in words ("ya no quiero esperar") reaches the bot like the
hand-over button's cancel does; what the model reads is a stand-in here (see
tests/e2e/test_handoff_e2e.py for the trained model)."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace
from typing import Any

import pytest

from handoff.model import Author
from tests.connectors.fixtures import envelope, item, with_mid
from tests.connectors.test_handoff_routing import handoff, messages_of


class NoLock(contextlib.AbstractAsyncContextManager):
    async def __aexit__(self, *exc_info: object) -> None:
        return None


class FakeRasaAgent:
    """What RasaConversations uses of Rasa's Agent: parse_message, the lock store and the
    processor's tracker calls (the trackers themselves do not matter here)."""

    def __init__(self, reads: dict[str, tuple[str, float]]) -> None:
        self.reads = reads
        self.parsed: list[str] = []
        self.logged: list[str] = []

        async def log_message(message: Any) -> None:
            self.logged.append(message.text)

        async def get_tracker(_sender: str) -> Any:
            return SimpleNamespace(is_paused=lambda: False)

        self.processor = SimpleNamespace(log_message=log_message, get_tracker=get_tracker)
        self.lock_store = SimpleNamespace(lock=lambda _sender: NoLock())

    async def parse_message(self, text: str) -> dict[str, Any]:
        self.parsed.append(text)
        name, confidence = self.reads.get(text, ("out_of_scope", 0.99))
        return {"text": text, "intent": {"name": name, "confidence": confidence}, "entities": []}


@pytest.fixture
def rasa(server) -> FakeRasaAgent:
    agent = FakeRasaAgent(
        {
            "ya no quiero esperar": ("cancel_handoff", 0.99),
            "I don't want to wait anymore": ("cancel_handoff", 0.99),
            "cancela": ("cancel_handoff", 0.6),  # below the threshold
            "sigo esperando": ("still_waiting", 0.99),  # not a cancel: the attention stays queued
        }
    )
    server.app.ctx.agent = agent
    return agent


async def says(server, text: str, mid: str, customer_id: str = "6001") -> None:
    raw = with_mid(item("messenger/text"), mid, sender=customer_id)
    raw["message"]["text"] = text
    await server.post("messenger", envelope("messenger", [raw]))
    await server.settle()


async def test_a_queued_customer_who_gives_up_in_words_reaches_the_bot(server, rasa):
    attention_id = (await handoff(server))["attention"]["id"]
    await says(server, "ya no quiero esperar", "m_words")
    [turn] = await server.wait_turns(1)
    assert turn.text == "ya no quiero esperar"
    # The line stays in the attention: the agents see what the customer wrote.
    assert [(m.text, m.author) for m in await messages_of(server, attention_id)] == [("ya no quiero esperar", Author.CUSTOMER)]


async def test_english_words_reach_the_bot_too(server, rasa):
    await handoff(server)
    await says(server, "I don't want to wait anymore", "m_words_en")
    [turn] = await server.wait_turns(1)
    assert turn.text == "I don't want to wait anymore"


async def test_an_unsure_reading_or_a_customer_still_waiting_stays_with_the_agents(server, rasa):
    attention_id = (await handoff(server))["attention"]["id"]
    await says(server, "cancela", "m_unsure")
    await says(server, "sigo esperando", "m_waiting")
    await says(server, "tengo un problema con mi factura", "m_problem")
    assert server.turns == []
    assert rasa.logged == ["cancela", "sigo esperando", "tengo un problema con mi factura"]  # on the paused tracker
    assert len(await messages_of(server, attention_id)) == 3


async def test_once_an_agent_holds_the_attention_words_never_reach_the_bot(server, rasa):
    service = server.runtime.service
    attention_id = (await handoff(server))["attention"]["id"]
    agent = await service.agents.add("eva", "Eva", "agent", ["soporte"])
    await service.attentions.open(attention_id, agent)
    await says(server, "ya no quiero esperar", "m_open")
    assert server.turns == [] and rasa.parsed == []  # not even parsed: the agent's conversation
    assert [m.text for m in await messages_of(server, attention_id)] == ["ya no quiero esperar"]

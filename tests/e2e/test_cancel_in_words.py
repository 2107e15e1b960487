"""Issue 13: a queued customer who gives up in words, with the trained model, the real Rasa
server and the real action server (the fixtures of test_handoff_e2e.py).

"ya no quiero esperar" / "I don't want to wait anymore" end the queued attention like the
hand-over button's cancel (the bot says so; the desk's open answers that the customer
cancelled; the line stays in the attention); "sigo esperando" does not; once an agent
holds the attention the same words are the agent's alone.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.e2e import test_handoff_e2e as handoff_e2e
from tests.e2e.test_handoff_e2e import AgentDesk, Customer, kept_trail, stored_attention, text_of

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

# The fake Graph API and the product (Rasa with our channels, the action server) of the
# handoff e2e test, started once for this module.
graph = handoff_e2e.graph
product = handoff_e2e.product


async def queued(customer: Customer, desk: AgentDesk, english: bool = False) -> int:
    """The customer asks for a person, gives a name and a reason: a queued attention."""
    lines = (["I want to talk to a person", "Ann Smith", "I have a problem with my November invoice"] if english
             else ["quiero hablar con una persona", "Ana Pérez", "tengo un problema con mi factura de noviembre"])  # fmt: skip
    for count, line in enumerate(lines, start=1):
        await customer.says(line)
        await customer.wait_replies(count)
    status, listing = await desk.call("GET", "/attentions?channel=messenger")
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
    attention_id = await queued(customer, desk)

    await customer.says("sigo esperando")  # the model reads cancel_handoff; the words do not say no
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
    attention_id = await queued(customer, desk, english=True)
    await customer.says("I don't want to wait anymore")
    answer = (await customer.wait_replies(4))[-1]
    assert text_of(answer).startswith("Done, I cancelled your request")
    status, refused = await desk.call("POST", f"/attentions/{attention_id}/open")
    assert status == 409 and refused["code"] == "attention.cancelled_by_customer", refused


async def test_once_an_agent_holds_it_the_words_are_the_agents(product, graph):
    customer = Customer(product, graph, "e2e-words-open")
    desk = AgentDesk(product)
    await desk.login()
    attention_id = await queued(customer, desk)
    status, _ = await desk.call("POST", f"/attentions/{attention_id}/open")
    assert status == 200
    await customer.says("ya no quiero esperar")
    await silent_for(customer)
    status, detail = await desk.call("GET", f"/attentions/{attention_id}")
    assert detail["attention"]["state"] == "open"
    assert "ya no quiero esperar" in [message["text"] for message in detail["messages"]]

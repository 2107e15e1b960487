"""Agents' messages and bot replies through the running server while the (fake) Graph API
fails the way Meta does. The fake Graph API plays Meta's echoes back to the server's
webhooks, signed, so an ambiguous send is reconciled exactly as in production.

- transient failures (HTTP 5xx, code 1200, timeouts and dropped connections before
  Meta accepted) are retried and the message goes out once;
- rate limits (613, 4) back off, longer than transient errors, then succeed;
- a send Meta accepted but answered too late (timeout, dropped connection, or an echo
  before the answer) is recognised by its echo and never sent twice;
- permanent failures (window closed 10/2018278 and 10/2534022, 551, 190, 100, and
  transient ones that outlast the retries) end as a failed message carrying Meta's code,
  subcode and message for the agent, after one attempt (or the policy's attempts).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from handoff.model import MessageStatus
from sandbox.graph_api import FakeGraphAPI
from sandbox.webhooks import WebhookSender
from tests.connectors.fixtures import envelope, item, with_mid
from tests.connectors.harness import (
    APP_ID,
    APP_SECRET,
    IG_ACCOUNT_ID,
    INSTAGRAM_SECRET,
    INSTAGRAM_TOKEN,
    PAGE_ID,
    PAGE_TOKEN,
    echo_bot,
    running_connectors,
)

pytestmark = pytest.mark.timeout(60)

RETRIES: dict[str, Any] = {
    "retry_attempts": 4,
    "retry_backoff": 0.02,
    "rate_limit_backoff": 0.2,
    "echo_wait": 1.0,
    "graph_timeout": 0.5,
}
ACCOUNTS = {"messenger": PAGE_ID, "instagram": IG_ACCOUNT_ID}


@pytest.fixture
async def server(database_url):
    graph = FakeGraphAPI(
        {PAGE_TOKEN: "messenger", INSTAGRAM_TOKEN: "instagram"},
        app_id=APP_ID,
        page_id=PAGE_ID,
        ig_account_id=IG_ACCOUNT_ID,
        emit_echoes=True,
        emit_deliveries=True,
    )
    await graph.start()
    async with running_connectors(database_url, bot=echo_bot, graph=graph, **RETRIES) as running:
        sender = WebhookSender(running.url, {"messenger": APP_SECRET, "instagram": INSTAGRAM_SECRET})
        graph.webhooks = sender  # Meta's echoes, deliveries and reads reach our webhooks
        yield running
        await graph.flush_webhooks()
        await sender.close()
    await graph.stop()


async def agent_in_attention(server, customer: str, channel: str = "messenger"):
    service = server.runtime.service
    attention = await service.inbound.request_handoff(channel, ACCOUNTS[channel], customer, intent="request_human")
    agent = await service.agents.add(f"agent-{customer}", "Agente", "agent", [attention.campaign_id])
    await service.attentions.open(attention.id, agent)
    return service, attention.id, agent


def attempts(graph: FakeGraphAPI, customer: str):
    return [r for r in graph.requests if r.kind == "message" and r.recipient_id == customer]


async def send(server, customer: str, channel: str = "messenger", text: str = "Hola, soy su agente."):
    service, attention_id, agent = await agent_in_attention(server, customer, channel)
    started = time.monotonic()
    message = await service.outbox.send_agent_message(attention_id, agent, text)
    return message, time.monotonic() - started


TRANSIENT = {
    "http_503": lambda g, c: g.fail_next(2, http_status=503, code=2, recipient_id=c),
    "code_1200": lambda g, c: g.fail_next(2, http_status=500, code=1200, recipient_id=c),
    "timeout_before_meta_accepted": lambda g, c: g.delay_next(2.0, accept=False, recipient_id=c),
    "connection_dropped_before_meta_accepted": lambda g, c: g.close_connection_next(accept=False, recipient_id=c),
}


@pytest.mark.parametrize("fault", TRANSIENT)
async def test_transient_failures_are_retried_and_the_message_goes_out_once(server, fault):
    customer = f"c-{fault}"
    TRANSIENT[fault](server.graph, customer)
    message, _ = await send(server, customer)
    [accepted] = server.graph.sent_messages(recipient_id=customer)
    # Meta's delivery webhook may be handled before the send returns: delivered is past sent.
    assert message.status in (MessageStatus.SENT, MessageStatus.DELIVERED) and message.mid == accepted.message_id
    assert message.error_code is None
    assert len(attempts(server.graph, customer)) == (3 if fault in ("http_503", "code_1200") else 2)


@pytest.mark.parametrize("code", [613, 4])
async def test_rate_limits_back_off_longer_then_succeed(server, code):
    customer = f"c-rate-{code}"
    server.graph.rate_limit_next(2, code=code, recipient_id=customer)
    message, elapsed = await send(server, customer)
    assert message.status in (MessageStatus.SENT, MessageStatus.DELIVERED)
    assert len(server.graph.sent_messages(recipient_id=customer)) == 1
    assert len(attempts(server.graph, customer)) == 3
    # Full jitter: at least half of 0.2 s, then half of 0.4 s (transient errors: 0.02 s).
    assert elapsed >= 0.3


AMBIGUOUS = {
    "timeout_after_meta_accepted": lambda g, c: g.delay_next(3.0, accept=True, recipient_id=c),
    "connection_dropped_after_meta_accepted": lambda g, c: g.close_connection_next(accept=True, recipient_id=c),
    "echo_before_the_answer": lambda g, c: g.early_echo_next(recipient_id=c),
}


@pytest.mark.parametrize("fault", AMBIGUOUS)
async def test_a_send_meta_accepted_is_reconciled_with_its_echo_and_never_sent_twice(server, fault):
    customer = f"c-{fault}"
    AMBIGUOUS[fault](server.graph, customer)
    message, _ = await send(server, customer)
    await server.graph.flush_webhooks()
    await server.settle()
    [accepted] = server.graph.sent_messages(recipient_id=customer)
    assert len(attempts(server.graph, customer)) == 1  # no blind retry
    assert message.status in (MessageStatus.SENT, MessageStatus.DELIVERED) and message.mid == accepted.message_id
    stored = await server.runtime.service.queries.detail(message.attention_id)
    [outbound] = [m for m in stored.messages if m.id == message.id]
    assert outbound.mid == accepted.message_id and outbound.status in (MessageStatus.SENT, MessageStatus.DELIVERED)


PERMANENT = {
    "window_closed_messenger": (
        "messenger",
        lambda g, c: g.outside_window_next(channel="messenger", recipient_id=c),
        10,
        2018278,
    ),
    "window_closed_instagram": (
        "instagram",
        lambda g, c: g.outside_window_next(channel="instagram", recipient_id=c),
        10,
        2534022,
    ),
    "recipient_unavailable": ("messenger", lambda g, c: g.user_unavailable_next(recipient_id=c), 551, 1545041),
    "invalid_token": (
        "messenger",
        lambda g, c: g.fail_next(
            http_status=400, code=190, subcode=463, recipient_id=c, message="Error validating access token: Session has expired."
        ),
        190,
        463,
    ),
    "invalid_parameter": (
        "instagram",
        lambda g, c: g.fail_next(http_status=400, code=100, recipient_id=c, message="(#100) Invalid parameter"),
        100,
        None,
    ),
}


@pytest.mark.parametrize("fault", PERMANENT)
async def test_permanent_failures_are_not_retried_and_keep_metas_reason_for_the_agent(server, fault):
    channel, arm, code, subcode = PERMANENT[fault]
    customer = f"c-{fault}"
    arm(server.graph, customer)
    message, _ = await send(server, customer, channel)
    assert message.status is MessageStatus.FAILED
    assert (message.error_code, message.error_subcode) == (code, subcode) and message.error_message
    assert len(attempts(server.graph, customer)) == 1
    assert server.graph.sent_messages(recipient_id=customer) == []
    # What the agent's screen reads back is the same failure.
    stored = await server.runtime.service.queries.detail(message.attention_id)
    [again] = [m for m in stored.messages if m.id == message.id]
    assert again.status is MessageStatus.FAILED and again.error_code == code


async def test_transient_failures_that_outlast_the_retries_fail_with_the_last_reason(server):
    customer = "c-exhausted"
    server.graph.fail_next(10, http_status=503, code=2, recipient_id=customer, message="Service temporarily unavailable")
    message, _ = await send(server, customer)
    assert message.status is MessageStatus.FAILED and message.error_code == 2
    assert "temporarily unavailable" in message.error_message
    assert len(attempts(server.graph, customer)) == RETRIES["retry_attempts"]


async def test_bot_replies_get_the_same_retries_and_reconciliation(server):
    graph = server.graph
    graph.fail_next(1, http_status=500, code=1200, recipient_id="bot-a")
    graph.delay_next(3.0, accept=True, recipient_id="bot-b")
    for customer, mid in (("bot-a", "m_bot_a"), ("bot-b", "m_bot_b")):
        raw = with_mid(item("messenger/text"), mid, sender=customer)
        raw["message"]["text"] = f"hola {customer}"
        assert (await server.post("messenger", envelope("messenger", [raw]))).status == 200
    await server.wait_turns(2)
    await server.settle()
    await graph.flush_webhooks()
    await server.settle()
    for customer in ("bot-a", "bot-b"):
        [reply] = graph.sent_messages(recipient_id=customer)
        assert reply.json["message"]["text"] == f"eco: hola {customer}"
    assert len(attempts(graph, "bot-a")) == 2 and len(attempts(graph, "bot-b")) == 1

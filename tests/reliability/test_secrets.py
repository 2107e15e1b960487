"""Secrets (app secrets, access tokens, the verify token, the service token) never appear
in a log line or an API answer, in-process with every logger at DEBUG (Sanic's access log
included), while webhooks, Graph API failures and refused service calls are exercised.
``test_real_rasa.py`` does the same with the real ``rasa run --debug``."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from connectors.meta.channel import sign
from handoff.model import MessageStatus
from tests.connectors.fixtures import envelope, item, with_mid
from tests.connectors.harness import (
    APP_SECRET,
    INSTAGRAM_SECRET,
    INSTAGRAM_TOKEN,
    PAGE_ID,
    PAGE_TOKEN,
    SERVICE_TOKEN,
    VERIFY_TOKEN,
    echo_bot,
    running_connectors,
)
from tests.reliability.support import EveryField, every_log_record, leaked

HARNESS_SECRETS = {APP_SECRET, INSTAGRAM_SECRET, INSTAGRAM_TOKEN, PAGE_TOKEN, SERVICE_TOKEN, VERIFY_TOKEN}


@pytest.fixture
def every_field() -> Iterator[EveryField]:
    with every_log_record() as handler:
        yield handler


async def test_no_secret_reaches_a_log_line_or_an_answer(database_url, caplog, capfd, every_field):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sanic.access")  # whatever earlier tests configured
    answers: list[str] = []
    async with running_connectors(database_url, bot=echo_bot, retry_backoff=0.01, rate_limit_backoff=0.01) as server:
        session, graph = server.session, server.graph
        assert session is not None

        async def call(method: str, url: str, **kwargs) -> int:
            async with session.request(method, url, **kwargs) as response:
                answers.append(f"{response.status} {dict(response.headers)} {await response.text()}")
                return response.status

        # Meta verifies the webhook (the token travels in the query string), then an attacker guesses.
        for token in (VERIFY_TOKEN, "guess"):
            await call(
                "GET",
                server.webhook("messenger"),
                params={"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "7"},
            )
        # Webhooks: good, forged, other channel's secret, malformed.
        for channel, secret in (("messenger", APP_SECRET), ("instagram", INSTAGRAM_SECRET)):
            raw = json.dumps(
                envelope(channel, [with_mid(item(f"{channel}/text"), f"m_secret_{channel}", sender=f"s-{channel}")])
            ).encode()
            assert (
                await call("POST", server.webhook(channel), data=raw, headers={"X-Hub-Signature-256": sign(raw, secret)}) == 200
            )
            await call("POST", server.webhook(channel), data=raw, headers={"X-Hub-Signature-256": sign(raw, "forged")})
            await call("POST", server.webhook(channel), data=b"{oops", headers={"X-Hub-Signature-256": sign(b"{oops", secret)})
        # Bot replies that fail at the Graph API: transient (retried, logged), a dead token, rate limits.
        graph.fail_next(1, http_status=500, code=1200, recipient_id="s-fail")
        graph.fail_next(
            1,
            http_status=400,
            code=190,
            subcode=463,
            recipient_id="s-token",
            message="Error validating access token: Session has expired.",
        )
        graph.rate_limit_next(1, recipient_id="s-rate")
        for customer in ("s-fail", "s-token", "s-rate"):
            raw = json.dumps(envelope("messenger", [with_mid(item("messenger/text"), f"m_{customer}", sender=customer)])).encode()
            await call("POST", server.webhook("messenger"), data=raw, headers={"X-Hub-Signature-256": sign(raw, APP_SECRET)})
        await server.wait_turns(5)
        await server.settle()
        # An agent's message Meta refuses: the failure stored for the agent carries Meta's words only.
        service = server.runtime.service
        attention = await service.inbound.request_handoff("messenger", PAGE_ID, "s-agent", intent="request_human")
        agent = await service.agents.add("secretive", "Agente", "agent", [attention.campaign_id])
        await service.attentions.open(attention.id, agent)
        graph.fail_next(1, http_status=400, code=190, subcode=460, recipient_id="s-agent", message="Invalid OAuth access token.")
        failed = await service.outbox.send_agent_message(attention.id, agent, "hola")
        assert failed.status is MessageStatus.FAILED and failed.error_code == 190
        answers.append(repr(failed))
        # The service API: wrong, missing and right tokens.
        url = f"{server.url}/webhooks/desk/service/attentions"
        body = {"channel": "messenger", "account_id": PAGE_ID, "customer_id": "s-api"}
        assert await call("POST", url, json=body, headers={"Authorization": "Bearer wrong"}) == 401
        assert await call("POST", url, json=body) == 401
        assert await call("POST", url, json=body, headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}) == 201
        # What code might log about the channels themselves.
        answers += [repr(channel) + repr(channel.settings) for channel in server.channels.values()]
        answers.append(repr(server.desk) if getattr(server, "desk", None) else "")

    captured = capfd.readouterr()
    everything = "\n".join([caplog.text, *every_field.lines, captured.out, captured.err, *answers])
    assert len(every_field.lines) > 20 and any("hub.verify_token=" in line for line in every_field.lines)
    assert "code 190" in everything and "Error validating access token" in everything
    assert leaked(everything, HARNESS_SECRETS) == []

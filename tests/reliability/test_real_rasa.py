"""The real product: ``rasa run --debug`` with our channels, the trained bot and the
shipped ``endpoints.yml`` (Rasa's in-memory tracker store), against a fake Graph API
that plays Meta's echoes and deliveries back. One run, killed with SIGKILL in the middle
of a burst of customers and started again:

- every customer gets the bot's answer once: never twice, and none missing except for a
  turn that was under way at the kill, which the inbox then lists as ``interrupted``;
- what was acknowledged and waiting at the kill is replayed after the restart;
- Graph API failures during bot replies are retried or logged with Meta's error;
- with distinctive secrets configured, no secret appears anywhere in the output of both
  runs (stdout and stderr at ``--debug``), nor in any answer.

Two starts of ``rasa run`` take about a minute on two idle cores (longer on a busy box).
"""

from __future__ import annotations

import asyncio
import re

import aiohttp
import pytest

from sandbox.graph_api import FakeGraphAPI
from sandbox.webhooks import WebhookSender
from tests.e2e.rasa_server import require_trained_model
from tests.reliability.support import (
    APP_ID,
    APP_SECRET,
    IG_ACCOUNT_ID,
    INSTAGRAM_SECRET,
    INSTAGRAM_TOKEN,
    PAGE_ID,
    PAGE_TOKEN,
    SECRETS,
    SERVICE_TOKEN,
    VERIFY_TOKEN,
    RealRasa,
    body_of,
    leaked,
    post,
    signed,
    text_item,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

BURST = [("messenger", f"rr-m{n:02}") for n in range(20)] + [("instagram", f"rr-i{n:02}") for n in range(10)]


async def replies(graph: FakeGraphAPI, customer: str, count: int = 1, timeout: float = 60) -> int:
    await graph.wait_for_messages(count, timeout=timeout, recipient_id=customer)
    return len(graph.sent_messages(recipient_id=customer))


async def test_real_rasa_through_a_sigkill_answers_each_customer_once_and_logs_no_secret(tmp_path):
    require_trained_model()
    graph = FakeGraphAPI(
        {PAGE_TOKEN: "messenger", INSTAGRAM_TOKEN: "instagram"},
        app_id=APP_ID,
        page_id=PAGE_ID,
        ig_account_id=IG_ACCOUNT_ID,
        emit_echoes=True,
        emit_deliveries=True,
    )
    await graph.start()
    rasa = RealRasa(tmp_path, graph.url)
    sender = WebhookSender(rasa.url, {"messenger": APP_SECRET, "instagram": INSTAGRAM_SECRET})
    graph.webhooks = sender
    answers: list[str] = []
    try:
        await rasa.start()
        async with aiohttp.ClientSession() as session:

            async def call(method: str, path: str, **kwargs) -> int:
                async with session.request(method, rasa.url + path, **kwargs) as response:
                    answers.append(f"{response.status} {dict(response.headers)} {await response.text()}")
                    return response.status

            # Meta verifies the webhook; someone guesses; forged and malformed webhooks.
            verify = {"hub.mode": "subscribe", "hub.challenge": "31337"}
            assert await call("GET", "/webhooks/messenger/webhook", params={**verify, "hub.verify_token": VERIFY_TOKEN}) == 200
            assert await call("GET", "/webhooks/instagram/webhook", params={**verify, "hub.verify_token": "guess"}) == 403
            raw, headers = signed(
                "messenger", body_of("messenger", [[text_item("messenger", "rr-forged", "rr_forged")]]), "forged"
            )
            assert await call("POST", "/webhooks/messenger/webhook", data=raw, headers=headers) == 403
            raw, headers = signed("instagram", b"{not json")
            assert await call("POST", "/webhooks/instagram/webhook", data=raw, headers=headers) == 400
            # The service API the action server uses: wrong, missing and right tokens.
            attention = {"channel": "messenger", "account_id": PAGE_ID, "customer_id": "rr-api"}
            assert (
                await call("POST", "/webhooks/desk/service/attentions", json=attention, headers={"Authorization": "Bearer nope"})
                == 401
            )
            assert await call("POST", "/webhooks/desk/service/attentions", json=attention) == 401
            assert (
                await call(
                    "POST",
                    "/webhooks/desk/service/attentions",
                    json=attention,
                    headers={"Authorization": f"Bearer {SERVICE_TOKEN}"},
                )
                == 201
            )

            # A reference turn, and bot replies that meet Graph API failures.
            graph.fail_next(2, http_status=500, code=1200, recipient_id="rr-transient")
            graph.fail_next(
                1,
                http_status=400,
                code=190,
                subcode=463,
                recipient_id="rr-token",
                message="Error validating access token: Session has expired.",
            )
            for customer in ("rr-ref", "rr-transient", "rr-token"):
                assert (
                    await post(
                        session,
                        rasa.url,
                        "messenger",
                        body_of("messenger", [[text_item("messenger", customer, f"{customer}-1")]]),
                    )
                    == 200
                )
            per_turn = await replies(graph, "rr-ref")
            assert await replies(graph, "rr-transient") == per_turn
            await graph.wait_for(lambda r: r.recipient_id == "rr-token" and r.outcome == "fault", timeout=60)

            # The burst: one message per customer, in a few deliveries per channel; the kill
            # comes right after the last 200, while most of it waits or is in a turn.
            for channel in ("messenger", "instagram"):
                customers = [customer for ch, customer in BURST if ch == channel]
                for start in range(0, len(customers), 5):
                    items = [text_item(channel, customer, f"{customer}-hola") for customer in customers[start : start + 5]]
                    assert await post(session, rasa.url, channel, body_of(channel, [items])) == 200
        rasa.kill()
        await rasa.start()
        await sender.drain(30)
        await rasa.settle()
        await asyncio.sleep(1.0)  # the last replies' echoes
        await sender.drain(30)
        await rasa.settle()
    finally:
        rasa.stop()
        await sender.close()
        await graph.stop()

    inbox = {row["dedup_key"]: row for row in rasa.inbox()}
    # Cut short at the kill: failed before any reply, or handled once its replies were at
    # Meta (recorded before each send; the turn is not run again).
    interrupted = {
        key.split(":", 1)[1]
        for key, row in inbox.items()
        if row["state"] in ("failed", "handled") and "interrupted" in (row["error"] or "")
    }
    assert [key for key, row in inbox.items() if row["state"] == "failed" and key.split(":", 1)[1] not in interrupted] == []
    counts = {customer: len(graph.sent_messages(recipient_id=customer)) for _, customer in BURST}
    for customer, count in counts.items():
        if f"{customer}-hola" in interrupted:
            assert count <= per_turn, (customer, count)  # at most once
        else:
            assert count == per_turn, (customer, count, inbox.get(f"message:{customer}-hola"))
    replayed = [int(n) for n in re.findall(r": (\d+) acknowledged items will be replayed", rasa.logs())]
    assert sum(replayed) > 0
    assert "code 190" in rasa.logs() and rasa.starts == 2

    output = rasa.logs()
    assert "DEBUG" in output and len(output) > 10_000  # the debug output really is there
    assert leaked("\n".join([output, *answers]), SECRETS | {"rel-session-secret-Wq5Er8Ty1U"}) == []
    answered = sorted(mid for mid in interrupted if counts.get(mid.removesuffix("-hola")))
    # An interrupted item whose reply Meta accepted is recorded as such, never as failed.
    assert [mid for mid in answered if inbox[f"message:{mid}"]["state"] == "failed"] == []
    print(
        f"\nreal rasa: {len(BURST)} customers, replayed {replayed}, {per_turn} message(s) per turn, "
        f"interrupted {sorted(interrupted)} of which already answered before the kill: {answered}"
    )

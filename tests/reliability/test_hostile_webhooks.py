"""Webhooks from someone who is not Meta, or from a Meta having a bad day: bad
signatures, wrong verify tokens, oversized and malformed bodies, and fuzzed payloads.
Never a 5xx, never a bot turn (nor a stored item) without a valid signature, and one bad
item does not take the good ones of its batch down with it."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.meta.channel import sign
from connectors.storage.schema import inbox_item
from tests.connectors.harness import APP_SECRET, INSTAGRAM_SECRET, PAGE_ID, VERIFY_TOKEN, running_connectors
from tests.reliability.strategies import meta_shaped, structural

pytestmark = pytest.mark.timeout(120)

SECRETS = {"messenger": APP_SECRET, "instagram": INSTAGRAM_SECRET}
OBJECTS = {"messenger": "page", "instagram": "instagram"}


def text_body(mid: str = "m_hostile", channel: str = "messenger", sender: str = "psid-h", text: str = "hola") -> dict:
    return {
        "object": OBJECTS[channel],
        "entry": [
            {
                "id": PAGE_ID,
                "time": 1,
                "messaging": [
                    {
                        "sender": {"id": sender},
                        "recipient": {"id": PAGE_ID},
                        "timestamp": 1700000000000,
                        "message": {"mid": mid, "text": text},
                    }
                ],
            }
        ],
    }


async def raw_post(server, channel: str, data, headers: dict) -> int:
    async with server.session.post(server.webhook(channel), data=data, headers=headers) as response:
        await response.read()
        return response.status


async def inbox_rows(server) -> list:
    async with server.runtime.engine.connect() as connection:
        return (await connection.execute(sa.select(inbox_item))).all()


# -- signatures --------------------------------------------------------------------------


def bad_signatures(raw: bytes, secret: str) -> dict[str, dict[str, str]]:
    good = sign(raw, secret)
    sha1 = "sha1=" + hmac.new(secret.encode(), raw, hashlib.sha1).hexdigest()
    return {
        "missing": {},
        "empty": {"X-Hub-Signature-256": ""},
        "forged": {"X-Hub-Signature-256": "sha256=" + "ab" * 32},
        "other_secret": {"X-Hub-Signature-256": sign(raw, "not-the-app-secret")},
        "truncated": {"X-Hub-Signature-256": good[:40]},
        "prefix_only": {"X-Hub-Signature-256": "sha256="},
        "no_prefix": {"X-Hub-Signature-256": good.split("=", 1)[1]},
        "sha1_only": {"X-Hub-Signature": sha1},
        "sha1_in_the_sha256_header": {"X-Hub-Signature-256": sha1},
        "uppercase_hex": {"X-Hub-Signature-256": "sha256=" + good.split("=", 1)[1].upper()},
        "trailing_garbage": {"X-Hub-Signature-256": good + "00"},
    }


@pytest.mark.parametrize("channel", ["messenger", "instagram"])
async def test_every_bad_signature_is_403_and_nothing_is_stored_or_turned(server, channel):
    raw = json.dumps(text_body(channel=channel)).encode()
    for case, headers in bad_signatures(raw, SECRETS[channel]).items():
        status = await raw_post(server, channel, raw, {"Content-Type": "application/json", **headers})
        assert status == 403, case
    # A body cut short after signing (a proxy with a size cap) fails too.
    status = await raw_post(server, channel, raw[:-7], {"X-Hub-Signature-256": sign(raw, SECRETS[channel])})
    assert status == 403
    # The other channel's secret does not open this channel.
    other = SECRETS["instagram" if channel == "messenger" else "messenger"]
    assert await raw_post(server, channel, raw, {"X-Hub-Signature-256": sign(raw, other)}) == 403
    await server.settle()
    assert server.turns == [] and await inbox_rows(server) == []


@pytest.mark.parametrize("token", ["", "wrong", VERIFY_TOKEN[:-1], VERIFY_TOKEN + "x", VERIFY_TOKEN.upper()])
async def test_a_wrong_verify_token_is_403_and_the_challenge_is_not_echoed(server, token):
    params = {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "challenge-4242"}
    for channel in ("messenger", "instagram"):
        async with server.session.get(server.webhook(channel), params=params) as response:
            assert response.status == 403
            assert "challenge-4242" not in await response.text()


# -- sizes -------------------------------------------------------------------------------


async def test_bodies_over_the_configured_limit_are_413_whether_declared_or_streamed(database_url):
    async with running_connectors(database_url, max_body_bytes=64 * 1024) as server:
        big = json.dumps(text_body(text="x" * (70 * 1024))).encode()
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(big, APP_SECRET)}
        assert await raw_post(server, "messenger", big, headers) == 413

        async def chunked():  # no Content-Length: the limit is enforced while reading
            for start in range(0, len(big), 8192):
                yield big[start : start + 8192]

        assert await raw_post(server, "messenger", chunked(), headers) == 413
        small = json.dumps(text_body(mid="m_small")).encode()
        assert await raw_post(server, "messenger", small, {"X-Hub-Signature-256": sign(small, APP_SECRET)}) == 200
        await server.wait_turns(1)
        assert [turn.message_id for turn in server.turns] == ["m_small"]


async def test_metas_largest_batches_fit_under_the_default_limit_and_more_is_413(server):
    # Meta mentions up to 1000 updates per POST; with long texts that is about 2.5 MB.
    items = [
        {
            "sender": {"id": f"big-{n % 50}"},
            "recipient": {"id": PAGE_ID},
            "timestamp": 1700000000000 + n,
            "message": {"mid": f"m_big_{n}", "text": "ñ" * 1200},
        }
        for n in range(1000)
    ]
    body = json.dumps({"object": "page", "entry": [{"id": PAGE_ID, "time": 1, "messaging": items}]}).encode()
    assert 2_000_000 < len(body) < 10 * 1024 * 1024
    assert await raw_post(server, "messenger", body, {"X-Hub-Signature-256": sign(body, APP_SECRET)}) == 200
    await server.wait_turns(1000, timeout=60)
    huge = b" " * (10 * 1024 * 1024) + body  # valid JSON, validly signed, just too big
    assert await raw_post(server, "messenger", huge, {"X-Hub-Signature-256": sign(huge, APP_SECRET)}) == 413


# -- malformed bodies ----------------------------------------------------------------------


MALFORMED = {
    "not_json": b"{not json",
    "empty": b"",
    "array": b"[]",
    "null": b"null",
    "string": b'"page"',
    "nan": b'{"object": "page", "entry": [{"id": "1", "time": NaN, "messaging": []}]}',
    "infinity": b'{"object": "page", "entry": [{"id": "1", "time": 1, "messaging": [{"timestamp": Infinity}]}]}',
    "deeply_nested": b'{"object": "page", "entry": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "invalid_utf8": b'{"object": "page", "entry": [{"id": "\xff\xfe"}]}',
    "truncated_json": json.dumps(text_body()).encode()[:-5],
    "wrong_object": json.dumps({**text_body(), "object": "instagram"}).encode(),
}


@pytest.mark.parametrize("case", MALFORMED)
async def test_malformed_bodies_are_400_never_5xx(server, case):
    raw = MALFORMED[case]
    status = await raw_post(server, "messenger", raw, {"X-Hub-Signature-256": sign(raw, APP_SECRET)})
    assert status == 400
    await server.settle()
    assert server.turns == [] and await inbox_rows(server) == []


async def test_odd_but_valid_bodies_are_acknowledged_and_the_item_with_them_is_handled(server):
    odd = [
        {"object": "page"},
        {"object": "page", "entry": None},
        {"object": "page", "entry": True},
        {"object": "page", "entry": "entries"},
        {"object": "page", "entry": [7, None, "x", {"id": {"nested": 1}, "messaging": 5}]},
        {"object": "page", "entry": [{"id": PAGE_ID, "messaging": [{"message": {"mid": {"a": 1}, "text": ["no"]}}]}]},
        {
            "object": "page",
            "entry": [
                {
                    "id": PAGE_ID,
                    "messaging": [{"sender": {"id": "s"}, "timestamp": 10**20, "message": {"mid": "m_future", "text": "hola"}}],
                }
            ],
        },
        {
            "object": "page",
            "entry": [{"id": PAGE_ID, "messaging": [{"sender": {"id": "s"}, "delivery": {"mids": 4, "watermark": -5}}]}],
        },
    ]
    for body in odd:
        raw = json.dumps(body).encode()
        assert await raw_post(server, "messenger", raw, {"X-Hub-Signature-256": sign(raw, APP_SECRET)}) == 200, body
    await server.settle()
    assert [row.state for row in await inbox_rows(server) if row.state != "handled"] == []
    assert [turn.message_id for turn in server.turns] == ["m_future"]


async def test_an_item_whose_handling_fails_does_not_stop_the_rest_of_its_batch(database_url):
    async def fragile_bot(message):
        if message.text == "boom":
            raise RuntimeError("the bot broke on this one")

    async with running_connectors(database_url, bot=fragile_bot) as server:
        items = [text_body(mid=f"m_{name}", text=name)["entry"][0]["messaging"][0] for name in ("one", "boom", "two")]
        body = {"object": "page", "entry": [{"id": PAGE_ID, "time": 1, "messaging": items}]}
        assert (await server.post("messenger", body)).status == 200
        await server.wait_turns(3)
        await server.settle()
        states = {row.dedup_key: row.state for row in await inbox_rows(server)}
        assert states == {"message:m_one": "handled", "message:m_boom": "failed", "message:m_two": "handled"}


# -- fuzzing through the server --------------------------------------------------------------


def test_fuzzed_bodies_through_the_server_never_5xx_and_never_lose_the_good_item(tmp_path):
    """250 Meta-shaped bodies, each with one good item hidden at a random place, some
    signed with the wrong secret; 150 bodies with wrong types where the parser iterates;
    100 arbitrary byte strings."""
    loop = asyncio.new_event_loop()
    context = running_connectors(f"sqlite+aiosqlite:///{tmp_path / 'fuzz.db'}")
    server = loop.run_until_complete(context.__aenter__())
    sent_good: set[str] = set()
    forged_good: set[str] = set()
    statuses: dict[int, int] = {}
    counter = iter(range(10**9))

    session = server.session
    assert session is not None

    async def deliver(channel: str, raw: bytes, signature: str) -> int:
        async with session.post(server.webhook(channel), data=raw, headers={"X-Hub-Signature-256": signature}) as answer:
            await answer.read()
            statuses[answer.status] = statuses.get(answer.status, 0) + 1
            return answer.status

    @settings(
        max_examples=250, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
    )
    @given(
        body=meta_shaped, channel=st.sampled_from(["messenger", "instagram"]), forged=st.booleans(), seed=st.integers(0, 2**16)
    )
    def fuzzed_batches(body, channel, forged, seed):
        rng = random.Random(seed)
        mid = f"m_sentinel_{next(counter)}"
        good: dict[str, Any] = {
            "id": PAGE_ID,
            "time": 1,
            "messaging": [
                {
                    "sender": {"id": f"sentinel-{rng.randrange(5)}"},
                    "recipient": {"id": PAGE_ID},
                    "timestamp": 1,
                    "message": {"mid": mid, "text": "hola"},
                }
            ],
        }
        entries = list(body["entry"]) if isinstance(body.get("entry"), list) else []
        for entry in entries:  # sometimes the good item shares an entry with fuzzed ones
            if isinstance(entry, dict) and isinstance(entry.get("messaging"), list) and rng.random() < 0.5:
                entry["messaging"].insert(rng.randrange(len(entry["messaging"]) + 1), good["messaging"][0])
                break
        else:
            entries.insert(rng.randrange(len(entries) + 1), good)
        raw = json.dumps({**body, "object": OBJECTS[channel], "entry": entries}).encode()
        signature = sign(raw, "forger" if forged else SECRETS[channel])
        status = loop.run_until_complete(deliver(channel, raw, signature))
        assert status == (403 if forged else 200)
        (forged_good if forged else sent_good).add(mid)

    @settings(
        max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
    )
    @given(body=structural, channel=st.sampled_from(["messenger", "instagram"]))
    def wrong_types(body, channel):
        raw = json.dumps({**body, "object": OBJECTS[channel]}).encode()
        assert loop.run_until_complete(deliver(channel, raw, sign(raw, SECRETS[channel]))) == 200

    @settings(max_examples=100, deadline=None, database=None)
    @given(raw=st.binary(max_size=300), channel=st.sampled_from(["messenger", "instagram"]))
    def arbitrary_bytes(raw, channel):
        status = loop.run_until_complete(deliver(channel, raw, sign(raw, SECRETS[channel])))
        assert status in (200, 400)

    try:
        fuzzed_batches()
        wrong_types()
        arbitrary_bytes()
        loop.run_until_complete(server.settle())
        rows = loop.run_until_complete(inbox_rows(server))
    finally:
        loop.run_until_complete(context.__aexit__(None, None, None))
        loop.close()
    assert not any(status >= 500 for status in statuses), statuses
    turned = [turn.message_id for turn in server.turns]
    assert sorted(mid for mid in turned if mid in sent_good) == sorted(sent_good)  # each good item, once
    assert not forged_good & set(turned)
    assert [(row.dedup_key, row.error) for row in rows if row.state != "handled"] == []

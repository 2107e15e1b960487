"""Webhook builders, Meta-style encoding and signing, and WebhookSender over real HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from sandbox.meta import DEFAULT_IG_ACCOUNT_ID, DEFAULT_PAGE_ID
from sandbox.sender import WebhookResult
from sandbox.webhooks import (
    WebhookFactory,
    WebhookSender,
    batch,
    encode_body,
    events_of,
    mid_of,
    sign,
    sign_sha1,
)
from tests.webhook_receiver import LoopbackWebhookReceiver

PSID = "2400000000000001"
IGSID = "1700000000000002"


class Receiver(LoopbackWebhookReceiver):
    """A stand-in for the Rasa webhook endpoint that checks signatures independently."""

    def __init__(self, secrets: dict[str, str], status: int = 200) -> None:
        self.secrets = secrets
        self.status = status
        self.calls: list[tuple[str, bytes, dict[str, str], bool]] = []
        self.arrived = asyncio.Event()
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def _hook(self, request: web.Request) -> web.Response:
        raw = await request.read()
        channel = request.match_info["channel"]
        expected = "sha256=" + hmac.new(self.secrets[channel].encode(), raw, hashlib.sha256).hexdigest()
        valid = hmac.compare_digest(expected, request.headers.get("X-Hub-Signature-256", ""))
        self.calls.append((channel, raw, dict(request.headers), valid))
        self.arrived.set()
        return web.Response(status=self.status if valid else 403, text="EVENT_RECEIVED")

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(raw) for _c, raw, _h, _v in self.calls]


SECRETS = {"messenger": "m-secret", "instagram": "i-secret"}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = await Receiver(SECRETS).start()
    yield rec
    await rec.stop()


@pytest.fixture
def fb() -> WebhookFactory:
    return WebhookFactory.messenger(PSID)


@pytest.fixture
def ig() -> WebhookFactory:
    return WebhookFactory.instagram(IGSID)


def only_event(body: dict[str, Any]) -> dict[str, Any]:
    [event] = events_of(body)
    return event


# -- signing & encoding ----------------------------------------------------------------------


def test_sign_is_hex_hmac_sha256_of_the_raw_bytes() -> None:
    body = b'{"object":"page"}'
    assert sign(body, "s3cret") == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert sign_sha1(body, "s3cret") == "sha1=" + hmac.new(b"s3cret", body, hashlib.sha1).hexdigest()
    assert sign(body, "other") != sign(body, "s3cret")


def test_encode_body_escapes_like_meta_and_round_trips() -> None:
    body = {"text": "¿Qué tal? 😀", "url": "https://x.example/a/b"}
    raw = encode_body(body)
    assert raw.isascii()
    assert b"\\u00bfQu\\u00e9" in raw and b"\\ud83d\\ude00" in raw
    assert b"https:\\/\\/x.example\\/a\\/b" in raw
    assert json.loads(raw) == body
    # A receiver that re-serialises instead of hashing the bytes gets another signature.
    assert sign(json.dumps(json.loads(raw)).encode(), "k") != sign(raw, "k")
    assert encode_body(b"raw bytes") == b"raw bytes"


# -- builders: envelopes -----------------------------------------------------------------------


def test_messenger_text_envelope(fb: WebhookFactory) -> None:
    body = fb.text("hola")
    assert body["object"] == "page"
    [entry] = body["entry"]
    assert entry["id"] == DEFAULT_PAGE_ID
    assert entry["time"] > 1_600_000_000_000  # milliseconds
    event = only_event(body)
    assert event["sender"] == {"id": PSID} and event["recipient"] == {"id": DEFAULT_PAGE_ID}
    assert event["timestamp"] > 1_600_000_000_000
    assert event["message"]["text"] == "hola"
    assert event["message"]["mid"].startswith("m_")


def test_instagram_text_envelope(ig: WebhookFactory) -> None:
    body = ig.text("hola")
    assert body["object"] == "instagram"
    assert body["entry"][0]["id"] == DEFAULT_IG_ACCOUNT_ID
    event = only_event(body)
    assert event["sender"] == {"id": IGSID} and event["recipient"] == {"id": DEFAULT_IG_ACCOUNT_ID}


def test_every_message_gets_a_unique_mid(fb: WebhookFactory, ig: WebhookFactory) -> None:
    mids = {mid_of(fb.text("x")) for _ in range(500)} | {mid_of(ig.text("x")) for _ in range(500)}
    assert len(mids) == 1000


def test_custom_ids_and_timestamps() -> None:
    factory = WebhookFactory("messenger", customer_id="42", account_id="777")
    body = factory.text("x", mid="m_fixed", timestamp=123)
    event = only_event(body)
    assert body["entry"][0]["id"] == "777" and event["sender"]["id"] == "42"
    assert event["timestamp"] == 123 and event["message"]["mid"] == "m_fixed"
    with pytest.raises(ValueError):
        WebhookFactory("whatsapp", customer_id="1")  # type: ignore[arg-type]


# -- builders: message variants ------------------------------------------------------------


def test_quick_reply_and_postback(fb: WebhookFactory) -> None:
    message = only_event(fb.quick_reply("Sí", "CONFIRM_YES"))["message"]
    assert message["text"] == "Sí" and message["quick_reply"] == {"payload": "CONFIRM_YES"}
    postback = only_event(fb.postback("Ver catálogo", "CATALOG", referral={"ref": "ad-1"}))["postback"]
    assert postback["title"] == "Ver catálogo" and postback["payload"] == "CATALOG"
    assert postback["mid"].startswith("m_") and postback["referral"] == {"ref": "ad-1"}


@pytest.mark.parametrize("kind", ["image", "video", "audio", "file"])
def test_media_attachments(fb: WebhookFactory, kind: str) -> None:
    body = getattr(fb, kind)(f"https://cdn.example/{kind}")
    [attachment] = only_event(body)["message"]["attachments"]
    assert attachment == {"type": kind, "payload": {"url": f"https://cdn.example/{kind}"}}


def test_location_fallback_and_sticker(fb: WebhookFactory) -> None:
    [loc] = only_event(fb.location(-12.05, -77.04, title="Casa"))["message"]["attachments"]
    assert loc["type"] == "location" and loc["payload"]["coordinates"] == {"lat": -12.05, "long": -77.04}
    assert loc["title"] == "Casa"
    [fallback] = only_event(fb.fallback("https://shop.example/p/1", title="Zapatillas"))["message"]["attachments"]
    assert fallback["type"] == "fallback" and fallback["payload"]["url"] == "https://shop.example/p/1"
    assert fallback["title"] == "Zapatillas"
    message = only_event(fb.sticker("https://cdn.example/s.png", sticker_id=369239263222822))["message"]
    [sticker] = message["attachments"]
    assert sticker["type"] == "image"
    assert sticker["payload"] == {"url": "https://cdn.example/s.png", "sticker_id": 369239263222822}
    assert message["sticker_id"] == 369239263222822


def test_instagram_share_reel_story_mention_and_story_reply(ig: WebhookFactory) -> None:
    [share] = only_event(ig.share("https://cdn.example/post.jpg"))["message"]["attachments"]
    assert share == {"type": "share", "payload": {"url": "https://cdn.example/post.jpg"}}
    [reel] = only_event(ig.ig_reel("https://cdn.example/r.mp4", title="Reel", reel_video_id="99"))["message"]["attachments"]
    assert reel == {"type": "ig_reel", "payload": {"url": "https://cdn.example/r.mp4", "title": "Reel", "reel_video_id": "99"}}
    [mention] = only_event(ig.story_mention("https://cdn.example/story.jpg"))["message"]["attachments"]
    assert mention == {"type": "story_mention", "payload": {"url": "https://cdn.example/story.jpg"}}
    message = only_event(ig.story_reply("¡Qué lindo!", story_url="https://cdn.example/s.jpg", story_id="1790"))["message"]
    assert message["text"] == "¡Qué lindo!"
    assert message["reply_to"] == {"story": {"url": "https://cdn.example/s.jpg", "id": "1790"}}


def test_instagram_only_events_refuse_messenger(fb: WebhookFactory, ig: WebhookFactory) -> None:
    with pytest.raises(ValueError):
        fb.story_mention("https://x")
    with pytest.raises(ValueError):
        fb.story_reply("x", story_url="https://x", story_id="1")
    with pytest.raises(ValueError):
        fb.deleted("m_1")
    with pytest.raises(ValueError):
        ig.delivery(["m_1"])


def test_deleted_and_unsupported(ig: WebhookFactory) -> None:
    assert only_event(ig.deleted("aWdf1"))["message"] == {"mid": "aWdf1", "is_deleted": True}
    message = only_event(ig.unsupported())["message"]
    assert message["is_unsupported"] is True and message["mid"]


def test_reply_to_and_referral_on_text(fb: WebhookFactory) -> None:
    message = only_event(fb.text("esto", reply_to_mid="m_bot", referral={"ref": "promo"}))["message"]
    assert message["reply_to"] == {"mid": "m_bot"} and message["referral"] == {"ref": "promo"}


def test_reactions(fb: WebhookFactory) -> None:
    react = only_event(fb.reaction("m_bot", "❤️"))["reaction"]
    assert react == {"mid": "m_bot", "action": "react", "reaction": "love", "emoji": "❤️"}
    unreact = only_event(fb.reaction("m_bot", "👍", action="unreact"))["reaction"]
    assert unreact["action"] == "unreact" and unreact["emoji"] == "👍" and unreact["reaction"] == "like"
    bare = only_event(fb.reaction("m_bot", None, action="unreact"))["reaction"]
    assert bare == {"mid": "m_bot", "action": "unreact"}
    assert only_event(fb.reaction("m_bot", "🦄"))["reaction"]["reaction"] == "other"
    with pytest.raises(ValueError):
        fb.reaction("m_bot", "❤️", action="love")


def test_reads_and_deliveries(fb: WebhookFactory, ig: WebhookFactory) -> None:
    assert only_event(fb.read(watermark=1700000000000))["read"] == {"watermark": 1700000000000}
    assert only_event(fb.read())["read"]["watermark"] > 1_600_000_000_000
    assert only_event(ig.read(mid="aWdf9"))["read"] == {"mid": "aWdf9"}
    with pytest.raises(ValueError):
        ig.read()
    delivery = only_event(fb.delivery(["m_1", "m_2"], watermark=5))["delivery"]
    assert delivery == {"mids": ["m_1", "m_2"], "watermark": 5}


def test_echo_swaps_sender_and_carries_app_id_and_metadata(fb: WebhookFactory) -> None:
    event = only_event(fb.echo(text="Hola", app_id="263902037430900", metadata="out-42", mid="m_ours"))
    assert event["sender"] == {"id": DEFAULT_PAGE_ID} and event["recipient"] == {"id": PSID}
    message = event["message"]
    assert message["is_echo"] is True and message["mid"] == "m_ours"
    assert message["app_id"] == 263902037430900  # a JSON number, as Meta sends it
    assert message["metadata"] == "out-42" and message["text"] == "Hola"


def test_echo_of_a_send_api_message(ig: WebhookFactory) -> None:
    sent = {
        "attachment": {"type": "image", "payload": {"url": "https://x/i.png"}},
        "quick_replies": [{"content_type": "text", "title": "Sí", "payload": "Y"}],
        "metadata": "row-7",
    }
    message = only_event(ig.echo_of(sent, mid="m_1", app_id="55"))["message"]
    assert message["attachments"] == [sent["attachment"]]
    assert message["quick_replies"] == sent["quick_replies"]
    assert message["metadata"] == "row-7" and message["app_id"] == 55 and "text" not in message


def test_referral_event(fb: WebhookFactory) -> None:
    referral = only_event(fb.referral("summer", source="ADS", type="OPEN_THREAD", ad_id="123"))["referral"]
    assert referral == {"ref": "summer", "source": "ADS", "type": "OPEN_THREAD", "ad_id": "123"}


def test_batch_events_of_and_mid_of(fb: WebhookFactory, ig: WebhookFactory) -> None:
    one, two = fb.text("a"), fb.postback("b", "B")
    merged = batch(one, two, fb.read())
    assert merged["object"] == "page" and len(merged["entry"]) == 3
    assert [e.get("message", e.get("postback", {})).get("mid") for e in events_of(merged)[:2]] == [mid_of(one), mid_of(two)]
    assert mid_of(fb.reaction("m_x")) == "m_x"
    assert mid_of(fb.read()) is None
    with pytest.raises(ValueError):
        batch(one, ig.text("x"))
    with pytest.raises(ValueError):
        batch()


# -- WebhookSender ---------------------------------------------------------------------------


async def test_sender_signs_the_exact_bytes_and_targets_the_channel(
    receiver: Receiver, fb: WebhookFactory, ig: WebhookFactory
) -> None:
    async with WebhookSender(receiver.url, SECRETS) as sender:
        r1 = await sender.send("messenger", fb.text("¿hola? https://a/b"))
        r2 = await sender.send("instagram", ig.text("ñandú 🐦"))
    assert r1.ok and r2.ok and r1.status == 200
    assert [(c, valid) for c, _raw, _h, valid in receiver.calls] == [("messenger", True), ("instagram", True)]
    _channel, raw, headers, _ = receiver.calls[0]
    assert raw == r1.raw and raw.isascii()
    assert headers["X-Hub-Signature-256"] == sign(raw, "m-secret")
    assert headers["X-Hub-Signature"] == sign_sha1(raw, "m-secret")
    assert headers["Content-Type"] == "application/json"
    assert receiver.bodies()[1]["entry"][0]["messaging"][0]["message"]["text"] == "ñandú 🐦"


async def test_sender_reports_a_rejected_or_unreachable_receiver(receiver: Receiver, fb: WebhookFactory) -> None:
    async with WebhookSender(receiver.url, {"messenger": "wrong", "instagram": "x"}) as sender:
        rejected = await sender.send("messenger", fb.text("x"))
    assert rejected.status == 403 and not rejected.ok
    async with WebhookSender("http://127.0.0.1:9", SECRETS, timeout=2) as sender:
        down = await sender.send("messenger", fb.text("x"))
        assert down.status is None and down.error and not down.ok
        assert list(sender.history) == [down]
        with pytest.raises(ValueError):
            await sender.send("whatsapp", fb.text("x"))


async def test_sender_accepts_raw_bytes(receiver: Receiver) -> None:
    raw = b'{"object":"page","entry":[]}'
    async with WebhookSender(receiver.url, SECRETS) as sender:
        result = await sender.send("messenger", raw)
    assert result.ok and receiver.calls[0][1] == raw and receiver.calls[0][3]


async def test_enqueue_keeps_order_per_conversation(receiver: Receiver, fb: WebhookFactory) -> None:
    other = WebhookFactory.messenger("2400000000000999")
    async with WebhookSender(receiver.url, SECRETS) as sender:
        bodies = [fb.text(str(i)) for i in range(15)]
        futures = [sender.enqueue("messenger", b, key=("messenger", PSID)) for b in bodies]
        futures.append(sender.enqueue("messenger", other.text("other"), key=("messenger", "999")))
        await sender.drain(5)
        assert all(f.done() and f.result().ok for f in futures)
    texts = [events_of(b)[0]["message"]["text"] for b in receiver.bodies()]
    assert [t for t in texts if t != "other"] == [str(i) for i in range(15)]
    assert "other" in texts


async def test_sender_listener_sees_every_result(receiver: Receiver, fb: WebhookFactory) -> None:
    seen: list[WebhookResult] = []
    async with WebhookSender(receiver.url, SECRETS) as sender:
        sender.add_listener(seen.append)
        await sender.send("messenger", fb.text("1"))
        await sender.enqueue("messenger", fb.text("2"))
    assert [r.status for r in seen] == [200, 200]

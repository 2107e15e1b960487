"""The sandbox server: phone WebSocket flow, media, profiles, security, CLI, import boundary."""

from __future__ import annotations

import ast
import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from sandbox.__main__ import parse_args
from sandbox.app import SandboxConfig, SandboxServer
from sandbox.meta import DEFAULT_IG_ACCOUNT_ID, DEFAULT_PAGE_ID, INSTAGRAM_INBOX_APP_ID, PAGE_INBOX_APP_ID
from tests.webhook_receiver import LoopbackWebhookReceiver

SECRET, IG_SECRET = "app-secret-x", "ig-secret-y"
M_TOKEN, I_TOKEN = "page-token", "ig-token"
PSID, IGSID = "2400000000000001", "1700000000000002"


class FakeRasa(LoopbackWebhookReceiver):
    """Receives the sandbox's webhooks, checking each signature with the channel's secret."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.calls: list[dict[str, Any]] = []
        self.changed = asyncio.Condition()
        self.url = ""
        self.runner: web.AppRunner | None = None

    async def _hook(self, request: web.Request) -> web.Response:
        raw = await request.read()
        channel = request.match_info["channel"]
        secret = SECRET if channel == "messenger" else IG_SECRET
        expected = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
        valid = hmac.compare_digest(expected, request.headers.get("X-Hub-Signature-256", ""))
        self.calls.append({"channel": channel, "body": json.loads(raw), "valid": valid})
        async with self.changed:
            self.changed.notify_all()
        return web.Response(status=self.status if valid else 403)

    def events(self) -> list[dict[str, Any]]:
        return [c["body"]["entry"][0]["messaging"][0] for c in self.calls]

    async def wait_for(self, predicate: Any, timeout: float = 3) -> dict[str, Any]:
        """The first webhook event matching predicate(event)."""

        def found() -> dict[str, Any] | None:
            return next((e for e in self.events() if predicate(e)), None)

        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(lambda: found() is not None), timeout)
        result = found()
        assert result is not None
        return result


@pytest.fixture
async def rasa() -> AsyncIterator[FakeRasa]:
    fake = await FakeRasa().start()
    yield fake
    assert fake.runner is not None
    await fake.runner.cleanup()


def config_for(rasa_url: str) -> SandboxConfig:
    return SandboxConfig(
        port=0,
        rasa_url=rasa_url,
        app_secret=SECRET,
        instagram_app_secret=IG_SECRET,
        messenger_token=M_TOKEN,
        instagram_token=I_TOKEN,
        app_id="1234567890",
    )


@pytest.fixture
async def sandbox(rasa: FakeRasa) -> AsyncIterator[SandboxServer]:
    async with SandboxServer(config_for(rasa.url)) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class Phone:
    """A scripted phone page: the same WebSocket protocol as phone.js."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.inbox: list[dict[str, Any]] = []

    async def send(self, **message: Any) -> None:
        await self.ws.send_json(message)

    async def expect(self, predicate: Any, timeout: float = 3) -> dict[str, Any]:
        for message in self.inbox:
            if predicate(message):
                self.inbox.remove(message)
                return message

        async def read() -> dict[str, Any]:
            while True:
                message = await self.ws.receive_json()
                if predicate(message):
                    return message
                self.inbox.append(message)

        return await asyncio.wait_for(read(), timeout)


async def open_phone(
    http: aiohttp.ClientSession,
    sandbox: SandboxServer,
    channel: str = "messenger",
    customer_id: str = PSID,
    name: str = "Ana Pérez",
) -> Phone:
    ws = await http.ws_connect(sandbox.url + "/sandbox/ws")
    phone = Phone(ws)
    await phone.send(type="hello", channel=channel, customer_id=customer_id, name=name)
    ready = await phone.expect(lambda m: m["type"] == "ready")
    assert ready["customer_id"] == customer_id and ready["channel"] == channel
    return phone


async def graph_send(
    http: aiohttp.ClientSession, sandbox: SandboxServer, body: dict[str, Any], token: str = M_TOKEN
) -> dict[str, Any]:
    async with http.post(sandbox.url + "/v21.0/me/messages", params={"access_token": token}, json=body) as response:
        payload = await response.json()
        assert response.status == 200, payload
        return payload


# -- phone -> Rasa -------------------------------------------------------------------------------


async def test_phone_text_reaches_rasa_as_signed_messenger_webhook(
    sandbox: SandboxServer, rasa: FakeRasa, http: aiohttp.ClientSession
) -> None:
    phone = await open_phone(http, sandbox)
    await phone.send(type="text", text="<b>hola</b> ¿precio?")
    item = (await phone.expect(lambda m: m["type"] == "item"))["item"]
    assert item["from"] == "customer" and item["text"] == "<b>hola</b> ¿precio?" and item["status"] == "sending"
    event = await rasa.wait_for(lambda e: "message" in e)
    assert rasa.calls[0]["valid"] and rasa.calls[0]["channel"] == "messenger"
    assert rasa.calls[0]["body"]["object"] == "page" and rasa.calls[0]["body"]["entry"][0]["id"] == DEFAULT_PAGE_ID
    assert event["sender"]["id"] == PSID and event["message"]["text"] == "<b>hola</b> ¿precio?"
    assert event["message"]["mid"] == item["mid"]
    update = await phone.expect(lambda m: m["type"] == "update")
    assert update["mid"] == item["mid"] and update["patch"]["status"] == "sent"


async def test_phone_buttons_become_quick_reply_and_postback(
    sandbox: SandboxServer, rasa: FakeRasa, http: aiohttp.ClientSession
) -> None:
    phone = await open_phone(http, sandbox)
    await phone.send(type="quick_reply", title="Sí", payload="/affirm")
    await phone.send(type="postback", title="Ver catálogo", payload="CATALOG")
    quick = await rasa.wait_for(lambda e: "quick_reply" in e.get("message", {}))
    assert quick["message"] == {"mid": quick["message"]["mid"], "text": "Sí", "quick_reply": {"payload": "/affirm"}}
    postback = await rasa.wait_for(lambda e: "postback" in e)
    assert postback["postback"]["title"] == "Ver catálogo" and postback["postback"]["payload"] == "CATALOG"


async def test_phone_samples_on_messenger(sandbox: SandboxServer, rasa: FakeRasa, http: aiohttp.ClientSession) -> None:
    phone = await open_phone(http, sandbox)
    for kind in ("image", "sticker", "audio", "file", "location", "share"):
        await phone.send(type="sample", kind=kind)
    await phone.send(type="referral", ref="promo-verano")
    await rasa.wait_for(lambda e: "referral" in e)
    types = [e["message"]["attachments"][0]["type"] for e in rasa.events() if "message" in e]
    assert types == ["image", "image", "audio", "file", "location", "fallback"]
    sticker = rasa.events()[1]["message"]["attachments"][0]["payload"]
    assert sticker["sticker_id"] and sticker["url"].startswith(sandbox.url + "/sandbox/samples/")
    async with http.get(sticker["url"]) as response:
        assert response.status == 200 and response.headers["Content-Type"] == "image/svg+xml"
    async with http.get(rasa.events()[2]["message"]["attachments"][0]["payload"]["url"]) as response:
        assert (await response.read())[:4] == b"RIFF"  # a real WAV voice note
    assert rasa.events()[-1]["referral"]["ref"] == "promo-verano"
    await phone.send(type="sample", kind="story_mention")  # Instagram only
    assert "instagram" in (await phone.expect(lambda m: m["type"] == "error"))["message"]


async def test_instagram_story_events_unsend_and_reads(
    sandbox: SandboxServer, rasa: FakeRasa, http: aiohttp.ClientSession
) -> None:
    phone = await open_phone(http, sandbox, "instagram", IGSID)
    await phone.send(type="sample", kind="story_mention")
    await phone.send(type="story_reply", text="¡Me encanta!")
    await phone.send(type="sample", kind="ig_reel")
    await phone.send(type="text", text="me equivoqué")
    wrong = await rasa.wait_for(lambda e: e.get("message", {}).get("text") == "me equivoqué")
    await phone.send(type="unsend", mid=wrong["message"]["mid"])
    deleted = await rasa.wait_for(lambda e: e.get("message", {}).get("is_deleted"))
    assert deleted["message"]["mid"] == wrong["message"]["mid"]
    assert all(c["channel"] == "instagram" and c["valid"] for c in rasa.calls)
    assert rasa.calls[0]["body"]["object"] == "instagram"
    assert rasa.calls[0]["body"]["entry"][0]["id"] == DEFAULT_IG_ACCOUNT_ID
    events = rasa.events()
    assert events[0]["message"]["attachments"][0]["type"] == "story_mention"
    assert set(events[1]["message"]["reply_to"]["story"]) == {"url", "id"}
    assert events[2]["message"]["attachments"][0]["type"] == "ig_reel"

    sent = await graph_send(
        http,
        sandbox,
        {"recipient": {"id": IGSID}, "messaging_type": "RESPONSE", "message": {"text": "¿Te ayudo?"}},
        token=I_TOKEN,
    )
    await phone.expect(lambda m: m["type"] == "item" and m["item"]["from"] == "page")
    await phone.send(type="seen")
    read = await rasa.wait_for(lambda e: "read" in e)
    assert read["read"] == {"mid": sent["message_id"]}
    assert not any("delivery" in e for e in rasa.events())  # Instagram has no delivery webhooks
    await phone.send(type="reaction", mid=sent["message_id"], emoji="❤️", action="react")
    reaction = await rasa.wait_for(lambda e: "reaction" in e)
    assert reaction["reaction"] == {"mid": sent["message_id"], "action": "react", "reaction": "love", "emoji": "❤️"}


# -- Graph API -> phone -------------------------------------------------------------------------


async def test_graph_send_shows_on_phone_with_echo_delivery_and_read(
    sandbox: SandboxServer, rasa: FakeRasa, http: aiohttp.ClientSession
) -> None:
    phone = await open_phone(http, sandbox)
    body = {
        "recipient": {"id": PSID},
        "messaging_type": "RESPONSE",
        "message": {
            "text": "¿En qué te ayudo?",
            "metadata": "out-1",
            "quick_replies": [{"content_type": "text", "title": "Precios", "payload": "/prices"}],
        },
    }
    sent = await graph_send(http, sandbox, body)
    item = (await phone.expect(lambda m: m["type"] == "item"))["item"]
    assert item["from"] == "page" and item["mid"] == sent["message_id"]
    assert item["message"]["quick_replies"][0]["title"] == "Precios"
    echo = await rasa.wait_for(lambda e: e.get("message", {}).get("is_echo"))
    assert echo["message"]["metadata"] == "out-1" and echo["message"]["app_id"] == 1234567890
    assert echo["message"]["mid"] == sent["message_id"] and echo["recipient"]["id"] == PSID
    delivery = await rasa.wait_for(lambda e: "delivery" in e)
    assert delivery["delivery"]["mids"] == [sent["message_id"]]
    await phone.send(type="seen")
    read = await rasa.wait_for(lambda e: "read" in e)
    assert read["read"]["watermark"] >= delivery["delivery"]["watermark"]
    kinds = [next(k for k in ("read", "delivery", "message") if k in e) for e in rasa.events()]
    assert kinds == ["message", "delivery", "read"]  # echo, delivery, read: in order
    await phone.send(type="seen")  # nothing new to read: no second read
    await sandbox.hub.sender.drain()
    assert sum("read" in e for e in rasa.events()) == 1


async def test_sender_actions_drive_typing_and_seen(sandbox: SandboxServer, http: aiohttp.ClientSession) -> None:
    phone = await open_phone(http, sandbox)
    await graph_send(http, sandbox, {"recipient": {"id": PSID}, "sender_action": "typing_on"})
    assert (await phone.expect(lambda m: m["type"] == "typing"))["on"] is True
    await graph_send(http, sandbox, {"recipient": {"id": PSID}, "sender_action": "typing_off"})
    assert (await phone.expect(lambda m: m["type"] == "typing"))["on"] is False
    await graph_send(http, sandbox, {"recipient": {"id": PSID}, "sender_action": "mark_seen"})
    assert (await phone.expect(lambda m: m["type"] == "page_seen"))["time"] > 0


async def test_history_is_replayed_on_reconnect(sandbox: SandboxServer, http: aiohttp.ClientSession) -> None:
    await graph_send(
        http, sandbox, {"recipient": {"id": PSID}, "messaging_type": "UPDATE", "message": {"text": "te escribimos antes"}}
    )
    ws = await http.ws_connect(sandbox.url + "/sandbox/ws")
    await ws.send_json({"type": "hello", "channel": "messenger", "customer_id": PSID, "name": "Ana"})
    ready = await ws.receive_json()
    assert [i["message"]["text"] for i in ready["history"]] == ["te escribimos antes"]
    await ws.close()


async def test_profile_of_the_phone_customer_is_served(sandbox: SandboxServer, http: aiohttp.ClientSession) -> None:
    await open_phone(http, sandbox, name="Ana María Pérez")
    await open_phone(http, sandbox, "instagram", IGSID, name="Luis Gómez")
    url = f"{sandbox.url}/v21.0/{PSID}"
    params = {"fields": "first_name,last_name,profile_pic", "access_token": M_TOKEN}
    async with http.get(url, params=params) as response:
        profile = await response.json()
    assert profile["first_name"] == "Ana" and profile["last_name"] == "María Pérez"
    async with http.get(profile["profile_pic"]) as response:
        assert response.status == 200 and b"AM" in await response.read()
    params = {"fields": "name,username,profile_pic", "access_token": I_TOKEN}
    async with http.get(f"{sandbox.url}/v21.0/{IGSID}", params=params) as response:
        profile = await response.json()
    assert profile["name"] == "Luis Gómez" and profile["username"].startswith("luis_gomez")


async def test_inbox_reply_is_an_echo_from_metas_inbox(
    sandbox: SandboxServer, rasa: FakeRasa, http: aiohttp.ClientSession
) -> None:
    phone = await open_phone(http, sandbox)
    await phone.send(type="inbox_reply", text="Hola, soy Marta de la tienda")
    item = (await phone.expect(lambda m: m["type"] == "item"))["item"]
    assert item["source"] == "inbox"
    echo = await rasa.wait_for(lambda e: e.get("message", {}).get("is_echo"))
    assert echo["message"]["app_id"] == int(PAGE_INBOX_APP_ID) and echo["message"]["mid"] == item["mid"]
    assert echo["sender"]["id"] == DEFAULT_PAGE_ID
    ig_phone = await open_phone(http, sandbox, "instagram", IGSID)
    await ig_phone.send(type="inbox_reply", text="Hola desde Instagram")
    ig_echo = await rasa.wait_for(lambda e: e.get("message", {}).get("text") == "Hola desde Instagram")
    assert ig_echo["message"]["app_id"] == int(INSTAGRAM_INBOX_APP_ID)


async def test_rasa_down_marks_the_bubble_failed(http: aiohttp.ClientSession) -> None:
    async with SandboxServer(config_for("http://127.0.0.1:9")) as server:
        phone = await open_phone(http, server)
        await phone.send(type="text", text="¿hay alguien?")
        update = await phone.expect(lambda m: m["type"] == "update", timeout=10)
        assert update["patch"]["status"] == "failed" and update["patch"]["error"]


async def test_bad_phone_messages_get_errors(sandbox: SandboxServer, http: aiohttp.ClientSession) -> None:
    ws = await http.ws_connect(sandbox.url + "/sandbox/ws")
    phone = Phone(ws)
    await phone.send(type="text", text="before hello")
    assert (await phone.expect(lambda m: m["type"] == "error"))["message"] == "say hello first"
    await phone.send(type="hello", channel="messenger", customer_id="12; DROP", name="x")
    await phone.expect(lambda m: m["type"] == "error")
    await phone.send(type="hello", channel="messenger", customer_id=PSID, name="x")
    await phone.expect(lambda m: m["type"] == "ready")
    for bad in (
        {"type": "text", "text": ""},
        {"type": "launch"},
        {"type": "reaction", "mid": "nope", "emoji": "❤️"},
        {"type": "media", "media_id": "nope"},
        {"type": "unsend", "mid": "nope"},
    ):
        await phone.send(**bad)
        await phone.expect(lambda m: m["type"] == "error")
    await ws.close()


# -- uploads and media --------------------------------------------------------------------------


async def test_upload_then_send_as_attachment(sandbox: SandboxServer, rasa: FakeRasa, http: aiohttp.ClientSession) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 100
    async with http.post(
        sandbox.url + "/sandbox/upload",
        data=png,
        headers={"Content-Type": "image/png", "X-Filename": "foto%20m%C3%ADa.png", "X-Sandbox-Upload": "1"},
    ) as response:
        stored = await response.json()
    assert stored["kind"] == "image" and stored["filename"] == "foto mía.png"
    phone = await open_phone(http, sandbox)
    await phone.send(type="media", media_id=stored["media_id"])
    event = await rasa.wait_for(lambda e: "attachments" in e.get("message", {}))
    attachment = event["message"]["attachments"][0]
    assert attachment["type"] == "image" and attachment["payload"]["url"] == stored["url"]
    async with http.get(stored["url"]) as response:
        assert response.status == 200 and await response.read() == png
        assert response.headers["Content-Type"] == "image/png"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("content_type", ["text/html", "image/svg+xml"])
async def test_active_content_is_served_as_a_download(
    sandbox: SandboxServer, http: aiohttp.ClientSession, content_type: str
) -> None:
    async with http.post(
        sandbox.url + "/sandbox/upload",
        data=b"<script>alert(1)</script>",
        headers={"Content-Type": content_type, "X-Filename": "x.html", "X-Sandbox-Upload": "1"},
    ) as response:
        stored = await response.json()
    assert stored["kind"] == "file"
    async with http.get(stored["url"]) as response:
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert response.headers["Content-Disposition"].startswith("attachment")


async def test_upload_needs_the_custom_header(sandbox: SandboxServer, http: aiohttp.ClientSession) -> None:
    async with http.post(sandbox.url + "/sandbox/upload", data=b"x", headers={"Content-Type": "text/plain"}) as r:
        assert r.status == 403


# -- page, security, health -----------------------------------------------------------------------


async def test_page_and_static_files(sandbox: SandboxServer, http: aiohttp.ClientSession) -> None:
    async with http.get(sandbox.url + "/") as response:
        html = await response.text()
        assert response.status == 200 and "Escribe un mensaje" in html
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    for name in ("phone.js", "phone.css"):
        async with http.get(f"{sandbox.url}/sandbox/static/{name}") as response:
            assert response.status == 200
    async with http.get(sandbox.url + "/sandbox/health") as response:
        assert (await response.json())["ok"] is True


async def test_cross_origin_websocket_is_refused(sandbox: SandboxServer, http: aiohttp.ClientSession) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await http.ws_connect(sandbox.url + "/sandbox/ws", headers={"Origin": "http://evil.example"})
    assert info.value.status == 403
    ws = await http.ws_connect(sandbox.url + "/sandbox/ws", headers={"Origin": sandbox.url})
    await ws.close()


async def test_graph_routes_check_the_configured_tokens(sandbox: SandboxServer, http: aiohttp.ClientSession) -> None:
    body = {"recipient": {"id": PSID}, "messaging_type": "RESPONSE", "message": {"text": "x"}}
    async with http.post(
        sandbox.url + "/v21.0/me/messages", params={"access_token": "sandbox-messenger-token"}, json=body
    ) as response:
        assert response.status == 400 and (await response.json())["error"]["code"] == 190
    async with http.post(
        sandbox.url + "/v21.0/me/messages", headers={"Authorization": f"Bearer {M_TOKEN}"}, json=body
    ) as response:
        assert response.status == 200


# -- configuration ----------------------------------------------------------------------------------


def test_config_from_env_and_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "META_APP_SECRET",
        "INSTAGRAM_APP_SECRET",
        "MESSENGER_PAGE_ACCESS_TOKEN",
        "INSTAGRAM_ACCESS_TOKEN",
        "META_APP_ID",
        "MESSENGER_PAGE_ID",
        "INSTAGRAM_ACCOUNT_ID",
        "SANDBOX_PORT",
        "SANDBOX_RASA_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    defaults = SandboxConfig.from_env()
    assert defaults.port == 5100 and defaults.rasa_url == "http://127.0.0.1:5005"
    assert defaults.page_id == "100000000000001" and defaults.ig_account_id == "17841400000000001"
    assert defaults.secrets["instagram"] == defaults.secrets["messenger"]
    monkeypatch.setenv("META_APP_SECRET", "s1")
    monkeypatch.setenv("MESSENGER_PAGE_ACCESS_TOKEN", "pt")
    monkeypatch.setenv("INSTAGRAM_ACCESS_TOKEN", "it")
    monkeypatch.setenv("META_APP_ID", "42")
    monkeypatch.setenv("INSTAGRAM_APP_SECRET", "")  # empty means unset: falls back to META_APP_SECRET
    config = parse_args(["--port", "5200", "--rasa-url", "http://127.0.0.1:6000", "--page-id", "77"])
    assert (config.port, config.rasa_url, config.page_id) == (5200, "http://127.0.0.1:6000", "77")
    assert config.secrets == {"messenger": "s1", "instagram": "s1"}
    assert config.tokens == {"pt": "messenger", "it": "instagram"} and config.app_id == "42"
    monkeypatch.setenv("INSTAGRAM_APP_SECRET", "s2")
    assert parse_args([]).secrets == {"messenger": "s1", "instagram": "s2"}


def test_sandbox_stays_outside_the_product_import_graph() -> None:
    root = Path(__file__).resolve().parents[1]
    forbidden = {"connectors", "handoff", "actions"}
    for path in (root / "sandbox").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in forbidden, f"{path.name} imports {name}"
    for package in forbidden:
        for path in (root / package).rglob("*.py"):
            assert "sandbox" not in {
                (n.module or "").split(".")[0]
                for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                if isinstance(n, ast.ImportFrom)
            } | {
                a.name.split(".")[0]
                for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                if isinstance(n, ast.Import)
                for a in n.names
            }, f"{path} imports the sandbox"

"""The phone page in a real browser (Debian chromium through Playwright)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from sandbox.app import SandboxConfig, SandboxServer
from sandbox.signing import verify
from tests.webhook_receiver import LoopbackWebhookReceiver

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
SECRET = "browser-secret"
TOKEN = "browser-page-token"
IG_TOKEN = "browser-ig-token"


class FakeRasa(LoopbackWebhookReceiver):
    """Records verified webhook events."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.valid: list[bool] = []
        self.changed = asyncio.Condition()
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def _hook(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.valid.append(verify(raw, SECRET, request.headers.get("X-Hub-Signature-256", "")))
        body = json.loads(raw)
        self.events.extend(event for entry in body["entry"] for event in entry["messaging"])
        async with self.changed:
            self.changed.notify_all()
        return web.Response(text="ok")

    async def wait_for(self, predicate: Any, timeout: float = 10) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            return next((e for e in self.events if predicate(e)), None)

        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(lambda: found() is not None), timeout)
        event = found()
        assert event is not None
        return event


@pytest.fixture
async def setup() -> AsyncIterator[tuple]:
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed")
    async_api = pytest.importorskip("playwright.async_api")
    rasa = await FakeRasa().start()
    config = SandboxConfig(port=0, rasa_url=rasa.url, app_secret=SECRET, messenger_token=TOKEN, instagram_token=IG_TOKEN)
    server = await SandboxServer(config).start()
    async with async_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        page = await browser.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            yield rasa, server, page, errors
        finally:
            await browser.close()
            await server.stop()
            assert rasa.runner is not None
            await rasa.runner.cleanup()


async def graph_send(server: SandboxServer, body: dict[str, Any], token: str = TOKEN) -> dict[str, Any]:
    url = f"{server.url}/v21.0/me/messages"
    async with aiohttp.ClientSession() as http, http.post(url, params={"access_token": token}, json=body) as r:
        assert r.status == 200, await r.text()
        return await r.json()


def _attachment_type(event: dict[str, Any]) -> str | None:
    message = event.get("message", {})
    if message.get("is_echo") or not message.get("attachments"):
        return None
    return message["attachments"][0]["type"]


async def test_phone_page_end_to_end(setup: tuple) -> None:
    rasa, server, page, errors = setup
    await page.goto(f"{server.url}/?slot=e2e")
    await page.wait_for_selector('#conn[data-state="open"]')
    assert await page.get_attribute("#text", "placeholder") == "Escribe un mensaje…"

    # Name the customer; the fake Graph API then serves that profile.
    await page.fill("#customer-name", "Rosa Quispe")
    await page.press("#customer-name", "Enter")
    customer_id = await page.text_content("#info-customer")
    assert customer_id and customer_id.isdigit()

    # Type and press Enter: a signed Messenger webhook reaches "Rasa".
    await page.fill("#text", "Hola, quiero información")
    await page.press("#text", "Enter")
    event = await rasa.wait_for(lambda e: e.get("message", {}).get("text") == "Hola, quiero información")
    assert event["sender"]["id"] == customer_id and all(rasa.valid)
    await page.wait_for_selector(".status.sent")

    # The bot "types", then answers with HTML-looking text and quick replies.
    await graph_send(server, {"recipient": {"id": customer_id}, "sender_action": "typing_on"})
    await page.wait_for_selector("#typing:not([hidden])")
    hostile = '<img src=x onerror="window.pwned=1">'
    await graph_send(
        server,
        {
            "recipient": {"id": customer_id},
            "messaging_type": "RESPONSE",
            "message": {
                "text": f"Hola Rosa {hostile}",
                "quick_replies": [
                    {"content_type": "text", "title": "Precios", "payload": "/ask_prices"},
                    {"content_type": "text", "title": "Horario", "payload": "/ask_hours"},
                ],
            },
        },
    )
    bubble = page.locator(".row.page .bubble", has_text="Hola Rosa")
    await bubble.wait_for()
    assert hostile in (await bubble.text_content() or "")
    assert await page.locator(".row.page .bubble img").count() == 0
    assert await page.evaluate("window.pwned === undefined")
    assert await page.is_hidden("#typing")
    # The page is visible, so the phone reports the message as read.
    await rasa.wait_for(lambda e: "read" in e)

    await page.click(".quick-replies button:has-text('Precios')")
    quick = await rasa.wait_for(lambda e: "quick_reply" in e.get("message", {}))
    assert quick["message"]["quick_reply"]["payload"] == "/ask_prices"

    # A generic template: tapping a card button sends a postback.
    elements = [
        {
            "title": "Zapatilla azul",
            "subtitle": "S/ 199",
            "image_url": f"{server.url}/sandbox/samples/image.svg",
            "buttons": [
                {"type": "postback", "title": "Comprar", "payload": "BUY_1"},
                {"type": "web_url", "title": "Ver", "url": "https://example.com/p/1"},
            ],
        },
        {
            "title": "Zapatilla roja",
            "subtitle": "S/ 189",
            "buttons": [{"type": "postback", "title": "Comprar", "payload": "BUY_2"}],
        },
    ]
    await graph_send(
        server,
        {
            "recipient": {"id": customer_id},
            "messaging_type": "RESPONSE",
            "message": {"attachment": {"type": "template", "payload": {"template_type": "generic", "elements": elements}}},
        },
    )
    await page.locator(".card", has_text="Zapatilla azul").locator("button", has_text="Comprar").click()
    postback = await rasa.wait_for(lambda e: "postback" in e)
    assert postback["postback"] == {"mid": postback["postback"]["mid"], "title": "Comprar", "payload": "BUY_1"}

    # React to the bot's text through the message menu.
    row = page.locator(".row.page", has_text="Hola Rosa")
    await row.hover()
    await row.locator(".more").click()
    await page.click("#msg-menu .emojis button:has-text('👍')")
    reaction = await rasa.wait_for(lambda e: "reaction" in e)
    assert reaction["reaction"]["emoji"] == "👍" and reaction["reaction"]["action"] == "react"
    await page.wait_for_selector(".reactions:has-text('👍')")

    # Samples from the attachment menu.
    await page.click("#attach")
    await page.click("#attach-menu [data-sample='location']")
    location = await rasa.wait_for(lambda e: "attachments" in e.get("message", {}) and not e["message"].get("is_echo"))
    assert location["message"]["attachments"][0]["type"] == "location"

    # An uploaded photo, and a real video recorded from a canvas, become attachments.
    png = bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a5f5d8640000000049454e44ae426082"
    )
    await page.set_input_files("#file", files=[{"name": "recibo.png", "mimeType": "image/png", "buffer": png}])
    photo = await rasa.wait_for(
        lambda e: _attachment_type(e) == "image" and "sandbox/media/" in e["message"]["attachments"][0]["payload"]["url"]
    )
    async with aiohttp.ClientSession() as http, http.get(photo["message"]["attachments"][0]["payload"]["url"]) as response:
        assert await response.read() == png
    await page.click("#attach")
    await page.click("#attach-menu [data-action='video']")
    video = await rasa.wait_for(lambda e: _attachment_type(e) == "video", timeout=15)
    assert video["message"]["attachments"][0]["payload"]["url"].endswith(".webm")

    # Our mark_seen shows as "Visto".
    await graph_send(server, {"recipient": {"id": customer_id}, "sender_action": "mark_seen"})
    await page.wait_for_selector(".seen-mark")

    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "sandbox-phone.png"), full_page=True)

    # Switch to Instagram: purple theme, its own customer id, story features.
    await page.click("[data-channel-choice='instagram']")
    await page.wait_for_function("document.body.dataset.channel === 'instagram'")
    await page.wait_for_selector('#conn[data-state="open"]')
    accent = await page.evaluate("getComputedStyle(document.body).getPropertyValue('--accent').trim()")
    assert accent == "#8a3ab9"
    ig_id = await page.text_content("#info-customer")
    assert ig_id and ig_id != customer_id
    await page.click("#attach")
    await page.click("#attach-menu [data-action='story_reply']")
    await page.fill("#text", "¡Qué buena historia!")
    await page.press("#text", "Enter")
    story = await rasa.wait_for(lambda e: "story" in e.get("message", {}).get("reply_to", {}))
    assert story["message"]["text"] == "¡Qué buena historia!" and story["sender"]["id"] == ig_id
    await graph_send(
        server,
        {"recipient": {"id": ig_id}, "messaging_type": "RESPONSE", "message": {"text": "¡Gracias por tu respuesta!"}},
        token=IG_TOKEN,
    )
    await page.locator(".row.page .bubble", has_text="¡Gracias").wait_for()
    await page.screenshot(path=str(ARTIFACTS / "sandbox-phone-instagram.png"), full_page=True)

    # The language toggle switches labels to English.
    await page.click("#lang-toggle")
    assert await page.get_attribute("#text", "placeholder") == "Type a message…"
    assert errors == []

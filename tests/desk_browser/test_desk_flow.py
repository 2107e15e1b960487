"""The agent desk in a real browser (Debian chromium through Playwright) against the real
server: the Messenger and Instagram channels, the desk channel (page, API, WebSocket) and
the fake Graph API on loopback. Customers are signed Meta webhooks; the bot's handoff is
the service API the action server calls."""

from __future__ import annotations

import asyncio
import io
import os
import re
import shutil
import struct
import time
import wave
import zlib
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, FilePayload, Page, ViewportSize, WebSocketRoute, expect

from connectors.desk.accounts import hash_password
from tests.connectors.fixtures import envelope, item, with_mid
from tests.connectors.harness import APP_ID, IG_ACCOUNT_ID, PAGE_ID, SERVICE_TOKEN

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
DOCS = ROOT / "docs"
PASSWORD = "clave-de-prueba-1"
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
XSS = '<img src=x onerror="window.__xss=1">'

expect.set_options(timeout=15_000)  # generous: CI machines can be slow


# -- helpers --------------------------------------------------------------------------------


def png(width: int = 160, height: int = 120, rgb: tuple[int, int, int] = (120, 170, 220)) -> bytes:
    """A plain PNG picture (Meta's CDN stand-in)."""
    row = b"\x00" + bytes(rgb) * width
    raw = zlib.compress(row * height)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def wav(seconds: float = 0.5) -> bytes:
    """Half a second of silence: something the <audio>/<video> players can load."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x00" * int(8000 * seconds))
    return buffer.getvalue()


async def fake_cdn(route) -> None:
    """Meta's CDN (the fixtures' scontent/lookaside URLs): pictures and sound; links under
    /expired/ answer 404 like an expired Meta link."""
    url = route.request.url
    if "/expired/" in url:
        await route.fulfill(status=404, body="expired")
    elif url.endswith((".jpg", ".png")):
        await route.fulfill(status=200, body=png(), content_type="image/png")
    elif url.endswith((".mp4", ".m4a", "/reel")):
        await route.fulfill(status=200, body=wav(), content_type="audio/wav")
    else:
        await route.fulfill(status=200, body="ok", content_type="text/plain")


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())


async def add_agent(server, username: str, name: str, campaigns: list[str], role: str = "agent"):
    return await server.runtime.service.agents.add(username, name, role, campaigns, password_hash=hash_password(PASSWORD))


async def handoff(
    server,
    customer_id: str,
    name: str,
    *,
    channel: str = "messenger",
    context: list | None = None,
    picture_url: str | None = None,
) -> int:
    """What action_handoff does: the service API creates the queued attention."""
    account_id = IG_ACCOUNT_ID if channel == "instagram" else PAGE_ID
    body = {
        "channel": channel,
        "account_id": account_id,
        "customer_id": customer_id,
        "customer_name": name,
        "intent": "request_human",
        "slots": {"customer_name": name.split()[0], "handoff_reason": "Consulta sobre un pedido"},
        "context": context
        if context is not None
        else [
            {"author": "customer", "text": "Hola", "time": now_iso()},
            {"author": "bot", "text": "¡Hola! Soy el asistente virtual. ¿En qué te ayudo?", "time": now_iso()},
            {"author": "customer", "text": "Quiero hablar con una persona", "time": now_iso()},
        ],
    }
    if picture_url is not None:
        body["customer_picture_url"] = picture_url  # the profile picture the bot's handoff brings
    headers = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
    async with server.session.post(f"{server.url}/webhooks/desk/service/attentions", json=body, headers=headers) as response:
        answer = await response.json()
        assert response.status in (200, 201), answer
    return answer["attention"]["id"]


def customer_text(customer_id: str, text: str, mid: str, channel: str = "messenger") -> dict[str, Any]:
    message = with_mid(item(f"{channel}/text"), mid, sender=customer_id)
    message["message"]["text"] = text
    message["timestamp"] = int(time.time() * 1000)
    return message


async def customer_says(server, customer_id: str, text: str, mid: str, channel: str = "messenger") -> None:
    await server.post(channel, envelope(channel, [customer_text(customer_id, text, mid, channel)]))
    await server.settle()


async def stored_messages(server, attention_id: int):
    detail = await server.runtime.service.queries.detail(attention_id)
    return sorted(detail.messages, key=lambda message: message.id)


def ready_and_silent(socket: WebSocketRoute) -> None:
    """A stand-in for the desk's WebSocket: "ready" once the page sent its first frame (the
    page shows itself live only then), and never another frame."""
    frames = []

    def heard(frame: Any) -> None:
        frames.append(frame)
        if len(frames) == 1:  # the auth frame; pings go unanswered
            socket.send('{"type": "ready"}')

    socket.on_message(heard)


class Desk:
    """One agent's browser tab."""

    def __init__(self, page: Page, server) -> None:
        self.page = page
        self.server = server
        self.errors: list[str] = []
        self.socket_urls: list[str] = []  # the token never rides in one (proxies log URLs)
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error.stack or error}"))
        page.on("console", self._console)
        page.on("websocket", lambda socket: self.socket_urls.append(socket.url))

    def _console(self, message) -> None:
        text = message.text
        # Pictures of fake customers may 404; a refused script/style (CSP) or an exception may not.
        if message.type == "error" and "Failed to load resource" not in text:
            self.errors.append(f"console: {text}")

    @classmethod
    async def open(cls, browser: Browser, server, live: bool = True) -> Desk:
        context = await browser.new_context(viewport=VIEWPORT, locale="es-ES", timezone_id="UTC")
        await context.route(re.compile(r"^https://(scontent|lookaside)\.example/"), fake_cdn)
        desk = cls(await context.new_page(), server)
        if not live:  # a WebSocket that answers the page's auth frame and then hears nothing more
            await desk.page.route_web_socket(re.compile(r"/webhooks/desk/ws"), ready_and_silent)
        await desk.page.goto(f"{server.url}/webhooks/desk/")
        await expect(desk.page.locator("#login-form")).to_be_visible()
        return desk

    async def login(self, username: str, password: str = PASSWORD) -> None:
        await self.page.fill("#login-username", username)
        await self.page.fill("#login-password", password)
        await self.page.click("#login-submit")
        await expect(self.page.locator("#desk-screen")).to_be_visible()
        await expect(self.page.locator("#live-status")).to_have_attribute("data-state", "live")

    def item(self, attention_id: int):
        return self.page.locator(f'#attention-list li[data-id="{attention_id}"]')

    def message(self, text: str):
        return self.page.locator("#timeline .msg", has_text=text)

    async def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        await self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"))

    def assert_clean(self) -> None:
        assert self.errors == [], self.errors
        assert all(url.endswith("/webhooks/desk/ws") for url in self.socket_urls), self.socket_urls


def publish_screenshots() -> None:
    """With DESK_SCREENSHOTS_TO_DOCS=1 the screenshots of this run become the README's
    pictures (docs/desk-*.png); a plain test run leaves the repository untouched."""
    if os.environ.get("DESK_SCREENSHOTS_TO_DOCS") != "1":
        return
    DOCS.mkdir(exist_ok=True)
    for picture in ARTIFACTS.glob("desk-*.png"):
        shutil.copyfile(picture, DOCS / picture.name)


# -- the scenario ----------------------------------------------------------------------


async def test_two_agents_take_answer_label_and_terminate(server, browser) -> None:
    service = server.runtime.service
    await add_agent(server, "ana", "Ana Agente", ["soporte", "ventas"])
    await add_agent(server, "beto", "Beto Agente", ["soporte"])
    supervisor = await add_agent(server, "sara", "Sara Supervisora", [], role="supervisor")
    await service.labels.create(supervisor, "VIP", "#d81b60")
    await service.labels.create(supervisor, "Reclamo", "#e37400")

    ana = await Desk.open(browser, server)
    beto = await Desk.open(browser, server)
    await expect(ana.page.locator("#login-submit")).to_have_text("Entrar")
    await ana.page.fill("#login-username", "ana")
    await ana.shot("desk-login")
    await ana.login("ana")
    await beto.login("beto")
    await expect(ana.page.locator("#agent-name-text")).to_have_text("Ana Agente")
    await expect(
        ana.page.locator("#history-button")
    ).to_be_enabled()  # History: tests/desk_browser/test_history_and_supervision.py

    # The customer asks for a human: both agents see it queued, with its bell, live.
    attention_id = await handoff(server, "7001", "Lucía Fernández")
    await customer_says(server, "7001", "Mi pedido 12345 no llegó, ¿me ayudan?", "m_c1")
    assert server.turns == []  # the attention has the customer now, not the bot
    waiting = [await handoff(server, "7002", "Jorge Luna"), await handoff(server, "7003", "Marta Díaz")]
    for desk in (ana, beto):
        queued = desk.item(attention_id)
        await expect(queued).to_have_attribute("data-state", "queued")
        await expect(queued.locator(".bell")).to_be_visible()
        await expect(queued.locator(".item-name")).to_have_text("Lucía Fernández")
        await expect(queued.locator(".item-preview")).to_contain_text("Mi pedido 12345")
        await expect(desk.page.locator("#count-queued")).to_have_text("3")
    # Queued first, newest first.
    order = await ana.page.locator("#attention-list li[data-id]").evaluate_all("items => items.map(i => Number(i.dataset.id))")
    assert order == [waiting[1], waiting[0], attention_id]

    # Both look at it; Ana takes it: it leaves Beto's queue at once, without a reload.
    await beto.item(attention_id).click()
    await expect(beto.page.locator("#take-button")).to_be_visible()
    await ana.item(attention_id).click()
    await expect(ana.page.locator("#take-button")).to_have_text("Atender")
    await ana.shot("desk-queue")
    await ana.page.click("#take-button")
    await expect(ana.page.locator(".conv-header .conv-id")).to_have_text(f"#{attention_id}")
    await expect(beto.item(attention_id)).to_have_count(0)
    await expect(beto.page.locator("#count-queued")).to_have_text("2")
    await expect(beto.page.locator(".taken-message")).to_have_text("Otro agente ya la tomó")
    await expect(ana.item(attention_id)).to_have_attribute("data-state", "open")
    await expect(ana.page.locator("#count-open")).to_have_text("1")

    # Ana's conversation: header, 24 h timer, the bot's part first, then the customer.
    header = ana.page.locator(".conv-header")
    await expect(header.locator(".conv-name")).to_have_text("Lucía Fernández")
    await expect(header.locator(".conv-campaign")).to_have_text("Soporte")
    await expect(header.locator(".timer-value")).to_have_text(re.compile(r"^23:5\d:\d\d$"))
    context = ana.page.locator("#timeline .context")
    await expect(context).to_contain_text("Conversación con el bot")
    await expect(context).to_contain_text("Quiero hablar con una persona")
    await expect(ana.message("Mi pedido 12345 no llegó")).to_be_visible()
    await expect(ana.page.locator("#form-title")).to_have_text("Formulario - Messenger")
    await expect(ana.page.locator("#field-nombre")).to_have_value("Lucía")  # the bot's slot, pre-filled
    await expect(ana.page.locator('.form-field[data-field="resultado"] .required-mark')).to_be_visible()

    # Ana answers (Enter sends); Meta's echo, delivery and read move the ticks.
    await ana.page.fill("#composer-text", "Hola Lucía, soy Ana. Reviso tu pedido ahora mismo.")
    await ana.page.press("#composer-text", "Enter")
    reply = ana.message("Reviso tu pedido ahora mismo")
    await expect(reply.locator(".ticks")).to_have_attribute("data-status", "sent")
    [request] = server.graph.sent_messages(recipient_id="7001")
    assert request.json["message"]["text"].startswith("Hola Lucía, soy Ana")
    sent = [message for message in await stored_messages(server, attention_id) if message.author.value == "agent"][-1]
    echo = item("messenger/echo_ours")
    echo["sender"]["id"], echo["recipient"]["id"] = PAGE_ID, "7001"
    echo["message"].update(
        mid=sent.mid, metadata=request.json["message"].get("metadata"), app_id=int(APP_ID), text=request.json["message"]["text"]
    )
    delivery = item("messenger/delivery")
    delivery["sender"]["id"] = "7001"
    delivery["delivery"].update(mids=[sent.mid], watermark=int(time.time() * 1000))
    await server.post("messenger", envelope("messenger", [echo, delivery]))
    await expect(reply.locator(".ticks")).to_have_attribute("data-status", "delivered")
    read = item("messenger/read")
    read["sender"]["id"] = "7001"
    read["read"]["watermark"] = int(time.time() * 1000) + 60_000
    await server.post("messenger", envelope("messenger", [read]))
    await expect(reply.locator(".ticks")).to_have_attribute("data-status", "read")
    await expect(reply.locator(".ticks-read")).to_be_visible()

    # The customer writes again: it appears live in Ana's conversation, never in Beto's list.
    await customer_says(server, "7001", "¡Gracias! Es el pedido 12345", "m_c2")
    await expect(ana.message("Es el pedido 12345")).to_be_visible()
    await expect(beto.item(attention_id)).to_have_count(0)
    await expect(beto.page.locator("#timeline")).to_have_count(0)

    # Labels from the header: applied, shown in the header and in the list item.
    await ana.page.click(".labels-button")
    await ana.page.click('.labels-popover .label-option:has-text("VIP")')
    await expect(header.locator('.header-labels .chip:has-text("VIP")')).to_be_visible()
    await expect(ana.item(attention_id).locator('.chip:has-text("VIP")')).to_be_visible()
    await ana.page.keyboard.press("Escape")
    assert [label.name for label in (await service.attentions.get(attention_id)).labels] == ["VIP"]

    await ana.page.fill("#field-numero_pedido", "12345")
    await expect(ana.page.locator("#form-save-state")).to_have_text("Guardado")
    await ana.page.click("#composer-text")
    await ana.shot("desk-conversation")

    # Instagram: its own view, in purple; its queue has an Instagram customer (ventas).
    instagram_id = await handoff(server, "8001", "Camila Rojas", channel="instagram")
    await expect(ana.page.locator('[data-channel-count="instagram"]')).to_have_text("1")
    await ana.page.click('[data-channel-choice="instagram"]')
    await expect(ana.page.locator("#topbar")).to_have_css("background-color", "rgb(138, 58, 185)")
    await ana.item(instagram_id).click()
    await expect(ana.page.locator("#take-button")).to_have_css("background-color", "rgb(138, 58, 185)")
    await ana.page.click("#take-button")
    await expect(ana.page.locator("#form-title")).to_have_text("Formulario - Instagram")
    story = with_mid(item("instagram/story_reply"), "ig_story_8001", sender="8001")
    story["message"]["text"], story["timestamp"] = "¿Tienen estas zapatillas en talla 38?", int(time.time() * 1000)
    await server.post("instagram", envelope("instagram", [story]))
    await expect(ana.message("talla 38").locator(".story-reply")).to_contain_text("Respondió a su historia")
    await expect(ana.page.locator(".form-field[data-type='multiple_choice'] input[type='checkbox']")).to_have_count(4)
    await expect(ana.page.locator("#field-origen")).to_have_value("otro")  # the field's default
    await ana.page.check("#field-productos-1")
    await ana.page.fill("#field-presupuesto", "250")
    await expect(ana.page.locator("#form-save-state")).to_have_text("Guardado")
    await ana.shot("desk-instagram")
    await ana.page.click('[data-channel-choice="messenger"]')
    await expect(ana.page.locator("#topbar")).to_have_css("background-color", "rgb(0, 132, 255)")

    # A required field left empty blocks Terminar atención, with a message next to it.
    await ana.item(attention_id).click()
    await expect(ana.page.locator(".conv-header .conv-id")).to_have_text(f"#{attention_id}")
    await ana.page.click("#terminate-button")
    await expect(ana.page.locator("#error-resultado")).to_have_text("Este campo es obligatorio.")
    await expect(ana.page.locator("#form-error")).to_be_visible()
    await expect(ana.page.locator("#terminate-dialog")).not_to_be_visible()
    assert (await service.attentions.get(attention_id)).state.value == "open"

    # Filled in (saved on change), Terminar atención asks for confirmation, then ends it.
    await ana.page.click('label[for="field-resultado-0"]')
    await expect(ana.page.locator("#error-resultado")).to_be_hidden()
    await expect(ana.page.locator("#form-save-state")).to_have_text("Guardado")
    assert (await service.attentions.get(attention_id)).form["resultado"] == "resuelto"
    await ana.page.click("#terminate-button")
    dialog = ana.page.locator("#terminate-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("Asegúrese de que la consulta del cliente ha sido resuelta")
    await ana.shot("desk-terminate")
    await ana.page.click("#terminate-confirm")
    await expect(ana.item(attention_id)).to_have_count(0)
    await expect(ana.page.locator("#conversation .empty-notice")).to_have_text(f"Atención #{attention_id} terminada")
    await expect(ana.page.locator("#terminate-button")).to_be_disabled()
    ended = await service.attentions.get(attention_id)
    assert ended.state.value == "terminated" and ended.form["resultado"] == "resuelto" and ended.form["numero_pedido"] == "12345"

    # The customer's next message is a bot turn again.
    await customer_says(server, "7001", "Otra pregunta", "m_c3")
    turns = await server.wait_turns(1)
    assert turns[-1].text == "Otra pregunta"

    ana.assert_clean()
    beto.assert_clean()
    publish_screenshots()


async def test_a_late_atender_says_another_agent_took_it(server, browser) -> None:
    await add_agent(server, "ana", "Ana", ["soporte"])
    eva = await add_agent(server, "eva", "Eva", ["soporte"])
    attention_id = await handoff(server, "7101", "Pedro Paz")
    desk = await Desk.open(browser, server, live=False)
    await desk.login("ana")
    await desk.item(attention_id).click()
    await expect(desk.page.locator("#take-button")).to_be_visible()
    # Eva wins the race (through the service, as her desk would); Ana's desk hears nothing
    # of it (its WebSocket is cut off), so her click on Atender gets the 409.
    await server.runtime.service.attentions.open(attention_id, eva)
    await desk.page.click("#take-button")
    await expect(desk.page.locator(".taken-message")).to_have_text("Otro agente ya la tomó")
    await expect(desk.item(attention_id)).to_have_count(0)
    desk.assert_clean()


async def test_customer_text_is_shown_as_text_never_as_markup(server, browser) -> None:
    service = server.runtime.service
    await add_agent(server, "ana", "Ana", ["soporte"])
    supervisor = await add_agent(server, "sara", "Sara", [], role="supervisor")
    label = await service.labels.create(supervisor, XSS, "#d81b60")
    attention_id = await handoff(server, "7201", XSS, context=[{"author": "customer", "text": XSS, "time": now_iso()}])
    desk = await Desk.open(browser, server)
    await desk.login("ana")
    await expect(desk.item(attention_id).locator(".item-name")).to_have_text(XSS)
    await desk.item(attention_id).click()
    await desk.page.click("#take-button")
    await service.labels.apply(attention_id, await service.agents.by_username("ana"), label.id)
    hostile = f'{XSS} <script>window.__xss=2</script> javascript:alert(1) https://example.com/ok"onmouseover="x'
    await customer_says(server, "7201", hostile, "m_xss")
    await expect(desk.message("window.__xss=2")).to_be_visible()
    await expect(desk.page.locator(".conv-name")).to_have_text(XSS)
    await expect(desk.page.locator(".context .msg-text")).to_have_text(XSS)
    await expect(desk.item(attention_id).locator(".chip")).to_have_text(XSS)
    text = desk.message("window.__xss=2").locator(".msg-text")
    await expect(text).to_have_text(hostile)
    # Only the https URL became a link, and its href stops at the quote.
    links = text.locator("a")
    await expect(links).to_have_count(1)
    assert await links.get_attribute("href") == "https://example.com/ok"
    assert (
        await desk.page.locator("#attention-list img, .conv-header img, #timeline img, script:not([type='module'])").count() == 0
    )
    assert await desk.page.evaluate("window.__xss") is None
    desk.assert_clean()


async def test_every_kind_of_message_renders(server, browser) -> None:
    """Everything Meta may send in an attention, and a refused reply with its retry."""
    await add_agent(server, "ana", "Ana", ["soporte", "ventas"])
    messenger_id = await handoff(server, "6001", "Rosa Quispe")
    instagram_id = await handoff(server, "7001", "Iván Soto", channel="instagram")
    desk = await Desk.open(browser, server)
    await desk.login("ana")
    await desk.item(messenger_id).click()
    await desk.page.click("#take-button")
    await expect(desk.page.locator(".conv-header .conv-id")).to_have_text(f"#{messenger_id}")

    now = int(time.time() * 1000)
    kinds = [
        "text",
        "image",
        "video",
        "audio",
        "file",
        "sticker",
        "location",
        "fallback_share",
        "template",
        "postback",
        "reaction",
        "echo_page_inbox",
    ]
    items = []
    for index, name in enumerate(kinds):
        raw = item(f"messenger/{name}")
        raw["timestamp"] = now + index
        if name == "echo_page_inbox":
            raw["recipient"]["id"] = "6001"
            raw["message"]["mid"] = f"m_kind_{index}"
        else:
            raw["sender"]["id"] = "6001"
            for key in ("message", "postback"):
                if key in raw and "mid" in raw[key]:
                    raw[key]["mid"] = f"m_kind_{index}"
        items.append(raw)
    await server.post("messenger", envelope("messenger", items))
    await server.settle()
    timeline = desk.page.locator("#timeline")
    await expect(timeline.locator(".msg.kind-text.author-customer")).to_have_count(1)
    await expect(timeline.locator(".attachment-image img")).to_have_count(1)
    await expect(timeline.locator("video[controls]")).to_have_count(1)
    await expect(timeline.locator("audio[controls]")).to_have_count(1)
    await expect(timeline.locator(".attachment-file a.file-download")).to_have_count(1)
    await expect(timeline.locator("img.attachment-sticker")).to_have_count(1)
    assert await timeline.locator(".attachment-image img").evaluate("image => image.naturalWidth") == 160
    await expect(timeline.locator(".attachment-card:has-text('No se pudo cargar')")).to_have_count(0)
    location = timeline.locator(".attachment-card:has-text('Ubicación') a")
    await expect(location).to_have_attribute(
        "href", re.compile(r"^https://www\.openstreetmap\.org/\?mlat=-12\.0464&mlon=-77\.0428")
    )
    await expect(timeline.locator(".attachment-card:has-text('Compartió')")).to_have_count(1)
    await expect(timeline.locator(".msg.kind-postback .msg-tag")).to_have_text("Pulsó un botón")
    await expect(timeline.locator(".msg-system.kind-reaction")).to_contain_text("reaccionó ❤️ a un mensaje")
    await expect(timeline.locator(".msg.author-external .external-tag")).to_have_text("Respondido desde otra app")
    for href in await timeline.locator("a[href]").evaluate_all("links => links.map(link => link.href)"):
        assert href.startswith(("http://", "https://")), href

    await desk.shot("timeline-messenger")

    # A reply Meta refuses: red mark, the reason, and Reintentar sends it again.
    server.graph.user_unavailable_next()
    await desk.page.fill("#composer-text", "¿Sigue ahí?")
    await desk.page.press("#composer-text", "Enter")
    refused = desk.message("¿Sigue ahí?")
    await expect(refused.locator(".ticks")).to_have_attribute("data-status", "failed")
    await expect(refused.locator(".failure-reason")).not_to_be_empty()
    await desk.shot("timeline-failed")
    await refused.locator(".retry-button").click()
    await expect(refused.locator(".ticks")).to_have_attribute("data-status", "sent")
    await expect(refused.locator(".msg-failure")).to_have_count(0)

    # The emoji picker writes into the composer; an attachment is uploaded, then sent.
    await desk.page.click("#emoji-button")
    await desk.page.click('#emoji-picker button[data-emoji="👍"]')
    await expect(desk.page.locator("#composer-text")).to_have_value("👍")
    await desk.page.fill("#composer-text", "")
    invoice: FilePayload = {"name": "factura.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4 test"}
    await desk.page.set_input_files("#attach-input", files=[invoice])
    await desk.page.click("#send-button")  # it waits in the composer's tray until Send
    sent_file = timeline.locator(".msg.author-agent .attachment-file")
    await expect(sent_file.locator(".file-name")).to_have_text("factura.pdf")
    stored = [message for message in await stored_messages(server, messenger_id) if message.author.value == "agent"]
    assert stored[-1].payload["attachment"]["type"] == "file"

    # Instagram: story mention and reply, share, reel, deleted, unsupported, edit.
    await desk.page.click('[data-channel-choice="instagram"]')
    await desk.item(instagram_id).click()
    await desk.page.click("#take-button")
    await expect(desk.page.locator(".conv-header .conv-id")).to_have_text(f"#{instagram_id}")
    items = []
    for index, name in enumerate(
        ["story_mention", "story_reply", "share", "ig_reel", "image", "unsupported", "message_edit", "text", "deleted"]
    ):
        raw = item(f"instagram/{name}")
        raw["timestamp"] = now + 100 + index
        raw["sender"]["id"] = "7001"
        if name == "text":  # the deleted fixture unsends "ig_text"; this text is another one
            raw["message"]["mid"] = "ig_text_kept"
        if name == "image":  # a link of Meta's that expired meanwhile
            raw["message"]["attachments"][0]["payload"]["url"] = "https://lookaside.example/expired/ig.jpg"
        items.append(raw)
    await server.post("instagram", envelope("instagram", items))
    await server.settle()
    await expect(timeline.locator(".attachment-card:has-text('Le mencionó en su historia') a")).to_have_text("Ver historia")
    await expect(timeline.locator(".story-reply")).to_contain_text("Respondió a su historia")
    await expect(timeline.locator(".msg.kind-deleted")).to_contain_text("Mensaje eliminado")
    await expect(timeline.locator(".msg.kind-unsupported")).to_contain_text("Mensaje no compatible")
    await expect(timeline.locator(".msg.kind-edit .msg-tag")).to_have_text("Mensaje editado")
    expired = timeline.locator(".attachment-card:has-text('No se pudo cargar')")
    await expect(expired.locator("a")).to_have_attribute("href", "https://lookaside.example/expired/ig.jpg")
    await desk.shot("timeline-instagram")
    desk.assert_clean()


async def test_a_reply_cut_short_by_a_crash_is_unconfirmed_and_sent_again_only_when_asked(server, browser) -> None:
    """The server stopped while sending and no echo came: the desk says the customer may
    have it (not "failed"), and only the agent's "Enviar de nuevo" sends it again."""
    import sqlalchemy as sa

    from connectors.storage.schema import message as message_table

    await add_agent(server, "ana", "Ana", ["soporte"])
    attention_id = await handoff(server, "6001", "Rosa Quispe")
    desk = await Desk.open(browser, server)
    await desk.login("ana")
    await desk.item(attention_id).click()
    await desk.page.click("#take-button")
    await desk.page.fill("#composer-text", "¿Me confirma su dirección?")
    await desk.page.press("#composer-text", "Enter")
    await expect(desk.message("¿Me confirma su dirección?").locator(".ticks")).to_have_attribute("data-status", "sent")
    sends = len(server.graph.sent_messages(recipient_id="6001"))
    async with server.runtime.engine.begin() as connection:  # what the crash left (tests/reliability prove how)
        await connection.execute(
            sa.update(message_table)
            .where(message_table.c.text == "¿Me confirma su dirección?")
            .values(status="unknown", mid=None)
        )

    again = await Desk.open(browser, server)
    await again.login("ana")
    await again.item(attention_id).click()
    unsure = again.message("¿Me confirma su dirección?")
    await expect(unsure.locator(".ticks")).to_have_attribute("data-status", "unknown")
    await expect(unsure.locator(".msg-unsure")).to_contain_text("puede que el cliente ya lo tenga")
    await again.page.wait_for_timeout(300)
    assert len(server.graph.sent_messages(recipient_id="6001")) == sends  # nothing is sent by itself
    await unsure.locator(".retry-button").click()
    await expect(unsure.locator(".retry-button")).to_have_count(0)
    await expect(unsure.locator(".ticks")).to_have_attribute("data-status", "sent")
    assert len(server.graph.sent_messages(recipient_id="6001")) == sends + 1
    again.assert_clean()


async def test_search_language_and_logout(server, browser) -> None:
    await add_agent(server, "ana", "Ana", ["soporte"])
    first = await handoff(server, "6101", "Marta Díaz")
    second = await handoff(server, "6102", "Jorge Luna")
    queued = await handoff(server, "6103", "Marta Queued")
    desk = await Desk.open(browser, server)
    await desk.login("ana")
    for attention_id in (first, second):
        await desk.item(attention_id).click()
        await desk.page.click("#take-button")
        await expect(desk.item(attention_id)).to_have_attribute("data-state", "open")
    await expect(desk.page.locator("#count-open")).to_have_text("2")
    await expect(desk.page.locator("#count-queued")).to_have_text("1")
    # Queued first, newest first in each group.
    ids = await desk.page.locator("#attention-list li[data-id]").evaluate_all("items => items.map(i => Number(i.dataset.id))")
    assert ids == [queued, second, first]

    await desk.page.fill("#search-input", "Ma")
    await expect(desk.page.locator("#search-hint")).to_have_text("Escriba al menos 3 caracteres")
    await desk.page.fill("#search-input", "Marta")
    await expect(desk.page.locator("#attention-list li[data-id]")).to_have_count(1)
    await expect(desk.item(first)).to_be_visible()  # the queued Marta is hidden while searching
    await desk.page.fill("#search-input", "")
    await expect(desk.page.locator("#attention-list li[data-id]")).to_have_count(3)

    await desk.page.click('#topbar [data-lang-choice="en"]')
    await expect(desk.page.locator("#list-title")).to_have_text("Attentions")
    await expect(desk.page.locator("#form-title")).to_have_text("Form - Messenger")
    await expect(desk.page.locator(".field-label-text").first).to_have_text("Name")
    await expect(desk.page.locator("#terminate-button")).to_have_text("End attention")
    await desk.page.click('#topbar [data-lang-choice="es"]')
    await expect(desk.page.locator("#list-title")).to_have_text("Atenciones")

    # A reload keeps the session (sessionStorage); logout ends it.
    await desk.page.reload()
    await expect(desk.page.locator("#desk-screen")).to_be_visible()
    await desk.page.click("#logout-button")
    await desk.page.click("#logout-anyway")  # two open attentions: it asks first
    await expect(desk.page.locator("#login-form")).to_be_visible()
    assert await desk.page.evaluate("sessionStorage.getItem('desk.token')") is None
    await desk.page.fill("#login-username", "ana")
    await desk.page.fill("#login-password", "wrong-password")
    await desk.page.click("#login-submit")
    await expect(desk.page.locator("#login-error")).to_have_text("Usuario o contraseña incorrectos.")
    desk.assert_clean()


async def test_earlier_messages_load_on_demand(server, browser) -> None:
    await add_agent(server, "ana", "Ana", ["soporte"])
    attention_id = await handoff(server, "6201", "Elena Paz")
    base = int(time.time() * 1000) - 120_000
    messages = []
    for number in range(1, 61):
        raw = customer_text("6201", f"mensaje número {number}", f"m_many_{number}")
        raw["timestamp"] = base + number
        messages.append(raw)
    await server.post("messenger", envelope("messenger", messages))
    await server.settle()
    desk = await Desk.open(browser, server)
    await desk.login("ana")
    await expect(desk.item(attention_id).locator(".badge")).to_have_text("60")
    await desk.item(attention_id).click()
    await desk.page.click("#take-button")
    await expect(desk.message("mensaje número 60")).to_be_visible()
    await expect(desk.item(attention_id).locator(".badge")).to_have_count(0)  # read on screen
    await expect(desk.page.locator("#timeline .msg")).to_have_count(50)
    await expect(desk.page.locator("#timeline .context")).to_have_count(0)  # the bot's part is older still
    await desk.page.click("#earlier-button")
    await expect(desk.page.locator("#timeline .msg:not(.context-msg)")).to_have_count(60)
    await expect(desk.message("mensaje número 1").first).to_be_attached()
    await expect(desk.page.locator("#timeline .context")).to_contain_text("Conversación con el bot")
    await expect(desk.page.locator("#earlier-button")).to_have_count(0)
    last_id = max(message.id for message in await stored_messages(server, attention_id))
    for _ in range(50):  # the desk marks what it shows as read (POST /read)
        if ((await server.runtime.service.attentions.get(attention_id)).read_up_to_message_id or 0) >= last_id:
            break
        await asyncio.sleep(0.1)
    assert (await server.runtime.service.attentions.get(attention_id)).read_up_to_message_id == last_id
    desk.assert_clean()


async def test_the_24_hour_window_locks_or_tags_the_composer(server, browser) -> None:
    """Past 24 h: soporte (human_agent_tag) still answers, tagged HUMAN_AGENT; ventas
    (Instagram, no tag) locks the composer with the reason."""
    await add_agent(server, "ana", "Ana", ["soporte", "ventas"])
    yesterday = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 25 * 3600))
    old_context = [{"author": "customer", "text": "¿Siguen ahí?", "time": yesterday}]
    tagged = await handoff(server, "6301", "Nora Vidal", context=old_context)
    locked = await handoff(server, "7301", "Hugo Ríos", channel="instagram", context=old_context)
    desk = await Desk.open(browser, server)
    await desk.login("ana")

    await desk.item(tagged).click()
    await desk.page.click("#take-button")
    await expect(desk.page.locator(".timer-value")).to_have_text(re.compile(r"^5 d 2[23] h$"))  # left of the HUMAN_AGENT week
    await expect(desk.page.locator("#composer-notice")).to_have_text("Fuera de 24 h: se enviará con la etiqueta HUMAN_AGENT")
    await expect(desk.page.locator("#composer-text")).to_be_enabled()
    await desk.page.fill("#composer-text", "Hola Nora, seguimos aquí.")
    await desk.page.press("#composer-text", "Enter")
    await expect(desk.message("seguimos aquí").locator(".ticks")).to_have_attribute("data-status", "sent")
    [request] = server.graph.sent_messages(recipient_id="6301")
    assert request.json["messaging_type"] == "MESSAGE_TAG" and request.json["tag"] == "HUMAN_AGENT"

    await desk.page.click('[data-channel-choice="instagram"]')
    await desk.item(locked).click()
    await desk.page.click("#take-button")
    await expect(desk.page.locator(".timer")).to_have_attribute("data-state", "closed")
    await expect(desk.page.locator("#composer-notice")).to_contain_text("Pasaron 24 horas")
    await expect(desk.page.locator("#composer-text")).to_be_disabled()
    await expect(desk.page.locator("#send-button")).to_be_disabled()
    # The customer writes again: the window reopens at once.
    await customer_says(server, "7301", "Hola otra vez", "ig_again", channel="instagram")
    await expect(desk.page.locator("#composer-text")).to_be_enabled()
    await expect(desk.page.locator(".timer-value")).to_have_text(re.compile(r"^23:5\d:\d\d$"))
    desk.assert_clean()

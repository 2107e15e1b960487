"""Issue 13 in a real browser (the harness of test_desk_flow.py): the composer's limits per
channel (a live counter, a refusal or a split, never a silent cut), attachments with preview,
caption and remove, drafts and the selection across a reload, the logout that says what
happens to open attentions, a supervisor's read-only view of someone else's attention,
confirmations before a transfer or an outbound start, one toast per action, the header at
1024 px and the HUMAN_AGENT timer."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time

import pytest
from playwright.async_api import FilePayload, expect

from tests.desk_browser.test_desk_flow import Desk, add_agent, handoff, png, stored_messages
from tests.desk_browser.test_history_and_supervision import ended

pytestmark = pytest.mark.browser


async def take(desk: Desk, attention_id: int) -> None:
    await desk.item(attention_id).click()
    await desk.page.click("#take-button")
    await expect(desk.page.locator(".conv-header .conv-id")).to_have_text(f"#{attention_id}")


def agent_texts(messages) -> list[str]:
    return [message.text for message in messages if message.author.value == "agent" and message.kind.value == "text"]


async def test_the_composer_counts_per_channel_and_refuses_or_splits_never_cuts(server, browser) -> None:
    await add_agent(server, "ana", "Ana", ["soporte", "ventas"])
    messenger = await handoff(server, "6001", "Rosa Quispe")
    instagram = await handoff(server, "7001", "Iván Soto", channel="instagram")
    desk = await Desk.open(browser, server)
    await desk.login("ana")
    await take(desk, messenger)
    page, counter = desk.page, desk.page.locator("#composer-counter")

    await expect(counter).to_have_text("0 / 2000")
    await page.fill("#composer-text", "Hola 👋")
    await expect(counter).to_have_text("6 / 2000")  # characters (the emoji is one), as Meta and the server count
    sentence = "Revisamos su pedido y le escribimos en cuanto tengamos novedades del envío. "  # 76 characters
    long_text = (sentence * 27).strip()  # 2,051 characters
    await page.fill("#composer-text", long_text)
    await expect(counter).to_have_text(f"{len(long_text)} / 2000")
    await expect(counter).to_have_attribute("data-state", "over")
    await page.press("#composer-text", "Enter")
    refusal = page.locator("#composer-limit")
    await expect(refusal).to_be_visible()
    await expect(refusal).to_contain_text(f"{len(long_text)} de 2000 caracteres")
    await expect(refusal.locator("#send-split")).to_have_text("Enviar en 2 mensajes")
    await desk.shot("desk-composer-limit")
    assert await page.locator("#composer-text").input_value() == long_text  # nothing cut, nothing sent
    assert server.graph.sent_messages(recipient_id="6001") == []

    # Split on send: two messages on a sentence boundary, every character delivered.
    await refusal.locator("#send-split").click()
    await expect(desk.page.locator("#timeline .msg.author-agent")).to_have_count(2)
    await expect(page.locator("#composer-text")).to_have_value("")
    # On screen once stored; at Meta a moment later (the send follows the store).
    sent = [
        request.json["message"]["text"] for request in await server.graph.wait_for_messages(2, timeout=15, recipient_id="6001")
    ]
    assert len(sent) == 2 and all(len(piece) <= 2000 for piece in sent) and sent[0].endswith(".")
    assert " ".join(sent) == long_text

    # Instagram counts UTF-8 bytes: 501 "é" are 1,002 bytes.
    await page.click('[data-channel-choice="instagram"]')
    await take(desk, instagram)
    await page.fill("#composer-text", "é" * 501)
    await expect(counter).to_have_text("1002 / 1000 bytes")
    await page.click("#send-button")
    await expect(page.locator("#composer-limit")).to_contain_text("1002 de 1000 bytes")
    assert server.graph.sent_messages(recipient_id="7001") == []
    await page.press("#composer-text", "Backspace")
    await expect(counter).to_have_text("1000 / 1000 bytes")
    await expect(page.locator("#composer-limit")).to_be_hidden()
    await page.press("#composer-text", "Enter")
    await expect(desk.message("éééé")).to_be_visible()
    [request] = await server.graph.wait_for_messages(1, timeout=15, recipient_id="7001")
    assert request.json["message"]["text"] == "é" * 500
    desk.assert_clean()


async def test_an_attachment_waits_with_its_preview_and_goes_with_its_caption(server, browser) -> None:
    await add_agent(server, "ana", "Ana", ["soporte"])
    attention_id = await handoff(server, "6001", "Rosa Quispe")
    desk = await Desk.open(browser, server)
    await desk.login("ana")
    await take(desk, attention_id)
    page = desk.page

    # Picked: a preview with its name, nothing sent yet; ✕ removes it.
    photo: FilePayload = {"name": "foto.png", "mimeType": "image/png", "buffer": png()}
    await page.set_input_files("#attach-input", files=[photo])
    tray = page.locator("#composer-attachment")
    await expect(tray).to_be_visible()
    await expect(tray.locator(".attachment-preview-name")).to_have_text("foto.png")
    assert await tray.locator("img").evaluate("image => image.complete && image.naturalWidth") == 160
    await page.wait_for_timeout(300)
    assert server.graph.sent_messages(recipient_id="6001") == []
    await page.click("#attachment-remove")
    await expect(tray).to_be_hidden()

    # A file with a caption: the file first, then the caption as the next message.
    pdf: FilePayload = {"name": "factura.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4 test"}
    await page.set_input_files("#attach-input", files=[pdf])
    await expect(tray.locator(".attachment-preview-name")).to_have_text("factura.pdf")
    await expect(page.locator("#composer-text")).to_have_attribute("placeholder", re.compile("comentario"))
    await page.fill("#composer-text", "Aquí tiene su factura de marzo")
    await desk.shot("desk-composer-attachment")
    await page.press("#composer-text", "Enter")
    agent_messages = page.locator("#timeline .msg.author-agent")
    await expect(agent_messages).to_have_count(2)
    await expect(agent_messages.nth(0).locator(".attachment-file .file-name")).to_have_text("factura.pdf")
    await expect(agent_messages.nth(1)).to_contain_text("Aquí tiene su factura de marzo")
    await expect(tray).to_be_hidden()
    await expect(page.locator("#composer-text")).to_have_value("")
    sends = [request.json["message"] for request in await server.graph.wait_for_messages(2, timeout=15, recipient_id="6001")]
    assert "attachment" in sends[0] and sends[1]["text"] == "Aquí tiene su factura de marzo"
    kinds = [message.kind.value for message in await stored_messages(server, attention_id) if message.author.value == "agent"]
    assert kinds == ["attachment", "text"]

    # Meta refuses the next file: it shows failed, its caption is not sent and stays in the composer.
    server.graph.user_unavailable_next(recipient_id="6001")
    receipt: FilePayload = {**pdf, "name": "recibo.pdf"}
    await page.set_input_files("#attach-input", files=[receipt])
    await expect(tray.locator(".attachment-preview-name")).to_have_text("recibo.pdf")
    await page.fill("#composer-text", "Y este es el recibo")
    await page.press("#composer-text", "Enter")
    refused = page.locator("#timeline .msg.author-agent", has=page.locator(".file-name", has_text="recibo.pdf"))
    await expect(refused.locator(".ticks")).to_have_attribute("data-status", "failed")
    await expect(page.locator("#composer-text")).to_have_value("Y este es el recibo")
    await expect(page.locator("#composer")).to_contain_text("El archivo no se pudo enviar; su comentario sigue aquí.")
    await expect(agent_messages).to_have_count(3)  # the refused file; no caption after it
    await page.wait_for_timeout(300)
    assert [request.json["message"].get("text") for request in server.graph.sent_messages(recipient_id="6001")][2:] == []
    kinds = [message.kind.value for message in await stored_messages(server, attention_id) if message.author.value == "agent"]
    assert kinds == ["attachment", "text", "attachment"]
    desk.assert_clean()


async def test_a_reload_keeps_the_selection_and_each_attentions_draft(server, browser) -> None:
    await add_agent(server, "ana", "Ana", ["soporte"])
    first = await handoff(server, "6001", "Rosa Quispe")
    second = await handoff(server, "6002", "Jorge Luna")
    desk = await Desk.open(browser, server)
    await desk.login("ana")
    page = desk.page
    await take(desk, first)
    await page.fill("#composer-text", "Borrador para Rosa")
    await take(desk, second)
    await page.fill("#composer-text", "Borrador para Jorge")

    await page.reload()
    await expect(page.locator(".conv-header .conv-id")).to_have_text(f"#{second}")
    await expect(desk.item(second)).to_have_attribute("aria-selected", "true")
    await expect(page.locator("#composer-text")).to_have_value("Borrador para Jorge")
    await desk.item(first).click()
    await expect(page.locator("#composer-text")).to_have_value("Borrador para Rosa")

    # Sent, the draft is gone (also after a reload).
    await page.press("#composer-text", "Enter")
    await expect(desk.message("Borrador para Rosa")).to_be_visible()
    await page.reload()
    await expect(page.locator(".conv-header .conv-id")).to_have_text(f"#{first}")
    await expect(page.locator("#composer-text")).to_have_value("")
    await desk.item(second).click()
    await expect(page.locator("#composer-text")).to_have_value("Borrador para Jorge")
    desk.assert_clean()


async def test_a_reload_before_the_send_is_answered_does_not_bring_the_text_back(server, browser) -> None:
    """The server has the message (its live frame shows it) but the page reloads before the
    answer: the aborted answer is no failed send, so the text must not return as a draft."""
    await add_agent(server, "ana", "Ana", ["soporte"])
    rosa = await handoff(server, "6011", "Rosa Quispe")
    desk = await Desk.open(browser, server)
    await desk.login("ana")
    page = desk.page
    await take(desk, rosa)

    async def answer_late(route) -> None:
        answer = await route.fetch()  # the server stores and sends it now
        await asyncio.sleep(2)
        with contextlib.suppress(Exception):  # the page reloaded meanwhile
            await route.fulfill(response=answer)

    await page.route(re.compile(r"/api/attentions/\d+/messages$"), answer_late)
    await page.fill("#composer-text", "Enviado justo antes de recargar")
    await page.press("#composer-text", "Enter")
    await expect(desk.message("Enviado justo antes de recargar")).to_be_visible()  # the live frame
    await page.reload()
    await expect(page.locator(".conv-header .conv-id")).to_have_text(f"#{rosa}")
    await expect(desk.message("Enviado justo antes de recargar")).to_be_visible()
    await expect(page.locator("#composer-text")).to_have_value("")


async def test_a_draft_goes_when_its_attention_ends_or_leaves_the_agent(server, browser) -> None:
    """Drafts live in sessionStorage (customer text on a possibly shared computer): the
    draft of an attention Ana ended or transferred goes at once; one ended elsewhere while
    the page was open goes at the next load of the lists; the others stay."""
    service = server.runtime.service
    ana = await add_agent(server, "ana", "Ana", ["soporte"])
    await add_agent(server, "beto", "Beto Agente", ["soporte"])
    ended_here, transferred, ended_elsewhere, kept = [await handoff(server, f"62{n:02}", f"Cliente {n} Prueba") for n in range(4)]
    desk = await Desk.open(browser, server)
    await desk.login("ana")
    page = desk.page
    for attention_id in (ended_here, transferred, ended_elsewhere, kept):
        await take(desk, attention_id)
        await page.fill("#composer-text", f"Borrador {attention_id}")

    async def stored_drafts() -> dict:
        raw = await page.evaluate(f"sessionStorage.getItem('desk.drafts.{ana.id}')")
        return json.loads(raw or "{}")

    expected = {
        str(attention_id): f"Borrador {attention_id}" for attention_id in (ended_here, transferred, ended_elsewhere, kept)
    }
    assert await stored_drafts() == expected

    # Ana ends one on the page.
    await desk.item(ended_here).click()
    await expect(page.locator("#composer-text")).to_have_value(f"Borrador {ended_here}")
    await page.click('label[for="field-resultado-0"]')
    await expect(page.locator("#form-save-state")).to_have_text("Guardado")
    await page.click("#terminate-button")
    await page.click("#terminate-confirm")
    await expect(desk.item(ended_here)).to_have_count(0)
    del expected[str(ended_here)]
    assert await stored_drafts() == expected

    # Ana hands one to Beto.
    await desk.item(transferred).click()
    await expect(page.locator("#composer-text")).to_have_value(f"Borrador {transferred}")
    await page.click("#transfer-button")
    await page.locator('#transfer-menu .transfer-option[data-kind="agent"]', has_text="Beto Agente").click()
    await page.click("#transfer-confirm")
    await expect(desk.item(transferred)).to_have_count(0)
    del expected[str(transferred)]
    assert await stored_drafts() == expected

    # Ended elsewhere (the server, not this page): gone once the lists load again.
    await service.attentions.terminate(ended_elsewhere, ana, {"motivo": "Consulta", "resultado": "resuelto"})
    await expect(desk.item(ended_elsewhere)).to_have_count(0)
    await page.reload()
    await expect(page.locator("#desk-screen")).to_be_visible()
    await expect(desk.item(kept)).to_have_count(1)
    del expected[str(ended_elsewhere)]
    assert await stored_drafts() == expected == {str(kept): f"Borrador {kept}"}
    await desk.item(kept).click()
    await expect(page.locator("#composer-text")).to_have_value(f"Borrador {kept}")
    desk.assert_clean()


async def test_logout_with_open_attentions_says_what_happens_and_offers_the_queue(server, browser) -> None:
    service = server.runtime.service
    await add_agent(server, "ana", "Ana", ["soporte"])
    await add_agent(server, "beto", "Beto", ["soporte"])
    held = [await handoff(server, "6001", "Rosa Quispe"), await handoff(server, "6002", "Jorge Luna")]
    desk = await Desk.open(browser, server)
    await desk.login("ana")
    for attention_id in held:
        await take(desk, attention_id)
    page = desk.page

    await page.click("#logout-button")
    dialog = page.locator("#logout-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("Tiene 2 atenciones abiertas.")
    await expect(dialog).to_contain_text("volverán a la cola")
    await expect(page.locator("#logout-stay")).to_be_focused()  # the safe choice, for Enter
    await desk.shot("desk-logout")
    await page.keyboard.press("Escape")  # stays
    await expect(dialog).to_have_count(0)
    await expect(page.locator("#desk-screen")).to_be_visible()

    await page.click("#logout-button")
    await page.click("#logout-stay")
    await expect(page.locator("#desk-screen")).to_be_visible()
    assert [(await service.attentions.get(attention_id)).state.value for attention_id in held] == ["open", "open"]

    await page.click("#logout-button")
    await page.click("#logout-return")
    await expect(page.locator("#login-form")).to_be_visible()
    for attention_id in held:
        attention = await service.attentions.get(attention_id)
        assert (attention.state.value, attention.agent_id) == ("queued", None)

    # Leave anyway: the attention stays the agent's (its orphan timer runs); none held: no question.
    beto = await Desk.open(browser, server)
    await beto.login("beto")
    await take(beto, held[0])
    await beto.page.click("#logout-button")
    await expect(beto.page.locator("#logout-dialog")).to_contain_text("Tiene 1 atención abierta.")
    await beto.page.click("#logout-anyway")
    await expect(beto.page.locator("#login-form")).to_be_visible()
    assert (await service.attentions.get(held[0])).state.value == "open"
    await desk.login("ana")
    await page.click("#logout-button")
    await expect(page.locator("#login-form")).to_be_visible()
    desk.assert_clean()
    beto.assert_clean()


async def test_a_supervisor_sees_someone_elses_attention_read_only(server, browser) -> None:
    owner = await add_agent(server, "ana", "Ana Agente", ["soporte"])
    sara = await add_agent(server, "sara", "Sara Supervisora", [], role="supervisor")
    attention_id = await handoff(server, "6001", "Rosa Quispe")
    ana = await Desk.open(browser, server)
    await ana.login("ana")
    await take(ana, attention_id)
    await expect(ana.page.locator("#composer-text")).to_be_enabled()

    boss = await Desk.open(browser, server)
    await boss.login("sara")
    await boss.item(attention_id).click()
    page = boss.page
    await expect(page.locator(".conv-header .conv-id")).to_have_text(f"#{attention_id}")
    notice = page.locator("#read-only-notice")
    await expect(notice).to_contain_text("Solo lectura.")
    await expect(notice).to_contain_text("Esta atención la lleva Ana Agente")
    await boss.shot("desk-read-only")
    for control in ("#composer", "#composer-text", "#attach-button", "#send-button"):
        await expect(page.locator(control)).to_have_count(0)
    await expect(page.locator("#terminate-button")).to_be_hidden()
    await expect(page.locator("#field-nombre")).to_be_disabled()
    await expect(page.locator("#transfer-button")).to_be_visible()  # what a supervisor may do
    await page.click('#topbar [data-lang-choice="en"]')
    await expect(notice).to_contain_text("Read only.")
    await expect(notice).to_contain_text("Ana Agente holds this attention")

    # Ana hands it to Sara while she looks at it: it becomes hers to answer, live.
    await server.runtime.service.attentions.transfer_to_agent(attention_id, owner, sara.id)
    await expect(page.locator("#composer-text")).to_be_enabled()
    await expect(notice).to_have_count(0)
    await expect(page.locator("#terminate-button")).to_be_visible()
    await expect(page.locator("#field-nombre")).to_be_enabled()
    ana.assert_clean()
    boss.assert_clean()


async def test_transfer_and_outbound_ask_first_and_say_it_once(server, browser) -> None:
    service = server.runtime.service
    ana = await add_agent(server, "ana", "Ana Agente", ["soporte", "ventas"])
    await add_agent(server, "beto", "Beto Agente", ["soporte"])
    attention_id = await handoff(server, "6001", "Rosa Quispe")
    sale = await handoff(server, "7001", "Inés Instagram", channel="instagram")
    desk = await Desk.open(browser, server)
    await desk.login("ana")
    await take(desk, attention_id)
    page = desk.page

    await page.click("#transfer-button")
    await page.locator('#transfer-menu .transfer-option[data-kind="agent"]', has_text="Beto Agente").click()
    dialog = page.locator("#transfer-dialog")
    await expect(dialog).to_contain_text(f"¿Transferir la atención #{attention_id}?")
    await expect(dialog).to_contain_text("A Beto Agente")
    await dialog.locator('button[value="cancel"]').click()
    await expect(dialog).to_have_count(0)
    assert (await service.attentions.get(attention_id)).agent_id == ana.id

    # To another campaign's queue that Ana also serves (it stays in her list, queued): one toast.
    await page.click('[data-channel-choice="instagram"]')
    await take(desk, sale)
    await page.click("#transfer-button")
    await page.locator('#transfer-menu .transfer-option[data-kind="campaign"]', has_text="Soporte").click()
    await page.click("#transfer-confirm")
    await expect(desk.item(sale)).to_have_attribute("data-state", "queued")
    await expect(page.locator("#toasts .toast")).to_have_count(1)
    await page.wait_for_timeout(500)  # the live event of the transfer has come back by now
    await expect(page.locator("#toasts .toast")).to_have_count(1)
    assert (await service.attentions.get(sale)).campaign_id == "soporte"
    await page.click('[data-channel-choice="messenger"]')

    finished = await ended(server, ana, "6101", "Lucía Fernández", says="Necesito la factura")
    await page.click("#history-button")
    await page.locator(f'#history-list .history-item[data-id="{finished}"] .history-outbound').click()
    outbound = page.locator("#outbound-dialog")
    await expect(outbound).to_contain_text("Lucía Fernández")
    await page.keyboard.press("Escape")
    await expect(outbound).to_have_count(0)
    await expect(page.locator("#history-dialog")).to_be_visible()  # still there, nothing started
    finished_for = (await service.attentions.get(finished)).account_id
    assert await service.inbound.active_attention("messenger", finished_for, "6101") is None
    await page.locator(f'#history-list .history-item[data-id="{finished}"] .history-outbound').click()
    await page.click("#outbound-confirm")
    await expect(page.locator("#history-dialog")).to_be_hidden()
    await expect(page.locator(".conv-header .conv-name")).to_have_text("Lucía Fernández")
    started = page.locator("#toasts .toast", has_text="Atención saliente")
    await expect(started).to_have_count(1)
    await page.wait_for_timeout(500)  # its live event has come back by now
    await expect(started).to_have_count(1)

    # Confirmed this time, a transfer to Beto is told once too (the live event that takes it
    # from Ana's list adds no second word about it).
    await desk.item(attention_id).click()
    await expect(page.locator(".conv-header .conv-id")).to_have_text(f"#{attention_id}")
    await page.click("#transfer-button")
    await page.locator('#transfer-menu .transfer-option[data-kind="agent"]', has_text="Beto Agente").click()
    await page.click("#transfer-confirm")
    await expect(desk.item(attention_id)).to_have_count(0)
    about_it = page.locator("#toasts .toast", has_text=f"#{attention_id}")
    await expect(about_it).to_have_count(1)
    await page.wait_for_timeout(500)
    await expect(about_it).to_have_count(1)
    assert (await service.attentions.get(attention_id)).agent_id != ana.id
    desk.assert_clean()


async def test_the_header_keeps_the_customers_name_at_1024_px(server, browser) -> None:
    await add_agent(server, "ana", "Ana", ["soporte"])
    name = "María Fernanda Rodríguez"
    attention_id = await handoff(server, "6001", name)
    desk = await Desk.open(browser, server)
    await desk.page.set_viewport_size({"width": 1024, "height": 768})
    await desk.login("ana")
    await take(desk, attention_id)
    title = desk.page.locator(".conv-header .conv-name")
    await expect(title).to_have_text(name)
    cut = await title.evaluate("e => e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1")
    assert not cut, "the customer's name is cut in the header at 1024 px"
    await expect(desk.page.locator("#transfer-button")).to_be_visible()
    await desk.shot("composer-header-1024")
    desk.assert_clean()


async def test_past_24_hours_with_human_agent_the_timer_shows_the_days_left(server, browser) -> None:
    await add_agent(server, "ana", "Ana", ["soporte"])  # soporte allows the HUMAN_AGENT tag
    yesterday = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 25 * 3600))
    context = [{"author": "customer", "text": "¿Siguen ahí?", "time": yesterday}]
    attention_id = await handoff(server, "6001", "Nora Vidal", context=context)
    desk = await Desk.open(browser, server)
    await desk.login("ana")
    await take(desk, attention_id)
    timer = desk.page.locator(".timer")
    await expect(timer).to_have_attribute("data-state", "human_agent")
    await expect(timer.locator(".timer-value")).to_have_text(re.compile(r"^5 d 2[23] h$"))  # 7 days - 25 h, not 00:00:00
    await expect(timer.locator(".timer-label")).to_have_text("Quedan con HUMAN_AGENT")
    await desk.page.click('#topbar [data-lang-choice="en"]')
    await expect(timer.locator(".timer-label")).to_have_text("Left with HUMAN_AGENT")
    desk.assert_clean()

"""Issue 13 in a real browser: every agent message names its author (the live desk, the
list and history agree, whoever looks), a transfer's note reaches the receiver's card and
the conversation, and a queued card shows why the customer asked for a person."""

from __future__ import annotations

import time

import pytest
from playwright.async_api import expect

from handoff.model import Agent
from tests.connectors.fixtures import envelope, item, with_mid
from tests.connectors.harness import PAGE_ID, SERVICE_TOKEN
from tests.desk_browser.test_desk_flow import Desk, add_agent, now_iso, publish_screenshots

pytestmark = pytest.mark.browser

REASON = "mi pedido 48213 no llegó, ya pasaron 10 días"


async def handoff_with_reason(server, customer_id: str, name: str) -> int:
    body = {
        "channel": "messenger",
        "account_id": PAGE_ID,
        "customer_id": customer_id,
        "customer_name": name,
        "intent": "request_human",
        "slots": {"customer_name": name.split()[0], "handoff_reason": REASON},
        "reason": REASON,
        "context": [{"author": "customer", "text": REASON, "time": now_iso()}],
    }
    headers = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
    async with server.session.post(f"{server.url}/webhooks/desk/service/attentions", json=body, headers=headers) as response:
        answer = await response.json()
        assert response.status == 201, answer
    return answer["attention"]["id"]


async def test_authors_and_a_transfer_note_as_every_desk_sees_them(server, browser) -> None:
    service = server.runtime.service
    ana: Agent = await add_agent(server, "ana", "Ana Torres", ["soporte"])
    bruno: Agent = await add_agent(server, "bruno", "Bruno Díaz", ["soporte"])
    await add_agent(server, "jefa", "Marta Jefa", [], role="supervisor")
    attention_id = await handoff_with_reason(server, "6001", "Rosa Quispe")

    boss = await Desk.open(browser, server)
    await boss.login("jefa")
    bruno_desk = await Desk.open(browser, server)
    await bruno_desk.login("bruno")
    # The queued card says why the customer asked, before anyone opens it.
    await expect(bruno_desk.item(attention_id).locator(".note-reason")).to_contain_text(REASON)
    await bruno_desk.item(attention_id).click()
    await expect(bruno_desk.page.locator(".queued-card .queued-reason")).to_contain_text(REASON)
    await bruno_desk.shot("desk-queued-reason")

    await service.attentions.open(attention_id, ana)
    await service.outbox.send_agent_message(attention_id, ana, "Hola Rosa, soy Ana")
    # The supervisor sees who wrote it: Ana, not "Usted".
    preview = boss.item(attention_id).locator(".item-preview")
    await expect(preview).to_have_text("Ana Torres: Hola Rosa, soy Ana")
    await boss.item(attention_id).click()
    await expect(boss.message("Hola Rosa, soy Ana").locator(".msg-author")).to_have_text("Ana Torres")

    await service.attentions.transfer_to_agent(attention_id, ana, bruno.id, note="Cambio de turno: falta confirmar la dirección")
    card = bruno_desk.item(attention_id)
    await expect(card.locator(".note-transfer")).to_contain_text(
        "Nota de Ana Torres: Cambio de turno: falta confirmar la dirección"
    )
    await card.click()
    line = bruno_desk.page.locator("#timeline .msg-system.kind-transfer")
    await expect(line).to_contain_text("Ana Torres transfirió la atención a Bruno Díaz")
    await expect(line.locator(".transfer-note")).to_have_text("Cambio de turno: falta confirmar la dirección")
    await expect(bruno_desk.message("Hola Rosa, soy Ana").locator(".msg-author")).to_have_text("Ana Torres")
    await bruno_desk.shot("desk-transfer-note")
    await bruno_desk.page.fill("#composer-text", "Hola, sigo yo con su pedido")
    await bruno_desk.page.press("#composer-text", "Enter")
    await expect(bruno_desk.item(attention_id).locator(".item-preview")).to_have_text("Usted: Hola, sigo yo con su pedido")
    await expect(preview).to_have_text("Bruno Díaz: Hola, sigo yo con su pedido")
    await expect(boss.message("Hola, sigo yo con su pedido").locator(".msg-author")).to_have_text("Bruno Díaz")

    await service.attentions.terminate(attention_id, bruno, {"motivo": "envío", "resultado": "resuelto"})
    await boss.page.click("#history-button")
    await boss.page.locator(f'#history-list .history-item[data-id="{attention_id}"] .history-view').click()
    transcript = boss.page.locator("#history-transcript")
    await expect(transcript.locator(".msg", has_text="Hola Rosa, soy Ana").locator(".msg-author")).to_have_text("Ana Torres")
    await expect(transcript.locator(".msg", has_text="Hola, sigo yo").locator(".msg-author")).to_have_text("Bruno Díaz")
    await expect(transcript.locator(".msg-system.kind-transfer")).to_contain_text(
        "Ana Torres transfirió la atención a Bruno Díaz"
    )
    for desk in (boss, bruno_desk):
        desk.assert_clean()
    publish_screenshots()


async def test_a_queued_card_names_what_the_customer_sent(server, browser) -> None:
    """Queued cards previewed only "Adjunto" (or nothing): now the kind of what came, in the
    agent's language, with the reason still on its own line."""
    await add_agent(server, "bruno", "Bruno Díaz", ["soporte"])
    attention_id = await handoff_with_reason(server, "6002", "Luis Gómez")
    desk = await Desk.open(browser, server)
    await desk.login("bruno")
    card = desk.item(attention_id)
    await expect(card).to_have_attribute("data-state", "queued")

    picture = with_mid(item("messenger/image"), "m_card_image", sender="6002")
    picture["timestamp"] = int(time.time() * 1000)
    await server.post("messenger", envelope("messenger", [picture]))
    await server.settle()
    await expect(card.locator(".item-preview")).to_have_text("Imagen")
    await expect(card.locator(".note-reason")).to_contain_text(REASON)
    await desk.page.click('#topbar [data-lang-choice="en"]')
    await expect(card.locator(".item-preview")).to_have_text("Image")
    desk.assert_clean()

"""Issue 13, "the desk tells the truth", in a real browser against the real server (like
test_desk_flow.py): a customer's cancel leaves every queue live and is told as such (on
screen, on a late Atender, in the history), and every error the page shows is the
catalogue's text for the API's code, never the API's English or raw ids."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from playwright.async_api import expect

from handoff.error_codes import ALL_CODES
from tests.desk.support import cancel_as_the_bot
from tests.desk_browser.test_desk_flow import Desk, add_agent, handoff

pytestmark = pytest.mark.browser

# What the API says for developers, which must never reach an agent's eyes.
# Its ids ("attention 12", "agent 3"), quoted ids and states ("campaign 'soporte'", "(terminated)"),
# placeholders left unfilled, the codes themselves and the old "Algo salió mal (<English>)".
RAW = re.compile(
    r"attention \d|agent \d|not one of|campaign '|\((?:queued|open|terminated)\)|\{\w+\}|customer_cancelled|"
    r"Something went wrong \(|Algo salió mal \(|" + "|".join(re.escape(code) for code in sorted(ALL_CODES))
)


async def shown_texts(desk: Desk) -> str:
    """Everything the page shows as a notice: toasts, the centre, the form's errors."""
    parts = [
        await desk.page.locator(selector).all_inner_texts()
        for selector in ("#toasts", "#conversation", ".field-error", "#form-error", "#history-dialog:visible")
    ]
    return "\n".join(text for part in parts for text in part)


async def assert_no_raw(desk: Desk) -> None:
    texts = await shown_texts(desk)
    assert not RAW.search(texts), texts


async def test_a_customer_cancel_leaves_every_queue_live_and_is_said_on_screen(server, browser) -> None:
    await add_agent(server, "ana", "Ana", ["soporte"])
    await add_agent(server, "beto", "Beto", ["soporte"])
    attention_id = await handoff(server, "7401", "Rosa Luna")
    ana, beto = await Desk.open(browser, server), await Desk.open(browser, server)
    await ana.login("ana")
    await beto.login("beto")
    await expect(beto.item(attention_id)).to_have_count(1)
    await ana.item(attention_id).click()
    await expect(ana.page.locator("#take-button")).to_be_visible()

    await cancel_as_the_bot(server, attention_id)

    for desk in (ana, beto):
        await expect(desk.item(attention_id)).to_have_count(0)
        await expect(desk.page.locator('[data-channel-count="messenger"]')).to_be_hidden()
    # Where Ana's Atender was: the truth, not "Otro agente ya la tomó".
    await expect(ana.page.locator(".taken-message")).to_have_text("El cliente canceló la espera.")
    await expect(ana.page.locator("#take-button")).to_have_count(0)
    await assert_no_raw(ana)
    ana.assert_clean()
    beto.assert_clean()


async def test_a_late_atender_on_a_cancelled_attention_says_the_customer_cancelled(server, browser) -> None:
    await add_agent(server, "ana", "Ana", ["soporte"])
    attention_id = await handoff(server, "7402", "Rosa Luna")
    desk = await Desk.open(browser, server, live=False)  # a stale page: it hears nothing of the cancel
    await desk.login("ana")
    await desk.item(attention_id).click()
    await expect(desk.page.locator("#take-button")).to_be_visible()
    await cancel_as_the_bot(server, attention_id)
    await desk.page.click("#take-button")
    await expect(desk.page.locator(".taken-message")).to_have_text("El cliente canceló la espera.")
    await expect(desk.page.locator("#toasts")).to_contain_text("El cliente canceló la espera.")
    await expect(desk.item(attention_id)).to_have_count(0)
    assert "Otro agente" not in await shown_texts(desk)
    await assert_no_raw(desk)
    desk.assert_clean()


async def test_the_history_says_in_words_that_the_customer_cancelled(server, browser) -> None:
    await add_agent(server, "sara", "Sara", ["soporte"], role="supervisor")
    attention_id = await handoff(server, "7403", "Rosa Luna")
    await cancel_as_the_bot(server, attention_id)
    desk = await Desk.open(browser, server)
    await desk.login("sara")
    await desk.page.click("#history-button")
    await desk.page.locator(f'#history-list .history-item[data-id="{attention_id}"] .history-view').click()
    trail = desk.page.locator("#history-trail")
    await expect(trail.locator('li[data-action="terminate"]')).to_contain_text("El cliente canceló la espera")
    assert "customer_cancelled" not in await trail.inner_text()
    await desk.page.keyboard.press("Escape")
    await expect(desk.page.locator("#history-dialog")).to_be_hidden()
    await desk.page.click('#topbar [data-lang-choice="en"]')
    await desk.page.click("#history-button")
    await desk.page.locator(f'#history-list .history-item[data-id="{attention_id}"] .history-view').click()
    await expect(trail.locator('li[data-action="terminate"]')).to_contain_text("The customer cancelled while waiting")
    desk.assert_clean()


async def test_the_page_shows_the_catalogues_words_for_each_error(server, browser) -> None:
    """Taken by another agent, forbidden, invalid form, window closed, a code the page does
    not know: each in the agent's language, none with the API's English or raw ids."""
    service = server.runtime.service
    ana = await add_agent(server, "ana", "Ana", ["soporte", "ventas"])
    eva = await add_agent(server, "eva", "Eva", ["soporte"])
    taken = await handoff(server, "7411", "Pedro Paz")
    forbidden = await handoff(server, "7412", "Olga Sanz")
    form = await handoff(server, "7413", "Iván Gil")
    window = await handoff(server, "7414", "Hugo Ríos", channel="instagram")
    desk = await Desk.open(browser, server, live=False)
    await desk.login("ana")
    page = desk.page
    toasts = page.locator("#toasts")

    # Taken by another agent (the page heard nothing of it).
    await desk.item(taken).click()
    await service.attentions.open(taken, eva)
    await page.click("#take-button")
    await expect(page.locator(".taken-message")).to_have_text("Otro agente ya la tomó")
    await assert_no_raw(desk)

    # Forbidden: Ana no longer serves soporte; the page still shows its attention.
    await desk.item(forbidden).click()
    await service.agents.set_campaigns(ana.id, ["ventas"])
    await page.click("#take-button")
    await expect(toasts).to_contain_text("No atiende esa campaña.")
    await assert_no_raw(desk)
    await service.agents.set_campaigns(ana.id, ["soporte", "ventas"])

    # An invalid form the browser could not know about: the server's 422, by field code.
    await service.attentions.open(form, ana)
    await page.reload()
    await expect(page.locator("#desk-screen")).to_be_visible()
    await desk.item(form).click()
    await page.click('label[for="field-resultado-0"]')
    await expect(page.locator("#form-save-state")).to_have_text("Guardado")

    async def not_an_option(route) -> None:
        body = json.loads(route.request.post_data or "{}")
        body.setdefault("values", {})["resultado"] = "inventado"
        await route.continue_(post_data=json.dumps(body))

    await page.route(re.compile(r"/api/attentions/\d+/terminate$"), not_an_option)
    await page.click("#terminate-button")
    await page.click("#terminate-confirm")
    await expect(page.locator("#error-resultado")).to_have_text("Elija una de las opciones.")
    await assert_no_raw(desk)
    await page.unroute(re.compile(r"/api/attentions/\d+/terminate$"))

    await page.click('[data-channel-choice="instagram"]')
    await desk.item(window).click()
    await page.click("#take-button")
    await expect(page.locator("#composer-text")).to_be_enabled()

    # A code this page does not know yet: the generic words, not the developers' text.
    async def new_code(route) -> None:
        body = {"error": "attention 7 is terminated", "code": "attention.frozen", "params": {}}
        await route.fulfill(status=500, content_type="application/json", body=json.dumps(body))

    await page.route(re.compile(r"/api/attentions/\d+/messages$"), new_code)
    await page.fill("#composer-text", "Perfecto")
    await page.press("#composer-text", "Enter")
    await expect(toasts).to_contain_text("Algo salió mal. Inténtelo de nuevo.")
    await assert_no_raw(desk)

    # The same truth in English.
    await page.click('#topbar [data-lang-choice="en"]')
    await expect(page.locator("#terminate-button")).to_have_text("End attention")
    await expect(toasts).to_be_empty()  # the Spanish toast is gone
    await page.fill("#composer-text", "Perfect")
    await page.press("#composer-text", "Enter")
    await expect(toasts).to_contain_text("Something went wrong. Try again.")
    await assert_no_raw(desk)
    await page.unroute(re.compile(r"/api/attentions/\d+/messages$"))
    await page.click('#topbar [data-lang-choice="es"]')
    await expect(page.locator("#terminate-button")).to_have_text("Terminar atención")
    await expect(toasts).to_be_empty()  # (the conversation is drawn again in the new language meanwhile)

    # Meta's window closed while the page was open (the server's clock is a day ahead).
    clock = service.context.clock
    service.context.clock = lambda: clock() + timedelta(hours=25)
    try:
        await page.fill("#composer-text", "¿Sigue ahí?")
        await page.press("#composer-text", "Enter")
        await expect(toasts).to_contain_text("Pasaron 24 horas")
    finally:
        service.context.clock = clock
    await assert_no_raw(desk)

    desk.assert_clean()

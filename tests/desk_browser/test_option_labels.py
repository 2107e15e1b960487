"""Issue 13 in a real browser: choice options show their labels from data/campaigns.yml
(with accents, in the agent's language) in the form and the history, while the stored
value stays the option's id."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.desk_browser.test_desk_flow import Desk, add_agent, handoff

pytestmark = pytest.mark.browser


async def test_options_show_their_labels_and_store_their_ids(server, browser) -> None:
    service = server.runtime.service
    await add_agent(server, "vera", "Vera Ventas", ["ventas"])
    attention_id = await handoff(server, "8301", "Camila Rojas", channel="instagram")
    assert (await service.attentions.get(attention_id)).campaign_id == "ventas"

    desk = await Desk.open(browser, server)
    await desk.login("vera")
    page = desk.page
    await page.click('[data-channel-choice="instagram"]')
    await desk.item(attention_id).click()
    await page.click("#take-button")
    await expect(page.locator("#form-title")).to_have_text("Formulario - Instagram")

    # The form: labels, not ids ("cotizacion", "sin_interes" before).
    outcome = page.locator('.form-field[data-field="resultado"] .choice')
    await expect(outcome).to_have_text(["Venta", "Cotización", "Sin interés"])
    products = page.locator('.form-field[data-field="productos"] .choice')
    await expect(products).to_have_text(["Ropa", "Calzado", "Accesorios", "Otros"])
    await expect(page.locator("#field-origen option")).to_have_text(
        ["Seleccione…", "Anuncio", "Historia de Instagram", "Recomendación", "Búsqueda", "Otro"]
    )
    await expect(page.locator("#field-origen")).to_have_value("otro")  # the default, by its id
    await page.check("#field-productos-2")
    await page.select_option("#field-origen", label="Recomendación")
    await page.click('label:has-text("Cotización")')
    await expect(page.locator("#form-save-state")).to_have_text("Guardado")
    stored = (await service.attentions.get(attention_id)).form
    assert (stored["resultado"], stored["origen"], stored["productos"]) == ("cotizacion", "recomendacion", ["accesorios"])

    # In English, the English labels; the choice made stays chosen (the ids did not change).
    await page.click('#topbar [data-lang-choice="en"]')
    await expect(outcome).to_have_text(["Sale", "Quote", "Not interested"])
    await expect(page.locator('.form-field[data-field="resultado"] input[value="cotizacion"]')).to_be_checked()
    await page.click('#topbar [data-lang-choice="es"]')

    await page.click("#terminate-button")
    await page.click("#terminate-confirm")
    await expect(desk.item(attention_id)).to_have_count(0)

    # The history shows the labels too.
    await page.click("#history-button")
    await page.locator(f'#history-list .history-item[data-id="{attention_id}"] .history-view').click()
    form = page.locator("#history-form-values")
    await expect(form.locator('[data-field="resultado"] dd')).to_have_text("Cotización")
    await expect(form.locator('[data-field="origen"] dd')).to_have_text("Recomendación")
    await expect(form.locator('[data-field="productos"] dd')).to_have_text("Accesorios")
    # And which routing rule chose the campaign (data/campaigns.yml: Instagram -> ventas).
    queued = page.locator("#history-trail li").first
    await expect(queued).to_have_text(re.compile(r"En cola en Ventas \(regla de enrutamiento 3\)"))
    desk.assert_clean()

"""The attentions list renders by key: a change rebuilds only the card it changes, so a click
on another card is never swallowed by a re-render (real browser, real server)."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.desk_browser.test_desk_flow import Desk, add_agent, customer_says, handoff

pytestmark = pytest.mark.browser

MARK = """ids => ids.forEach(id => {
  const card = document.querySelector(`#attention-list li[data-id="${id}"]`);
  card.probe = id;
  card.querySelector(".item-name").probe = id;
})"""
KEPT = """ids => ids.map(id => {
  const card = document.querySelector(`#attention-list li[data-id="${id}"]`);
  return [card.probe === id, card.querySelector(".item-name").probe === id];
})"""


async def test_a_change_rebuilds_only_its_own_card(server, browser) -> None:
    await add_agent(server, "ana", "Ana", ["soporte"])
    rosa = await handoff(server, "6001", "Rosa Quispe")
    jorge = await handoff(server, "6002", "Jorge Luna")
    desk = await Desk.open(browser, server)
    await desk.login("ana")
    page = desk.page
    await expect(desk.item(rosa)).to_have_count(1)
    await expect(desk.item(jorge)).to_have_count(1)
    # A mark on each card and on its content: a card built again would come without it.
    await page.evaluate(MARK, [rosa, jorge])

    await customer_says(server, "6002", "¿Siguen ahí?", "m_key_1")
    await expect(desk.item(jorge).locator(".item-preview")).to_contain_text("¿Siguen ahí?")
    # Jorge's card is the same element, its content redone; Rosa's is untouched.
    assert await page.evaluate(KEPT, [rosa, jorge]) == [[True, True], [True, False]]

    carla = await handoff(server, "6003", "Carla Pérez")
    await expect(desk.item(carla)).to_have_count(1)
    order = await page.locator("#attention-list li[data-id]").evaluate_all("items => items.map(i => Number(i.dataset.id))")
    assert order == [carla, jorge, rosa]  # newest first
    assert (await page.evaluate(KEPT, [rosa]))[0] == [True, True]

    await desk.item(rosa).click()
    await expect(desk.item(rosa)).to_have_attribute("aria-selected", "true")
    await expect(page.locator("#take-button")).to_be_visible()
    desk.assert_clean()

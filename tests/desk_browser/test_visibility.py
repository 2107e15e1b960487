"""Who sees which attention, in real browsers: each page places attentions where the server
says (``attention.list``, from ``handoff.visibility``) and keeps no rule of its own."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.desk_browser.test_desk_flow import PASSWORD, Desk, add_agent, handoff

pytestmark = pytest.mark.browser


async def api_token(server, username: str) -> str:
    credentials = {"username": username, "password": PASSWORD}
    async with server.session.post(f"{server.url}/webhooks/desk/api/login", json=credentials) as answer:
        assert answer.status == 200
        return (await answer.json())["token"]


async def test_a_transfer_out_of_an_agents_campaigns_leaves_their_page_and_the_supervisor_follows_it(server, browser) -> None:
    service = server.runtime.service
    ana = await add_agent(server, "ana", "Ana Ventas", ["ventas"])
    await add_agent(server, "beto", "Beto Soporte", ["soporte"])
    sara = await add_agent(server, "sara", "Sara Supervisora", [], role="supervisor")
    desks = {name: await Desk.open(browser, server) for name in ("ana", "beto", "sara")}
    for name, desk in desks.items():
        await desk.login(name)
        await desk.page.click('[data-channel-choice="instagram"]')
    a, b, s = desks["ana"], desks["beto"], desks["sara"]

    ines = await handoff(server, "8501", "Inés Instagram", channel="instagram")  # Ventas' queue
    await expect(a.item(ines)).to_have_attribute("data-state", "queued")
    await expect(s.item(ines)).to_have_attribute("data-state", "queued")
    await service.attentions.open(ines, ana)
    await expect(a.item(ines)).to_have_attribute("data-state", "open")
    await expect(s.item(ines)).to_have_attribute("data-state", "open")  # a supervisor follows every open one
    await expect(b.item(ines)).to_have_count(0)  # not his campaign
    await a.item(ines).click()
    await expect(a.page.locator(".conv-header .conv-id")).to_have_text(f"#{ines}")

    # The supervisor moves it to Soporte's queue: out of Ana's campaigns, so off her page.
    await service.attentions.transfer_to_campaign(ines, sara, "soporte")
    await expect(a.item(ines)).to_have_count(0)
    await expect(a.page.locator("#conversation .empty-notice")).to_contain_text(f"#{ines}")
    await expect(a.page.locator("#count-open")).to_have_text("0")
    await expect(s.item(ines)).to_have_attribute("data-state", "queued")
    await expect(s.item(ines).locator(".item-campaign")).to_have_text("Soporte")
    await expect(b.item(ines)).to_have_attribute("data-state", "queued")

    # Campaigns changed while Ana is connected: what the server now sends her is hers to
    # show, though the page still holds the agent it logged in with.
    token = await api_token(server, "sara")
    async with server.session.patch(
        f"{server.url}/webhooks/desk/api/agents/{ana.id}",
        json={"campaigns": ["ventas", "soporte"]},
        headers={"Authorization": f"Bearer {token}"},
    ) as answer:
        assert answer.status == 200
    lucia = await handoff(server, "7501", "Lucía Messenger")  # Soporte's queue
    await expect(a.page.locator('[data-channel-count="messenger"]')).to_have_text("1")
    await a.page.click('[data-channel-choice="messenger"]')
    await expect(a.item(lucia)).to_have_attribute("data-state", "queued")
    for desk in (a, b, s):
        desk.assert_clean()

"""Issue 14 in a real browser: the customer's profile picture (stored with its expiry) is the
avatar while Meta's link works, and initials take its place once the link has ended, also
for a picture that was fresh when it came. The fake CDN serves every link below (each ends
in .jpg), so only the server's expiry can make the page show initials."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta

import pytest
from playwright.async_api import expect

from connectors.desk import serializers
from tests.desk_browser.test_desk_flow import Desk, add_agent, handoff

pytestmark = pytest.mark.browser

LOADED = re.compile(r"\bhas-picture\b")  # the avatar's <img> loaded


def meta_link(name: str, ends_in_seconds: float) -> str:
    """A signed Meta CDN link: ``oe`` is its end in hex Unix seconds."""
    return f"https://scontent.example/v/t1/{name}?oe={int(time.time() + ends_in_seconds):X}&_nc_sid=1&f={name}.jpg"


async def test_the_avatar_is_the_picture_until_its_link_ends_then_initials(server, browser, monkeypatch) -> None:
    await add_agent(server, "ana", "Ana", ["soporte"])
    fresh = await handoff(server, "6301", "Rosa Quispe", picture_url=meta_link("rosa", 2 * 86400))
    expired = await handoff(server, "6302", "Luis Gómez", picture_url=meta_link("luis", -60))
    soon = await handoff(server, "6303", "Nora Vidal", picture_url=meta_link("nora", 3600))
    desk = await Desk.open(browser, server)
    await desk.login("ana")

    def avatar(attention_id: int):
        return desk.item(attention_id).locator(".avatar")

    await expect(avatar(fresh)).to_have_class(LOADED)
    await expect(avatar(soon)).to_have_class(LOADED)
    await expect(avatar(expired).locator("img")).to_have_count(0)  # initials, not a broken image
    await expect(avatar(expired).locator(".avatar-initials")).to_have_text("LG")

    # Nora's link ends while the desk is open (the server's clock two hours on): the next
    # time the page asks, initials; Rosa's two-day link still shows.
    class TwoHoursOn(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.now(tz) + timedelta(hours=2)

    monkeypatch.setattr(serializers, "datetime", TwoHoursOn)
    await desk.page.reload()
    await expect(desk.page.locator("#desk-screen")).to_be_visible()
    await expect(avatar(soon).locator(".avatar-initials")).to_have_text("NV")
    await expect(avatar(soon).locator("img")).to_have_count(0)
    await expect(avatar(fresh)).to_have_class(LOADED)
    desk.assert_clean()

"""Fixtures of the desk's browser tests: the real server (connectors, desk, fake Graph API)
on loopback and Debian's chromium through Playwright."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.connectors.harness import running_connectors

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_or_skip() -> None:
    """Chromium is required in CI (a missing one fails); elsewhere its absence skips."""
    if CHROMIUM.exists():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {CHROMIUM} is missing: the desk's browser tests need Debian's chromium")
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); the desk's browser tests need it")


@pytest.fixture
async def server(tmp_path, monkeypatch) -> AsyncIterator:
    monkeypatch.setenv("HANDOFF_UPLOADS_DIR", str(tmp_path / "uploads"))  # agents' uploads stay out of the repository
    # No public URL: the page is opened at the server's loopback address, and the desk's
    # WebSocket accepts that same host's pages (a developer's HANDOFF_PUBLIC_URL would not match).
    monkeypatch.delenv("HANDOFF_PUBLIC_URL", raising=False)
    async with running_connectors(f"sqlite+aiosqlite:///{tmp_path / 'handoff.db'}") as running:
        yield running


@pytest.fixture
async def browser() -> AsyncIterator:
    chromium_or_skip()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture(scope="session", autouse=True)
def screenshots_to_docs():
    """After the run, DESK_SCREENSHOTS_TO_DOCS=1 copies every desk-*.png the tests made into docs/."""
    yield
    from tests.desk_browser.test_desk_flow import publish_screenshots

    publish_screenshots()

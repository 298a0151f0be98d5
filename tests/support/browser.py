"""Headless Chromium for the view's browser tests (``browser_page`` fixture), and the
steps they share: logging in through the login form, saving a screenshot.

Drives Debian's ``/usr/bin/chromium`` (``scripts/ensure-chromium.sh`` installs it) through
the Python ``playwright`` package; ``playwright install`` is never used, no browser build
is downloaded. A fresh browser per test.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from playwright.async_api import Page, async_playwright

from hub.view.settings import DEFAULT_DEMO_PASSWORD

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "browser_page", "log_in", "screenshot"]

CHROMIUM = os.environ.get("LIANGFA_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest_asyncio.fixture(loop_scope="session")
async def browser_page() -> AsyncIterator[Page]:
    """A page of a freshly launched headless Chromium (no cookies), Chinese locale.

    A browser per test (under a second to start) keeps the fixture self-contained: it can
    be imported on its own into any conftest.
    """
    if not os.path.exists(CHROMIUM):
        raise RuntimeError(f"{CHROMIUM} not found: run scripts/ensure-chromium.sh")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                   args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(
                locale="zh-CN", viewport={"width": 1400, "height": 1000}
            )
            yield await context.new_page()
            await context.close()
        finally:
            await browser.close()


async def log_in(page: Page, base: str, username: str = "prosecutor",
                 password: str = DEFAULT_DEMO_PASSWORD) -> None:
    """Log in through the view's login form at ``base``; returns once the page it lands on
    (the front page, or the form again with its error) has loaded."""
    await page.goto(f"{base}/login")
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("#login-submit")
    await page.wait_for_load_state()


async def screenshot(page: Page, name: str) -> None:
    """Save the visible part of the page as ``name`` in ``LIANGFA_SCREENSHOT_DIR``, when it
    is set; nothing otherwise."""
    directory = os.environ.get("LIANGFA_SCREENSHOT_DIR")
    if directory:
        await page.screenshot(path=str(Path(directory) / name), full_page=False)

"""Screenshots of every page of a running view, for the docs (``docs/img/pages/``).

Run against the demo county after ``make up`` (or ``liangfa up --home …``)::

    .venv/bin/python scripts/screenshots.py http://127.0.0.1:8600 docs/img/pages

It drives the same Debian Chromium the browser tests use (``tests/support/browser.py``),
logs in as the demo users (``LIANGFA_VIEW_DEMO_PASSWORD``, else the demo default) and
saves one PNG per page, in Chinese, plus the front page in English, the operations user's
status page and the justice bureau user's 调阅 pages (``consult.png``, ``consult-file.png``;
also saved by ``tests/browser/test_view_copies_browser.py`` with
``LIANGFA_SCREENSHOT_DIR=docs/img/pages``). A page that answers
with an error stops the run: a screenshot of an error page is no documentation.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

from playwright.async_api import Page, async_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub.local.hub_services import DEMO_OVERSIGHT_USER_CODES
from hub.view.settings import DEFAULT_DEMO_PASSWORD
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS

#: (file name, path or (page, pattern of the first link on it to follow), full page).
PROSECUTOR_PAGES = [
    ("front-page.png", "/", False),
    ("cases.png", "/cases", False),
    ("case.png", ("/alerts", r"/cases/[0-9a-f-]{36}"), False),
    ("alerts.png", "/alerts", False),
    ("unmatched.png", "/unmatched", False),
    ("unmatched-item.png", ("/unmatched", r"/unmatched/[^/?]+"), False),
    ("units.png", "/units", False),
    ("unit-scorecard.png", ("/units", r"/units/[0-9A-Z]{18}"), False),
    ("reports.png", "/reports", False),
    ("assessment.png", "/assessment", False),
    ("recheck.png", "/recheck", False),
    ("library.png", "/library", False),
    ("copies.png", "/copies", False),
]


async def _login(page: Page, base: str, username: str, password: str) -> None:
    await page.goto(f"{base}/login")
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("#login-submit")
    await page.wait_for_load_state()


async def _first_link(page: Page, base: str, path: str, pattern: str) -> str:
    await page.goto(f"{base}{path}")
    hrefs = await page.eval_on_selector_all(
        "a[href]", "links => links.map(link => link.getAttribute('href'))")
    for href in hrefs:
        if href and re.search(pattern, href):
            return str(href)
    raise SystemExit(f"no link matching {pattern} on {path}")


async def _shoot(page: Page, base: str, path: str, target: Path, full: bool) -> None:
    answer = await page.goto(f"{base}{path}")
    if answer is None or answer.status >= 400:
        raise SystemExit(f"{path}: HTTP {answer.status if answer else '?'}")
    await page.wait_for_load_state("networkidle")
    await page.screenshot(path=str(target), full_page=full)
    sys.stdout.write(f"{target}  ←  {path}\n")


async def main(base: str, directory: Path) -> None:
    password = os.environ.get("LIANGFA_VIEW_DEMO_PASSWORD", DEFAULT_DEMO_PASSWORD)
    directory.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                   args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(locale="zh-CN",
                                                viewport={"width": 1400, "height": 1000})
            page = await context.new_page()
            await _shoot(page, base, "/login", directory / "login.png", False)
            await _login(page, base, "prosecutor", password)
            for name, where, full in PROSECUTOR_PAGES:
                path = where if isinstance(where, str) else await _first_link(page, base, *where)
                await _shoot(page, base, path, directory / name, full)
            await _shoot(page, base, "/lang/en?next=/", directory / "front-page-en.png", False)
            await page.goto(f"{base}/lang/zh")
            await context.close()
            for name, user in (("operations-status.png", "operations"),):
                context = await browser.new_context(locale="zh-CN",
                                                    viewport={"width": 1400, "height": 1000})
                page = await context.new_page()
                await _login(page, base, user, password)
                await _shoot(page, base, "/status", directory / name, False)
                await context.close()
            # 调阅: the justice bureau's user (a prosecutor sees every file on the case
            # page and has no /consult list), its files and the first one it may open
            context = await browser.new_context(locale="zh-CN",
                                                viewport={"width": 1400, "height": 1000})
            page = await context.new_page()
            await _login(page, base, f"unit-{DEMO_OVERSIGHT_USER_CODES[0].lower()}", password)
            await _shoot(page, base, "/consult", directory / "consult.png", False)
            hrefs = await page.eval_on_selector_all(
                "a[href]", "links => links.map(link => link.getAttribute('href'))")
            opened = [h for h in hrefs if h and re.search(r"/consult/[0-9a-f-]{36}", h)]
            if opened:  # a county without leads or copies to the bureau has none to open
                await _shoot(page, base, opened[0], directory / "consult-file.png", False)
            await context.close()
        finally:
            await browser.close()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    asyncio.run(main(sys.argv[1].rstrip("/"), Path(sys.argv[2])))

"""The view's defences in headless Chromium (issue #11): lockout after wrong passwords,
a session that ends for good at logout, HTML error pages, and Swagger UI rendering under
the view's own Content-Security-Policy.

No bus is needed for any of this: the view runs with its store only (uvicorn in a
thread, real HTTP). The lockout uses a limit of 3 and an injected clock, never a sleep.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.async_api import Page, expect

from hub.view import app as view_app
from hub.view.app import create_app
from hub.view.context import ViewContext
from hub.view.settings import DEFAULT_DEMO_PASSWORD, ViewSettings
from tests.support.browser import log_in
from tests.support.kafka_io import wait_for
from tests.support.view_data import MARKET

pytestmark = [pytest.mark.browser]


@dataclass
class Served:
    url: str
    context: ViewContext
    now: datetime


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    settings = ViewSettings(
        database_url=f"sqlite:///{tmp_path / 'view.sqlite3'}",
        bootstrap=None,
        seed_demo_users=True,
        demo_unit_codes=[MARKET],
        login_max_failures_per_user=3,
    )
    app = create_app(settings)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="view-security", daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, timeout=60)
        holder = Served(f"http://127.0.0.1:{port}", app.state.view,
                        datetime(2026, 12, 4, 6, 0, tzinfo=UTC))
        holder.context.throttle.clock = lambda: holder.now
        assert httpx.get(f"{holder.url}/healthz", timeout=10).text == "ok"
        yield holder
    finally:
        server.should_exit = True
        deadline = time.monotonic() + 30
        while thread.is_alive() and time.monotonic() < deadline:
            thread.join(timeout=0.5)


async def test_lockout_after_wrong_passwords_then_the_readme_user_logs_in(
    served: Served, browser_page: Page
) -> None:
    page = browser_page
    user = f"unit-{MARKET}"  # as the README writes it
    await log_in(page, served.url, user, "wrong-1")
    await expect(page.locator("#login-error")).to_have_text("用户名或密码错误。")
    await log_in(page, served.url, user, "wrong-2")
    await log_in(page, served.url, user, "wrong-3")
    await expect(page.locator("#login-error")).to_contain_text("请 15 分钟后再试")
    await log_in(page, served.url, user, DEFAULT_DEMO_PASSWORD)
    await expect(page.locator("#login-error")).to_contain_text("已暂时锁定")
    assert "/login" in page.url
    served.now += timedelta(minutes=15)
    await log_in(page, served.url, user, DEFAULT_DEMO_PASSWORD)
    assert "/login" not in page.url
    await expect(page.locator(".who")).to_contain_text("演示单位用户")


async def test_logout_ends_the_session_for_a_copied_cookie_too(
    served: Served, browser_page: Page
) -> None:
    page = browser_page
    await log_in(page, served.url, "prosecutor", DEFAULT_DEMO_PASSWORD)
    cookies = await page.context.cookies()
    stolen = next(c for c in cookies if c["name"] == "lf_session")
    await page.goto(f"{served.url}/cases")
    await page.click("form[action='/logout'] button")
    await page.wait_for_load_state()
    assert "/login" in page.url
    await page.context.add_cookies([stolen])  # the cookie as it was before logout
    await page.goto(f"{served.url}/cases")
    assert "/login" in page.url


async def test_forbidden_page_is_html_in_the_users_language(
    served: Served, browser_page: Page
) -> None:
    page = browser_page
    await log_in(page, served.url, f"unit-{MARKET}", DEFAULT_DEMO_PASSWORD)
    answer = await page.goto(f"{served.url}/reports")
    assert answer is not None and answer.status == 403
    await expect(page.locator("h1")).to_have_text("无权访问")
    await page.click("#lang-switch")
    await expect(page.locator("h1")).to_have_text("Forbidden")


async def test_swagger_ui_renders_under_the_csp(served: Served, browser_page: Page) -> None:
    # fastapi-offline is a dependency: its Swagger UI must be there, not skipped.
    assert view_app._swagger_ui_dir() is not None
    page = browser_page
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    answer = await page.goto(f"{served.url}/docs")
    assert answer is not None and answer.status == 200
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("Liangfa Hub")
    await expect(page.locator(".opblock-summary-path").first).to_be_visible()
    assert violations == []

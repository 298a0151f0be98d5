"""The prosecutor view in headless Chromium, fed from and acting on the real bus.

A person logs in, searches, opens a timeline, acknowledges an alert and resolves an
unmatched feedback; each action is checked on Kafka (lf.view-actions) and on the page
once it has come back through the bus. A unit user cannot open another unit's case.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from hub.models import ViewAction, ViewActionKind
from tests.support.browser import log_in
from tests.support.kafka_io import read_events
from tests.support.live_view import LiveView, live_view_server, view_topics
from tests.support.view_data import MARKET, TOBACCO, case_spec, demo_events

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CASES = 30


@pytest.fixture
def live_view(tmp_path: Path, bootstrap: str, registry_url: str,
              topic_factory: Callable[..., str], group_id: str) -> Iterator[LiveView]:
    with live_view_server(
        tmp_path,
        bootstrap=bootstrap,
        registry_url=registry_url,
        topics=view_topics(topic_factory),
        group_id=group_id,
        events=demo_events(CASES),
        demo_unit_codes=[MARKET],
    ) as view:
        yield view


def _actions(view: LiveView, bootstrap: str, registry_url: str, expect_count: int
             ) -> list[ViewAction]:
    events = read_events(bootstrap, registry_url, view.settings.topics.view_actions,
                         expect=expect_count)
    return [event for event in events if isinstance(event, ViewAction)]


async def test_search_timeline_and_acknowledge_an_alert(
    live_view: LiveView, browser_page: Page, bootstrap: str, registry_url: str
) -> None:
    page = browser_page
    await log_in(page, live_view.url, "prosecutor")
    await expect(page.locator("h1")).to_have_text("工作台")
    await expect(page.locator("#tile-cases .number")).to_have_text(str(CASES))

    spec = case_spec(6)
    await page.click("a[data-nav=cases]")
    await page.fill("#party", spec.party.name)
    await page.click("#search-submit")
    await expect(page.locator("#case-results .case-row").first).to_be_visible()
    await page.click(f"a.case-link[href='/cases/{spec.case_id}']")
    await expect(page.locator("#case-id")).to_have_text(spec.case_id)
    await expect(page.locator("#timeline li").first).to_contain_text("行政处罚案件录入")

    await page.goto(f"{live_view.url}/alerts")
    first = page.locator("#alert-queue tr.alert-row").first
    alert_id = await first.get_attribute("data-alert-id")
    assert alert_id
    await first.locator("button.ack-button").click()
    await expect(page.locator("#notice")).to_contain_text("已提交到消息总线")

    actions = _actions(live_view, bootstrap, registry_url, 1)
    assert [(a.action_kind, a.target, a.actor) for a in actions] == [
        (ViewActionKind.ACKNOWLEDGE_ALERT, alert_id, "prosecutor")]

    row = page.locator(f"tr[data-alert-id='{alert_id}']")
    for _ in range(100):
        await page.goto(f"{live_view.url}/alerts?status=acknowledged")
        if await row.count():
            break
        await page.wait_for_timeout(200)
    await expect(row).to_contain_text("已知悉")


async def test_resolve_an_unmatched_feedback(
    live_view: LiveView, browser_page: Page, bootstrap: str, registry_url: str
) -> None:
    page = browser_page
    await log_in(page, live_view.url, "prosecutor")
    await page.click("a[data-nav=unmatched]")
    rows = page.locator("#unmatched-queue tr.unmatched-row")
    await expect(rows).to_have_count(2)
    await rows.first.locator("a.match-link").click()
    feedback_url = page.url
    candidate = page.locator(".candidate").first
    case_id = await candidate.get_attribute("data-case-id")
    assert case_id
    await candidate.locator("button.resolve-button").click()
    await expect(page.locator("#notice")).to_be_visible()

    actions = _actions(live_view, bootstrap, registry_url, 1)
    assert len(actions) == 1
    assert actions[0].action_kind == ViewActionKind.MANUAL_MATCH
    assert actions[0].case_id == case_id
    assert feedback_url.endswith(actions[0].target)

    status = page.locator("#unmatched-status")
    for _ in range(100):
        await page.goto(feedback_url)
        if "已匹配" in (await status.inner_text()):
            break
        await page.wait_for_timeout(200)
    await expect(status).to_contain_text("已匹配")
    await page.goto(f"{live_view.url}/unmatched")
    await expect(rows).to_have_count(1)


async def test_unit_user_cannot_open_another_units_case(
    live_view: LiveView, browser_page: Page
) -> None:
    page = browser_page
    await log_in(page, live_view.url, f"unit-{MARKET.lower()}")
    own = next(case_spec(i) for i in range(CASES) if case_spec(i).owner == MARKET)
    other = next(case_spec(i) for i in range(CASES) if case_spec(i).owner == TOBACCO)
    answer = await page.goto(f"{live_view.url}/cases/{own.case_id}")
    assert answer is not None and answer.status == 200
    await expect(page.locator("#case-id")).to_have_text(own.case_id)
    answer = await page.goto(f"{live_view.url}/cases/{other.case_id}")
    assert answer is not None and answer.status == 404
    await expect(page.locator("h1")).to_have_text("未找到")
    await expect(page.locator("a[data-nav=unmatched]")).to_have_count(0)


async def test_language_switch_and_login_required(
    live_view: LiveView, browser_page: Page
) -> None:
    page = browser_page
    await page.goto(f"{live_view.url}/cases")
    assert "/login" in page.url
    await log_in(page, live_view.url, "prosecutor")
    await page.click("#lang-switch")
    await expect(page.locator("a[data-nav=cases]")).to_have_text("Cases")
    await page.click("#lang-switch")
    await expect(page.locator("a[data-nav=cases]")).to_have_text("案件查询")


async def test_daily_pages_in_one_language_named_cases_and_search_to_match(
    live_view: LiveView, browser_page: Page, bootstrap: str, registry_url: str
) -> None:
    """Issue #14 item 5 in the browser: the alert queue names cases by document number,
    the report shows its table on screen, and a feedback is matched by searching."""
    page = browser_page
    await log_in(page, live_view.url, "prosecutor")
    await page.goto(f"{live_view.url}/alerts")
    first = page.locator("#alert-queue a.case-name").first
    await expect(first).to_contain_text("〔")
    await expect(first).to_contain_text(" · ")
    await page.goto(f"{live_view.url}/reports")
    await expect(page.locator("#report-table tr.report-row").first).to_be_visible()

    spec = case_spec(5)
    await page.goto(f"{live_view.url}/unmatched")
    await page.locator("#unmatched-queue a.match-link").first.click()
    feedback_url = page.url
    await page.fill("#candidate-q", spec.decision_number)
    await page.click("#candidate-search-submit")
    found = page.locator("#search-results .candidate.found")
    await expect(found).to_have_count(1)
    assert await found.get_attribute("data-case-id") == spec.case_id
    await found.locator("button.resolve-button").click()
    await expect(page.locator("#notice")).to_be_visible()
    actions = _actions(live_view, bootstrap, registry_url, 1)
    assert [(a.action_kind, a.case_id) for a in actions] == [
        (ViewActionKind.MANUAL_MATCH, spec.case_id)]
    assert feedback_url.split("?")[0].endswith(actions[0].target)

"""Oversight pages in headless Chromium, fed from and acting on the real bus (issue #14,
items 2 and 3): the legal library searched, the assessment ranked on screen with its chart
and downloads, and the random re-check drawn and worked, each finding checked on Kafka
(lf.view-actions) and on the page once it has come back through the bus.

With ``LIANGFA_SCREENSHOT_DIR`` set (``docs/img`` for the docs), each test also saves a
screenshot of its page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from hub.models import ViewAction, ViewActionKind
from hub.view.queries import CHINA_TZ
from tests.support.browser import log_in, screenshot
from tests.support.kafka_io import read_events
from tests.support.live_view import LiveView, live_view_server, view_topics
from tests.support.view_data import MARKET, case_spec, demo_events

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CASES = 40


@pytest.fixture
def live_view(tmp_path: Path, bootstrap: str, registry_url: str,
              topic_factory: Callable[..., str], group_id: str) -> Iterator[LiveView]:
    with live_view_server(
        tmp_path, bootstrap=bootstrap, registry_url=registry_url,
        topics=view_topics(topic_factory), group_id=group_id,
        events=demo_events(CASES), demo_unit_codes=[MARKET],
    ) as view:
        yield view


async def test_the_legal_library_is_searched_in_chinese(
    live_view: LiveView, browser_page: Page
) -> None:
    page = browser_page
    await log_in(page, live_view.url)
    await page.click("a[data-nav=library]")
    await expect(page.locator("h1")).to_have_text("法律法规与执法依据")
    await expect(page.locator("#library-thresholds h2")).to_contain_text("立案追诉标准")
    everything = await page.locator("tr.library-entry").count()
    assert everything > 80
    await page.fill("#library-q", "回执")
    await page.click("#library-submit")
    found = page.locator("tr.library-entry")
    await expect(found.first).to_be_visible()
    assert 0 < await found.count() < everything
    for index in range(await found.count()):
        text = await found.nth(index).inner_text()
        assert "回执" in text
        assert (await found.nth(index).locator("td.source").inner_text()).strip()
    await page.fill("#library-q", "")
    await page.select_option("#library-section", "thresholds")
    await page.click("#library-submit")
    await expect(page.locator("#library-deadlines")).to_have_count(0)
    fake = page.locator("tr.library-entry[data-ref='fake-inferior-products']")
    await expect(fake.locator(".rule")).to_contain_text("销售金额 ≥ ¥50,000")
    await page.goto(f"{live_view.url}/library?section=thresholds")
    await screenshot(page, "view-library.png")


async def test_the_assessment_ranks_units_on_screen(
    live_view: LiveView, browser_page: Page
) -> None:
    page = browser_page
    await log_in(page, live_view.url)
    await page.click("a[data-nav=assessment]")
    await expect(page.locator("h1")).to_contain_text("考核与通报")
    await expect(page.locator("#assessment-period")).to_contain_text("季度")
    rows = page.locator("#assessment-table tr.assessment-row")
    await expect(rows.first).to_be_visible()
    assert await rows.count() >= 3
    ranks = [int(await rows.nth(i).locator("td.rank").inner_text())
             for i in range(await rows.count())]
    assert ranks[0] == 1 and ranks == sorted(ranks)
    totals = [float(await rows.nth(i).locator("td.total").inner_text())
              for i in range(await rows.count())
              if "vetoed" not in (await rows.nth(i).get_attribute("class") or "")]
    assert totals == sorted(totals, reverse=True)
    # The chart is drawn by Chart.js from the page's data (no inline script).
    chart = page.locator("#assessment-chart")
    await expect(chart).to_be_visible()
    assert await page.evaluate("() => !!window.Chart && !!window.Chart.getChart("
                               "document.getElementById('assessment-chart'))")
    await screenshot(page, "view-assessment.png")
    await page.click("#assessment-kinds a[data-kind=year]")
    await expect(page.locator("#assessment-period")).to_contain_text("年度")
    period = await page.locator("#period-select").input_value()
    pdf = await page.request.get(f"{live_view.url}/assessment/export?period={period}"
                                 "&format=pdf&lang=zh")
    assert pdf.status == 200 and (await pdf.body()).startswith(b"%PDF")
    xlsx = page.locator("#download-assessment-xlsx")
    assert f"period={period}&format=xlsx" in (await xlsx.get_attribute("href") or "")
    async with page.expect_download() as download_info:
        await xlsx.click()
    download = await download_info.value
    assert download.suggested_filename == f"liangfa-assessment-{period}.xlsx"


async def test_the_recheck_is_drawn_and_worked_through_the_bus(
    live_view: LiveView, browser_page: Page, bootstrap: str, registry_url: str
) -> None:
    page = browser_page
    await log_in(page, live_view.url)
    await page.click("a[data-nav=recheck]")
    await expect(page.locator("#recheck-empty")).to_be_visible()
    years = [case_spec(i).decided_on.year for i in range(CASES)]
    last_year = datetime.now(CHINA_TZ).year - 1
    assert years.count(last_year) > 0, "the demo events have cases of last year"
    assert await page.locator("#draw-year").input_value() == str(last_year)
    await page.fill("#draw-per-unit", "2")
    await page.fill("#draw-seed", "20261204")
    await page.click("#draw-submit")
    await expect(page.locator("#sample-seed")).to_have_text("20261204")
    rows = page.locator("#recheck-list tr.recheck-row")
    await expect(rows.first).to_be_visible()
    drawn = [await rows.nth(i).get_attribute("data-case-id") for i in range(await rows.count())]
    sample_url = page.url
    # The same seed draws the same cases.
    await page.goto(f"{live_view.url}/recheck")
    await page.fill("#draw-per-unit", "2")
    await page.fill("#draw-seed", "20261204")
    await page.click("#draw-submit")
    await expect(page.locator("#sample-seed")).to_have_text("20261204")
    again = [await rows.nth(i).get_attribute("data-case-id") for i in range(await rows.count())]
    assert again == drawn

    await page.goto(sample_url)
    first = rows.first
    case_id = await first.get_attribute("data-case-id")
    await first.locator("select.result-select").select_option("checked")
    await first.locator("textarea.note-input").fill("处罚依据、程序均无问题")
    await first.locator("button.mark-button").click()
    await expect(page.locator("#notice")).to_contain_text("已提交到消息总线")
    events = read_events(bootstrap, registry_url, live_view.settings.topics.view_actions,
                         expect=1)
    actions = [event for event in events if isinstance(event, ViewAction)]
    assert [(a.action_kind, a.case_id, a.payload["recheck_result"]) for a in actions] == [
        (ViewActionKind.ADD_NOTE, case_id, "checked")]
    assert sample_url.endswith(actions[0].payload["recheck_sample"])
    row = page.locator(f"#recheck-list tr.recheck-row[data-case-id='{case_id}']")
    for _ in range(100):
        await page.goto(sample_url)
        if "checked" in (await row.get_attribute("class") or ""):
            break
        await page.wait_for_timeout(200)
    await expect(row.locator("td.result")).to_contain_text("已复查无问题")
    await expect(row.locator("td.note")).to_have_text("处罚依据、程序均无问题")
    await expect(page.locator("#recheck-progress")).to_contain_text("已复查 1 /")
    await screenshot(page, "view-recheck.png")

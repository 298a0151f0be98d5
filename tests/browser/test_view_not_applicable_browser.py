"""What does not apply says so on screen, in headless Chromium over the real bus.

The demo county, plus the police bureau's figures of two old months read from the bus:
February 2020 with two referrals received and both decided (feedback rate 100 %), March
2020 with nothing received, decided or due. A prosecutor sees March's feedback rate as
"—" on the bureau's scorecard and in the monthly report's CSV download; and the
assessment says that the idle-platform veto applies to agencies only, and why.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from hub.identity import case_id_for, event_id_for
from hub.models import UnitMonthlyStats
from tests.support.browser import log_in
from tests.support.live_view import LiveView, live_view_server, view_topics
from tests.support.view_data import CHINA, MARKET, POLICE, PROCURATORATE, demo_events

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def _police(month: str, answered: int) -> UnitMonthlyStats:
    occurred = datetime(int(month[:4]), int(month[5:]), 1, tzinfo=CHINA)
    return UnitMonthlyStats(
        event_id=event_id_for("tests", f"stats:{month}", f"stats:{month}"),
        case_id=case_id_for(POLICE, f"stats:{month}"), source_unit=PROCURATORATE,
        occurred_at=occurred, recorded_at=occurred, source_system="tests",
        source_record=f"stats:{POLICE}:{month}", connector_id="tests", unit_code=POLICE,
        month=month, receipts=answered, filing_decisions=answered,
        feedback_rate=1.0 if answered else None,
    )


@pytest.fixture
def live_view(tmp_path: Path, bootstrap: str, registry_url: str,
              topic_factory: Callable[..., str], group_id: str) -> Iterator[LiveView]:
    events = [*demo_events(12), _police("2020-02", 2), _police("2020-03", 0)]
    with live_view_server(
        tmp_path, bootstrap=bootstrap, registry_url=registry_url,
        topics=view_topics(topic_factory), group_id=group_id, events=events,
        demo_unit_codes=[MARKET],
    ) as view:
        yield view


async def test_a_month_with_nothing_to_answer_shows_no_rate(
    live_view: LiveView, browser_page: Page
) -> None:
    page = browser_page
    await log_in(page, live_view.url)
    await page.goto(f"{live_view.url}/units/{POLICE}?month=2020-03")
    table = page.locator("#scorecard-table")
    column = [text.strip() for text in await table.locator("thead th").all_inner_texts()
              ].index("反馈率")
    february = table.locator("tbody tr", has_text="2020-02").locator("td")
    march = table.locator("tbody tr", has_text="2020-03").locator("td")
    await expect(february.nth(column)).to_have_text("100.0%")
    await expect(march.nth(column)).to_have_text("—")

    answer = await page.request.get(
        f"{live_view.url}/api/reports/monthly?month=2020-03&format=csv&lang=zh")
    assert answer.ok
    header, *rows = list(csv.reader(io.StringIO((await answer.body()).decode("utf-8-sig"))))
    police = next(row for row in rows if row[0] == POLICE)
    assert police[header.index("反馈率")] == "—"



async def test_the_assessment_says_the_idle_platform_veto_is_for_agencies_only(
    live_view: LiveView, browser_page: Page
) -> None:
    page = browser_page
    await log_in(page, live_view.url)
    await page.click("a[data-nav=assessment]")
    scope = page.locator("#veto-scopes li.veto-scope[data-veto=idle_platform]")
    await expect(scope).to_be_visible()
    await expect(scope).to_contain_text("仅适用于行政执法机关，不适用于公安机关")
    await expect(scope).to_contain_text("没有收到移送，就没有数据可报，不能据此认定平台闲置")
    rule = page.locator("#assessment-rules tr.veto-rule[data-veto=idle_platform]")
    await expect(rule).to_contain_text("仅适用于行政执法机关")
    await page.goto(f"{live_view.url}/assessment/units/{POLICE}")
    await expect(page.locator("#unit-vetoes-not-applied")).to_contain_text(
        "一票否决“整个考核期未报送任何数据（平台闲置）”不适用于公安机关")
    await page.click("#lang-switch")
    await expect(page.locator("#unit-vetoes-not-applied")).to_contain_text(
        "does not apply to Police: a police bureau's data")
    await page.goto(f"{live_view.url}/assessment")
    await expect(scope).to_contain_text("applies only to: Administrative agency (not to: Police)")

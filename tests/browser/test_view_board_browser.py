"""Issue #14's "done when" in headless Chromium: a prosecutor opening the view on the demo
county sees, without a download, which units are missing what, this quarter's ranking and
why each lead was raised, all in Chinese.

The view is fed over the real bus (Kafka and the registry) with the demo county of the
other browser tests (``demo_events``), its placeholder leads replaced by the leads the
real screening raised from the shipped rules, and the alerts the real missing-entry
tracker raised (tests/unit/data/oversight_county.py).

With ``LIANGFA_SCREENSHOT_DIR`` set the test saves a screenshot of the front page.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from hub.view.queries import CHINA_TZ
from tests.support.browser import log_in
from tests.support.live_view import LiveView, live_view_server, view_topics
from tests.support.view_data import ENVIRONMENT, MARKET, TOBACCO
from tests.unit.data.oversight_county import OversightCounty, demo_county_events

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CASES = 40
#: A run of Latin letters: English left on a Chinese page.
ENGLISH = re.compile(r"[A-Za-z]{3,}")


@pytest.fixture
def county_view(tmp_path: Path, bootstrap: str, registry_url: str,
                topic_factory: Callable[..., str], group_id: str
                ) -> Iterator[tuple[LiveView, OversightCounty]]:
    events, county = demo_county_events(CASES, datetime.now(CHINA_TZ).date())
    with live_view_server(
        tmp_path, bootstrap=bootstrap, registry_url=registry_url,
        topics=view_topics(topic_factory), group_id=group_id,
        events=events, demo_unit_codes=[MARKET],
    ) as view:
        yield view, county


async def test_the_front_page_shows_missing_entries_ranking_and_lead_reasons_in_chinese(
    county_view: tuple[LiveView, OversightCounty], browser_page: Page
) -> None:
    view, county = county_view
    page = browser_page
    downloads: list[object] = []

    def downloaded(download: object) -> None:
        downloads.append(download)

    page.on("download", downloaded)
    await log_in(page, view.url)
    await expect(page.locator("h1")).to_have_text("工作台")
    assert await page.locator("html").get_attribute("lang") in ("zh-CN", "zh")

    # 1. Which units are missing what.
    missing = page.locator("#missing-entries")
    await expect(missing.locator("h2")).to_have_text("应录未录（各单位）")
    rows = missing.locator("tr.missing-unit")
    await expect(rows).to_have_count(3)
    units = {await rows.nth(i).get_attribute("data-unit"): await rows.nth(i).inner_text()
             for i in range(3)}
    assert set(units) == {ENVIRONMENT, TOBACCO, MARKET}
    assert "演示县生态环境分局" in units[ENVIRONMENT]
    assert f"{county.missing_number}未录入" in units[ENVIRONMENT]
    assert "个工作日未录入处罚决定" in units[TOBACCO]
    assert f"移送书{county.unentered_referral}，移送机关未录入" in units[MARKET]
    silent = missing.locator(f"tr.missing-unit[data-unit='{TOBACCO}'] td.count-silent")
    await expect(silent).to_have_text("1")
    assert not ENGLISH.search(await missing.inner_text())

    # 2. This quarter's ranking.
    ranking = page.locator("#quarter-ranking")
    await expect(ranking.locator("h2")).to_contain_text("本季度考核排名")
    await expect(ranking.locator("h2")).to_contain_text("季度）")
    ranked = ranking.locator("tr.ranking-row")
    count = await ranked.count()
    assert count >= 4
    ranks = [int(await ranked.nth(i).locator("td.rank").inner_text()) for i in range(count)]
    assert ranks[0] == 1 and ranks == sorted(ranks)
    totals = [float(await ranked.nth(i).locator("td.total").inner_text())
              for i in range(count)
              if "vetoed" not in (await ranked.nth(i).get_attribute("class") or "")]
    assert totals == sorted(totals, reverse=True)
    assert not ENGLISH.search(await ranking.inner_text())

    # 3. Why each lead was raised: rule, figure beside threshold, the threshold's document.
    leads = page.locator("#open-leads tr.lead-row")
    await expect(leads).to_have_count(2)
    for index in range(2):
        row = leads.nth(index)
        await expect(row.locator(".lead-offence")).to_contain_text("《中华人民共和国刑法》第")
        await expect(row.locator(".lead-figure")).to_contain_text("追诉标准为")
        await expect(row.locator(".lead-rule")).to_contain_text("筛查规则")
        await expect(row.locator("td.source")).to_contain_text("《")
    waste = page.locator("#open-leads tr.lead-row", has_text="污染环境罪")
    await expect(waste.locator(".lead-figure")).to_have_text(
        "危险废物数量：案件中为 2.634 吨，追诉标准为 3 吨（达到标准的 87.8%）")
    assert "72,000" not in await waste.inner_text()
    await expect(waste.locator("td.source")).to_contain_text(
        "最高人民法院、最高人民检察院《关于办理环境污染刑事案件适用法律若干问题的解释》")
    await expect(waste.locator(".lead-note")).to_have_text("该当事人另受 2 个单位行政处罚")
    fake = page.locator("#open-leads tr.lead-row", has_text="生产、销售伪劣产品罪")
    await expect(fake.locator(".lead-figure")).to_contain_text(
        "销售金额：案件中为 ¥60,000，追诉标准为 ¥50,000")
    assert not ENGLISH.search(await page.locator("#open-leads").inner_text())

    # Parties penalised by several units.
    repeat = page.locator("#repeat-offenders tr.repeat-row")
    await expect(repeat).to_have_count(1)
    await expect(repeat.locator("td.units")).to_have_text(
        "演示县市场监督管理局、演示县烟草专卖局、演示县生态环境分局")

    directory = os.environ.get("LIANGFA_SCREENSHOT_DIR")
    if directory:
        await page.screenshot(path=str(Path(directory) / "view-dashboard.png"), full_page=True)
    assert downloads == []

    # The ranking leads to the full circular on screen.
    await page.click("#ranking-full")
    await expect(page.locator("h1")).to_contain_text("考核与通报")
    await expect(page.locator("#assessment-period")).to_contain_text("季度")

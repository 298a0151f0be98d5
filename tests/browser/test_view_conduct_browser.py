"""A lead raised by a conduct criterion, on the front page in headless Chromium (issue #14,
item 4): the agriculture bureau fined a person for 电鱼 in the closed season; the real
screening (shipped rules) raised the suspected non-referral, and the prosecutor reads
why — the criterion, the method, the season and the day — in Chinese, with its document.

With ``LIANGFA_SCREENSHOT_DIR`` set the test saves ``view-conduct-lead.png``.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from hub.models import CaseEvent, CaseStage
from hub.rules import load_screening, load_thresholds, load_violation_offences, load_violation_types
from hub.view.queries import CHINA_TZ
from streams.screening_assessment import ScreeningRules
from streams.screening_logic import screen_case
from tests.support.browser import log_in
from tests.support.live_view import LiveView, live_view_server, view_topics
from tests.support.view_data import PROCURATORATE, case_spec

pytestmark = [pytest.mark.browser, pytest.mark.integration]

AGRICULTURE = "11429901030722928F"  # 演示县农业农村局 (deploy/demo/units.yaml)
ENGLISH = re.compile(r"[A-Za-z]{3,}")


def _fishing_case(today: date) -> list[CaseEvent]:
    decided = date(today.year - 1, 5, 20)
    base = case_spec(7100, today=today)
    spec = dataclasses.replace(base, owner=AGRICULTURE, decided_on=decided,
                               decision_number=f"演农（渔）罚〔{decided.year}〕12号",
                               stage=CaseStage.RECORDED, referral_number=None,
                               police_case_number=None)
    penalty = spec.penalty().model_copy(update={
        "violation_type": "在禁渔期使用禁用方法捕捞", "enforcement_domain": "agriculture",
        "violation_type_code": "AGR-ILLEGAL-FISHING-INLAND", "illegal_turnover_fen": None,
        "violation_facts": f"{decided.year}年4月12日夜，当事人在本县河道使用电鱼器具捕捞"
                           "鲫鱼12公斤。", "quantities": []})
    rules = ScreeningRules(thresholds=load_thresholds(), violation_types=load_violation_types(),
                           violation_offences=load_violation_offences(),
                           screening=load_screening())
    now = datetime.combine(today, time(9), tzinfo=CHINA_TZ)
    leads = [s.alert for s in screen_case([penalty], now, rules=rules,
                                           hub_unit_code=PROCURATORATE).alerts]
    assert len(leads) == 1
    return [penalty, spec.state(), *leads]


@pytest.fixture
def fishing_view(tmp_path: Path, bootstrap: str, registry_url: str,
                 topic_factory: Callable[..., str], group_id: str) -> Iterator[LiveView]:
    today = datetime.now(CHINA_TZ).date() - timedelta(days=1)
    with live_view_server(
        tmp_path, bootstrap=bootstrap, registry_url=registry_url,
        topics=view_topics(topic_factory), group_id=group_id,
        events=_fishing_case(today), demo_unit_codes=[AGRICULTURE],
    ) as view:
        yield view


async def test_a_closed_season_electrofishing_lead_shows_its_reason_in_chinese(
        fishing_view: LiveView, browser_page: Page) -> None:
    page = browser_page
    await log_in(page, fishing_view.url)
    await expect(page.locator("h1")).to_have_text("工作台")

    lead = page.locator("#open-leads tr.lead-row", has_text="非法捕捞水产品罪")
    await expect(lead).to_have_count(1)
    await expect(lead.locator(".lead-offence")).to_contain_text("《中华人民共和国刑法》第340条")
    note = lead.locator(".lead-note")
    await expect(note).to_contain_text(
        "在禁渔期内使用禁用的工具或者禁用的方法捕捞：禁用方法或渔具 电鱼")
    await expect(note).to_contain_text("禁渔期 本县内陆水域禁渔期")
    await expect(note).to_contain_text("行为日期")
    await expect(lead.locator("td.source")).to_contain_text("公通字〔2008〕36号")
    assert not ENGLISH.search(await page.locator("#open-leads").inner_text())

    directory = os.environ.get("LIANGFA_SCREENSHOT_DIR")
    if directory:
        await page.locator("#open-leads").screenshot(
            path=str(Path(directory) / "view-conduct-lead.png"))

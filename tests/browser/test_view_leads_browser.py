"""A prosecutor sends each lead 线索移送 — to the supervision commission, for public-interest
litigation, to the justice bureau — from a case page in headless Chromium (issue #13, item
4); checked where the engine reads it: a LeadTransferred on the operator's ingest topic
with its destination, receiver, number and feedback date."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from playwright.async_api import Page, expect

from hub.models import LeadTransferred
from hub.view.acts import act_topic
from tests.support.browser import log_in
from tests.support.kafka_io import read_events, wait_for
from tests.support.live_view import LiveView
from tests.support.supervision_county import DEMO_COMMISSION, DEMO_JUSTICE
from tests.support.view_data import PROCURATORATE, case_spec

pytestmark = [pytest.mark.browser, pytest.mark.integration]

JUSTICE = DEMO_JUSTICE
#: Each lead destination (issue #13, item 4): its receiver in the demo county and label.
LEADS = [("SUPERVISION_COMMISSION", DEMO_COMMISSION, "移送职务违法犯罪线索（监察委员会）"),
         ("PUBLIC_INTEREST_LITIGATION", PROCURATORATE, "移送公益诉讼线索"),
         ("JUSTICE_BUREAU", JUSTICE, "移送行政执法监督线索（司法行政机关）")]


@pytest.fixture
def live_view(supervision_view: LiveView) -> LiveView:
    return supervision_view


async def test_a_prosecutor_sends_each_lead_from_the_case_page(
        live_view: LiveView, browser_page: Page, bootstrap: str, registry_url: str) -> None:
    page = browser_page
    await log_in(page, live_view.url)

    spec = case_spec(5)
    await page.goto(f"{live_view.url}/cases/{spec.case_id}")
    form = page.locator("#act-form")
    await expect(form).to_be_visible()
    run = uuid.uuid4().hex[:6]
    due = date.today() + timedelta(days=30)
    numbers = {dest: f"演检线〔2026〕{run}-{n}号" for n, (dest, _, _) in enumerate(LEADS)}
    for destination, receiver, label in LEADS:
        await expect(page.locator(f"#act-action option[value={destination}]")).to_have_text(
            label)
        await page.select_option("#act-action", destination)
        await page.select_option("#act-target", receiver)
        await page.fill("#act-number", numbers[destination])
        await page.fill("#act-due", due.isoformat())
        await page.fill("#act-content", f"{label}：该局处罚案件多起未按期录入共享平台（虚构）")
        async with page.expect_navigation():
            await form.locator("button[type=submit]").click()
        await expect(page.locator("#notice")).to_contain_text("受文单位的收件箱")

    topic = act_topic(live_view.context.operator_unit_code)
    mine: list[LeadTransferred] = []

    def arrived() -> bool:
        events = read_events(bootstrap, registry_url, topic, expect=1_000_000, timeout=3)
        mine[:] = [e for e in events if isinstance(e, LeadTransferred)
                   and e.case_id == spec.case_id and run in (e.lead_number or "")]
        return len(mine) >= len(LEADS)

    wait_for(arrived, timeout=90)
    assert sorted((e.destination.value, e.receiving_unit_code, e.lead_number,
                   e.feedback_due_date) for e in mine) == sorted(
        (destination, receiver, numbers[destination], due)
        for destination, receiver, _ in LEADS)
    assert {e.source_unit for e in mine} == {live_view.context.operator_unit_code}

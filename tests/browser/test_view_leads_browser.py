"""A prosecutor sends a lead 线索移送 to the justice bureau from a case page in headless
Chromium (issue #13, item 4); checked where the engine reads it: a LeadTransferred on the
operator's ingest topic with its destination, receiver, number and feedback date."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from playwright.async_api import Page, expect

from hub.models import LeadDestination, LeadTransferred
from hub.view.acts import act_topic
from hub.view.settings import DEFAULT_DEMO_PASSWORD
from tests.support.kafka_io import read_events, wait_for
from tests.support.live_view import LiveView
from tests.support.supervision_county import DEMO_JUSTICE
from tests.support.view_data import case_spec

pytestmark = [pytest.mark.browser, pytest.mark.integration]

JUSTICE = DEMO_JUSTICE


@pytest.fixture
def live_view(supervision_view: LiveView) -> LiveView:
    return supervision_view


async def test_a_prosecutor_sends_a_lead_to_the_justice_bureau_from_the_case_page(
        live_view: LiveView, browser_page: Page, bootstrap: str, registry_url: str) -> None:
    page = browser_page
    await page.goto(f"{live_view.url}/login")
    await page.fill("#username", "prosecutor")
    await page.fill("#password", DEFAULT_DEMO_PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_load_state()

    spec = case_spec(5)
    await page.goto(f"{live_view.url}/cases/{spec.case_id}")
    form = page.locator("#act-form")
    await expect(form).to_be_visible()
    await expect(page.locator("#act-action option[value=JUSTICE_BUREAU]")).to_have_text(
        "移送行政执法监督线索（司法行政机关）")
    number = f"演检线〔2026〕{uuid.uuid4().hex[:6]}号"
    due = date.today() + timedelta(days=30)
    await page.select_option("#act-action", "JUSTICE_BUREAU")
    await page.select_option("#act-target", JUSTICE)
    await page.fill("#act-number", number)
    await page.fill("#act-due", due.isoformat())
    await page.fill("#act-content", "该局处罚案件多起未按期录入共享平台，建议开展执法监督")
    await form.locator("button[type=submit]").click()
    await expect(page.locator("#notice")).to_contain_text("受文单位的收件箱")

    topic = act_topic(live_view.context.operator_unit_code)
    mine: list[LeadTransferred] = []

    def arrived() -> bool:
        events = read_events(bootstrap, registry_url, topic, expect=1_000_000, timeout=3)
        mine[:] = [e for e in events if isinstance(e, LeadTransferred)
                   and e.case_id == spec.case_id and e.lead_number == number]
        return bool(mine)

    wait_for(arrived, timeout=90)
    [sent] = mine
    assert (sent.destination, sent.receiving_unit_code, sent.feedback_due_date) == (
        LeadDestination.JUSTICE_BUREAU, JUSTICE, due)
    assert sent.source_unit == live_view.context.operator_unit_code

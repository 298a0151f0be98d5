"""A prosecutor sends a supervision act from a case page in headless Chromium (issue #13).

The act is checked where the engine reads it: a ProsecutorialAction on the operator's
ingest topic (lf.ingest.<operator>.view-acts), produced by the view's relay, addressed to
the unit picked in the form, with its document number and reply date; no ViewAction note
is written for it.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from playwright.async_api import Page, expect

from hub.models import ProsecutorialAction, ProsecutorialActionKind
from hub.view.acts import act_topic
from hub.view.settings import DEFAULT_DEMO_PASSWORD
from tests.support.kafka_io import read_events, wait_for
from tests.support.live_view import LiveView
from tests.support.view_data import MARKET, case_spec

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture
def live_view(supervision_view: LiveView) -> LiveView:
    return supervision_view


async def test_a_prosecutor_sends_a_recommendation_from_the_case_page(
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
    await expect(page.locator("#act-action option[value=CORRECTION_NOTICE]")).to_have_text(
        "纠正违法通知书")
    number = f"演检建〔2026〕{uuid.uuid4().hex[:6]}号"
    due = date.today() + timedelta(days=60)
    await page.select_option("#act-action", "RECOMMENDATION")
    await page.select_option("#act-target", MARKET)
    await page.fill("#act-number", number)
    await page.fill("#act-due", due.isoformat())
    await page.fill("#act-content", "建议对该案以罚代刑问题依法移送涉嫌犯罪案件")
    await form.locator("button[type=submit]").click()
    await expect(page.locator("#notice")).to_contain_text("受文单位的收件箱")

    # An act the rules do not allow for that addressee is refused on the page.
    await page.select_option("#act-action", "ORDER_FILING")
    await page.select_option("#act-target", MARKET)
    await page.fill("#act-content", "通知立案")
    await form.locator("button[type=submit]").click()
    await expect(page.locator("#notice")).to_contain_text("不能发送给所选单位")

    topic = act_topic(live_view.context.operator_unit_code)
    mine: list[ProsecutorialAction] = []

    def arrived() -> bool:
        events = read_events(bootstrap, registry_url, topic, expect=1_000_000, timeout=3)
        mine[:] = [e for e in events if isinstance(e, ProsecutorialAction)
                   and e.case_id == spec.case_id and e.document_number == number]
        return bool(mine)

    wait_for(arrived, timeout=90)
    assert len(mine) == 1
    [sent] = mine
    assert sent.action is ProsecutorialActionKind.RECOMMENDATION
    assert (sent.target_unit_code, sent.reply_due_date) == (MARKET, due)
    assert sent.source_unit == live_view.context.operator_unit_code
    actions = read_events(bootstrap, registry_url, live_view.settings.topics.view_actions,
                          expect=1, timeout=5)
    assert not [a for a in actions if a.case_id == spec.case_id]

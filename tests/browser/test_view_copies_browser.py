"""The justice bureau's user opens the overdue acts copied to it (行政执法监督, Jiashan's
three-party mechanism) in headless Chromium, the alerts fed from the real bus; the look
is audited on the bus (issue #13, roles)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from hub.local.hub_services import DEMO_OVERSIGHT_USER_CODES
from hub.models import AlertKind, AuditOperation, AuditRecorded
from hub.view.settings import DEFAULT_DEMO_PASSWORD
from tests.support.kafka_io import read_events, wait_for
from tests.support.live_view import LiveView, live_view_server, view_topics
from tests.support.view_data import MARKET, alert_for, case_spec, demo_events

pytestmark = [pytest.mark.browser, pytest.mark.integration]

JUSTICE = DEMO_OVERSIGHT_USER_CODES[0]
USER = f"unit-{JUSTICE.lower()}"


@pytest.fixture
def live_view(tmp_path: Path, bootstrap: str, registry_url: str,
              topic_factory: Callable[..., str], group_id: str) -> Iterator[LiveView]:
    alert = alert_for(case_spec(3), AlertKind.REPLY_OVERDUE, responsible=MARKET)
    overdue = alert.model_copy(update={"alert_id": "recommendation-unanswered:browser",
                                       "rule_id": "recommendation-unanswered",
                                       "details": {"copy_to_roles": "justice_bureau"}})
    with live_view_server(tmp_path, bootstrap=bootstrap, registry_url=registry_url,
                          topics=view_topics(topic_factory), group_id=group_id,
                          events=[*demo_events(12), overdue],
                          demo_unit_codes=[JUSTICE]) as view:
        yield view


async def test_the_justice_bureau_sees_the_copied_recommendation_and_is_audited(
        live_view: LiveView, browser_page: Page, bootstrap: str, registry_url: str) -> None:
    page = browser_page
    await page.goto(f"{live_view.url}/login")
    await page.fill("#username", USER)
    await page.fill("#password", DEFAULT_DEMO_PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_load_state()
    await page.click("a[data-nav=copies]")
    await expect(page.locator("h1")).to_have_text("抄送本单位的逾期未回复文书（行政执法监督）")
    row = page.locator("tr.copy-row[data-alert-id='recommendation-unanswered:browser']")
    await expect(row).to_be_visible()
    await expect(row).to_contain_text("演示县市场监督管理局")
    await expect(row).to_contain_text("检察建议/检察意见回复超期")
    await expect(row).to_contain_text("行政执法监督通知书")

    looks: list[AuditRecorded] = []

    def audited() -> bool:
        events = read_events(bootstrap, registry_url, live_view.settings.topics.audit,
                             expect=1_000_000, timeout=3)
        looks[:] = [e for e in events if isinstance(e, AuditRecorded)
                    and e.operation is AuditOperation.VIEW and e.target == "copies"]
        return bool(looks)

    wait_for(audited, timeout=90)
    assert (looks[0].actor, looks[0].actor_unit_code, looks[0].result_count) == (
        USER, JUSTICE, 1)

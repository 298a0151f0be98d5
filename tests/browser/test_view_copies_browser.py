"""The justice bureau's user opens the overdue acts copied to it (行政执法监督, Jiashan's
three-party mechanism) in headless Chromium, the alerts fed from the real bus, then
consults (调阅) the files it has a reason for — the copied case, the case whose lead was
sent to it — and is refused another; every look, opening and refusal is audited on the
bus (issue #13, roles).

With ``LIANGFA_SCREENSHOT_DIR`` set (``docs/img/pages`` for docs/view-pages.md) the test
saves the 调阅 list (``consult.png``) and a consulted file (``consult-file.png``), in
Chinese."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from hub.local.hub_services import DEMO_OVERSIGHT_USER_CODES
from hub.models import AlertKind, AuditOperation, AuditRecorded, LeadDestination
from tests.support.browser import log_in, screenshot
from tests.support.kafka_io import read_events, wait_for
from tests.support.live_view import LiveView, live_view_server, view_topics
from tests.support.view_data import MARKET, alert_for, case_spec, demo_events
from tests.unit.test_view_consult import with_lead

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
                          events=[*demo_events(12), overdue,
                                  with_lead(case_spec(5), JUSTICE,
                                            LeadDestination.JUSTICE_BUREAU)],
                          demo_unit_codes=[JUSTICE]) as view:
        yield view


async def test_the_justice_bureau_sees_the_copies_consults_their_files_and_is_audited(
        live_view: LiveView, browser_page: Page, bootstrap: str, registry_url: str) -> None:
    page = browser_page
    await log_in(page, live_view.url, USER)
    await page.click("a[data-nav=copies]")
    await expect(page.locator("h1")).to_have_text("抄送本单位的逾期未回复文书（行政执法监督）")
    row = page.locator("tr.copy-row[data-alert-id='recommendation-unanswered:browser']")
    await expect(row).to_be_visible()
    await expect(row).to_contain_text("演示县市场监督管理局")
    await expect(row).to_contain_text("检察建议/检察意见回复超期")
    await expect(row).to_contain_text("行政执法监督通知书")

    looks: list[AuditRecorded] = []

    # 调阅: the copied case's file from its row, then the lead's from the list
    await row.locator("a.consult-link").click()
    await expect(page.locator("h1")).to_contain_text("调阅案卷")
    await expect(page.locator("#case-id")).to_have_text(case_spec(3).case_id)
    await expect(page.locator(".consult-reason[data-kind=copy]")).to_contain_text(
        "检察建议/检察意见回复超期")
    await expect(page.locator("#consult-documents")).to_contain_text(
        case_spec(3).decision_number)
    await screenshot(page, "consult-file.png")
    await page.click("a[data-nav=consult]")
    lead = page.locator(f"tr.consult-row[data-kind=lead][data-case-id='{case_spec(5).case_id}']")
    await expect(lead).to_contain_text("线索移送")
    await screenshot(page, "consult.png")
    await lead.locator("a").click()
    await expect(page.locator(".consult-reason[data-kind=lead]")).to_be_visible()
    await expect(page.locator("#timeline")).to_contain_text("线索移送")
    # a case the mechanism gave the bureau no reason for
    refused = await page.goto(f"{live_view.url}/consult/{case_spec(7).case_id}")
    assert refused is not None and refused.status == 403
    await expect(page.locator("#error-page")).to_have_attribute("data-status", "403")

    consulted: list[AuditRecorded] = []

    def audited() -> bool:
        events = read_events(bootstrap, registry_url, live_view.settings.topics.audit,
                             expect=1_000_000, timeout=3)
        audits = [e for e in events if isinstance(e, AuditRecorded)]
        looks[:] = [e for e in audits
                    if e.operation is AuditOperation.VIEW and e.target == "copies"]
        consulted[:] = [e for e in audits if e.target.startswith("consult:")]
        return bool(looks) and len(consulted) >= 3

    wait_for(audited, timeout=90)
    assert (looks[0].actor, looks[0].actor_unit_code, looks[0].result_count) == (
        USER, JUSTICE, 1)
    assert sorted((e.case_id, (e.query or "").split(":")[0]) for e in consulted) == sorted([
        (case_spec(3).case_id, "reasons"), (case_spec(5).case_id, "reasons"),
        (case_spec(7).case_id, "refused")])
    assert {(e.actor, e.actor_unit_code) for e in consulted} == {(USER, JUSTICE)}

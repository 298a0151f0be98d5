"""A prosecutor sends every supervision act from a case page in headless Chromium, and
the case's agency its own requests (案件咨询, 邀请提前介入, and its objection to a 撤案 as
建议立案监督) (issue #13, items 1-3 and 5).

Each act is checked where the engine reads it: a ProsecutorialAction on the operator's
ingest topic (lf.ingest.<operator>.view-acts), produced by the view's relay, addressed to
the unit picked in the form, with its document number and reply date; no ViewAction note
is written for it. The agency's requests are its own events on lf.ingest.<agency>.view-acts.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from playwright.async_api import Page, expect

from hub.models import (
    CaseEvent,
    ConsultationRequested,
    EarlyInterventionInvited,
    FilingSupervisionRequested,
    ProsecutorialAction,
    ProsecutorialActionKind,
)
from hub.view.acts import act_topic
from tests.support.browser import log_in
from tests.support.kafka_io import read_events, wait_for
from tests.support.live_view import LiveView
from tests.support.view_data import MARKET, POLICE, PROCURATORATE, case_spec

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture(autouse=True)
def _agency_requests_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator setting that lets an agency send its own requests (before the view
    starts: autouse fixtures come first)."""
    monkeypatch.setenv("LIANGFA_VIEW_AGENCY_REQUESTS", "true")


@pytest.fixture
def live_view(supervision_view: LiveView) -> LiveView:
    assert supervision_view.settings.agency_requests
    return supervision_view


#: Every procuratorial act of issue #13, item 1, with the unit it is sent to and its label.
ACTS = [("SUGGEST_REFERRAL", MARKET, "建议移送"),
        ("REQUIRE_NON_FILING_REASONS", POLICE, "要求说明不立案理由"),
        ("ORDER_FILING", POLICE, "通知立案"), ("RECOMMENDATION", MARKET, "检察建议"),
        ("OPINION", MARKET, "检察意见"), ("CORRECTION_NOTICE", POLICE, "纠正违法通知书"),
        ("URGE_PROSECUTION", MARKET, "督促起诉意见书")]


async def _login(page: Page, url: str, username: str) -> None:
    await page.context.clear_cookies()
    await log_in(page, url, username)


async def _send(page: Page, action: str, target: str, content: str, number: str = "",
                due: date | None = None) -> None:
    form = page.locator("#act-form")
    await page.select_option("#act-action", action)
    await page.select_option("#act-target", target)
    await page.fill("#act-number", number)
    await page.fill("#act-due", due.isoformat() if due else "")
    await page.fill("#act-content", content)
    async with page.expect_navigation():
        await form.locator("button[type=submit]").click()


async def test_the_act_form_chooses_no_addressee_and_lists_the_cases_units_first(
        live_view: LiveView, browser_page: Page) -> None:
    """The first unit of the list used to be chosen: an act sent as the form opened went
    to a unit outside the case, which could then open the case and its parties."""
    page = browser_page
    await _login(page, live_view.url, "prosecutor")
    spec = case_spec(5)
    await page.goto(f"{live_view.url}/cases/{spec.case_id}")
    target = page.locator("#act-target")
    await expect(target).to_have_value("")
    owner = spec.owner
    await expect(page.locator(f"#act-target-case option[value='{owner}']")).to_have_count(1)
    await expect(page.locator(f"#act-target-other option[value='{owner}']")).to_have_count(0)
    await expect(page.locator("#act-target-other option")).not_to_have_count(0)
    await page.fill("#act-content", "未选受文单位")
    url = page.url
    await page.locator("#act-form button[type=submit]").click()
    assert await target.evaluate("element => element.validity.valueMissing")
    assert page.url == url  # the browser refused to send it


async def test_a_prosecutor_sends_every_act_and_an_agency_its_requests_from_the_case_page(
        live_view: LiveView, browser_page: Page, bootstrap: str, registry_url: str) -> None:
    page = browser_page
    await _login(page, live_view.url, "prosecutor")
    spec = case_spec(5)
    await page.goto(f"{live_view.url}/cases/{spec.case_id}")
    await expect(page.locator("#act-form")).to_be_visible()
    run = uuid.uuid4().hex[:6]
    due = date.today() + timedelta(days=60)
    numbers = {action: f"演检〔2026〕{run}-{n}号" for n, (action, _, _) in enumerate(ACTS)}
    for action, target, label in ACTS:
        await expect(page.locator(f"#act-action option[value={action}]")).to_have_text(label)
        await _send(page, action, target, f"{label}：该案以罚代刑问题（虚构）", numbers[action],
                    due if action == "RECOMMENDATION" else None)
        await expect(page.locator("#notice")).to_contain_text("受文单位的收件箱")

    # An act the rules do not allow for that addressee is refused on the page.
    await _send(page, "ORDER_FILING", MARKET, "通知立案")
    await expect(page.locator("#notice")).to_contain_text("不能发送给所选单位")

    topic = act_topic(live_view.context.operator_unit_code)
    mine: list[ProsecutorialAction] = []

    def arrived() -> bool:
        events = read_events(bootstrap, registry_url, topic, expect=1_000_000, timeout=3)
        mine[:] = [e for e in events if isinstance(e, ProsecutorialAction)
                   and e.case_id == spec.case_id and (e.document_number or "").find(run) > 0]
        return len(mine) >= len(ACTS)

    wait_for(arrived, timeout=90)
    assert sorted((e.action.value, e.target_unit_code, e.document_number) for e in mine) == \
        sorted((action, target, numbers[action]) for action, target, _ in ACTS)
    [recommendation] = [e for e in mine if e.action is ProsecutorialActionKind.RECOMMENDATION]
    assert recommendation.reply_due_date == due
    assert {e.source_unit for e in mine} == {live_view.context.operator_unit_code}
    actions = read_events(bootstrap, registry_url, live_view.settings.topics.view_actions,
                          expect=1, timeout=5)
    assert not [a for a in actions if a.case_id == spec.case_id]

    # The case's agency (the operator setting on) asks the police for advice 案件咨询 and
    # invites the procuratorate to intervene early 提前介入, as itself.
    own = next(case_spec(i) for i in range(12) if case_spec(i).owner == MARKET)
    await _login(page, live_view.url, f"unit-{MARKET.lower()}")
    await page.goto(f"{live_view.url}/cases/{own.case_id}")
    await expect(page.locator("#act-action option[value=ORDER_FILING]")).to_have_count(0)
    await expect(page.locator("#act-action option[value=ConsultationRequested]")).to_have_text(
        "案件咨询")
    await _send(page, "ConsultationRequested", POLICE, "涉案金额约四万元，是否达到立案追诉标准？")
    await expect(page.locator("#notice")).to_contain_text("受文单位的收件箱")
    await _send(page, "EarlyInterventionInvited", PROCURATORATE, "涉案金额已达立案标准的八成",
                f"演市监邀〔2026〕{run}号")
    await expect(page.locator("#notice")).to_contain_text("受文单位的收件箱")
    # and objects to a 撤案 by suggesting filing supervision to the procuratorate
    await expect(page.locator(
        "#act-action option[value=FilingSupervisionRequested]")).to_have_text(
        "建议立案监督（对不立案、撤案提出异议）")
    await _send(page, "FilingSupervisionRequested", PROCURATORATE,
                "公安机关撤销该案的理由不能成立，建议立案监督", f"演市监督〔2026〕{run}号")
    await expect(page.locator("#notice")).to_contain_text("受文单位的收件箱")
    requests: list[CaseEvent] = []

    def asked() -> bool:
        events = read_events(bootstrap, registry_url, act_topic(MARKET), expect=1_000_000,
                             timeout=3)
        requests[:] = [e for e in events if e.case_id == own.case_id
                       and isinstance(e, ConsultationRequested | EarlyInterventionInvited
                                      | FilingSupervisionRequested)]
        return len(requests) >= 3

    wait_for(asked, timeout=90)
    [question] = [e for e in requests if isinstance(e, ConsultationRequested)]
    [invitation] = [e for e in requests if isinstance(e, EarlyInterventionInvited)]
    assert (question.source_unit, question.addressed_to_unit_code) == (MARKET, POLICE)
    assert (invitation.source_unit, invitation.invited_unit_code,
            invitation.invitation_id) == (MARKET, PROCURATORATE, f"演市监邀〔2026〕{run}号")
    [objection] = [e for e in requests if isinstance(e, FilingSupervisionRequested)]
    assert (objection.procuratorate_unit_code, objection.police_unit_code,
            objection.request_number) == (PROCURATORATE, POLICE, f"演市监督〔2026〕{run}号")

"""The view as a daily tool (issue #14, item 5), against a real SQLite store.

Alert texts in the UI's language only, legal sources as documents, trends over the data's
own months, cases named by number, party and unit, feedback matched by searching, and
empty pages that say what to do.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub.models import AlertKind, ViewAction
from hub.view.app import create_app
from hub.view.context import ViewContext
from hub.view.i18n import Translator
from hub.view.settings import DEFAULT_DEMO_PASSWORD, ViewSettings
from hub.view.texts import cite, localize, localize_summary
from tests.support.view_data import MARKET, POLICE, alert_for, apply_events, case_spec, demo_events

CASES = 40
OVERDUE = ("立案后一年未结 / Filed case not concluded one year after filing: 已超期 / overdue; "
           "期限 due 2025-06-13")
ECONOMIC = ("经济犯罪案件立案审查超期 / Economic-crime referral not decided within 3 days "
            "(10 at most; complex 30; special +30): 已完成（超期）/ done late; 期限 due 2024-09-17")
SEED_SOURCE = ("Local implementing opinion on 两法衔接 (seed 002_1727c8690bf6f95f.txt), item 8: "
               "every member unit enters its decisions on the sharing platform within 3 working "
               "days")


@dataclass
class View:
    client: TestClient
    context: ViewContext

    def login(self, username: str = "prosecutor") -> None:
        form = self.client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None
        done = self.client.post("/login", data={"username": username,
                                                "password": DEFAULT_DEMO_PASSWORD,
                                                "csrf_token": token.group(1)})
        assert done.status_code == 200, done.text

    def apply(self, *events: object) -> None:
        with self.context.store.session() as session:
            apply_events(session, events, self.context.units)  # type: ignore[arg-type]


def _view(tmp_path: Path, events: list[object]) -> Iterator[View]:
    settings = ViewSettings(database_url=f"sqlite:///{tmp_path / 'view.sqlite3'}",
                            seed_demo_users=True, demo_unit_codes=[MARKET, POLICE],
                            bootstrap=None)
    app = create_app(settings)
    with TestClient(app) as client:
        view = View(client, app.state.view)
        view.apply(*events)
        yield view


@pytest.fixture
def view(tmp_path: Path) -> Iterator[View]:
    yield from _view(tmp_path, list(demo_events(CASES)))


@pytest.fixture
def empty_view(tmp_path: Path) -> Iterator[View]:
    yield from _view(tmp_path, [])


# -- 1. one language per UI language ----------------------------------------------------


def test_engine_pairs_are_split_into_one_language() -> None:
    assert localize(OVERDUE, "zh") == "立案后一年未结：已超期；期限 2025-06-13"
    assert localize(OVERDUE, "en") == (
        "Filed case not concluded one year after filing: overdue; due 2025-06-13")
    assert localize(ECONOMIC, "zh") == "经济犯罪案件立案审查超期：已完成（超期）；期限 2024-09-17"
    assert localize("反馈未匹配 / feedback not matched (3 candidates)", "zh") == "反馈未匹配"
    assert localize("反馈未匹配 / feedback not matched (3 candidates)", "en") == (
        "feedback not matched (3 candidates)")
    lead = ("建议提前介入 / early intervention suggested: 污染环境罪 (刑法第338条); "
            "alternative hazardous-waste: 0.84 of the threshold")
    assert localize(lead, "zh") == (
        "建议提前介入：污染环境罪 (刑法第338条)；达到追诉标准的 0.84 倍")
    # A slash inside a Chinese name is not a pair; one-language text is left alone.
    named = "检察建议/检察意见回复超期 / Agency did not answer"
    assert localize(named, "zh") == "检察建议/检察意见回复超期"
    assert localize("演示预警：LATE_ENTRY", "en") == "演示预警：LATE_ENTRY"
    assert localize_summary("立案 filed J4299", "zh") == "立案 J4299"
    assert localize_summary("行政处罚决定 penalty decision 演罚〔2025〕3号: 超限运输", "en") == (
        "penalty decision 演罚〔2025〕3号: 超限运输")


@pytest.mark.parametrize(("language", "summary", "shown"), [
    ("zh", "判决 judgment (2025)演刑初12号: CONVICTED", "判决 (2025)演刑初12号: 有罪判决"),
    ("zh", "反馈匹配 feedback matched (PARTY_IDENTIFIER)", "反馈匹配 (当事人证件/代码一致)"),
    ("en", "回复 reply 演检建〔2025〕3号: PARTIALLY_ADOPTED",
     "reply 演检建〔2025〕3号: partly adopted"),
    # a unit code and a code the texts do not name are left as they are
    ("zh", "司法建议 judicial recommendation → 11429901030089405N", "司法建议 → 演示单位"),
    ("zh", "回复 reply: NEW_CODE", "回复: NEW_CODE"),
])
def test_code_values_in_a_timeline_summary_are_named_in_the_pages_language(
        language: str, summary: str, shown: str) -> None:
    """The Chinese timeline showed 判决 …: CONVICTED and 反馈匹配 (PARTY_IDENTIFIER)."""
    translate = Translator(language)
    assert localize_summary(summary, language, unit_name=lambda code: "演示单位",
                            code=lambda code: translate.label("summary_code", code)) == shown


def test_sources_name_documents_not_files() -> None:
    cited = cite(SEED_SOURCE)
    assert "seed" not in cited and ".txt" not in cited
    assert "银兴党办发〔2018〕18号" in cited and cited.endswith("within 3 working days")
    macheng = cite("Operator-set alert threshold; seed 001_dea36c7683b63058.txt reports filed "
                   "cases open over a year as a problem to catch")
    assert "麻城市人民检察院" in macheng and "2016-11-29" in macheng and "seed" not in macheng
    forest = cite("(一) Art. 72 as cited in DOMAIN.md; SPC forest interpretation (2000)")
    assert "DOMAIN.md" not in forest and forest.startswith("(一) Art. 72;")


def test_alert_pages_show_the_ui_language_and_the_api_keeps_the_raw_text(view: View) -> None:
    spec = case_spec(1)
    alert = alert_for(spec, AlertKind.FILED_NOT_CONCLUDED).model_copy(
        update={"message": OVERDUE, "legal_source": SEED_SOURCE})
    view.apply(alert)
    view.login()
    page = view.client.get(f"/cases/{spec.case_id}").text
    assert "立案后一年未结：已超期" in page
    assert "Filed case not concluded" not in page and "overdue" not in page
    assert "银兴党办发〔2018〕18号" in page and "seed 002" not in page
    english = view.client.get(f"/cases/{spec.case_id}?lang=en").text
    assert "Filed case not concluded one year after filing: overdue" in english
    assert "立案后一年未结" not in english
    raw = view.client.get(f"/api/cases/{spec.case_id}").json()["alerts"]
    assert [a["message"] for a in raw if a["alert_id"] == alert.alert_id] == [OVERDUE]


# -- 2. the data's own months; reports and scorecards with figures ------------------------


def _stats_rows(view: View, *rows: tuple[str, str, int, int]) -> None:
    """Monthly rows as the engine leaves them: (unit, month, entered, alerts raised)."""
    from datetime import UTC, datetime

    from hub.view.store import UnitStatsRow

    with view.context.store.session() as session:
        for unit, month, entered, alerts in rows:
            session.merge(UnitStatsRow(unit_code=unit, month=month, penalty_cases_entered=entered,
                                       alerts_raised=alerts, updated_at=datetime.now(UTC)))
        session.commit()


def test_trend_report_and_units_follow_the_last_month_with_case_figures(
    empty_view: View,
) -> None:
    view = empty_view
    # Exports end in 2025-12; later months hold only alerts the engine raised since.
    _stats_rows(view, (MARKET, "2025-11", 30, 2), (MARKET, "2025-12", 41, 1),
                (POLICE, "2025-12", 0, 0), (MARKET, "2026-02", 0, 3), (POLICE, "2026-06", 0, 5))
    view.login()
    board = view.client.get("/api/dashboard").json()
    assert board["trend"][-1]["month"] == "2025-12"
    assert board["trend"][0]["month"] == "2025-01"
    assert board["trend"][-1]["penalty_cases_entered"] == 41
    dashboard = view.client.get("/").text
    assert "2025-01 – 2025-12" in dashboard and 'id="empty-trend"' not in dashboard

    report = view.client.get("/reports").text
    assert 'id="report-month">2025-12<' in report
    table = report[report.index('id="report-table"'):report.index('id="report-overdue"')]
    first = table.index("report-row")
    assert "演示县市场监督管理局" in table[first:first + 400]  # ranked first, 41 entries
    assert ">41<" in table and "download-xlsx" in report
    november = view.client.get("/reports?month=2025-11").text
    assert 'id="report-month">2025-11<' in november and ">30<" in november

    units = view.client.get("/units").text
    market = units[units.index(f'data-unit="{MARKET}"'):]
    market = market[:market.index("</tr>")]
    assert ">41<" in market and "2025-12" in units
    card = view.client.get(f"/units/{MARKET}").text
    assert "2025-12" in card and ">41<" in card and 'id="empty-scorecard"' not in card


# -- 3. cases named by number, party and unit --------------------------------------------


def test_cases_are_named_by_document_number_party_and_unit(view: View) -> None:
    view.login()
    spec = case_spec(0)  # index 0 was referred: its referral number and decision number
    page = view.client.get("/alerts").text
    rows = re.findall(r'<a href="/cases/([0-9a-f-]{36})" class="case-name"[^>]*>([^<]*)</a>',
                      page)
    assert rows, "no alert rows"
    for case_id, label in rows:
        assert case_id[:8] not in label
        assert "〔" in label and " · " in label  # a document number, then party and unit
    named = dict(rows)
    if spec.case_id in named:
        assert named[spec.case_id].startswith(spec.decision_number)
    found = view.client.get(f"/cases?party={spec.party.name}").text
    assert spec.decision_number in found
    detail = view.client.get(f"/cases/{spec.case_id}").text
    heading = re.search(r'id="case-name">([^<]*)<', detail)
    assert heading is not None
    assert heading.group(1) == f"{spec.decision_number} · {spec.party.name} · 演示县市场监督管理局"
    assert spec.case_id in detail  # still on the page, in the detail line


# -- 4. unmatched feedback resolved by searching -----------------------------------------


def test_unmatched_feedback_is_resolved_by_searching_candidates(view: View) -> None:
    view.login()
    queue = view.client.get("/api/unmatched").json()["items"]
    item = queue[0]
    page = view.client.get(f"/unmatched/{item['unmatched_id']}").text
    assert 'id="candidate-search"' in page and 'name="case_id" required' not in page
    # The search box starts with the number the feedback quotes.
    assert f'value="{item["referral_number"]}"' in page
    spec = case_spec(5)
    by_party = view.client.get(f"/unmatched/{item['unmatched_id']}",
                               params={"q": spec.party.name[:4]}).text
    results = by_party[by_party.index('id="search-results"'):]
    assert f'data-case-id="{spec.case_id}"' in results
    by_number = view.client.get(f"/unmatched/{item['unmatched_id']}",
                                params={"q": spec.decision_number}).text
    found = re.findall(r'class="candidate found" data-case-id="([^"]+)"', by_number)
    assert found == [spec.case_id]
    by_unit = view.client.get(f"/unmatched/{item['unmatched_id']}",
                              params={"q": spec.decision_number, "unit": POLICE}).text
    assert 'id="no-search-results"' in by_unit
    token = re.search(r'name="csrf_token" value="([^"]+)"', by_number)
    assert token is not None
    answer = view.client.post(f"/unmatched/{item['unmatched_id']}/resolve",
                              data={"case_id": spec.case_id, "csrf_token": token.group(1)},
                              follow_redirects=False)
    assert answer.status_code == 303
    with view.context.store.session() as session:
        from sqlalchemy import select

        from hub.view.store import OutboxRow
        payloads = [row.payload for row in session.scalars(select(OutboxRow))]
    assert any(p.get("action_kind") == "MANUAL_MATCH" and p.get("case_id") == spec.case_id
               for p in payloads)
    # Once the match is back from the bus, the form cannot overwrite it (as the API).
    match = next(ViewAction.model_validate(p) for p in payloads
                 if p.get("action_kind") == "MANUAL_MATCH")
    view.apply(match)
    again = view.client.post(f"/unmatched/{item['unmatched_id']}/resolve",
                             data={"case_id": case_spec(6).case_id,
                                   "csrf_token": token.group(1)},
                             follow_redirects=False)
    assert again.status_code == 409


# -- 5. empty states that say what to do --------------------------------------------------


def test_empty_pages_say_which_command_brings_data(empty_view: View) -> None:
    view = empty_view
    view.login()
    dashboard = view.client.get("/").text
    assert 'id="empty-cases"' in dashboard and "liangfa connector run" in dashboard
    assert 'id="empty-trend"' in dashboard and 'id="empty-alerts"' in dashboard
    cases = view.client.get("/cases?party=张三").text
    assert 'id="empty-search"' in cases and "liangfa up" in cases
    assert "liangfa status" in view.client.get("/alerts").text
    assert "自动对应" in view.client.get("/unmatched").text
    english = view.client.get("/?lang=en").text
    assert "No cases yet" in english and "liangfa connector run" in english

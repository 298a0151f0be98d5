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

from hub.models import AlertKind
from hub.view.app import create_app
from hub.view.context import ViewContext
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
        "建议提前介入：污染环境罪 (刑法第338条)；达到追诉标准的 0.84 倍（hazardous-waste）")
    # A slash inside a Chinese name is not a pair; one-language text is left alone.
    named = "检察建议/检察意见回复超期 / Agency did not answer"
    assert localize(named, "zh") == "检察建议/检察意见回复超期"
    assert localize("演示预警：LATE_ENTRY", "en") == "演示预警：LATE_ENTRY"
    assert localize_summary("立案 filed J4299", "zh") == "立案 J4299"
    assert localize_summary("行政处罚决定 penalty decision 演罚〔2025〕3号: 超限运输", "en") == (
        "penalty decision 演罚〔2025〕3号: 超限运输")


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

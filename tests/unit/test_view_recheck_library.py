"""The random re-check 随机抽案复查 (issue #14, item 2) and the legal library 法律法规 (item 3),
against a real SQLite store.

The re-check draws the same cases from the same seed, records the seed and a digest of the
population, audits the draw on the outbox, and shows a finding once its ViewAction has come
back (here applied to the store as the bus consumer would). The library lists every rule
of every rule file with its source, in Chinese, searchable.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hub.models import ViewAction, ViewActionKind
from hub.rules.deadlines import load_deadlines
from hub.rules.routing import load_routing
from hub.rules.thresholds import load_thresholds
from hub.rules.violations import load_violation_offences
from hub.view import apply
from hub.view.app import create_app
from hub.view.context import ViewContext
from hub.view.library import library_entries, search_library
from hub.view.recheck import RecheckSampleRow, population, recheck_items, sample_cases
from hub.view.settings import DEFAULT_DEMO_PASSWORD, ViewSettings
from hub.view.store import OutboxRow
from tests.support.view_data import MARKET, POLICE, apply_events, case_spec

CASES = 60


class View:
    def __init__(self, client: TestClient, context: ViewContext) -> None:
        self.client = client
        self.context = context

    def login(self, username: str = "prosecutor") -> str:
        form = self.client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None
        done = self.client.post("/login", data={"username": username,
                                                "password": DEFAULT_DEMO_PASSWORD,
                                                "csrf_token": token.group(1)})
        assert done.status_code == 200
        page = self.client.get("/recheck")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        return csrf.group(1) if csrf else ""

    def outbox(self) -> list[OutboxRow]:
        with self.context.store.session() as session:
            rows = list(session.scalars(select(OutboxRow).order_by(OutboxRow.id)))
            session.expunge_all()
            return rows


@pytest.fixture
def view(tmp_path: Path) -> Iterator[View]:
    settings = ViewSettings(database_url=f"sqlite:///{tmp_path / 'view.sqlite3'}",
                            seed_demo_users=True, demo_unit_codes=[MARKET, POLICE],
                            bootstrap=None)
    app = create_app(settings)
    with TestClient(app) as client:
        context: ViewContext = app.state.view
        events: list[object] = []
        for index in range(CASES):
            spec = case_spec(index)
            events += [spec.penalty(), spec.state()]
        with context.store.session() as session:
            apply_events(session, events, context.units)  # type: ignore[arg-type]
        yield View(client, context)


def _year_with_most_cases() -> int:
    years = [case_spec(index).decided_on.year for index in range(CASES)]
    return max(set(years), key=years.count)


def test_the_same_seed_draws_the_same_cases() -> None:
    cases = {"A": [f"a{i:03d}" for i in range(40)], "B": [f"b{i:03d}" for i in range(3)]}
    first = sample_cases(cases, seed=20251204, year=2025, per_unit=5)
    again = sample_cases({"B": list(reversed(cases["B"])), "A": list(reversed(cases["A"]))},
                         seed=20251204, year=2025, per_unit=5)
    other = sample_cases(cases, seed=7, year=2025, per_unit=5)
    assert first == again
    assert [item["case_id"] for item in first] != [item["case_id"] for item in other]
    assert [item["unit_code"] for item in first].count("A") == 5
    # A unit with fewer cases than the sample size gives all of them.
    assert sorted(item["case_id"] for item in first if item["unit_code"] == "B") == cases["B"]
    assert {item["population"] for item in first if item["unit_code"] == "A"} == {40}


def test_a_draw_is_recorded_audited_and_reproducible(view: View) -> None:
    csrf = view.login()
    year = _year_with_most_cases()
    drawn = view.client.post("/recheck", data={"year": str(year), "per_unit": "2",
                                               "seed": "424242", "csrf_token": csrf},
                             follow_redirects=False)
    assert drawn.status_code == 303
    sample_id = drawn.headers["location"].rsplit("/", 1)[1]
    with view.context.store.session() as session:
        sample = session.get(RecheckSampleRow, sample_id)
        assert sample is not None
        cases = population(session, year, [unit.code for unit in view.context.units.all()
                                           if unit.kind == "agency"])
        assert sample.seed == 424242 and sample.year == year and sample.drawn_by == "prosecutor"
        assert sample.population_size == sum(len(ids) for ids in cases.values()) > 0
        assert sample.items == sample_cases(cases, seed=424242, year=year, per_unit=2)
        assert all(len([i for i in sample.items if i["unit_code"] == code]) == min(2, len(ids))
                   for code, ids in cases.items())
        digest = sample.population_digest
    audits = [row for row in view.outbox() if row.record_type.endswith("AuditRecorded")]
    draw = [row for row in audits if row.payload["target"] == f"recheck:{sample_id}"]
    assert len(draw) == 1
    assert f"seed=424242 per_unit=2 population={sample.population_size} digest={digest}" in \
        draw[0].payload["query"]
    page = view.client.get(f"/recheck/{sample_id}")
    assert page.status_code == 200
    assert 'id="sample-seed">424242<' in page.text
    listed = re.findall(r'<tr class="recheck-row pending" data-case-id="([^"]+)"', page.text)
    assert listed == [item["case_id"] for item in sample.items]
    assert f"已复查 0 / {len(listed)}" in page.text
    # Drawn again with the same seed: the same cases.
    again = view.client.post("/recheck", data={"year": str(year), "per_unit": "2",
                                               "seed": "424242", "csrf_token": csrf},
                             follow_redirects=False)
    with view.context.store.session() as session:
        second = session.get(RecheckSampleRow, again.headers["location"].rsplit("/", 1)[1])
        assert second is not None and second.items == sample.items
        assert second.population_digest == digest
    listing = view.client.get("/recheck")
    assert listing.text.count('class="sample-row"') == 2


def test_a_finding_shows_once_its_action_came_back(view: View) -> None:
    csrf = view.login()
    year = _year_with_most_cases()
    drawn = view.client.post("/recheck", data={"year": str(year), "per_unit": "1",
                                               "csrf_token": csrf}, follow_redirects=False)
    sample_id = drawn.headers["location"].rsplit("/", 1)[1]
    with view.context.store.session() as session:
        sample = session.get(RecheckSampleRow, sample_id)
        assert sample is not None and sample.seed >= 0
        case_id = str(sample.items[0]["case_id"])
    marked = view.client.post(f"/recheck/{sample_id}/cases/{case_id}",
                              data={"result": "problem", "note": "罚没款未入账",
                                    "csrf_token": csrf}, follow_redirects=False)
    assert marked.status_code == 303
    # Not shown before the bus brings the action back.
    with view.context.store.session() as session:
        sample = session.get(RecheckSampleRow, sample_id)
        assert sample is not None
        assert recheck_items(session, sample)[0].result is None
    actions = [ViewAction.model_validate(row.payload) for row in view.outbox()
               if row.record_type.endswith("ViewAction")]
    assert [(a.action_kind, a.case_id, a.payload["recheck_sample"], a.payload["recheck_result"])
            for a in actions] == [(ViewActionKind.ADD_NOTE, case_id, sample_id, "problem")]
    with view.context.store.session() as session:
        apply.apply_view_action(session, actions[0])
    page = view.client.get(f"/recheck/{sample_id}")
    row = re.search(rf'<tr class="recheck-row problem" data-case-id="{case_id}">(.*?)</tr>',
                    page.text, re.S)
    assert row is not None
    assert "发现问题" in row.group(1) and "罚没款未入账" in row.group(1)
    assert "已复查 1 / " in page.text
    timeline = view.client.get(f"/cases/{case_id}")
    assert "随机抽案复查：发现问题。罚没款未入账" in timeline.text
    # A case outside the sample and a result outside the list are refused.
    assert view.client.post(f"/recheck/{sample_id}/cases/not-drawn",
                            data={"result": "checked", "csrf_token": csrf}).status_code == 404
    assert view.client.post(f"/recheck/{sample_id}/cases/{case_id}",
                            data={"result": "fine", "csrf_token": csrf}).status_code == 422
    assert view.client.post(f"/recheck/{sample_id}/cases/{case_id}",
                            data={"result": "checked", "csrf_token": "x"}).status_code == 403


def test_the_recheck_is_the_prosecutors(view: View) -> None:
    view.login(f"unit-{MARKET.lower()}")
    assert view.client.get("/recheck").status_code == 403
    assert view.client.get("/assessment").status_code == 403
    assert view.client.get("/library").status_code == 200


def test_the_library_lists_every_rule_with_its_source() -> None:
    entries = library_entries("zh")
    refs = {(entry.section, entry.ref) for entry in entries}
    assert {("deadlines", rule.id) for rule in load_deadlines().rules} <= refs
    assert {("thresholds", o.id) for o in load_thresholds().offences} <= refs
    assert {("offences", m.violation_type) for m in load_violation_offences().mappings} <= refs
    routing = load_routing()
    assert {("routing", r.id) for r in (*routing.referral_routes, *routing.copies,
                                        *routing.lead_routes)} <= refs
    assert ("assessment", "idle_platform") in refs and ("screening", "screening") in refs
    for entry in entries:
        assert entry.source, entry
        assert ".txt" not in entry.source and "DOMAIN.md" not in entry.source, entry
        assert entry.title and entry.rule, entry
    fake = next(e for e in entries if e.ref == "fake-inferior-products")
    assert fake.title == "生产、销售伪劣产品罪"
    assert fake.rule == ("刑法第140条（经济犯罪）；销售金额 ≥ ¥50,000；"
                         "或 货值金额（尚未销售） ≥ ¥150,000")
    # The thresholds file cites its documents in full (issuer, title, number, date,
    # article): the same on both pages, no shorthand for the library to expand.
    full = ("最高人民检察院、公安部《关于公安机关管辖的刑事案件立案追诉标准的规定（一）》"
            "（公通字〔2008〕36号，2008-06-25）第16条")
    assert fake.source == full
    english = {e.ref: e for e in library_entries("en")}
    assert english["fake-inferior-products"].source == full
    receipt_rule = next(e for e in entries if e.ref == "receipt-missing")
    assert receipt_rule.source == ("国务院《行政执法机关移送涉嫌犯罪案件的规定》"
                                   "（国务院令第310号，2020年修订）第7条")
    receipt = search_library(entries, "回执")
    assert any(entry.section == "deadlines" for entry in receipt)
    assert search_library(entries, "非法经营", "thresholds")
    assert all(entry.section == "routing" for entry in search_library(entries, "", "routing"))
    assert search_library(entries, "没有这个词") == []


def test_the_library_page_searches_in_chinese_and_english(view: View) -> None:
    view.login()
    page = view.client.get("/library")
    assert page.status_code == 200
    assert "立案追诉标准" in page.text and "办案时限" in page.text
    count = int(re.search(r'id="library-count">共 (\d+) 条', page.text).group(1))  # type: ignore[union-attr]
    assert count == len(library_entries("zh"))
    found = view.client.get("/library", params={"q": "310号 回执"})
    refs = re.findall(r'class="library-entry" data-ref="([^"]+)"', found.text)
    assert refs and all(ref in {e.ref for e in search_library(library_entries("zh"),
                                                                "310号 回执")} for ref in refs)
    nothing = view.client.get("/library", params={"q": "没有这个词"})
    assert 'id="library-none"' in nothing.text
    english = view.client.get("/library?lang=en&section=thresholds")
    assert "Filing thresholds" in english.text and 'id="library-deadlines"' not in english.text

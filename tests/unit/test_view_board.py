"""The front page's oversight (issue #14, "done when"), against a real SQLite store fed the
demo county with facts produced by the real missing-entry tracker and screening.

Which units are missing what, this quarter's ranking, why each lead was raised (the
figure beside its threshold and the threshold's document), repeat offenders across units;
all in Chinese on the Chinese page, and a unit user sees only its own unit.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from hub.identity import sole_trader_placeholder
from hub.models import AlertKind, Party, PartyCategory, PenaltyCaseRecorded
from hub.view.app import create_app
from hub.view.board import lead_explanation, other_units_penalising, repeat_offenders
from hub.view.library import library_entries
from hub.view.queries import CHINA_TZ, Scope
from hub.view.settings import DEFAULT_DEMO_PASSWORD, ViewSettings
from hub.view.store import CasePartyRow
from hub.view.texts import localize
from tests.support.view_data import (
    ENVIRONMENT,
    MARKET,
    POLICE,
    TOBACCO,
    alert_for,
    apply_events,
    case_spec,
)
from tests.unit.data.oversight_county import (
    REPEAT_PARTY,
    OversightCounty,
    demo_county_events,
)

CASES = 40
#: A run of Latin letters: English left in a Chinese page.
ENGLISH = re.compile(r"[A-Za-z]{3,}")


class Board:
    def __init__(self, client: TestClient, county: OversightCounty, app: object) -> None:
        self.client = client
        self.county = county
        self.app = app

    def login(self, username: str = "prosecutor") -> None:
        form = self.client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None
        done = self.client.post("/login", data={"username": username,
                                                "password": DEFAULT_DEMO_PASSWORD,
                                                "csrf_token": token.group(1)})
        assert done.status_code == 200, done.text


@pytest.fixture
def board(tmp_path: Path) -> Iterator[Board]:
    settings = ViewSettings(database_url=f"sqlite:///{tmp_path / 'view.sqlite3'}",
                            seed_demo_users=True, demo_unit_codes=[MARKET, POLICE],
                            bootstrap=None)
    app = create_app(settings)
    events, county = demo_county_events(CASES, datetime.now(CHINA_TZ).date())
    with TestClient(app) as client:
        context = app.state.view
        with context.store.session() as session:
            apply_events(session, events, context.units)
        yield Board(client, county, app)


def _section(page: str, section_id: str) -> str:
    """The visible text of one ``<section id=…>`` of the page."""
    match = re.search(rf'<section[^>]*id="{section_id}".*?</section>', page, re.S)
    assert match is not None, section_id
    text = re.sub(r"<[^>]+>", " ", match.group(0))
    return re.sub(r"\s+", " ", html.unescape(text)).strip()


def _rows(page: str, row_class: str) -> list[str]:
    return [re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", row))).strip()
            for row in re.findall(rf'<tr class="{row_class}[^"]*"[^>]*>.*?</tr>', page, re.S)]


def test_the_front_page_says_which_units_miss_what(board: Board) -> None:
    board.login()
    page = board.client.get("/").text
    missing = _section(page, "missing-entries")
    assert not ENGLISH.search(missing), missing
    rows = dict(zip(re.findall(r'<tr class="missing-unit" data-unit="([^"]+)"', page),
                    _rows(page, "missing-unit"), strict=True))
    assert set(rows) == {ENVIRONMENT, TOBACCO, MARKET}
    assert f"{board.county.missing_number}未录入" in rows[ENVIRONMENT]
    assert "个工作日未录入处罚决定" in rows[TOBACCO]
    assert f"移送书{board.county.unentered_referral}，移送机关未录入" in rows[MARKET]
    # Counts per check: silent, numbers skipped, referrals never entered.
    assert re.search(r"演示县烟草专卖局 1 0 0 ", rows[TOBACCO])
    assert re.search(r"演示县生态环境分局 0 1 0 ", rows[ENVIRONMENT])
    assert re.search(r"演示县市场监督管理局 0 0 1 ", rows[MARKET])


def test_the_front_page_ranks_this_quarter(board: Board) -> None:
    board.login()
    page = board.client.get("/").text
    ranking = _section(page, "quarter-ranking")
    assert not ENGLISH.search(ranking), ranking
    assert re.search(r"本季度考核排名（\d{4}年第[一二三四]季度）", ranking)
    ranks = [int(rank) for rank in re.findall(r'<td class="num rank">(\d+)</td>', page)]
    assert ranks[0] == 1 and ranks == sorted(ranks) and len(ranks) >= 4
    assert 'id="ranking-full"' in page


def test_each_lead_says_why_beside_its_threshold(board: Board) -> None:
    board.login()
    page = board.client.get("/").text
    leads = _section(page, "open-leads")
    assert not ENGLISH.search(leads), leads
    rows = _rows(page, "lead-row")
    assert len(rows) == 2, rows
    waste = next(row for row in rows if "污染环境罪" in row)
    assert "危险废物数量：案件中为 2.634 吨，追诉标准为 3 吨（达到标准的 87.8%）" in waste
    assert "72,000" not in waste  # the fine is not what triggered the lead
    assert "《中华人民共和国刑法》第338条" in waste
    assert "最高人民法院、最高人民检察院《关于办理环境污染刑事案件适用法律若干问题的解释》" in waste
    assert "达到追诉标准的 80% 以上，建议提前介入" in waste
    assert "该当事人另受 2 个单位行政处罚" in waste
    fake = next(row for row in rows if "生产、销售伪劣产品罪" in row)
    assert "销售金额：案件中为 ¥60,000，追诉标准为 ¥50,000（达到标准的 120%）" in fake
    assert "处罚后 15 日内未移送公安机关" in fake
    assert "《关于公安机关管辖的刑事案件立案追诉标准的规定（一）》" in fake
    # The same explanation in the alert queue.
    queue = board.client.get("/alerts?leads=1").text
    assert "追诉标准为 3 吨" in queue


def test_repeat_offenders_are_counted_across_units(board: Board) -> None:
    board.login()
    page = board.client.get("/").text
    section = _section(page, "repeat-offenders")
    [row] = _rows(page, "repeat-row")
    assert REPEAT_PARTY.name in row and str(REPEAT_PARTY.credit_code) in row
    assert re.search(r" 4 演示县市场监督管理局、演示县烟草专卖局、演示县生态环境分局 ", row)
    assert "两个以上单位" in section
    context = board.app.state.view  # type: ignore[attr-defined]
    with context.store.session() as session:
        own = repeat_offenders(session, Scope(unit_code=MARKET))
        assert [(o.identifier, o.penalties, len(o.case_ids)) for o in own] == [
            (REPEAT_PARTY.credit_code, 4, 1)]  # its own case listed, the others counted
        assert repeat_offenders(session, Scope(unit_code=POLICE)) == []


def test_sole_traders_filing_the_placeholder_code_are_not_one_party(board: Board) -> None:
    """Every sole trader without a credit code files 00000000000000000X: counted as one
    party, the demo county's clinics and shops were one repeat offender of 173 penalties
    from 15 units. New cases key such a trader by nobody; rows an older view stored with
    the placeholder are left out of the count too."""
    placeholder = sole_trader_placeholder()
    penalties = [e for e in demo_county_events(CASES, datetime.now(CHINA_TZ).date())[0]
                 if isinstance(e, PenaltyCaseRecorded)]
    by_unit = {e.source_unit: e for e in penalties}
    traders = [event.model_copy(update={
        "case_id": f"{event.case_id[:-4]}{n:04d}", "event_id": f"{event.event_id[:-4]}{n:04d}",
        "decision_number": f"演罚〔2025〕{900 + n}号",
        "parties": [Party(name=f"演示县某某诊所{n}", category=PartyCategory.SOLE_TRADER,
                          credit_code=placeholder)]})
        for n, event in enumerate(list(by_unit.values())[:3])]
    assert len({t.source_unit for t in traders}) == 3
    context = board.app.state.view  # type: ignore[attr-defined]
    with context.store.session() as session:
        apply_events(session, traders, context.units)
        stored = session.scalars(select(CasePartyRow.identifier).where(
            CasePartyRow.case_id.in_([t.case_id for t in traders]))).all()
        assert set(stored) == {""}
        # as an older view stored them
        session.execute(update(CasePartyRow).where(
            CasePartyRow.case_id.in_([t.case_id for t in traders])).values(
            identifier=placeholder))
        session.flush()
        assert placeholder not in {o.identifier for o in repeat_offenders(session, Scope())}
        assert set(other_units_penalising(session, [t.case_id for t in traders]).values()
                   ) <= {0}


def test_the_overdue_tile_leads_to_exactly_its_items(board: Board) -> None:
    """The tile counted the overdue items and linked to the whole queue (33 against 80)."""
    board.login()
    page = board.client.get("/").text
    tile = re.search(r'<a class="tile danger" href="([^"]+)" id="tile-overdue">'
                     r'<span class="number">(\d+)</span>', page)
    assert tile is not None
    listed = board.client.get(html.unescape(tile.group(1))).text
    count = re.search(r"共 (\d+) 条", listed)
    assert count is not None and int(count.group(1)) == int(tile.group(2)) > 0
    everything = re.search(r"共 (\d+) 条", board.client.get("/alerts").text)
    assert everything is not None and int(everything.group(1)) > int(tile.group(2))
    assert 'id="filter-overdue" checked' in listed


def test_the_queues_page_links_carry_no_empty_flag(board: Board) -> None:
    """A link with ``overdue=`` (or ``leads=``) is no boolean: page 2 answered 422."""
    context = board.app.state.view  # type: ignore[attr-defined]
    with context.store.session() as session:  # enough alerts for a second page
        apply_events(session, [alert_for(case_spec(n), kind) for n in range(30)
                               for kind in (AlertKind.FILING_DECISION_OVERDUE,
                                            AlertKind.SUSPECTED_NON_REFERRAL)],
                     context.units)
    board.login()
    for path in ("/alerts?leads=1", "/alerts?overdue=1", "/alerts?status=all"):
        page = board.client.get(path).text
        for link in re.findall(r'href="/alerts\?([^"]*page=\d+)"', page):
            query = html.unescape(link)
            assert not re.search(r"(^|&)(leads|overdue|kind)=(&|$)", query), query
            assert board.client.get(f"/alerts?{query}").status_code == 200, query
    everything = board.client.get("/alerts?status=all").text
    assert re.search(r'href="/alerts\?[^"]*page=2"', everything), "the county has one page"


def test_the_english_page_and_a_unit_user(board: Board) -> None:
    board.login()
    english = board.client.get("/?lang=en").text
    assert "Missing entries by unit" in english
    assert "Hazardous waste: 2.634 t in the case, threshold 3 t" in english
    board.client.post("/logout", data={})
    unit = Board(board.client, board.county, board.app)
    unit.client.cookies.clear()
    unit.login(f"unit-{MARKET.lower()}")
    page = unit.client.get("/").text
    assert re.findall(r'<tr class="missing-unit" data-unit="([^"]+)"', page) == [MARKET]
    assert 'id="quarter-ranking"' not in page and 'id="repeat-offenders"' not in page
    assert len(_rows(page, "lead-row")) == 1  # its own lead only


def test_missing_entry_messages_are_in_one_language() -> None:
    message = ("应录未录：长期未录入 / Missing entries: unit silent: "
               "演示县烟草专卖局：自2026-08-06起已79个工作日未录入处罚决定"
               "（按其以往录入频率，超过20个工作日即属异常） / "
               "演示县烟草专卖局: no penalty decision entered for 79 working days since "
               "2026-08-06 (over 20 given its own history)")
    assert localize(message, "zh") == (
        "应录未录：长期未录入：演示县烟草专卖局：自2026-08-06起已79个工作日未录入处罚决定"
        "（按其以往录入频率，超过20个工作日即属异常）")
    assert localize(message, "en") == (
        "Missing entries: unit silent: 演示县烟草专卖局: no penalty decision entered for 79 "
        "working days since 2026-08-06 (over 20 given its own history)")


def test_a_lead_without_figures_and_an_alert_that_is_not_a_lead() -> None:
    assert lead_explanation("LATE_ENTRY", {}, "zh") is None
    qualitative = lead_explanation("SUSPECTED_NON_REFERRAL", {
        "offence": "非法行医罪", "criminal_law_article": "336",
        "reason": "the violation type itself is a circumstance the offence lists",
        "threshold_source": "Criminal Law Art. 336"}, "zh")
    assert qualitative is not None and qualitative.figures == ()
    assert qualitative.note.startswith("该违法类型本身即为该罪列明的情形")
    assert qualitative.source == "《中华人民共和国刑法》第336条"
    prior = lead_explanation("SUSPECTED_NON_REFERRAL", {
        "offence": "非法行医罪", "criminal_law_article": "336",
        "value.prior_penalties": "2", "threshold.prior_penalties": "2"}, "zh")
    assert prior is not None
    assert [(f.basis, f.found, f.threshold, f.share) for f in prior.figures] == [
        ("此前同类行政处罚次数", "2 次", "2 次", "100%")]


def test_every_library_source_names_its_documents_in_chinese() -> None:
    """The sources that were English notes now cite documents by issuer, title and number,
    or say the number is not known (文号不详) rather than inventing one."""
    entries = {entry.ref: entry for entry in library_entries("zh")}
    for entry in entries.values():
        assert not ENGLISH.search(entry.source), (entry.ref, entry.source)
    assert "（2021年，文号不详）" in entries["urge-prosecution-unanswered"].source
    assert "（2001年，文号不详）第10条" in entries["correction-notice-unanswered"].source
    assert "国务院令第310号" in entries["suggested-referral-not-acted-on"].source
    assert "无文号" in entries["food-drug-environment-unit"].source
    assert "（银兴党办发〔2018〕18号" not in entries["screening"].source
    assert "（2016-11-29，文号不详）" in entries["screening"].source


def test_a_stand_in_figure_is_shown_as_one_and_the_lead_as_to_be_checked() -> None:
    """The goods value standing in for the sales amount was shown as the case's sales,
    280 % of the threshold, with nothing to say the lead is one to check."""
    details = {"offence": "生产、销售伪劣产品罪", "criminal_law_article": "140",
               "threshold.sales_amount": "5000000", "value.sales_amount": "14000000",
               "unchecked_conditions": "sales_amount (stand-in)",
               "conditions_checked": "false", "threshold_source": "(一) Art. 16"}
    shown = lead_explanation("SUSPECTED_NON_REFERRAL", details, "zh")
    assert shown is not None
    [figure] = shown.figures
    assert figure.found.startswith("¥140,000（以其他数额代替") and "待核实" in figure.found
    assert "待核实" in shown.note
    certain = lead_explanation("SUSPECTED_NON_REFERRAL", {
        key: value for key, value in details.items()
        if key not in ("unchecked_conditions", "conditions_checked")}, "zh")
    assert certain is not None and certain.figures[0].found == "¥140,000"
    assert "待核实" not in certain.note

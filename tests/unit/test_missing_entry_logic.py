"""Missing entries 应录未录: silent units, skipped decision numbers, referrals never entered."""

from __future__ import annotations

import itertools
import json
from datetime import date

import pytest

from hub.calendar import WorkingDayCalendar
from hub.identity import case_id_for
from hub.models import Alert, AlertKind, AlertStatus, CaseEvent
from hub.rules.missing_entry import MissingEntryParameters, load_missing_entry
from streams.missing_entry_ledger import parse_decision_number, unentered_referral_key
from streams.missing_entry_logic import (
    RULE_NUMBER_GAP,
    RULE_SILENT_UNIT,
    RULE_UNENTERED_REFERRAL,
    MissingEntryTracker,
    silent_unit_case_id,
)
from tests.unit.data.case_events import (
    COUNTY_PSB,
    HUB_UNIT,
    MARKET,
    TOBACCO,
    at,
    decided,
    judgment,
    penalty,
    received,
    referred,
)

CAL = WorkingDayCalendar()
NOW = at(2026, 12, 4, 9)
TODAY = date(2026, 12, 4)
OTHERS = ["11420999MB0000037Q", "11420999MB0000045K", "11420999MB0000053E"]


def params(**changes: dict[str, int]) -> MissingEntryParameters:
    data = load_missing_entry().model_dump()
    for section, values in changes.items():
        data[section].update(values)
    return MissingEntryParameters.model_validate(data)


def tracker(parameters: MissingEntryParameters | None = None) -> MissingEntryTracker:
    return MissingEntryTracker(parameters or load_missing_entry(), calendar=CAL)


def workdays(start: date, count: int, every: int = 1) -> list[date]:
    """``count`` working days from ``start``, one every ``every`` working days."""
    days = [CAL.add_working_days(start, 0 if CAL.is_working_day(start) else 1)]
    while len(days) < count:
        days.append(CAL.add_working_days(days[-1], every))
    return days


def penalties(unit: str, days: list[date], word: str = "罚", first: int = 1,
              skip: set[int] | None = None) -> list[CaseEvent]:
    """One penalty a day, numbered in date order from ``first`` (``skip`` left out)."""
    events: list[CaseEvent] = []
    for offset, day in enumerate(days):
        serial = first + offset
        if serial in (skip or set()):
            continue
        number = f"演{unit[-4:]}{word}〔{day.year}〕{serial}号"
        events.append(penalty(at(day.year, day.month, day.day, 10), unit=unit,
                              case_id=case_id_for(unit, number), decision_number=number))
    return events


def evaluate(t: MissingEntryTracker, events: list[CaseEvent]) -> list[Alert]:
    t.observe_all(events)
    return t.evaluate(today=TODAY, hub_unit_code=HUB_UNIT, now=NOW)


def by_rule(alerts: list[Alert], rule: str, status: AlertStatus = AlertStatus.RAISED
            ) -> list[Alert]:
    return [a for a in alerts if a.rule_id == rule and a.status is status]


def county(start: date = date(2025, 3, 3), count: int = 60) -> list[CaseEvent]:
    """Three busy units entering every working day (the county's clock)."""
    return [e for unit in OTHERS for e in penalties(unit, workdays(start, count))]


# -- decision numbers -----------------------------------------------------------------


@pytest.mark.parametrize(("text", "series", "year", "number", "respelled"), [
    ("演市监罚〔2025〕13号", "演市监罚", 2025, 13, "演市监罚〔2025〕14号"),
    ("演市监简罚[2024] 7号", "演市监简罚", 2024, 7, "演市监简罚[2024] 14号"),
    ("演税罚（2025）0013号", "演税罚", 2025, 13, "演税罚（2025）14号"),
])
def test_decision_numbers_are_taken_apart(text: str, series: str, year: int, number: int,
                                          respelled: str) -> None:
    parsed = parse_decision_number(text)
    assert parsed is not None
    assert (parsed.series, parsed.year, parsed.number) == (series, year, number)
    assert parsed.spelled(14) == respelled


@pytest.mark.parametrize("text", [None, "", "演市监罚2025-13", "〔2025〕号", "罚字第13号"])
def test_other_numbers_are_not_guessed(text: str | None) -> None:
    assert parse_decision_number(text) is None


# -- number gaps ----------------------------------------------------------------------


def test_a_skipped_number_is_raised_once_past_the_grace_and_charged_to_the_unit() -> None:
    days = workdays(date(2025, 3, 3), 40)
    t = tracker()
    alerts = evaluate(t, penalties(MARKET, days, skip={13}))
    gaps = by_rule(alerts, RULE_NUMBER_GAP)
    assert len(gaps) == 1
    gap = gaps[0]
    missing = f"演{MARKET[-4:]}罚〔2025〕13号"
    assert gap.kind is AlertKind.MISSING_ENTRY
    assert gap.responsible_unit_code == MARKET
    assert gap.case_id == case_id_for(MARKET, missing)
    assert gap.details["missing_number"] == missing
    assert gap.due_date == CAL.add_working_days(days[13], 10)
    assert "〔2025〕12号" in gap.details["previous_number"]
    assert "银兴党办发〔2018〕18号" in gap.legal_source
    # evaluated again with nothing new: nothing emitted again
    assert t.evaluate(today=TODAY, hub_unit_code=HUB_UNIT, now=NOW) == []


def test_a_gap_within_the_grace_is_not_raised_yet() -> None:
    days = workdays(date(2025, 3, 3), 20)
    # 13 absent, 14 decided on days[13]; the unit's last decision 6 working days later
    alerts = evaluate(tracker(), penalties(MARKET, days, skip={13}))
    assert by_rule(alerts, RULE_NUMBER_GAP) == []


def test_the_missing_number_entered_late_resolves_the_gap() -> None:
    days = workdays(date(2025, 3, 3), 40)
    t = tracker()
    events = penalties(MARKET, days)
    raised = evaluate(t, [e for i, e in enumerate(events) if i != 12])
    assert len(by_rule(raised, RULE_NUMBER_GAP)) == 1
    resolved = evaluate(t, [events[12]])
    assert [a.alert_id for a in by_rule(resolved, RULE_NUMBER_GAP, AlertStatus.RESOLVED)] == [
        by_rule(raised, RULE_NUMBER_GAP)[0].alert_id]
    assert "已补录" in by_rule(resolved, RULE_NUMBER_GAP, AlertStatus.RESOLVED)[0].message


def test_series_and_years_are_numbered_apart_and_jumps_are_not_gaps() -> None:
    days = workdays(date(2025, 3, 3), 40)
    summary = penalties(MARKET, days[:10], word="简罚", first=1)  # 简罚 1-10: no gap with 罚
    general = penalties(MARKET, days[10:], first=1)  # 罚 1-30
    jump = penalties(MARKET, [days[-1]], first=200)  # a renumbering, not 169 missing cases
    next_year = penalties(MARKET, workdays(date(2026, 1, 5), 3), first=5)  # 2026 starts at 5
    alerts = evaluate(tracker(), summary + general + jump + next_year)
    assert by_rule(alerts, RULE_NUMBER_GAP) == []


def test_each_number_of_a_longer_gap_is_its_own_alert() -> None:
    alerts = evaluate(tracker(), penalties(MARKET, workdays(date(2025, 3, 3), 40),
                                           skip={13, 14, 15}))
    assert sorted(a.details["missing_number"][-4:] for a in
                  by_rule(alerts, RULE_NUMBER_GAP)) == ["〕13号", "〕14号", "〕15号"]


# -- silent units ---------------------------------------------------------------------


def test_a_unit_that_stops_entering_is_silent_against_the_county_clock() -> None:
    t = tracker()
    alerts = evaluate(t, county() + penalties(MARKET, workdays(date(2025, 3, 3), 20)))
    silent = by_rule(alerts, RULE_SILENT_UNIT)
    assert [a.responsible_unit_code for a in silent] == [MARKET]
    alert = silent[0]
    assert alert.case_id == silent_unit_case_id(MARKET)
    assert alert.details["threshold"] == "20"  # daily rhythm: the operator's floor
    last = workdays(date(2025, 3, 3), 20)[-1]
    assert alert.details["last_entry"] == last.isoformat()
    assert alert.due_date == CAL.add_working_days(last, 20)
    assert int(alert.details["silent_working_days"]) == 40
    # entering again ends the silence
    back = evaluate(t, penalties(MARKET, workdays(date(2025, 5, 26), 1), first=21))
    assert [a.alert_id for a in by_rule(back, RULE_SILENT_UNIT, AlertStatus.RESOLVED)] == [
        alert.alert_id]


def test_a_quiet_unit_is_judged_by_its_own_rhythm() -> None:
    # one decision every 5 working days: silent only after 8 × 5 = 40 working days
    rhythm = workdays(date(2025, 1, 6), 13, every=5)
    t = tracker()
    quiet = penalties(TOBACCO, rhythm)
    assert t.threshold(TOBACCO) is None
    alerts = evaluate(t, county(date(2025, 1, 6), 100) + quiet)
    assert t.threshold(TOBACCO) == 40
    silent_since = CAL.working_days_between(rhythm[-1], workdays(date(2025, 1, 6), 100)[-1])
    assert silent_since == 39
    assert by_rule(alerts, RULE_SILENT_UNIT) == []
    later = evaluate(t, county(workdays(date(2025, 1, 6), 101)[-1], 2))
    assert [a.responsible_unit_code for a in by_rule(later, RULE_SILENT_UNIT)] == [TOBACCO]


def test_a_unit_without_history_or_a_county_read_unevenly_is_not_silent() -> None:
    t = tracker()
    # A unit with few decisions has no rhythm to judge.
    few = penalties(MARKET, workdays(date(2025, 3, 3), 5))
    # One unit read far ahead of the others (or a future-dated typo) moves no clock:
    # the county's clock is the median unit's.
    ahead = penalties(TOBACCO, workdays(date(2025, 3, 3), 30)
                      + workdays(date(2025, 11, 3), 15), first=1)
    alerts = evaluate(t, county(count=20) + few + ahead)
    assert by_rule(alerts, RULE_SILENT_UNIT) == []


# -- referrals never entered ----------------------------------------------------------


def test_feedback_about_a_referral_the_agency_never_entered_is_charged_to_it() -> None:
    t = tracker()
    ghost = case_id_for(MARKET, "演市监立〔2025〕99号")
    feedback = [received(at(2025, 3, 10, 15), case_id=ghost, number="演市监移〔2025〕9号"),
                decided(at(2025, 3, 12, 10), case_id=ghost,
                        referral_number="演市监移［2025］9号")]
    own = penalties(MARKET, workdays(date(2025, 3, 3), 30))
    alerts = evaluate(t, feedback + own)
    unentered = by_rule(alerts, RULE_UNENTERED_REFERRAL)
    assert len(unentered) == 1  # two records, one referral (the spellings agree)
    alert = unentered[0]
    assert alert.responsible_unit_code == MARKET
    assert alert.case_id == ghost
    assert alert.details["feedback_unit"] == COUNTY_PSB
    assert alert.due_date == CAL.add_working_days(date(2025, 3, 10), 10)
    # the agency enters it at last
    late = evaluate(t, [referred(at(2025, 3, 9, 10), case_id=ghost,
                                 number="演市监移〔2025〕9号")])
    assert [a.alert_id for a in by_rule(late, RULE_UNENTERED_REFERRAL,
                                        AlertStatus.RESOLVED)] == [alert.alert_id]


def test_an_entered_referral_and_an_agency_not_read_yet_raise_nothing() -> None:
    t = tracker()
    alerts = evaluate(t, [
        referred(at(2025, 3, 9, 10)),
        received(at(2025, 3, 10, 15)),
        # Another agency's referral: the agency's own entries have not been read yet
        # (its clock has not passed the grace), so its silence is not a missing entry.
        received(at(2025, 3, 10, 15), agency=TOBACCO, number="演烟移〔2025〕1号",
                 case_id=case_id_for(TOBACCO, "演烟立〔2025〕1号")),
        *penalties(TOBACCO, workdays(date(2025, 3, 3), 8)),
        *penalties(MARKET, workdays(date(2025, 3, 3), 30)),
    ])
    assert by_rule(alerts, RULE_UNENTERED_REFERRAL) == []


def test_a_judgment_quoting_a_referral_finds_its_agency_through_police_feedback() -> None:
    ghost = case_id_for(MARKET, "演市监立〔2025〕98号")
    court = judgment(at(2025, 3, 10, 10), case_id=ghost).model_copy(
        update={"referral_number": "演市监移〔2025〕8号"})
    t = tracker()
    alerts = evaluate(t, [court, *penalties(MARKET, workdays(date(2025, 3, 3), 30))])
    assert by_rule(alerts, RULE_UNENTERED_REFERRAL) == []  # whose referral? not known yet
    alerts = evaluate(t, [received(at(2025, 3, 11, 15), case_id=ghost,
                                   number="演市监移〔2025〕8号")])
    found = by_rule(alerts, RULE_UNENTERED_REFERRAL)
    assert [a.responsible_unit_code for a in found] == [MARKET]
    assert found[0].details["feedback_date"] == "2025-03-10"  # the judgment came first


# -- state ----------------------------------------------------------------------------


def test_the_state_survives_a_snapshot_and_resolves_what_was_raised_before() -> None:
    days = workdays(date(2025, 3, 3), 40)
    events = penalties(MARKET, days)
    t = tracker()
    raised = evaluate(t, county() + [e for i, e in enumerate(events) if i != 12])
    data = json.loads(json.dumps(t.to_dict()))
    restored = MissingEntryTracker.from_dict(data, load_missing_entry(), calendar=CAL,
                                             store=t.store)
    assert restored.open_alerts() == t.open_alerts()
    again = restored.evaluate(today=TODAY, hub_unit_code=HUB_UNIT, now=NOW)
    assert again == []  # nothing new to say after a restart
    resolved = evaluate(restored, [events[12]])
    gap = by_rule(raised, RULE_NUMBER_GAP)[0]
    assert [a.alert_id for a in resolved if a.status is AlertStatus.RESOLVED] == [gap.alert_id]
    assert resolved[0].event_id != gap.event_id


def test_a_restored_tracker_knows_the_same_series_and_gaps_as_the_live_one() -> None:
    """from_dict rebuilds each decision-number series at once; it must equal what the
    live tracker built number by number (numbers out of order, gaps of every size)."""
    days = workdays(date(2025, 3, 3), 60)
    events = penalties(MARKET, days, skip={3, 7, 8, 20, 21, 22, 23, 24, 25, 26, 27, 40})
    shuffled = events[::2] + events[1::2]  # later numbers before earlier ones
    t = tracker()
    evaluate(t, county() + shuffled)
    restored = MissingEntryTracker.from_dict(json.loads(json.dumps(t.to_dict())),
                                             load_missing_entry(), calendar=CAL,
                                             store=t.store)
    assert t._gap_pairs and any(t._gap_pairs.values())
    assert ({key: list(series.serials) for key, series in restored._series.items()}
            == {key: list(series.serials) for key, series in t._series.items()})
    assert restored._gap_pairs == t._gap_pairs
    assert restored._series_of == t._series_of


def test_thresholds_are_operator_data() -> None:
    loose = params(number_gaps={"grace_working_days": 200})
    alerts = evaluate(tracker(loose), penalties(MARKET, workdays(date(2025, 3, 3), 40),
                                                skip={13}))
    assert by_rule(alerts, RULE_NUMBER_GAP) == []
    rules = load_missing_entry()
    assert rules.silent_unit.operator_set and rules.number_gaps.operator_set
    assert "2018-02-13" in rules.silent_unit.source


@pytest.mark.parametrize("section", ["silent_unit", "number_gaps", "unentered_referrals"])
def test_every_section_names_its_documents(section: str) -> None:
    rule = getattr(load_missing_entry(), section)
    assert "银兴党办发〔2018〕18号" in rule.source
    assert rule.verified and rule.operator_set
    assert ".txt" not in rule.source and "DOMAIN.md" not in rule.source


def _gaps_by_full_scan(t: MissingEntryTracker, unit: str, today: date) -> set[str]:
    """The number gaps a unit has, found as the tracker found them before it indexed
    them: every series of the unit sorted, every pair of neighbours judged."""
    rule = t.parameters.number_gaps
    clock = min(t._clock[unit], today.isoformat())
    found: set[str] = set()
    for key, series in t._series.items():
        if not key.startswith(f"{unit}|"):
            continue
        present = sorted(series.serials)
        for below, above in itertools.pairwise(present):
            if above - below < 2 or above - below - 1 > rule.max_gap:
                continue
            seen_on, template = series.entry(above)
            due = CAL.add_working_days(date.fromisoformat(seen_on), rule.grace_working_days)
            if due.isoformat() < clock:
                found |= {template.replace("{n}", str(n)) for n in range(below + 1, above)}
    return found


@pytest.mark.parametrize("seed", range(6))
def test_indexed_gaps_and_candidates_find_what_a_full_scan_finds(seed: int) -> None:
    """Numbers arrive in random order, in two series and two years, with random holes;
    after every few, the indexed gaps equal a full scan's — also after a restore."""
    import random
    rng = random.Random(seed)
    t = tracker(params(number_gaps={"max_gap": 4}))
    days = workdays(date(2025, 3, 3), 60)
    serials = [n for n in range(1, 61) if rng.random() > 0.15]
    events = penalties(MARKET, days, skip=set(range(1, 61)) - set(serials))
    events += penalties(MARKET, days[:30], word="简罚", skip={3, 4, 9})
    events += penalties(TOBACCO, days[:20], skip={rng.randrange(1, 21)})
    rng.shuffle(events)
    for start in range(0, len(events), 7):
        t.observe_all(events[start:start + 7])
        if rng.random() < 0.3:  # restored from its snapshot: the indexes are rebuilt
            t = MissingEntryTracker.from_dict(json.loads(json.dumps(t.to_dict())),
                                              t.parameters, calendar=CAL, store=t.store)
        for unit in (MARKET, TOBACCO):
            if unit in t._clock:
                indexed = {facts["missing_number"] for facts in t._gaps(unit, TODAY).values()}
                assert indexed == _gaps_by_full_scan(t, unit, TODAY)
    assert _gaps_by_full_scan(t, MARKET, TODAY)  # the holes were judged, not none


def test_feedback_whose_referral_is_entered_later_stops_being_a_candidate() -> None:
    t = tracker()
    old = workdays(date(2025, 3, 3), 40)
    base = penalties(MARKET, old)
    feedback = received(at(2025, 3, 4, 10), case_id=case_id_for(COUNTY_PSB, "X1"),
                        number="青市监移〔2025〕5号")
    evaluate(t, [*base, feedback])
    assert t._maybe_unentered[MARKET]
    entered = referred(at(2025, 3, 4, 9), case_id=case_id_for(MARKET, "青市监罚〔2025〕5号"),
                       number="青市监移〔2025〕5号")
    evaluate(t, [entered])
    assert not t._maybe_unentered[MARKET]


@pytest.mark.parametrize("seed", range(4))
def test_feedback_on_entered_referrals_is_not_kept_and_the_findings_do_not_change(
        seed: int) -> None:
    """Feedback quoting an entered referral is never a finding, so the tracker does not
    keep it (it was most of a county's snapshot); in any arrival order, with snapshots
    taken on the way, only the referrals never entered are found, and only their
    feedback stays in the state."""
    import random
    rng = random.Random(seed)
    events: list[CaseEvent] = [*penalties(MARKET, workdays(date(2025, 3, 3), 40))]
    never = set(rng.sample(range(1, 21), 5))
    for number in range(1, 21):
        letter = f"青市监移〔2025〕{number}号"
        case_id = case_id_for(MARKET, f"青市监罚〔2025〕{number}号")
        events.append(received(at(2025, 3, 4, 10), case_id=case_id, number=letter))
        if number not in never:
            events.append(referred(at(2025, 3, 4, 9), case_id=case_id, number=letter))
    rng.shuffle(events)
    t = tracker()
    raised: list[Alert] = []
    for start in range(0, len(events), 9):
        raised += evaluate(t, events[start:start + 9])
        if rng.random() < 0.4:
            t = MissingEntryTracker.from_dict(json.loads(json.dumps(t.to_dict())),
                                              t.parameters, calendar=CAL, store=t.store)
    raised += evaluate(t, [])
    open_findings = {a.alert_id: a for a in raised if a.rule_id == RULE_UNENTERED_REFERRAL}
    for alert in raised:
        if alert.rule_id == RULE_UNENTERED_REFERRAL and alert.status is AlertStatus.RESOLVED:
            open_findings.pop(alert.alert_id, None)
    found = {a.details["referral_number"] for a in open_findings.values()}
    assert found == {f"青市监移〔2025〕{number}号" for number in never}
    assert set(t.to_dict()["feedback"]) == {
        unentered_referral_key(MARKET, f"青市监移〔2025〕{number}号") for number in never}


def test_a_snapshot_of_an_older_worker_moves_its_entered_referrals_to_the_store() -> None:
    """Older snapshots held the referrals entered, their cases and the numbers' agencies
    on the heap; restored, they are in the store, and feedback on such a referral is
    neither kept nor a finding, as before the restart."""
    ghost = case_id_for(MARKET, "演市监立〔2025〕97号")
    entered = referred(at(2025, 3, 9, 10), case_id=ghost, number="演市监移〔2025〕7号")
    t = tracker()
    evaluate(t, [entered, *penalties(MARKET, workdays(date(2025, 3, 3), 30))])
    older = t.to_dict() | {
        "entered": [unentered_referral_key(MARKET, "演市监移〔2025〕7号")],
        "entered_cases": [ghost], "agency_of": {"演市监移[2025]7号": MARKET}}
    restored = MissingEntryTracker.from_dict(json.loads(json.dumps(older)), t.parameters,
                                             calendar=CAL)
    assert restored.is_entered(unentered_referral_key(MARKET, "演市监移［2025］7号"))
    court = judgment(at(2025, 3, 10, 10), case_id=ghost).model_copy(
        update={"referral_number": "演市监移〔2025〕7号"})
    alerts = evaluate(restored, [court, *penalties(MARKET, workdays(date(2025, 4, 14), 20))])
    assert by_rule(alerts, RULE_UNENTERED_REFERRAL) == []
    assert restored.to_dict()["feedback"] == {}
    assert set(restored.to_dict()) == {"dates", "clock", "numbers", "feedback", "open",
                                       "county_clock"}

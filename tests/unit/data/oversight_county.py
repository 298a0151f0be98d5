"""The demo county's oversight facts, produced by the real logic modules (issue #14).

On top of ``tests.support.view_data.demo_events`` (the demo county's units, cases,
statistics): penalty series of three agencies fed to the real
:class:`MissingEntryTracker` (a skipped decision number, a silent unit, a referral the
police answered but the agency never entered), two penalties screened by the real
``screen_case`` with the shipped rule files (a hazardous-waste case of 2.634 t with a
¥72,000 fine, a fake-products case of ¥60,000 turnover), and one company penalised by
three units. Dates count back from ``today``, so the facts fall in the view's current
quarter whatever day the tests run.
"""

from __future__ import annotations

import dataclasses
import warnings
from datetime import date, datetime, time, timedelta

from hub.calendar import CHINA_TZ, UnknownCalendarYearWarning, WorkingDayCalendar
from hub.identity import case_id_for
from hub.models import (
    Alert,
    AlertKind,
    AlertStatus,
    CaseEvent,
    CaseStage,
    Party,
    PartyCategory,
    PenaltyCaseRecorded,
    Quantity,
)
from hub.rules import (
    load_screening,
    load_thresholds,
    load_violation_offences,
    load_violation_types,
)
from hub.rules.missing_entry import load_missing_entry
from streams.missing_entry_logic import MissingEntryTracker
from streams.screening_assessment import ScreeningRules
from streams.screening_logic import screen_case
from tests.support.view_data import (
    ENVIRONMENT,
    MARKET,
    POLICE,
    PROCURATORATE,
    TOBACCO,
    CaseSpec,
    case_spec,
    company_code,
    demo_events,
)
from tests.unit.data.case_events import decided

CALENDAR = WorkingDayCalendar()

#: The company three units penalised (a repeat offender no single export shows).
REPEAT_PARTY = Party(name="演示县恒达化工有限公司", category=PartyCategory.LEGAL_PERSON,
                     credit_code=company_code(9001))
WASTE_TONNES = "2.634"
WASTE_FINE_FEN = 7_200_000
#: The referral the police answered and the market bureau never entered.
UNENTERED_REFERRAL = "演市监稽移〔{year}〕9号"


@dataclasses.dataclass(frozen=True)
class OversightCounty:
    """The events to feed the view, and what a reader must find on its front page."""

    events: list[CaseEvent]
    missing_number: str
    silent_unit: str
    gap_unit: str
    unentered_referral: str
    waste_case_id: str
    fake_case_id: str


def _working_days_back(end: date, count: int, every: int) -> list[date]:
    """``count`` working days ending at or before ``end``, ``every`` working days apart."""
    day = end
    while not CALENDAR.is_working_day(day):
        day -= timedelta(days=1)
    days = [day]
    while len(days) < count:
        day -= timedelta(days=1)
        skipped = 0
        while skipped < every - 1 or not CALENDAR.is_working_day(day):
            if CALENDAR.is_working_day(day):
                skipped += 1
            day -= timedelta(days=1)
        days.append(day)
    return sorted(days)


def _spec(index: int, owner: str, day: date, number: str, party: Party | None = None
          ) -> CaseSpec:
    base = case_spec(index, today=day + timedelta(days=1))
    return dataclasses.replace(base, owner=owner, decided_on=day, decision_number=number,
                               stage=CaseStage.RECORDED, referral_number=None,
                               police_case_number=None, party=party or base.party)


def _series(first_index: int, owner: str, word: str, days: list[date],
            skip: frozenset[int] = frozenset()) -> list[CaseSpec]:
    return [_spec(first_index + serial, owner, day, f"{word}〔{day.year}〕{serial}号")
            for serial, day in enumerate(days, start=1) if serial not in skip]


def _events(specs: list[CaseSpec]) -> list[CaseEvent]:
    return [event for spec in specs for event in (spec.penalty(), spec.state())]


def _rules() -> ScreeningRules:
    return ScreeningRules(thresholds=load_thresholds(), violation_types=load_violation_types(),
                          violation_offences=load_violation_offences(),
                          screening=load_screening())


def _screened(penalty: PenaltyCaseRecorded, now: datetime) -> list[Alert]:
    result = screen_case([penalty], now, rules=_rules(), hub_unit_code=PROCURATORATE)
    return [state.alert for state in result.alerts]


def oversight_county(today: date) -> OversightCounty:
    """The oversight facts of the demo county as of ``today`` (China date)."""
    now = datetime.combine(today, time(9, 0), tzinfo=CHINA_TZ)
    last = today - timedelta(days=3)
    # Environment: 15 numbers, 5 never entered; market: daily entries to the end.
    environment_days = _working_days_back(last, 15, 2)
    environment = _series(2000, ENVIRONMENT, "演环罚", environment_days, frozenset({5}))
    market = _series(2100, MARKET, "演市监稽罚", _working_days_back(last, 20, 1))
    # Tobacco: a steady rhythm that stopped about four months ago.
    tobacco = _series(2200, TOBACCO, "演烟罚",
                      _working_days_back(today - timedelta(days=120), 14, 2))
    specs = environment + market + tobacco
    # The company three units penalised.
    repeat = [dataclasses.replace(spec, party=REPEAT_PARTY)
              for spec in (market[0], tobacco[0], environment[0])]
    specs = [next((r for r in repeat if r.index == s.index), s) for s in specs]

    # Screening leads from the shipped rules: 2.634 t of hazardous waste (early
    # intervention at 87.8% of 3 t), the fine ¥72,000; fake products at ¥60,000.
    waste_day = today - timedelta(days=20)
    waste_spec = _spec(2300, ENVIRONMENT, waste_day, f"演环罚〔{waste_day.year}〕301号",
                       REPEAT_PARTY)
    waste = waste_spec.penalty().model_copy(update={
        "violation_type": "非法处置危险废物", "violation_type_code": "ENV-HAZARDOUS-WASTE",
        "enforcement_domain": "environment", "fine_amount_fen": WASTE_FINE_FEN,
        "illegal_turnover_fen": None,
        "quantities": [Quantity(name="危险废物", value=WASTE_TONNES, unit="吨")]})
    fake_day = today - timedelta(days=30)
    fake_spec = _spec(2301, MARKET, fake_day, f"演市监罚〔{fake_day.year}〕901号")
    fake = fake_spec.penalty().model_copy(update={
        "violation_type": "销售伪劣产品", "violation_type_code": "MR-FAKE-PRODUCT",
        "enforcement_domain": "market_regulation", "illegal_turnover_fen": 6_000_000})
    leads = _screened(waste, now) + _screened(fake, now)
    assert {alert.kind for alert in leads} == {AlertKind.EARLY_INTERVENTION_CANDIDATE,
                                               AlertKind.SUSPECTED_NON_REFERRAL}

    # Missing entries from the real tracker (police feedback is not a view input: only
    # the alert it leads to reaches the view).
    tracker = MissingEntryTracker(load_missing_entry(), calendar=CALENDAR)
    penalties = [spec.penalty() for spec in specs]
    tracker.observe_all(penalties)
    feedback_day = today - timedelta(days=45)
    referral = UNENTERED_REFERRAL.format(year=feedback_day.year)
    tracker.observe(decided(datetime.combine(feedback_day, time(10), tzinfo=CHINA_TZ),
                            case_id=case_id_for(POLICE, "演公立〔9〕"), police=POLICE,
                            referral_number=referral, agency=MARKET,
                            police_case_number="J4299000000909"))
    # Built around today's date: late in a year a silent unit's deadline reaches the
    # next one, whose holiday schedule the State Council may not have published yet. The
    # hub then counts Monday-Friday and warns (test_calendar_warning.py holds it to
    # that); these tests are about the board, not the calendar.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownCalendarYearWarning)
        missing = [alert for alert in tracker.evaluate(today=today,
                                                        hub_unit_code=PROCURATORATE, now=now)
                   if alert.status is AlertStatus.RAISED]
    events = [*_events(specs), waste, waste_spec.state(), fake, fake_spec.state()]
    events += leads + missing
    return OversightCounty(
        events=events,
        missing_number=f"演环罚〔{environment_days[4].year}〕5号",
        silent_unit=TOBACCO, gap_unit=ENVIRONMENT, unentered_referral=referral,
        waste_case_id=waste_spec.case_id, fake_case_id=fake_spec.case_id,
    )


_PLACEHOLDER_LEADS = (AlertKind.SUSPECTED_NON_REFERRAL, AlertKind.EARLY_INTERVENTION_CANDIDATE)


def demo_county_events(count: int, today: date) -> tuple[list[CaseEvent], OversightCounty]:
    """``demo_events`` with its placeholder leads (no screening details) replaced by the
    leads the real screening raised, plus the oversight facts above."""
    county = oversight_county(today)
    base = [event for event in demo_events(count, today=today)
            if not (isinstance(event, Alert) and event.kind in _PLACEHOLDER_LEADS)]
    return base + county.events, county

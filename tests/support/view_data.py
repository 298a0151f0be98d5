"""Fictional cases, alerts, statistics and feedback for the view's tests and benchmark.

Built with the real event models (validators on), so a test feeds the view what the
streams would produce. Units come from the demo county's registry; parties are invented,
with valid check characters.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from hub.identity import (
    case_id_for,
    credit_code_check_char,
    event_id_for,
    resident_id_check_char,
)
from hub.models import (
    Alert,
    AlertKind,
    AlertSeverity,
    AlertStatus,
    CaseEvent,
    CaseStage,
    CaseState,
    FeedbackUnmatched,
    IdDocumentType,
    MatchCandidate,
    MatchMethod,
    Party,
    PartyCategory,
    PenaltyCaseRecorded,
    PenaltyCategory,
    PenaltyProcedure,
    TimelineEntry,
    UnitMonthlyStats,
)
from hub.view import apply
from hub.view.units import UnitDirectory

CHINA = ZoneInfo("Asia/Shanghai")

MARKET = "11429901030089405N"  # 演示县市场监督管理局
TOBACCO = "11429901030247784L"  # 演示县烟草专卖局
ENVIRONMENT = "114299010303269761"  # 演示县生态环境分局
POLICE = "11429901031277256Q"  # 演示县公安局
ECONOMIC_POLICE = "114299010313564485"  # 经济犯罪侦查大队
PROCURATORATE = "11429901031594016T"  # 演示县人民检察院
AGENCIES = (MARKET, TOBACCO, ENVIRONMENT)

PENALTY = PenaltyCaseRecorded.avro_name
_VIOLATIONS = ("销售假冒伪劣产品", "无证经营卷烟", "超标排放污染物", "虚假宣传", "非法经营")
_SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨"
_GIVEN = ("伟", "芳", "娜", "敏", "静", "强", "磊", "洋", "勇", "艳", "杰", "军")


def resident_id(index: int) -> str:
    """A valid-looking fictional resident ID (division 429901, born 1980–1999)."""
    born = date(1980, 1, 1) + timedelta(days=(index * 37) % 7000)
    first17 = f"429901{born:%Y%m%d}{index % 1000:03d}"
    return first17 + resident_id_check_char(first17)


def company_code(index: int) -> str:
    """A fictional unified social credit code of a company (type 91, division 429901)."""
    first17 = f"91429901MA{index:07d}"[:17]
    return first17 + credit_code_check_char(first17)


def person_name(index: int) -> str:
    """A fictional name."""
    return _SURNAMES[index % len(_SURNAMES)] + _GIVEN[(index // 16) % len(_GIVEN)] + (
        _GIVEN[(index // 7) % len(_GIVEN)] if index % 3 else ""
    )


def company_name(index: int) -> str:
    """A fictional company name."""
    return f"演示县第{index}商贸有限公司"


def _instant(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour, 0), tzinfo=CHINA)


def _header(source: str, key: str, occurred: datetime, case_id: str) -> dict[str, object]:
    return {
        "event_id": event_id_for("test", key, key),
        "case_id": case_id,
        "source_unit": source,
        "occurred_at": occurred,
        "recorded_at": occurred + timedelta(hours=2),
        "source_system": "view-tests",
        "source_record": key,
        "connector_id": "view-tests",
    }


@dataclass(frozen=True)
class CaseSpec:
    """A fictional case: the penalty record and the case state the aggregate would emit."""

    index: int
    owner: str
    decided_on: date
    stage: CaseStage
    violation_type: str
    amount_fen: int
    party: Party
    decision_number: str
    referral_number: str | None
    police_case_number: str | None

    @property
    def case_id(self) -> str:
        return case_id_for(self.owner, self.decision_number)

    def penalty(self) -> PenaltyCaseRecorded:
        occurred = _instant(self.decided_on, 0)
        return PenaltyCaseRecorded(
            **_header(self.owner, f"penalty:{self.index}", occurred, self.case_id),
            decision_number=self.decision_number,
            agency_case_number=f"AJ-{self.index:07d}",
            procedure=PenaltyProcedure.GENERAL,
            parties=[self.party],
            violation_type=self.violation_type,
            violation_facts=f"演示案件{self.index}：{self.violation_type}（虚构）",
            legal_basis="《中华人民共和国产品质量法》第五十条（演示）",
            penalty_categories=[PenaltyCategory.FINE],
            penalty_content="罚款",
            fine_amount_fen=self.amount_fen // 2,
            illegal_turnover_fen=self.amount_fen,
            decision_date=self.decided_on,
            deciding_authority="演示执法机关",
            deciding_authority_code=self.owner,
            data_source_unit="演示执法机关",
            data_source_unit_code=self.owner,
        )

    def timeline(self) -> list[TimelineEntry]:
        entries = [
            TimelineEntry(
                event_id=event_id_for("test", f"penalty:{self.index}", "t"),
                event_type=PENALTY,
                occurred_at=_instant(self.decided_on, 0),
                unit_code=self.owner,
                summary=f"作出行政处罚决定 {self.decision_number}",
            )
        ]
        if self.referral_number:
            entries.append(
                TimelineEntry(
                    event_id=event_id_for("test", f"referral:{self.index}", "t"),
                    event_type="cn.liangfa.events.CaseReferred",
                    occurred_at=_instant(self.decided_on + timedelta(days=2)),
                    unit_code=self.owner,
                    summary=f"移送公安机关 {self.referral_number}",
                )
            )
        if self.police_case_number:
            entries.append(
                TimelineEntry(
                    event_id=event_id_for("test", f"filing:{self.index}", "t"),
                    event_type="cn.liangfa.events.FilingDecided",
                    occurred_at=_instant(self.decided_on + timedelta(days=6)),
                    unit_code=POLICE,
                    summary=f"立案 {self.police_case_number}",
                )
            )
        return entries

    def state(self) -> CaseState:
        timeline = self.timeline()
        last = timeline[-1].occurred_at
        units = [self.owner] + ([POLICE] if self.referral_number else [])
        return CaseState(
            **_header(PROCURATORATE, f"state:{self.index}:{len(timeline)}", last, self.case_id),
            stage=self.stage,
            owning_unit_code=self.owner,
            decision_number=self.decision_number,
            agency_case_number=f"AJ-{self.index:07d}",
            referral_number=self.referral_number,
            police_case_number=self.police_case_number,
            parties=[self.party],
            timeline=timeline,
            units_involved=units,
            last_event_at=last,
        )


def case_spec(index: int, *, today: date | None = None) -> CaseSpec:
    """The index-th fictional case: deterministic, spread over units, stages and years."""
    rng = random.Random(index)
    today = today or datetime.now(UTC).astimezone(CHINA).date()
    # at least a week back: the police's filing comes six days after the decision, and an
    # event dated after today is refused (found by a case decided yesterday)
    decided = today - timedelta(days=rng.randrange(1, 3 * 365) + 7)
    owner = AGENCIES[index % len(AGENCIES)]
    referred = index % 4 == 0
    filed = referred and index % 8 == 0
    stage = CaseStage.FILED if filed else CaseStage.REFERRED if referred else CaseStage.RECORDED
    if index % 2:
        party = Party(
            name=company_name(index),
            category=PartyCategory.LEGAL_PERSON,
            credit_code=company_code(index),
            legal_representative=person_name(index + 7),
            legal_representative_id_type=IdDocumentType.RESIDENT_ID,
            legal_representative_id_number=resident_id(index + 7),
        )
    else:
        party = Party(
            name=person_name(index),
            category=PartyCategory.NATURAL_PERSON,
            id_type=IdDocumentType.RESIDENT_ID,
            id_number=resident_id(index),
        )
    return CaseSpec(
        index=index,
        owner=owner,
        decided_on=decided,
        stage=stage,
        violation_type=_VIOLATIONS[index % len(_VIOLATIONS)],
        amount_fen=rng.randrange(1_000, 20_000_000) * 100,
        party=party,
        decision_number=f"演市监罚〔{decided.year}〕{index}号",
        referral_number=f"演移〔{decided.year}〕{index}号" if referred else None,
        police_case_number=f"J42990{index:08d}" if filed else None,
    )


def alert_for(spec: CaseSpec, kind: AlertKind, *, responsible: str | None = None,
              status: AlertStatus = AlertStatus.RAISED, raised: date | None = None) -> Alert:
    """An alert on a case, as the deadline monitor or the screening would raise it."""
    raised_on = raised or spec.decided_on + timedelta(days=5)
    alert_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"alert:{spec.case_id}:{kind.value}"))
    return Alert(
        **_header(PROCURATORATE, f"alert:{alert_id}:{status.value}",
                  _instant(raised_on), spec.case_id),
        alert_id=alert_id,
        kind=kind,
        severity=AlertSeverity.CRITICAL if kind.value.endswith("OVERDUE") else
        AlertSeverity.WARNING,
        status=status,
        responsible_unit_code=responsible or spec.owner,
        rule_id=f"rule.{kind.value.lower()}",
        legal_source="国务院令第310号 第八条",
        due_date=raised_on - timedelta(days=1),
        message=f"演示预警：{kind.value}",
        details={"threshold": "50000"},
    )


def stats_for(unit: str, month: str, entered: int, late: int, referrals: int) -> UnitMonthlyStats:
    """A unit's monthly figures."""
    year, number = int(month[:4]), int(month[5:])
    occurred = datetime(year, number, 1, tzinfo=CHINA)
    return UnitMonthlyStats(
        **_header(PROCURATORATE, f"stats:{unit}:{month}", occurred,
                  case_id_for(unit, "stats:" + month)),
        unit_code=unit,
        month=month,
        penalty_cases_entered=entered,
        penalty_cases_entered_late=late,
        referrals=referrals,
        receipts=referrals,
        filing_decisions=max(referrals - 1, 0),
        alerts_raised=late,
        feedback_rate=0.5 if referrals else None,
        median_days_to_decision=4.0 if referrals else None,
        arrest_requests=1,
        transfers_for_prosecution=max(referrals - 2, 0),
    )


def unmatched_for(spec: CaseSpec, index: int) -> FeedbackUnmatched:
    """Police feedback quoting the case's referral number under a police-side case id."""
    feedback_event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"feedback:{index}"))
    police_case_id = case_id_for(POLICE, f"J-unmatched-{index}")
    content = {
        "decision": "FILED",
        "police_case_number": f"J-unmatched-{index}",
        "referral_number": spec.referral_number,
        "parties": [spec.party.model_dump(mode="json")],
    }
    return FeedbackUnmatched(
        **_header(POLICE, f"unmatched:{index}", _instant(spec.decided_on + timedelta(days=9)),
                  police_case_id),
        feedback_event_id=feedback_event_id,
        feedback_type="cn.liangfa.events.FilingDecided",
        feedback_unit_code=POLICE,
        police_case_number=f"J-unmatched-{index}",
        referral_number=spec.referral_number,
        feedback_json=json.dumps(content, ensure_ascii=False),
        candidates=[
            MatchCandidate(case_id=spec.case_id, score=0.6, method=MatchMethod.REFERRAL_NUMBER,
                           reason="移送书文号相近")
        ],
    )


def apply_events(session: Session, events: Iterable[CaseEvent], units: UnitDirectory) -> None:
    """Apply events to the store the way the consumer does, without Kafka."""
    for event in events:
        if not apply.apply_event(session, event, units):
            raise TypeError(f"the view does not consume {type(event).__name__}")


def demo_events(count: int = 40, *, today: date | None = None) -> list[CaseEvent]:
    """A small consistent world: cases, alerts, leads, statistics and unmatched feedback."""
    today = today or datetime.now(UTC).astimezone(CHINA).date()
    events: list[CaseEvent] = []
    specs = [case_spec(index, today=today) for index in range(count)]
    for spec in specs:
        events += [spec.penalty(), spec.state()]
    for spec in specs[:count // 4]:
        kind = AlertKind.FILING_DECISION_OVERDUE if spec.referral_number else AlertKind.LATE_ENTRY
        events.append(alert_for(spec, kind, responsible=POLICE if spec.referral_number else None))
    for spec in specs[count // 4: count // 4 + 3]:
        events.append(alert_for(spec, AlertKind.SUSPECTED_NON_REFERRAL))
    month = today.replace(day=1)
    for back in range(12):
        first = (month - timedelta(days=back * 30)).replace(day=1)
        for offset, unit in enumerate(AGENCIES):
            events.append(stats_for(unit, f"{first:%Y-%m}", 20 + offset * 3 + back % 5,
                                    (back + offset) % 4, 1 + (back + offset) % 3))
    referred = [spec for spec in specs if spec.referral_number and not spec.police_case_number]
    for index, spec in enumerate(referred[:2]):
        events.append(unmatched_for(spec, index))
    return events

"""Generate Demo County 演示县: fictional source-system exports with planted gaps.

Each member unit's export is written in that source system's *own* format (the connectors
map them): agencies' 双公示 penalty CSV/XLSX drops and referral-system CSVs, the police
case system's feedback API pages (JSON), the procuratorate's outbox table (SQLite) and the
court's judgment XML. Gaps are planted on purpose (late entries, missing receipts, late
filing decisions, feedback with only the police's own case number, unanswered
recommendations, criminal-sized penalties never referred, bad rows) and listed in
``manifest.json`` with the ``case_id`` the hub derives and the alert it must raise.

Usage::

    python -m deploy.demo.generate OUT_DIR [--seed 2026] [--cases 10000]

The run is deterministic: the same seed, size and dates give byte-identical files.
Expectations that depend on hub rule data (thresholds, matching scores, clocks) are
computed from the rule files in force (``hub/rules/``), so the manifest stays right when
an operator tunes them.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import math
import random
import statistics
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import yaml

from deploy.demo import writers
from deploy.demo.identities import IdentityFactory, Party
from deploy.demo.manifest import (
    ALERT_KINDS,
    ActTally,
    DemoManifest,
    ExportFile,
    FeedbackExpectation,
    Gap,
    PendingClock,
    SourceRef,
)
from deploy.demo.violations import ViolationType, load_catalogue
from hub.calendar import WorkingDayCalendar, add_months, load_calendar_overrides
from hub.identity import case_id_for, sole_trader_placeholder
from hub.rules.missing_entry import load_missing_entry
from hub.rules.screening import load_matching, load_screening
from hub.rules.thresholds import load_thresholds
from hub.rules.violations import load_violation_offences

__all__ = [
    "COUNTY_FILE",
    "DEFAULT_END",
    "DEFAULT_START",
    "PENALTY_COLUMNS",
    "PENALTY_COLUMNS_TEMPLATE_2021",
    "UNITS_FILE",
    "County",
    "Unit",
    "generate",
    "load_units",
    "main",
]

logger = logging.getLogger(__name__)

CHINA = ZoneInfo("Asia/Shanghai")
UNITS_FILE = Path(__file__).with_name("units.yaml")
COUNTY_FILE = Path(__file__).with_name("county.yaml")
DEFAULT_START = date(2024, 1, 1)
DEFAULT_END = date(2025, 12, 31)
_TEN_THOUSAND = Decimal(10000)
_MICRO = Decimal("0.000001")
_CENT = Decimal("0.01")

#: The national 双公示 penalty columns as DOMAIN.md words them, then the agencies' own
#: additions (violation code, procedure, figures for screening, entry date).
PENALTY_COLUMNS: tuple[str, ...] = (
    "行政相对人名称",
    "行政相对人类别",
    "行政相对人代码_1",
    "行政相对人代码_2",
    "行政相对人代码_3",
    "行政相对人代码_4",
    "行政相对人代码_5",
    "行政相对人代码_6",
    "法定代表人",
    "法定代表人证件类型",
    "法定代表人证件号码",
    "证件类型",
    "证件号码",
    "行政处罚决定书文号",
    "违法行为类型",
    "违法事实",
    "处罚依据",
    "处罚类别",
    "处罚内容",
    "罚款金额（万元）",
    "没收违法所得、没收非法财物的金额（万元）",
    "暂扣或吊销证照名称及编号",
    "处罚决定日期",
    "处罚有效期",
    "公示截止期",
    "处罚机关",
    "处罚机关统一社会信用代码",
    "数据来源单位",
    "数据来源单位统一社会信用代码",
    "备注",
    "违法行为类型代码",
    "程序类型",
    "执法领域",
    "行政区划代码",
    "违法经营额（万元）",
    "违法所得（万元）",
    "涉案物品",
    "涉案数量",
    "数量单位",
    # 执行到位 (issue #13, item 7): empty unless the system states it
    "执行情况",
    "执行到位日期",
    "录入日期",
)
#: The same columns as the 2021 national template spells them (ASCII parentheses, the
#: code columns' meaning in the header): one agency's system exports this variant.
PENALTY_COLUMNS_TEMPLATE_2021: tuple[str, ...] = tuple(
    {
        "行政相对人代码_1": "行政相对人代码_1(统一社会信用代码)",
        "行政相对人代码_2": "行政相对人代码_2(工商注册号)",
        "行政相对人代码_3": "行政相对人代码_3(组织机构代码)",
        "行政相对人代码_4": "行政相对人代码_4(税务登记号)",
        "行政相对人代码_5": "行政相对人代码_5(事业单位证书号)",
        "行政相对人代码_6": "行政相对人代码_6(社会组织登记证号)",
        "罚款金额（万元）": "罚款金额(万元)",
        "没收违法所得、没收非法财物的金额（万元）": "没收违法所得、没收非法财物的金额(万元)",
    }.get(name, name)
    for name in PENALTY_COLUMNS
)
REFERRAL_COLUMNS: tuple[str, ...] = (
    "移送书文号",
    "案件编号",
    "行政处罚决定书文号",
    "案件名称",
    "移送单位",
    "移送单位统一社会信用代码",
    "行政区划代码",
    "执法领域",
    "接收单位",
    "接收单位代码",
    "当事人名称",
    "当事人类别",
    "当事人统一社会信用代码",
    "法定代表人",
    "法定代表人证件类型",
    "法定代表人证件号码",
    "当事人证件类型",
    "当事人证件号码",
    "违法行为类型代码",
    "涉嫌罪名",
    "涉案金额（万元）",
    "涉案物品",
    "涉案数量",
    "数量单位",
    "审批日期",
    "移送日期",
    "移送材料",
    "是否抄送检察院",
    "录入日期",
    "备注",
)
HANDOVER_COLUMNS: tuple[str, ...] = (
    "移交清单编号",
    "移送书文号",
    "行政处罚决定书文号",
    "案件编号",
    "接收单位",
    "接收单位代码",
    "公安案件编号",
    "移交日期",
    "移交物品",
    "物品数量",
    "计量单位",
    "录入日期",
    "备注",
)
RECONSIDERATION_COLUMNS: tuple[str, ...] = (
    "申请类型",
    "复议申请书文号",
    "移送书文号",
    "行政处罚决定书文号",
    "案件编号",
    "公安机关",
    "公安机关代码",
    "公安案件编号",
    "检察院代码",
    "不予立案通知书文号",
    "申请日期",
    "复议理由",
    "录入日期",
)
REPLY_COLUMNS: tuple[str, ...] = (
    "回复文号",
    "来文类型",
    "来文文号",
    "来文单位",
    "来文单位代码",
    "行政处罚决定书文号",
    "案件编号",
    # the case's unit when it is not the exporting unit's own (feedback on a lead)
    "案件所属单位代码",
    "采纳情况",
    "整改落实日期",
    "回复内容",
    "回复日期",
    "录入日期",
)
#: An agency's invitations to intervene early 邀请提前介入 (issue #13, item 3).
INVITATION_COLUMNS: tuple[str, ...] = (
    "邀请编号",
    "受邀单位",
    "受邀单位代码",
    "行政处罚决定书文号",
    "案件编号",
    "邀请理由",
    "邀请日期",
    "录入日期",
)
CONSULTATION_COLUMNS: tuple[str, ...] = (
    "咨询编号",
    "被咨询单位",
    "被咨询单位代码",
    "行政处罚决定书文号",
    "案件编号",
    "咨询事项",
    "咨询日期",
    "录入日期",
)
#: An agency's open-case register 立案登记 / 在办案件 with the amounts found so far
#: (issue #13, item 3; preset agency-open-cases). No 录入日期: the register is a snapshot.
OPEN_CASE_COLUMNS: tuple[str, ...] = (
    "立案编号",
    "立案日期",
    "办案机关",
    "当事人名称",
    "当事人类别",
    "统一社会信用代码",
    "证件类型",
    "证件号码",
    "法定代表人",
    "案由",
    "违法行为类型代码",
    "执法领域",
    "简要案情",
    "涉案金额（元）",
    "更新日期",
)
#: Shares of the sales threshold of the demo's open cases: the first is planted at the
#: early-intervention share (its alert is a gap), the others stay below it.
OPEN_CASE_SHARES = (Decimal("0.85"), Decimal("0.5"), Decimal("0.3"))
PACKAGE_ITEMS = (
    "涉嫌犯罪案件移送书",
    "涉嫌犯罪案件调查报告",
    "涉案物品清单",
    "检验报告或者鉴定意见",
    "其他有关材料",
)
FEEDBACK_TYPES: dict[str, str] = {
    "receipt": "回执",
    "filing_decision": "立案决定",
    "not_filed": "不予立案",
    "reconsideration_decision": "复议决定",
    "non_filing_reasons": "不立案理由说明",
    "arrest_request": "提请逮捕",
    "transfer_for_prosecution": "移送起诉",
    "consultation_answer": "咨询答复",
}
OUTBOX_TYPES: dict[str, tuple[str, str]] = {
    "ReferralSuggested": ("建议移送", "SUGGEST_REFERRAL"),
    "NonFilingReasonsRequested": ("要求说明不立案理由", "REQUIRE_NON_FILING_REASONS"),
    "FilingOrdered": ("通知立案", "ORDER_FILING"),
    "ArrestDecided": ("审查逮捕决定", "ARREST_DECISION"),
    "ProsecutionDecided": ("审查起诉决定", "PROSECUTION_DECISION"),
    "RecommendationIssued": ("检察建议", "RECOMMENDATION"),
    "OpinionIssued": ("检察意见", "OPINION"),
    "EarlyInterventionAttended": ("提前介入", "EARLY_INTERVENTION"),
    "CorrectionNoticeIssued": ("纠正违法通知书", "CORRECTION_NOTICE"),
    "ProsecutionUrged": ("督促起诉意见书", "URGE_PROSECUTION"),
    "LeadTransferred": ("线索移送", "LEAD_TRANSFER"),
    # the procuratorate's own feedback 线索接受反馈 on a public-interest litigation lead:
    # an AgencyReplied quoting the lead (procuratorate-outbox preset), not an act
    "LeadFeedbackGiven": ("线索接受反馈", "LEAD_FEEDBACK"),
}
#: Leads 线索移送 the demo plants (issue #13, item 4): destination -> (the receiving unit's
#: role, the act's name in the manifest and ``demo check``, what the lead is about).
LEAD_DESTINATIONS: dict[str, tuple[str, str, str]] = {
    "SUPERVISION_COMMISSION": (
        "supervision_commission", "LEAD_SUPERVISION_COMMISSION",
        "办理该案中发现执法人员涉嫌滥用职权、以罚代刑的问题线索，移送你委依法处置，并请反馈处理结果。"),
    "JUSTICE_BUREAU": (
        "justice_bureau", "LEAD_JUSTICE_BUREAU",
        "该案行政执法程序存在违法问题，移送行政执法监督线索，请依法监督并反馈处理结果。"),
}
#: The public-interest litigation lead 公益诉讼线索 (destination PUBLIC_INTEREST_LITIGATION):
#: the act's name in the manifest and ``demo check``, and what the lead is about.
PUBLIC_INTEREST_LEAD: tuple[str, str] = (
    "LEAD_PUBLIC_INTEREST_LITIGATION",
    "该案违法行为损害社会公共利益（食品药品安全、生态环境），移送公益诉讼线索，请审查并反馈处理结果。")
#: Outbox types whose letter the addressee must answer (a reply clock, deadlines.yaml),
#: with the 来文类型 its reply names.
ANSWERED_OUTBOX_TYPES: dict[str, str] = {
    "ReferralSuggested": "建议移送",
    "RecommendationIssued": "检察建议",
    "OpinionIssued": "检察意见",
    "CorrectionNoticeIssued": "纠正违法通知书",
    "ProsecutionUrged": "督促起诉意见书",
}
CASE_ID_RULE = (
    "case_id = hub.identity.case_id_for(<referring/deciding agency code>, "
    "<行政处罚决定书文号 when the record has one, else the agency's 案件编号>)"
)


# --------------------------------------------------------------------------- units


@dataclass(frozen=True, slots=True)
class County:
    """The demo county (``county:`` of units.yaml)."""

    name: str
    name_en: str
    division_code: str


@dataclass(frozen=True, slots=True)
class Unit:
    """A member unit as units.yaml describes it."""

    code: str
    name: str
    name_en: str
    kind: str
    role: str
    domains: tuple[str, ...]
    division: str
    parent: str | None


def load_units(
    path: Path = UNITS_FILE, county_path: Path = COUNTY_FILE
) -> tuple[County, list[Unit]]:
    """The county (``county.yaml``) and its units (``units.yaml``), read as plain YAML.

    The hub validates the same units file with its registry model (``hub/units.py``); the
    generator only needs the fields, so it reads them directly and keeps working while
    that model evolves (it accepts ``jurisdiction`` for ``division``).
    """
    with county_path.open(encoding="utf-8") as handle:
        county_data = yaml.safe_load(handle)["county"]
    county = County(**{key: str(value) for key, value in county_data.items()})
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    units = [
        Unit(
            code=str(entry["code"]),
            name=entry["name"],
            name_en=entry["name_en"],
            kind=entry["kind"],
            role=entry["role"],
            domains=tuple(entry.get("domains") or ()),
            division=str(entry.get("division") or entry["jurisdiction"]),
            parent=None if entry.get("parent") is None else str(entry["parent"]),
        )
        for entry in data["units"]
    ]
    return county, units


@dataclass(frozen=True, slots=True)
class AgencyStyle:
    """How one agency's case system numbers documents and writes its exports."""

    abbreviation: str
    volume: float
    file_format: str
    encoding: str
    date_format: str
    amount_style: str
    header_variant: str = "domain"
    line_terminator: str = "\r\n"
    referral_propensity: float = 1.0


#: Keyed by unit name (agencies share the role ``enforcement_agency``).
AGENCY_STYLES: dict[str, AgencyStyle] = {
    "演示县市场监督管理局": AgencyStyle(
        "市监", 0.16, "csv", "gbk", "%Y-%m-%d", "trim", referral_propensity=3.0
    ),
    "演示县市场监督管理局城关市场监督管理所": AgencyStyle(
        "市监城关", 0.08, "csv", "utf-8-sig", "%Y-%m-%d", "trim", referral_propensity=1.5
    ),
    "演示县烟草专卖局": AgencyStyle(
        "烟", 0.05, "csv", "gbk", "%Y/%m/%d", "fixed", referral_propensity=2.5
    ),
    "演示县生态环境分局": AgencyStyle(
        "环", 0.07, "csv", "gb18030", "%Y-%m-%d", "trim", referral_propensity=1.5
    ),
    "演示县林业局": AgencyStyle(
        "林", 0.04, "csv", "gbk", "%Y/%m/%d", "trim", referral_propensity=2.5
    ),
    "演示县自然资源和规划局": AgencyStyle(
        "自然资", 0.04, "csv", "gbk", "%Y-%m-%d", "fixed", referral_propensity=1.5
    ),
    "国家税务总局演示县税务局": AgencyStyle("税稽", 0.09, "xlsx", "gb18030", "%Y-%m-%d", "trim"),
    "演示县应急管理局": AgencyStyle("应急", 0.05, "xlsx", "gb18030", "%Y/%m/%d", "trim"),
    "演示县农业农村局": AgencyStyle(
        "农", 0.035, "csv", "gbk", "%Y/%m/%d", "trim", referral_propensity=1.5
    ),
    "演示县卫生健康局": AgencyStyle(
        "卫",
        0.05,
        "csv",
        "utf-8",
        "%Y-%m-%d",
        "trim",
        line_terminator="\n",
        referral_propensity=0.5,
    ),
    "演示县人力资源和社会保障局": AgencyStyle(
        "人社", 0.03, "csv", "gb18030", "%Y-%m-%d", "fixed", referral_propensity=0.6
    ),
    "演示县文化和旅游局": AgencyStyle("文旅", 0.03, "csv", "gb18030", "%Y/%m/%d", "trim"),
    "演示县交通运输局": AgencyStyle(
        "交", 0.14, "csv", "gbk", "%Y-%m-%d", "trim", header_variant="template-2021"
    ),
    "演示县住房和城乡建设局": AgencyStyle("建", 0.045, "xlsx", "gb18030", "%Y-%m-%d", "fixed"),
    "演示县水利和湖泊局": AgencyStyle(
        "水", 0.025, "csv", "gbk", "%Y/%m/%d", "trim", referral_propensity=0.8
    ),
    # receivers of leads: only their feedback 线索接受反馈 (replies export), no penalties
    "演示县监察委员会": AgencyStyle("监委", 0.0, "csv", "gbk", "%Y-%m-%d", "trim"),
    "演示县司法局": AgencyStyle("司", 0.0, "csv", "utf-8-sig", "%Y/%m/%d", "trim"),
}
#: Police units: document-number infix and the 2-digit unit part of police case numbers.
POLICE_STYLES: dict[str, tuple[str, str]] = {
    "county_psb": ("", "01"),
    "economic_crime_unit": ("经", "02"),
    "forest_police": ("森", "03"),
    "food_drug_environment_unit": ("食环", "04"),
}


# --------------------------------------------------------------------------- records


@dataclass(eq=False)
class PenaltyCase:
    """One penalty decision as the agency's system holds it."""

    unit: Unit
    vtype: ViolationType
    party: Party
    decision_date: date
    procedure: str
    decision_number: str = ""
    case_number: str = ""
    entry_date: date | None = None
    fine: Decimal = Decimal(0)
    confiscation: Decimal = Decimal(0)
    involved: Decimal | None = None
    gains: Decimal | None = None
    quantity: Decimal | None = None
    quantity_item: str | None = None
    quantity_unit: str | None = None
    categories: tuple[str, ...] = ()
    licence: str = ""
    role: str = "plain"
    bad_kind: str | None = None
    source: SourceRef | None = None
    referral: Referral | None = None

    @property
    def case_id(self) -> str:
        """The hub's case id: the deciding agency's code and the decision number."""
        return case_id_for(self.unit.code, self.decision_number)


@dataclass(eq=False)
class FeedbackRecord:
    """One record of the police case system's feedback API."""

    police: Unit
    record_type: str
    occurred: datetime
    updated: datetime
    referral: Referral | None
    police_case_number: str
    document_number: str
    carries_referral: bool
    decision: str | None = None
    reasons: str | None = None
    in_reply_to: str | None = None
    bad_kind: str | None = None
    cursor: int = 0

    @property
    def day(self) -> date:
        """The China date of the act."""
        return self.occurred.date()


@dataclass(eq=False)
class OutboxAction:
    """One row of the procuratorate's outbox."""

    type: str
    acted_on: date
    created: datetime
    aggregate_type: str
    aggregate_id: str
    payload: dict[str, Any]
    case_id: str | None
    target: Unit | None
    bad_kind: str | None = None
    row_id: int = 0


@dataclass(eq=False)
class AgencyRow:
    """A row of an agency's referral-system side exports (handover, reconsideration, reply)."""

    kind: str
    unit: Unit
    day: date
    entry_date: date
    values: dict[str, str | date]
    case_id: str
    answers: str | None = None


@dataclass(eq=False)
class Judgment:
    """One court judgment (one XML file)."""

    referral: Referral
    number: str
    judged_on: date
    entered: datetime
    verdict: str
    sentence: str
    fine_yuan: Decimal
    indictment_number: str
    procuratorate_case_number: str
    recommendation: tuple[str, date, date, str] | None = None
    path: str = ""


@dataclass(eq=False)
class Referral:
    """A referral 移送 of a suspected crime from an agency to a police unit."""

    agency: Unit
    police: Unit
    vtype: ViolationType
    party: Party
    penalty: PenaltyCase | None
    referral_date: date
    number: str = ""
    case_number: str = ""
    entry_date: date | None = None
    involved: Decimal | None = None
    quantity: Decimal | None = None
    scenario: str = "normal_filed"
    link: str = "full"
    reconsider: bool = False
    police_case_number: str = ""
    bad_kind: str | None = None
    records: list[FeedbackRecord] = field(default_factory=list)
    source: SourceRef | None = None
    prosecuted_on: date | None = None
    judged_on: date | None = None
    handovers: list[date] = field(default_factory=list)

    @property
    def decision_number(self) -> str:
        """The penalty decision number when the agency also penalised, else empty."""
        return self.penalty.decision_number if self.penalty else ""

    @property
    def case_id(self) -> str:
        """The hub's case id (see ``CASE_ID_RULE``)."""
        return case_id_for(self.agency.code, self.decision_number or self.case_number)


# --------------------------------------------------------------------------- helpers


def _wan(yuan: Decimal, style: str) -> str:
    """Yuan as the 万元 text of a 双公示 amount column (6 decimals = exact to the fen)."""
    value = (yuan / _TEN_THOUSAND).quantize(_MICRO)
    if style == "fixed":
        return f"{value:.6f}"
    text = f"{value:f}".rstrip("0").rstrip(".")
    return text or "0"


def _quantity_text(value: Decimal, unit: str) -> str:
    places = {"支": 0, "吨": 3, "立方米": 2, "亩": 2, "千克": 1, "次": 0}.get(unit, 2)
    quantum = Decimal(1).scaleb(-places)
    text = f"{value.quantize(quantum, rounding=ROUND_HALF_UP):f}"
    return text


def _yuan(value: float) -> Decimal:
    return Decimal(str(round(value, 2))).quantize(_CENT)


def _round_fine(value: float) -> Decimal:
    step = 50 if value < 1000 else 100
    return Decimal(max(step, round(value / step) * step))


def _referral_columns(referral: Referral) -> dict[str, str | date]:
    """The columns of a reconsiderations-export row that name the referral and its police
    case: what a request for reconsideration and an objection to a cancellation share."""
    return {
        "移送书文号": referral.number,
        "行政处罚决定书文号": referral.decision_number,
        "案件编号": referral.case_number,
        "公安机关": referral.police.name,
        "公安机关代码": referral.police.code,
        "公安案件编号": referral.police_case_number,
    }


def _add_days(day: date, days: int) -> date:
    return day + timedelta(days=days)


_T = TypeVar("_T")


class _Calendar:
    """The hub's working-day calendar, recording its unknown-year warnings for the manifest.

    Every date computation is the hub's own (``hub.calendar.WorkingDayCalendar``), so the
    demo plants lateness by exactly the rules the hub will apply.
    """

    def __init__(self) -> None:
        self._calendar = WorkingDayCalendar(load_calendar_overrides())
        self._known: dict[date, bool] = {}
        self.warnings: list[str] = []

    def _recording(self, compute: Callable[[], _T]) -> _T:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = compute()
        self.warnings.extend(str(w.message) for w in caught)
        return result

    def is_working_day(self, day: date) -> bool:
        known = self._known.get(day)
        if known is None:
            known = self._known[day] = self._recording(
                lambda: self._calendar.is_working_day(day))
        return known

    def add_working_days(self, day: date, days: int) -> date:
        return self._recording(lambda: self._calendar.add_working_days(day, days))

    def next_working_day(self, day: date) -> date:
        return day if self.is_working_day(day) else self.add_working_days(day, 1)

    def working_days_between(self, start: date, end: date) -> int:
        return self._recording(lambda: self._calendar.working_days_between(start, end))


def _identifiers(party: Party) -> tuple[str, ...]:
    values = [party.credit_code, party.person_id]
    return tuple(v for v in values if v and v != sole_trader_placeholder())


# --------------------------------------------------------------------------- generator


class _Generator:
    """Builds the county's year(s) of cases, then writes every export and the manifest."""

    def __init__(
        self, out_dir: Path, seed: int, penalty_cases: int, start: date, end: date
    ) -> None:
        if end <= start:
            raise ValueError(f"end {end} must be after start {start}")
        if penalty_cases < 200:
            raise ValueError("penalty_cases must be at least 200 to plant every gap kind")
        self.out_dir = out_dir
        self.seed = seed
        self.size = penalty_cases
        self.start = start
        self.end = end
        self.rng = random.Random(seed)
        self.ids = IdentityFactory(self.rng)
        self.calendar = _Calendar()
        self.county, self.units = load_units()
        self.by_code = {u.code: u for u in self.units}
        self.agencies = [u for u in self.units if u.kind == "agency"]
        self.police = {u.role: u for u in self.units if u.kind == "police"}
        self.procuratorate = next(u for u in self.units if u.kind == "procuratorate")
        self.court = next(u for u in self.units if u.kind == "court")
        self.catalogue = load_catalogue()
        self.thresholds = load_thresholds()
        self.offence_map = load_violation_offences()
        self.screening = load_screening()
        self.matching = load_matching()
        self.missing_rules = load_missing_entry()
        #: The agency planted as silent (it stops entering before the export date).
        self.silent_unit: Unit | None = None
        #: Per act: outcome -> count (in_time, late, unanswered, pending), see ActTally.
        self.act_outcomes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        #: (outcome, referral, 司法建议 number, due, answered on)
        self.judicial_gaps: list[tuple[str, Referral, str, date, date | None]] = []
        #: (outcome, agency, police, case id, day, 咨询编号, due, answered on)
        self.consultation_gaps: list[
            tuple[str, Unit, Unit, str, date, str, date, date | None]] = []
        #: Open cases planted at the early-intervention share: (agency, case id, 立案编号,
        #: opened on, ratio, amounts as of)
        self.open_case_gaps: list[tuple[Unit, str, str, date, Decimal, date]] = []
        #: Acts answered late or never (build_late_and_unanswered_acts): (outcome, act,
        #: alert name, outbox row, due, answered on, unit that must answer)
        self.late_acts: list[
            tuple[str, str, str, OutboxAction, date, date | None, Unit]] = []
        #: The same for the public-interest litigation leads (planted after everything
        #: else, so their gaps come last and every other gap keeps its id).
        self.late_public_interest: list[
            tuple[str, str, str, OutboxAction, date, date | None, Unit]] = []
        #: (outcome, agency, case id, day, 邀请编号, due, attended on)
        self.late_invitations: list[
            tuple[str, Unit, str, date, str, date, date | None]] = []
        #: Case ids of the filed cases the police cancelled 撤案.
        self.cancelled: list[str] = []
        #: Case ids of the cancellations the agency objected to (建议立案监督).
        self.objected: list[str] = []
        #: Penalties with an enforcement status, by id(case): (case, outcome, due,
        #: 执行到位日期, the day the 执行到位 re-export was taken).
        self.enforcement: dict[
            int, tuple[PenaltyCase, str, date, date | None, date | None]] = {}
        self.workdays = [d for d in self._days(start, end) if self.calendar.is_working_day(d)]
        self.cases: list[PenaltyCase] = []
        self.cases_by_unit: dict[str, list[PenaltyCase]] = defaultdict(list)
        self.referrals: list[Referral] = []
        self.feedback: list[FeedbackRecord] = []
        self.outbox: list[OutboxAction] = []
        self.agency_rows: list[AgencyRow] = []
        self.judgments: list[Judgment] = []
        self.pending: list[PendingClock] = []
        self.gaps: list[Gap] = []
        self.files: list[ExportFile] = []
        self.not_planted: list[str] = []
        self.counters: dict[tuple[str, ...], int] = defaultdict(int)
        self.counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.party_pool: dict[tuple[str, str], list[Party]] = defaultdict(list)
        self.judgment_bad: list[tuple[str, str, str]] = []
        self.outbox_extra_bad: list[OutboxAction] = []
        self.feedback_extra_bad: list[FeedbackRecord] = []

    # ----------------------------------------------------------------- small tools

    @staticmethod
    def _days(start: date, end: date) -> list[date]:
        return [start + timedelta(days=i) for i in range((end - start).days + 1)]

    def _next(self, *key: str) -> int:
        self.counters[key] += 1
        return self.counters[key]

    def _style(self, unit: Unit) -> AgencyStyle:
        return AGENCY_STYLES[unit.name]

    def _pick_workday(self, low: date, high: date) -> date:
        """A random working day in [low, high] (clamped to the window)."""
        low = max(low, self.start)
        high = min(high, self.end)
        candidates = [d for d in self.workdays if low <= d <= high]
        if not candidates:
            return self.calendar.next_working_day(max(low, self.start))
        return self.rng.choice(candidates)

    def _office_time(self, day: date) -> datetime:
        minutes = self.rng.randrange(9 * 60, 17 * 60 + 30)
        return datetime(
            day.year,
            day.month,
            day.day,
            minutes // 60,
            minutes % 60,
            self.rng.randrange(60),
            tzinfo=CHINA,
        )

    def _entry_after(self, day: date, *, late: bool = False) -> date:
        """An entry date within 2 working days (on time) or clearly late, never after end."""
        if late:
            deadline = self.calendar.add_working_days(day, 3)
            entry = self.calendar.add_working_days(deadline, self.rng.randint(2, 40))
        else:
            entry = self.calendar.add_working_days(
                day, self.rng.choices((0, 1, 2), (55, 30, 15))[0]
            )
        return min(entry, self.end)

    def _recorded(self, occurred: datetime) -> datetime:
        """When a system records an act: minutes to hours later, the same day."""
        later = occurred + timedelta(minutes=self.rng.randrange(3, 360))
        end_of_day = occurred.replace(hour=23, minute=59, second=0)
        return max(min(later, end_of_day), occurred)

    def _fresh_party(self, unit: Unit, vtype: ViolationType, category: str | None = None) -> Party:
        style = self._style(unit)
        rare_ok = style.file_format == "xlsx" or style.encoding != "gbk"
        if category is None:
            category = self.rng.choices(vtype.party_categories, vtype.party_mix)[0]
        return self.ids.party(vtype.domain, category, allow_gb18030_only=rare_ok)

    # ----------------------------------------------------------------- amounts

    def _normal_figures(self, case: PenaltyCase) -> None:
        """Figures of an ordinary case: every screened figure below 60 % of its threshold."""
        rng = self.rng
        vtype = case.vtype
        case.involved = None
        case.gains = None
        case.quantity = None
        if vtype.amount_threshold is not None:
            cap = float(vtype.amount_threshold) * 0.6
            value = float(vtype.amount_threshold) * 0.06 * math.exp(rng.gauss(0, 0.9))
            case.involved = _yuan(value if value < cap else cap * rng.uniform(0.3, 0.95))
        if vtype.gains_threshold is not None:
            cap = float(vtype.gains_threshold) * 0.6
            value = float(vtype.gains_threshold) * 0.05 * math.exp(rng.gauss(0, 0.9))
            case.gains = _yuan(value if value < cap else cap * rng.uniform(0.3, 0.95))
        elif vtype.offence_id is None and rng.random() < 0.3:
            case.gains = _yuan(2000 * math.exp(rng.gauss(0, 0.8)))
        if vtype.quantity_item and vtype.key != "HLT-UNLICENSED-PRACTICE":
            threshold = float(vtype.quantity_threshold or 0)
            if threshold:
                cap = threshold * 0.6
                value = threshold * 0.08 * math.exp(rng.gauss(0, 0.9))
                value = value if value < cap else cap * rng.uniform(0.3, 0.95)
            else:
                value = {"支": 4000.0, "立方米": 0.4}.get(vtype.quantity_unit or "", 1.0)
                value *= math.exp(rng.gauss(0, 0.7))
            case.quantity = Decimal(_quantity_text(Decimal(str(value)), vtype.quantity_unit or ""))
            if case.quantity <= 0:
                case.quantity = Decimal(1)
            case.quantity_item = vtype.quantity_item
            case.quantity_unit = vtype.quantity_unit

    def _scaled_figures(
        self,
        case: PenaltyCase | Referral,
        vtype: ViolationType,
        low: float,
        high: float,
        *,
        above: bool,
    ) -> tuple[str, Decimal]:
        """Put the planting basis at ``low``–``high`` × threshold; returns (basis, value).

        Above-threshold cases are scaled on the top of a province-set range, so they are
        criminal-sized whatever figure a province chose; near-threshold ones on the lower
        bound the hub ships.
        """
        rng = self.rng
        basis = vtype.plant or ("amount" if vtype.amount_threshold else "quantity")
        factor = rng.uniform(low, high)
        if basis == "amount" and vtype.amount_threshold is not None:
            reference = (
                vtype.amount_upper if above and vtype.amount_upper else vtype.amount_threshold
            )
            value = _yuan(float(reference) * factor)
            case.involved = value
            return "amount", value
        if basis in {"quantity", "repeat"} and vtype.quantity_threshold is not None:
            reference = (
                vtype.quantity_upper if above and vtype.quantity_upper else vtype.quantity_threshold
            )
            if vtype.quantity_unit == "次":
                value = Decimal(int(reference) + (rng.randrange(2) if above else 0))
            else:
                value = Decimal(
                    _quantity_text(reference * Decimal(str(factor)), vtype.quantity_unit or "")
                )
            case.quantity = value
            if isinstance(case, PenaltyCase):
                case.quantity_item = vtype.quantity_item
                case.quantity_unit = vtype.quantity_unit
            return "quantity", value
        return "qualifying", Decimal(0)

    def _penalty_terms(self, case: PenaltyCase) -> None:
        """Fine, confiscation and categories, consistent with the procedure."""
        rng = self.rng
        vtype = case.vtype
        if case.procedure == "简易":
            limit = 3000 if case.party.category == "法人及非法人组织" else 200
            if rng.random() < 0.15:
                case.fine = Decimal(0)
                case.categories = ("警告",)
            else:
                case.fine = Decimal(rng.choice([50, 100, 150, 200, 500, 1000, 2000, 3000]))
                case.fine = min(case.fine, Decimal(limit))
                case.categories = ("罚款",)
            case.confiscation = Decimal(0)
            return
        categories: list[str] = []
        if vtype.fine_median < 5000 and rng.random() < 0.05:
            case.fine = Decimal(0)
            categories.append("警告")
        else:
            case.fine = _round_fine(vtype.fine_median * math.exp(rng.gauss(0, 0.75)))
            categories.append("罚款")
        confiscation = Decimal(0)
        if case.gains and rng.random() < 0.8:
            confiscation += case.gains
            categories.append("没收违法所得")
        if case.quantity and case.quantity_unit == "支":
            confiscation += _yuan(float(case.quantity) * 0.25)
            categories.append("没收非法财物")
        case.confiscation = confiscation
        draw = rng.random()
        if draw < 0.02:
            categories.append("吊销许可证件")
            case.licence = f"吊销许可证件（编号：{self.rng.randrange(10**11, 10**12)}）"
        elif draw < 0.05:
            categories.append("暂扣许可证件")
            case.licence = f"暂扣许可证件三个月（编号：{self.rng.randrange(10**11, 10**12)}）"
        elif draw < 0.07 and case.party.category != "自然人":
            categories.append("责令停产停业")
        case.categories = tuple(categories)

    # ----------------------------------------------------------------- penalties

    def build_penalties(self) -> None:
        """The ordinary flow of penalty decisions, agency by agency."""
        rng = self.rng
        weights = [self._style(u).volume for u in self.agencies]
        total = sum(weights)
        shares = [self.size * w / total for w in weights]
        counts = [int(s) for s in shares]
        for index in sorted(range(len(shares)), key=lambda i: shares[i] - counts[i], reverse=True)[
            : self.size - sum(counts)
        ]:
            counts[index] += 1
        for unit, count in zip(self.agencies, counts, strict=True):
            types = [
                v
                for v in self.catalogue
                if v.domain == unit.domains[0] and v.plain and v.weight > 0
            ]
            type_weights = [v.weight for v in types]
            days = sorted(rng.choice(self.workdays) for _ in range(count))
            for day in days:
                vtype = rng.choices(types, type_weights)[0]
                category = rng.choices(vtype.party_categories, vtype.party_mix)[0]
                pool = self.party_pool[(unit.code, category)]
                if pool and vtype.key != "HLT-UNLICENSED-PRACTICE" and rng.random() < 0.08:
                    party = rng.choice(pool)
                else:
                    party = self._fresh_party(unit, vtype, category)
                    if vtype.key != "HLT-UNLICENSED-PRACTICE":
                        pool.append(party)
                summary = rng.random() < vtype.summary_share
                case = PenaltyCase(unit, vtype, party, day, "简易" if summary else "普通")
                self._normal_figures(case)
                self.cases.append(case)
                self.cases_by_unit[unit.code].append(case)

    def _plain_cases(
        self,
        predicate: Callable[[PenaltyCase], bool],
        *,
        unit: Unit | None = None,
        domain: str | None = None,
    ) -> list[PenaltyCase]:
        """Ordinary general-procedure cases (of one unit or domain) ``predicate`` accepts."""
        pool = self.cases
        if unit is not None:
            pool = self.cases_by_unit[unit.code]
        elif domain is not None:
            pool = [
                c
                for u in self.agencies
                if u.domains[0] == domain
                for c in self.cases_by_unit[u.code]
            ]
        return [c for c in pool if c.role == "plain" and c.procedure == "普通" and predicate(c)]

    def _convert(
        self, case: PenaltyCase, vtype: ViolationType, role: str, category: str | None = None
    ) -> None:
        """Turn an ordinary case into a planted one of ``vtype`` with a fresh party."""
        case.vtype = vtype
        case.role = role
        case.party = self._fresh_party(case.unit, vtype, category)
        self._normal_figures(case)

    def plant_screening(self) -> None:
        """Criminal-sized cases never referred, and cases at 80–100 % of a threshold."""
        rng = self.rng
        latest = self.end - timedelta(days=self.screening.no_referral_window_days + 45)
        plantable = [v for v in self.catalogue if v.plant in {"amount", "quantity"}]
        n_suspected = max(3, round(self.size * 0.004))
        n_early = max(3, round(self.size * 0.006))
        for role, count in (("suspected", n_suspected), ("early", n_early)):
            for index in range(count):
                vtype = (
                    plantable[index % len(plantable)]
                    if index < len(plantable)
                    else rng.choice(plantable)
                )
                pool = self._plain_cases(lambda c: c.decision_date <= latest, domain=vtype.domain)
                if not pool:
                    self.not_planted.append(f"{role}:{vtype.key}")
                    continue
                case = rng.choice(pool)
                category = "自然人" if vtype.individual_only_threshold else None
                self._convert(case, vtype, role, category)
                if role == "suspected":
                    self._scaled_figures(case, vtype, 1.1, 3.0, above=True)
                else:
                    self._scaled_figures(case, vtype, 0.82, 0.97, above=False)
        # A qualifying violation (the code alone meets the threshold), never referred.
        qualifying = [v for v in self.catalogue if v.plant == "qualifying"]
        for vtype in qualifying:
            pool = self._plain_cases(lambda c: c.decision_date <= latest, domain=vtype.domain)
            if pool:
                self._convert(rng.choice(pool), vtype, "suspected")
        # Repeat offender: a third penalty for illegal medical practice (prior ≥ 2).
        repeat = next((v for v in self.catalogue if v.plant == "repeat"), None)
        if repeat is not None:
            pool = sorted(
                self._plain_cases(lambda c: c.decision_date <= latest, domain=repeat.domain),
                key=lambda c: c.decision_date,
            )
            if len(pool) >= 3:
                picks = sorted(rng.sample(pool, 3), key=lambda c: c.decision_date)
                person = self._fresh_party(picks[0].unit, repeat, "自然人")
                for prior, case in enumerate(picks):
                    case.vtype = repeat
                    case.party = person
                    case.role = "repeat" if prior < 2 else "suspected"
                    self._normal_figures(case)
                    if prior:
                        case.quantity = Decimal(prior)
                        case.quantity_item = repeat.quantity_item
                        case.quantity_unit = repeat.quantity_unit
            else:
                self.not_planted.append("suspected:repeat-offender")

    # ----------------------------------------------------------------- referrals

    def _receiving_police(self, vtype: ViolationType, agency: Unit) -> Unit:
        """The police unit the hub's routing rules pick (hub/rules/routing.yaml order)."""
        domain = agency.domains[0]
        category = vtype.offence_category
        if domain == "forestry" or category == "forestry_wildlife":
            return self.police["forest_police"]
        if domain in {"tax", "finance"} or category == "economic":
            return self.police["economic_crime_unit"]
        if domain in {"food_drug", "environment"} or category in {
            "food_drug",
            "environment_resources",
        }:
            return self.police["food_drug_environment_unit"]
        return self.police["county_psb"]

    def build_referrals(self) -> None:
        """A few hundred referrals: about 60 % after a penalty, the rest before any."""
        rng = self.rng
        n_referrals = max(24, round(self.size * 0.03))
        options: list[tuple[Unit, ViolationType]] = []
        option_weights: list[float] = []
        for unit in self.agencies:
            style = self._style(unit)
            for vtype in self.catalogue:
                if not vtype.referable:
                    continue
                if vtype.domain != unit.domains[0]:
                    continue
                options.append((unit, vtype))
                option_weights.append(style.referral_propensity * max(vtype.weight, 0.1))
        latest = self.end - timedelta(days=20)
        for _ in range(n_referrals):
            unit, vtype = rng.choices(options, option_weights)[0]
            party_category = "自然人" if vtype.key == "HLT-UNLICENSED-PRACTICE" else None
            penalty: PenaltyCase | None = None
            if rng.random() < 0.6:
                pool = self._plain_cases(lambda c: c.decision_date <= latest, unit=unit)
                if pool:
                    penalty = rng.choice(pool)
                    self._convert(penalty, vtype, "referred", party_category)
            if penalty is not None:
                offset = rng.randint(1, 7)
                day = self.calendar.next_working_day(_add_days(penalty.decision_date, offset))
                window = self.screening.no_referral_window_days
                if (day - penalty.decision_date).days > window - 2:
                    day = self.calendar.add_working_days(penalty.decision_date, 1)
                party = penalty.party
            else:
                day = self._pick_workday(self.start + timedelta(days=10), latest)
                party = self._fresh_party(unit, vtype, party_category)
            referral = Referral(
                unit, self._receiving_police(vtype, unit), vtype, party, penalty, min(day, self.end)
            )
            target: PenaltyCase | Referral = penalty if penalty is not None else referral
            if vtype.plant in {"amount", "quantity", "repeat"} or vtype.amount_threshold:
                self._scaled_figures(target, vtype, 1.1, 3.0, above=True)
            if penalty is not None:
                penalty.referral = referral
                referral.involved = penalty.involved
                referral.quantity = penalty.quantity
            self.referrals.append(referral)
        # Ambiguous pairs: the same trader referred on the same day by the market bureau
        # and its station for the same offence; feedback quoting only the police's own
        # case number cannot tell the two apart.
        market = [u for u in self.agencies if u.domains[0] == "market_regulation"]
        fake = next(v for v in self.catalogue if v.key == "MKT-FAKE-PRODUCT")
        pairs = max(1, round(n_referrals / 100))
        for _ in range(pairs):
            day = self._pick_workday(
                self.start + timedelta(days=10), self.end - timedelta(days=200)
            )
            party = self._fresh_party(market[0], fake, "个体工商户")
            for unit in market[:2]:
                referral = Referral(
                    unit,
                    self._receiving_police(fake, unit),
                    fake,
                    party,
                    None,
                    day,
                    scenario="ambiguous",
                    link="police_number_only",
                )
                self._scaled_figures(referral, fake, 1.1, 3.0, above=True)
                self.referrals.append(referral)
        self.referrals.sort(key=lambda r: (r.referral_date, r.agency.code))

    def assign_scenarios(self) -> None:
        """Decide each referral's police story: normal, late, missing, unmatched, bad."""
        rng = self.rng
        n = len(self.referrals)
        free = [r for r in self.referrals if r.scenario == "normal_filed"]
        rng.shuffle(free)

        def take(
            count: int, max_date: date, scenario: str, *, only_referral_only: bool = False
        ) -> list[Referral]:
            chosen: list[Referral] = []
            for referral in list(free):
                if len(chosen) == count:
                    break
                if referral.referral_date > max_date:
                    continue
                if only_referral_only and referral.penalty is not None:
                    continue
                referral.scenario = scenario
                chosen.append(referral)
                free.remove(referral)
            if len(chosen) < count:
                self.not_planted.append(f"{scenario}: {len(chosen)} of {count}")
            return chosen

        def quota(fraction: float) -> int:
            return max(1, round(n * fraction))

        end = self.end
        for referral in take(2, end - timedelta(days=30), "bad_row", only_referral_only=True):
            referral.link = "full"
        # Missing entries 应录未录: referrals the police received (and answered) that the
        # agency never entered; their rows are left out of the agency's export.
        for referral in take(2, end - timedelta(days=30), "unentered", only_referral_only=True):
            referral.link = "full"
        take(quota(0.04), end - timedelta(days=400), "filed_not_concluded")
        take(quota(0.03), end - timedelta(days=270), "late_6_months")
        take(quota(0.03), end - timedelta(days=200), "never_decided")
        take(quota(0.04), end - timedelta(days=200), "no_feedback")
        take(quota(0.04), end - timedelta(days=100), "late_30_days")
        take(quota(0.05), end - timedelta(days=20), "late_3_days")
        take(quota(0.04), end - timedelta(days=20), "receipt_missing")
        for referral in take(quota(0.12), end - timedelta(days=20), "not_filed"):
            referral.reconsider = rng.random() < 0.5
        # How the police system quotes the referral on its feedback.
        for referral in self.referrals:
            if referral.scenario not in {"normal_filed", "not_filed"} or referral.reconsider:
                continue
            draw = rng.random()
            if draw < 0.2:
                referral.link = "police_number_only"
            elif draw < 0.5:
                referral.link = "receipt_then_police_number"
        for referral in self.referrals:
            if (
                referral.scenario
                in {
                    "late_3_days",
                    "late_30_days",
                    "late_6_months",
                    "never_decided",
                    "filed_not_concluded",
                }
                and rng.random() < 0.3
            ):
                referral.link = "receipt_then_police_number"

    # ----------------------------------------------------------------- police chains

    def _police_document(self, police: Unit, word: str, day: date) -> str:
        infix = POLICE_STYLES[police.role][0]
        serial = self._next("police-doc", police.code, word, str(day.year))
        return f"演公{infix}{word}字〔{day.year}〕{serial}号"

    def _police_case_number(self, police: Unit, day: date) -> str:
        unit_part = POLICE_STYLES[police.role][1]
        serial = self._next("police-case", police.code, day.strftime("%Y%m"))
        return f"A{self.county.division_code}{unit_part}0000{day:%Y%m}{serial:04d}"

    def _record(
        self,
        referral: Referral,
        record_type: str,
        day: date,
        *,
        decision: str | None = None,
        reasons: str | None = None,
        in_reply_to: str | None = None,
        word: str,
    ) -> FeedbackRecord | None:
        """A police feedback record, or None when it would fall after the export date."""
        if day > self.end:
            return None
        occurred = self._office_time(day)
        if referral.records and occurred <= referral.records[-1].updated:
            occurred = referral.records[-1].updated + timedelta(minutes=self.rng.randrange(5, 60))
            if occurred.date() != day:
                occurred = datetime(day.year, day.month, day.day, 23, 50, tzinfo=CHINA)
        if not referral.police_case_number:
            referral.police_case_number = self._police_case_number(referral.police, day)
        first = not referral.records
        receipt = first and record_type == "receipt"
        # A receipt answers the referral letter, so it always quotes it (ReferralReceived
        # requires the number); a police system that opens its case after the receipt
        # quotes no case number on it, and later only its own.
        carries = referral.link == "full" or receipt
        police_case_number = referral.police_case_number
        if receipt and referral.link == "police_number_only":
            police_case_number = ""
        record = FeedbackRecord(
            police=referral.police,
            record_type=record_type,
            occurred=occurred,
            updated=self._recorded(occurred),
            referral=referral,
            police_case_number=police_case_number,
            document_number=self._police_document(referral.police, word, day),
            carries_referral=carries,
            decision=decision,
            reasons=reasons,
            in_reply_to=in_reply_to,
        )
        referral.records.append(record)
        self.feedback.append(record)
        return record

    def _action(
        self,
        type_: str,
        day: date,
        referral: Referral | None,
        target: Unit,
        content: str,
        *,
        case: PenaltyCase | None = None,
        reply_due: date | None = None,
        outcome: str | None = None,
        word: str,
        aggregate_type: str = "supervision_case",
        aggregate_id: str | None = None,
    ) -> OutboxAction | None:
        """A procuratorate outbox row (None after the export date)."""
        if day > self.end:
            return None
        serial = self._next("procuratorate", word, str(day.year))
        document = f"演检{word}〔{day.year}〕{serial}号"
        if aggregate_id is None:
            aggregate_id = f"演检两法监〔{day.year}〕{self._next('supervision', str(day.year))}号"
        created_day = min(
            self.calendar.add_working_days(day, self.rng.choice((0, 0, 1, 2))), self.end
        )
        created = self._office_time(created_day)
        name, _ = OUTBOX_TYPES[type_]
        if referral is not None:
            agency = referral.agency
            case_ref: dict[str, str | None] = {
                "agency_unit_code": agency.code,
                "decision_number": referral.decision_number or None,
                "agency_case_number": referral.case_number,
                "referral_number": referral.number,
                "police_case_number": referral.police_case_number or None,
            }
            case_id = referral.case_id
        else:
            assert case is not None
            case_ref = {
                "agency_unit_code": case.unit.code,
                "decision_number": case.decision_number,
                "agency_case_number": None,
                "referral_number": None,
                "police_case_number": None,
            }
            case_id = case.case_id
        payload: dict[str, Any] = {
            "action_name": name,
            "document_number": document,
            "procuratorate_case_number": aggregate_id,
            "target_unit_code": target.code,
            "target_unit_name": target.name,
            "case_ref": case_ref,
            "decided_on": day.isoformat(),
            "reply_due_date": reply_due.isoformat() if reply_due else None,
            "outcome": outcome,
            "content": content,
        }
        action = OutboxAction(
            type_, day, created, aggregate_type, aggregate_id, payload, case_id, target
        )
        self.outbox.append(action)
        return action

    def _agency_row(
        self,
        kind: str,
        unit: Unit,
        day: date,
        values: dict[str, str | date],
        case_id: str,
        answers: str | None = None,
    ) -> AgencyRow | None:
        if day > self.end:
            return None
        row = AgencyRow(kind, unit, day, self._entry_after(day), values, case_id, answers)
        self.agency_rows.append(row)
        return row

    def _pending(self, alert_kind: str, case_id: str, unit: Unit, due: date, **detail: str) -> None:
        if due > self.end:
            self.pending.append(
                PendingClock(
                    alert=_alert_name(alert_kind),
                    alert_kind=alert_kind,
                    case_id=case_id,
                    unit_code=unit.code,
                    due=due,
                    detail=detail,
                )
            )

    def _handover(self, referral: Referral, filed_on: date) -> None:
        day = _add_days(filed_on, self.rng.choice((0, 1, 1, 2)))
        if day > self.end:
            return
        item, amount, unit = "", "", ""
        seized = referral.vtype.quantity_unit not in {None, "亩", "次"}
        if referral.quantity is not None and referral.vtype.quantity_item and seized:
            unit = referral.vtype.quantity_unit or ""
            item, amount = referral.vtype.quantity_item, _quantity_text(referral.quantity, unit)
        serial = self._next("handover", referral.agency.code, str(day.year))
        abbreviation = self._style(referral.agency).abbreviation
        self._agency_row(
            "handovers",
            referral.agency,
            day,
            {
                "移交清单编号": f"演{abbreviation}移交〔{day.year}〕{serial}号",
                "移送书文号": referral.number,
                "行政处罚决定书文号": referral.decision_number,
                "案件编号": referral.case_number,
                "接收单位": referral.police.name,
                "接收单位代码": referral.police.code,
                "公安案件编号": referral.police_case_number,
                "移交日期": day,
                "移交物品": item,
                "物品数量": amount,
                "计量单位": unit,
                "备注": "" if item else "无涉案物品",
            },
            referral.case_id,
        )
        referral.handovers.append(day)

    def _after_filing(self, referral: Referral, filed_on: date, *, conclude: bool) -> None:
        """Hand-over, arrest request, transfer for prosecution, prosecution, judgment."""
        rng = self.rng
        self._handover(referral, filed_on)
        if rng.random() < 0.45:
            day = _add_days(filed_on, rng.randint(5, 30))
            record = self._record(referral, "arrest_request", day, word="提捕")
            if record is not None:
                approved = rng.random() < 0.8
                self._action(
                    "ArrestDecided",
                    _add_days(day, rng.randint(3, 7)),
                    referral,
                    referral.police,
                    "经审查，" + ("决定批准逮捕。" if approved else "决定不批准逮捕。"),
                    outcome="ARREST_APPROVED" if approved else "ARREST_NOT_APPROVED",
                    word="批捕" if approved else "不捕",
                    aggregate_type="arrest_review",
                    aggregate_id=f"演检捕受〔{day.year}〕{self._next('arrest', str(day.year))}号",
                )
        if not conclude:
            return
        transfer = _add_days(filed_on, rng.randint(60, 240))
        record = self._record(referral, "transfer_for_prosecution", transfer, word="诉")
        if record is None:
            return
        decided = _add_days(transfer, rng.randint(20, 45))
        prosecuted = rng.random() < 0.9
        review_number = f"演检刑诉受〔{transfer.year}〕{self._next('review', str(transfer.year))}号"
        action = self._action(
            "ProsecutionDecided",
            decided,
            referral,
            referral.police,
            "经审查，"
            + (
                "犯罪事实清楚，证据确实、充分，决定提起公诉。"
                if prosecuted
                else "犯罪情节轻微，决定不起诉。"
            ),
            outcome="PROSECUTED" if prosecuted else "NOT_PROSECUTED",
            word="刑诉" if prosecuted else "不诉",
            aggregate_type="prosecution_review",
            aggregate_id=review_number,
        )
        if action is None:
            return
        referral.prosecuted_on = decided
        if not prosecuted:
            due = add_months(decided + timedelta(days=3), 2)
            opinion = self._action(
                "OpinionIssued",
                _add_days(decided, 3),
                referral,
                referral.agency,
                "对不起诉人依法给予行政处罚，并将处理结果书面告知本院。",
                reply_due=due,
                word="行意",
            )
            if opinion is not None:
                answered = self._reply(
                    referral.agency,
                    referral.case_id,
                    (referral.decision_number, referral.case_number),
                    "检察意见",
                    opinion.payload["document_number"],
                    self.procuratorate,
                    opinion.acted_on,
                    due,
                    act="OPINION",
                )
                self.act_outcomes["OPINION"]["in_time" if answered else "pending"] += 1
            return
        if rng.random() < 0.8:
            judged = _add_days(decided, rng.randint(30, 120))
            if judged <= self.end:
                self._judgment(referral, judged, action.payload["document_number"], review_number)

    def _reply(
        self,
        agency: Unit,
        case_id: str,
        numbers: tuple[str, str],
        kind: str,
        document: str,
        sender: Unit,
        issued: date,
        due: date,
        day: date | None = None,
        act: str = "",
        case_unit: Unit | None = None,
    ) -> date | None:
        """The agency's reply row; its day, or None when it falls after the export (the
        clock is then pending; ``act`` names it in the pending clock's detail)."""
        day = day or _add_days(issued, self.rng.randint(10, 50))
        if day > self.end:
            detail = {"in_reply_to": document, **({"act": act} if act else {})}
            self._pending("REPLY_OVERDUE", case_id, agency, due, **detail)
            return None
        serial = self._next("reply", agency.code, str(day.year))
        abbreviation = self._style(agency).abbreviation
        self._agency_row(
            "replies",
            agency,
            day,
            {
                "回复文号": f"演{abbreviation}复〔{day.year}〕{serial}号",
                "来文类型": kind,
                "来文文号": document,
                "来文单位": sender.name,
                "来文单位代码": sender.code,
                "行政处罚决定书文号": numbers[0],
                "案件编号": numbers[1],
                "案件所属单位代码": case_unit.code if case_unit else "",
                "采纳情况": self.rng.choices(("采纳", "部分采纳"), (85, 15))[0],
                "整改落实日期": _add_days(day, -self.rng.randint(0, 5)),
                "回复内容": "已按来文要求完成整改，并建立长效机制。",
                "回复日期": day,
            },
            case_id,
            answers=document,
        )
        return day

    def _spoil_judicial_reply(self, referral: Referral, rec_number: str, due: date,
                              answered: date) -> str:
        """Make the first reply to a court's recommendation that can be late, late (10
        days past its due date), and the first whose clock runs out by the export, never
        written. The reply row was drawn as usual and is only moved or dropped, so the
        random stream, and every other gap, stays what the seed made it."""
        tally = self.act_outcomes["JUDICIAL_RECOMMENDATION"]
        row = self.agency_rows[-1]
        assert row.kind == "replies" and row.answers == rec_number
        late_day = _add_days(due, 10)
        if not tally["late"] and late_day <= self.end:
            shift = late_day - answered
            row.day, row.entry_date = late_day, min(row.entry_date + shift, self.end)
            fixed = row.values["整改落实日期"]
            assert isinstance(fixed, date)
            row.values.update({"回复日期": late_day, "整改落实日期": fixed + shift})
            self.judicial_gaps.append(("late", referral, rec_number, due, late_day))
            return "late"
        if not tally["unanswered"] and due <= self.end:
            self.agency_rows.pop()
            self.judicial_gaps.append(("unanswered", referral, rec_number, due, None))
            return "unanswered"
        return "in_time"

    def expect_judicial_recommendation_gaps(self) -> None:
        """The court's recommendations answered late or never, at their judgment file
        (paths are known once the judgments are written; planted last, ids kept)."""
        for outcome, referral, rec_number, due, answered in self.judicial_gaps:
            judgment = next(j for j in self.judgments if j.referral is referral)
            self._gap(f"judicial_recommendation_{outcome}", "recommendation_unanswered",
                      self.court, SourceRef(path=judgment.path), case_id=referral.case_id,
                      due=due, resolved_on=answered, responsible=referral.agency,
                      detail={"document_number": rec_number, "act": "JUDICIAL_RECOMMENDATION"})

    def _judgment(
        self, referral: Referral, judged: date, indictment: str, review_number: str
    ) -> None:
        rng = self.rng
        serial = self._next("court", str(judged.year))
        number = f"（{judged.year}）演刑初{serial}号"
        verdict = rng.choices(("CONVICTED", "EXEMPTED", "ACQUITTED"), (85, 10, 5))[0]
        fine = Decimal(0)
        if verdict == "CONVICTED":
            months = rng.choice((6, 8, 10, 12, 18, 24, 36))
            fine = Decimal(rng.choice((5000, 10000, 20000, 30000, 50000)))
            probation = "，缓刑一年" if months <= 12 and rng.random() < 0.6 else ""
            sentence = f"有期徒刑{_term_text(months)}{probation}，并处罚金人民币{fine}元"
        elif verdict == "EXEMPTED":
            sentence = "免予刑事处罚"
        else:
            sentence = "无罪"
        recommendation = None
        if verdict != "CONVICTED":
            issued = _add_days(judged, rng.randint(3, 10))
            if issued <= self.end:
                due = add_months(issued, 2)
                rec_number = (
                    f"（{issued.year}）演法司建{self._next('judicial', str(issued.year))}号"
                )
                recommendation = (
                    rec_number,
                    issued,
                    due,
                    "建议对被告人的违法行为依法给予行政处罚，并加强日常监管。",
                )
                answered = self._reply(
                    referral.agency,
                    referral.case_id,
                    (referral.decision_number, referral.case_number),
                    "司法建议",
                    rec_number,
                    self.court,
                    issued,
                    due,
                    act="JUDICIAL_RECOMMENDATION",
                )
                outcome = "in_time" if answered else "pending"
                if answered is not None:
                    outcome = self._spoil_judicial_reply(referral, rec_number, due, answered)
                self.act_outcomes["JUDICIAL_RECOMMENDATION"][outcome] += 1
            elif referral.penalty is None:
                # The court's own recommendation falls after the export: the hub raises
                # its own (routing.yaml raised_acts) at the judgment, with a 2-month clock
                # still running at the export; expected once due, like any pending clock.
                self.act_outcomes["RAISED_JUDICIAL_RECOMMENDATION"]["pending"] += 1
                self._pending("REPLY_OVERDUE", referral.case_id, referral.agency,
                              add_months(judged, 2), act="RAISED_JUDICIAL_RECOMMENDATION")
        entered_day = min(self.calendar.add_working_days(judged, rng.choice((0, 1, 2))), self.end)
        judgment = Judgment(
            referral,
            number,
            judged,
            self._office_time(entered_day),
            verdict,
            sentence,
            fine,
            indictment,
            review_number,
            recommendation,
        )
        referral.judged_on = judged
        self.judgments.append(judgment)

    def build_chains(self) -> None:
        """Each referral's police, procuratorate and court story, cut at the export date."""
        rng = self.rng
        for referral in self.referrals:
            scenario = referral.scenario
            day = referral.referral_date
            if scenario == "no_feedback":
                continue
            receipt_day = day
            if scenario != "receipt_missing":
                self._record(referral, "receipt", receipt_day, word="受")
            if scenario == "never_decided":
                continue
            delays = {
                "late_3_days": (5, 9),
                "late_30_days": (31, 90),
                "late_6_months": (190, 260),
            }
            low, high = delays.get(scenario, (0, 2))
            decided = _add_days(receipt_day, rng.randint(low, high))
            if decided > self.end:
                continue
            if scenario in {"not_filed", "bad_row", "unentered"}:
                not_filed = self._record(
                    referral,
                    "not_filed",
                    decided,
                    decision="NOT_FILED",
                    word="不立",
                    reasons="认为没有犯罪事实，或者犯罪事实显著轻微，不需要追究刑事责任。",
                )
                if referral.reconsider and not_filed is not None:
                    self._reconsideration(referral, not_filed)
                continue
            self._record(referral, "filing_decision", decided, decision="FILED", word="立")
            if scenario == "ambiguous":
                continue
            if rng.random() < 0.05:
                self._action(
                    "EarlyInterventionAttended",
                    _add_days(day, rng.randint(1, 5)),
                    referral,
                    referral.police,
                    "应邀提前介入，就证据收集、案件定性提出意见。",
                    word="介",
                )
            self._after_filing(referral, decided, conclude=scenario != "filed_not_concluded")

    def _reconsideration(self, referral: Referral, not_filed: FeedbackRecord) -> None:
        rng = self.rng
        requested = _add_days(not_filed.day, rng.randint(1, 3))
        if requested > self.end:
            return
        serial = self._next("reconsideration", referral.agency.code, str(requested.year))
        abbreviation = self._style(referral.agency).abbreviation
        self._agency_row(
            "reconsiderations",
            referral.agency,
            requested,
            {
                "申请类型": "提请复议",
                "复议申请书文号": f"演{abbreviation}复议〔{requested.year}〕{serial}号",
                **_referral_columns(referral),
                "不予立案通知书文号": not_filed.document_number,
                "申请日期": requested,
                "复议理由": "当事人涉案数额已达立案追诉标准，应当立案侦查。",
            },
            referral.case_id,
        )
        decided = _add_days(requested, rng.randint(1, 3))
        if decided > self.end:
            return
        reversed_ = rng.random() < 0.25
        self._record(
            referral,
            "reconsideration_decision",
            decided,
            decision="REVERSED" if reversed_ else "UPHELD",
            word="复决",
            reasons="撤销原不予立案决定。" if reversed_ else "维持原不予立案决定。",
        )
        if reversed_:
            self._record(referral, "filing_decision", decided, decision="FILED", word="立")
            self._after_filing(referral, decided, conclude=True)
            return
        if rng.random() < 0.5:
            asked = _add_days(decided, rng.randint(3, 10))
            due = _add_days(asked, 7)
            action = self._action(
                "NonFilingReasonsRequested",
                asked,
                referral,
                referral.police,
                "请在七日内书面说明不立案的理由。",
                reply_due=due,
                word="要说",
            )
            if action is None:
                return
            document = action.payload["document_number"]
            answered = _add_days(asked, rng.randint(2, 6))
            if (
                self._record(
                    referral,
                    "non_filing_reasons",
                    answered,
                    in_reply_to=document,
                    word="说",
                    reasons="经审查，认为不符合立案条件。",
                )
                is None
            ):
                self.act_outcomes["REQUIRE_NON_FILING_REASONS"]["pending"] += 1
                self._pending("NON_FILING_REASONS_OVERDUE", referral.case_id, referral.police, due,
                              act="REQUIRE_NON_FILING_REASONS")
                return
            self.act_outcomes["REQUIRE_NON_FILING_REASONS"]["in_time"] += 1  # within 2-6 days
            # Every demo shows at least one order to file (通知立案), whatever the draw.
            if rng.random() < 0.3 or not self.counters[("procuratorate", "通立", "any")]:
                self._next("procuratorate", "通立", "any")
                ordered = _add_days(answered, rng.randint(5, 15))
                due = _add_days(ordered, 15)
                order = self._action(
                    "FilingOrdered",
                    ordered,
                    referral,
                    referral.police,
                    "不立案理由不能成立，请在十五日内立案。",
                    reply_due=due,
                    word="通立",
                )
                if order is None:
                    return
                filed = _add_days(ordered, rng.randint(3, 12))
                record = self._record(
                    referral,
                    "filing_decision",
                    filed,
                    decision="FILED",
                    in_reply_to=order.payload["document_number"],
                    word="立",
                )
                if record is None:
                    self.act_outcomes["ORDER_FILING"]["pending"] += 1
                    self._pending("ORDERED_FILING_OVERDUE", referral.case_id, referral.police,
                                  due, act="ORDER_FILING")
                    return
                self.act_outcomes["ORDER_FILING"]["in_time"] += 1  # filed within 3-12 days
                self._after_filing(referral, filed, conclude=True)

    def build_prosecutorial_leads(self) -> None:
        """Suggestions to refer, and recommendations (some never answered)."""
        rng = self.rng
        suspected = [
            c
            for c in self.cases
            if c.role == "suspected" and c.vtype.plant in {"amount", "quantity"}
        ]
        for case in suspected[: max(1, len(suspected) // 4)]:
            self._action(
                "ReferralSuggested",
                _add_days(case.decision_date, rng.randint(20, 60)),
                None,
                case.unit,
                "该案涉嫌犯罪，建议依法移送公安机关。",
                case=case,
                word="建移",
            )
        n_recommendations = max(3, round(len(self.referrals) * 0.08))
        unanswered = max(1, n_recommendations // 3)
        candidates = [
            c
            for c in self.cases
            if c.role in {"suspected", "plain"}
            and c.procedure == "普通"
            and c.decision_date <= self.end - timedelta(days=140)
        ]
        picks = rng.sample(candidates, min(n_recommendations, len(candidates)))
        for index, case in enumerate(picks):
            issued = self._pick_workday(
                _add_days(case.decision_date, 20), self.end - timedelta(days=70)
            )
            if issued < case.decision_date:
                continue
            due = add_months(issued, 2)
            content = (
                "针对该案存在的以罚代刑问题，建议依法移送涉嫌犯罪案件并健全移送机制。"
                if case.role == "suspected"
                else "针对该案执法中证据收集不规范问题，建议规范执法程序。"
            )
            action = self._action(
                "RecommendationIssued",
                issued,
                None,
                case.unit,
                content,
                case=case,
                reply_due=due,
                word="行建",
            )
            if action is None:
                continue
            if case.role == "plain":
                case.role = "recommended"
            if index < unanswered:
                action.payload["demo_unanswered"] = None
                continue
            action.payload["demo_answered"] = None
            self._reply(
                case.unit,
                case.case_id,
                (case.decision_number, case.case_number),
                "检察建议",
                action.payload["document_number"],
                self.procuratorate,
                issued,
                due,
                act="RECOMMENDATION",
            )

    def build_supervision_acts(self) -> None:
        """Answers to suggestions to refer, and the other letters a unit must answer
        (纠正违法通知书, 督促起诉意见书, issue #13), one of each left unanswered.

        Every letter states its reply date (the hub's clock takes it over the rule's
        period). Drawn from a random stream of its own, after every other gap is planted,
        so the rest of the county (its planted gaps, the README's figures) stays what the
        seed made it before; the silent unit (应录未录) writes no reply that would end
        its silence, so its letters stay unanswered.
        """
        saved, self.rng = self.rng, random.Random(self.seed * 31 + 13)
        silent = getattr(self, "silent_unit", None)  # planted by plant_missing_entries
        try:
            suggestions = [a for a in self.outbox if a.type == "ReferralSuggested"]
            for index, action in enumerate(suggestions):
                due = add_months(action.acted_on, 2)
                action.payload["reply_due_date"] = due.isoformat()
                if index == 0 or action.target is silent:
                    action.payload["demo_unanswered"] = None
                    continue
                self._answer(action, due, late=index == 1)
            plain = [c for c in self.cases if c.role == "plain" and c.procedure == "普通"
                     and c.unit is not silent and c.bad_kind is None
                     and c.decision_date <= self.end - timedelta(days=140)]
            letters = (
                ("CorrectionNoticeIssued", "纠违", timedelta(days=15),
                 "该案调查取证程序违法，请依法纠正，并于十五日内书面回复纠正情况。"),
                ("ProsecutionUrged", "督诉", None,
                 "该案造成国有财产损失，督促你单位依法提起民事诉讼追偿，并书面回复。"),
            )
            picks = self.rng.sample(plain, min(len(plain), 4 * len(letters)))
            for number, (type_, word, period, content) in enumerate(letters):
                for index, case in enumerate(picks[number * 4:(number + 1) * 4]):
                    issued = self._pick_workday(_add_days(case.decision_date, 30),
                                                self.end - timedelta(days=70))
                    due = issued + period if period else add_months(issued, 2)
                    letter = self._action(type_, issued, None, case.unit, content, case=case,
                                          reply_due=due, word=word)
                    if letter is None:
                        continue
                    case.role = "recommended"
                    if index == 0:
                        letter.payload["demo_unanswered"] = None
                        continue
                    self._answer(letter, due, within_days=(2, 12) if period else None,
                                 late=index == 1)
            self._invitations()
            self._consultations(silent)
        finally:
            self.rng = saved

    def _invitations(self) -> None:
        """The agency's invitation before each early intervention the procuratorate
        recorded (its outbox ``EarlyInterventionAttended``): a day before, so the 3-day
        clock (item 12 of the 兴庆区 opinion) is met and stopped by the attendance."""
        for action in [a for a in self.outbox if a.type == "EarlyInterventionAttended"]:
            ref = action.payload["case_ref"]
            agency = self.by_code[ref["agency_unit_code"]]
            day = _add_days(action.acted_on, -1)
            serial = self._next("invitation", agency.code, str(day.year))
            abbreviation = self._style(agency).abbreviation
            assert action.case_id is not None
            self.act_outcomes["EARLY_INTERVENTION_INVITATION"]["in_time"] += 1
            self._agency_row(
                "invitations",
                agency,
                day,
                {
                    "邀请编号": f"演{abbreviation}邀〔{day.year}〕{serial}号",
                    "受邀单位": self.procuratorate.name,
                    "受邀单位代码": self.procuratorate.code,
                    "行政处罚决定书文号": ref["decision_number"] or "",
                    "案件编号": ref["agency_case_number"] or "",
                    "邀请理由": "案情重大复杂，涉案金额接近立案追诉标准，邀请提前介入引导取证。",
                    "邀请日期": day,
                },
                action.case_id,
            )

    def _answer(self, action: OutboxAction, due: date,
                within_days: tuple[int, int] | None = None, *, late: bool = False) -> None:
        """The addressed agency's reply to an outbox letter, from its replies export.

        ``late``: answered 3–20 days after its due date when that is still inside the
        export (the hub raises the reply clock, then resolves it late); otherwise in time.
        """
        agency = action.target
        assert agency is not None and action.case_id is not None
        ref = action.payload["case_ref"]
        day = (_add_days(action.acted_on, self.rng.randint(*within_days))
               if within_days is not None else None)  # a short period: answered within it
        if late and _add_days(due, 20) <= self.end:
            day = _add_days(due, self.rng.randint(3, 20))
            action.payload["demo_late"] = day.isoformat()
        else:
            action.payload["demo_answered"] = None
        self._reply(agency, action.case_id,
                    (ref["decision_number"] or "", ref["agency_case_number"] or ""),
                    ANSWERED_OUTBOX_TYPES[action.type], action.payload["document_number"],
                    self.procuratorate, action.acted_on, due, day=day,
                    act=OUTBOX_TYPES[action.type][1])

    def _consultations(self, silent: Unit | None) -> None:
        """Case consultations 案件咨询 (issue #13): an agency asks the police unit its
        referral went to, from its consultations export; the police answer from their
        feedback API (record type consultation_answer, quoting the 咨询编号). Six per
        county: two answered within the 3 working days (兴庆区 opinion item 11), two late,
        two never; on referrals the police quote in full (no matching in between), after
        the referral's last feedback so the chain's order is untouched."""
        latest = self.end - timedelta(days=20)
        pool = [r for r in self.referrals
                if r.link == "full" and r.bad_kind is None and r.scenario != "unentered"
                and r.agency is not silent and r.records
                and r.records[-1].updated.date() < latest - timedelta(days=10)]
        picks = self.rng.sample(pool, min(len(pool), 6))
        outcomes = ("in_time", "in_time", "late", "late", "unanswered", "unanswered")
        for referral, outcome in zip(picks, outcomes, strict=False):
            agency, police = referral.agency, referral.police
            day = self._pick_workday(referral.records[-1].updated.date() + timedelta(days=1),
                                     latest)
            serial = self._next("consultation", agency.code, str(day.year))
            number = f"演{self._style(agency).abbreviation}咨〔{day.year}〕{serial}号"
            self._agency_row("consultations", agency, day, {
                "咨询编号": number,
                "被咨询单位": police.name,
                "被咨询单位代码": police.code,
                "行政处罚决定书文号": referral.decision_number or "",
                "案件编号": referral.case_number,
                "咨询事项": "该案涉案物品价值认定存在分歧，请就是否达到立案追诉标准提出意见。",
                "咨询日期": day,
            }, referral.case_id)
            due = self.calendar.add_working_days(day, 3)
            answered: date | None = None
            if outcome != "unanswered":
                span = (1, 3) if outcome == "in_time" else (5, 8)
                answered = self.calendar.add_working_days(day, self.rng.randint(*span))
                self._record(referral, "consultation_answer", answered,
                             reasons="经研究，现有证据尚不足以认定达到立案追诉标准，建议补充价格认定。",
                             in_reply_to=number, word="咨复")
            self.act_outcomes["CONSULTATION"][outcome] += 1
            if outcome != "in_time":
                self.consultation_gaps.append((outcome, agency, police, referral.case_id, day,
                                               number, due, answered))

    def build_open_cases(self) -> None:
        """The market bureau's open-case register 立案登记 / 在办案件 (issue #13, item 3):
        three cases of selling fake products still under investigation at the export
        date, with the sales found so far at 85%, 50% and 30% of the 50,000-yuan filing
        threshold. The first makes the hub raise the early-intervention candidate during
        the investigation (the 80% share of screening.yaml, Macheng); no penalty is
        decided on any of them. Own random stream and identities, so every other record
        of the county stays as it was; case numbers continue the bureau's 立 series."""
        saved, self.rng = self.rng, random.Random(self.seed * 37 + 5)
        try:
            agency = next((u for u in self.agencies if u.domains[0] == "market_regulation"),
                          None)
            vtype = next((v for v in self.catalogue if v.code == "MR-FAKE-PRODUCT"), None)
            if agency is None or vtype is None or vtype.amount_threshold is None:
                return
            ids = IdentityFactory(self.rng)
            abbreviation = self._style(agency).abbreviation
            early = Decimal(self.screening.early_intervention_ratio)
            # opened in date order, so the 立 numbers follow the register's order
            days = sorted(self._pick_workday(self.end - timedelta(days=60),
                                             self.end - timedelta(days=25))
                          for _ in OPEN_CASE_SHARES)
            categories = ("法人及非法人组织", "个体工商户", "自然人")
            for share, opened, category in zip(OPEN_CASE_SHARES, days, categories,
                                               strict=True):
                as_of = self._pick_workday(opened + timedelta(days=7), self.end)
                year = str(opened.year)
                number = f"演{abbreviation}立〔{year}〕{self._next('case', agency.code, year)}号"
                party = ids.party(vtype.domain, category)
                person = category == "自然人"
                amount = (vtype.amount_threshold * share).quantize(Decimal(1))
                case_id = case_id_for(agency.code, number)
                self._agency_row("open-cases", agency, opened, {
                    "立案编号": number,
                    "立案日期": opened,
                    "办案机关": agency.name,
                    "当事人名称": party.name,
                    "当事人类别": category,
                    "统一社会信用代码": "" if person else party.credit_code,
                    "证件类型": "居民身份证" if person else "",
                    "证件号码": party.person_id if person else "",
                    "法定代表人": "" if person else party.person_name,
                    "案由": vtype.label,
                    "违法行为类型代码": vtype.code or "",
                    "执法领域": vtype.domain,
                    "简要案情": f"当事人涉嫌{vtype.fact or vtype.label}，已查明销售金额{amount}元，"
                                "调查仍在进行（虚构）。",
                    "涉案金额（元）": str(amount),
                    "更新日期": as_of,
                }, case_id)
                if share >= early:
                    self.open_case_gaps.append((agency, case_id, number, opened, share, as_of))
        finally:
            self.rng = saved

    def expect_open_case_gaps(self) -> None:
        """The open case at the early-intervention share, at its register row: the hub
        raises EARLY_INTERVENTION_CANDIDATE on it before any decision (planted last, so
        every other gap keeps its id)."""
        for agency, case_id, number, opened, share, as_of in self.open_case_gaps:
            rows = sorted((r for r in self.agency_rows if r.kind == "open-cases"
                           and r.unit is agency and r.day.year == opened.year),
                          key=lambda r: (r.day, r.entry_date))
            row = next(i for i, r in enumerate(rows, 1) if r.values["立案编号"] == number)
            self._gap("open_case_near_threshold", "early_intervention_candidate", agency,
                      SourceRef(path=f"exports/{agency.code}/open-cases/"
                                     f"open-cases_{opened.year}.csv", row=row, line=row + 1),
                      case_id=case_id,
                      detail={"violation_type_code": "MR-FAKE-PRODUCT",
                              "offence": "fake-inferior-products", "ratio": f"{share:.3f}",
                              "stage": "investigation", "agency_case_number": number,
                              "amounts_as_of": as_of.isoformat()})

    def expect_consultation_gaps(self) -> None:
        """The consultations answered late or never, each at its row of the agency's
        consultations export (planted last, so every other gap keeps its id)."""
        for outcome, agency, police, case_id, day, number, due, answered in (
                self.consultation_gaps):
            rows = sorted((r for r in self.agency_rows if r.kind == "consultations"
                           and r.unit is agency and r.day.year == day.year),
                          key=lambda r: (r.day, r.entry_date))
            row = next(i for i, r in enumerate(rows, 1) if r.values["咨询编号"] == number)
            self._gap(f"consultation_{outcome}", "consultation_unanswered", agency,
                      SourceRef(path=f"exports/{agency.code}/consultations/"
                                     f"consultations_{day.year}.csv", row=row, line=row + 1),
                      case_id=case_id, due=due, resolved_on=answered, responsible=police,
                      detail={"consultation_id": number, "act": "CONSULTATION"})

    # ----------------------------------------------------------------- acts late or never

    def build_late_and_unanswered_acts(self) -> None:
        """The acts the county otherwise answers only in time, now also late and never
        (issue #13): 要求说明不立案理由, 通知立案, 检察意见书 and invitations to intervene
        early; the police's cancellations 撤案 of filed cases; penalty enforcement 执行到位.

        Drawn from a random stream of its own after every other planting, so nothing
        planted before moves (their exports gain the rows added here, no row changes).
        Each pick is on a case nothing else depends on: a referral the police quote in
        full (no matching in between), a plain penalty of an agency that is not silent.
        """
        saved, self.rng = self.rng, random.Random(self.seed * 31 + 15)
        try:
            self._reasons_and_orders()
            self._opinions_late_and_never()
            self._invitations_late_and_never()
            self._cancellations()
            self._enforcement()
            self._leads()
        finally:
            self.rng = saved

    def _clean_referrals(self, latest: date) -> list[Referral]:
        silent = self.silent_unit
        return [r for r in self.referrals
                if r.link == "full" and r.bad_kind is None and r.agency is not silent
                and r.scenario not in {"unentered", "bad_row", "ambiguous"} and r.records
                and r.records[-1].updated.date() < latest]

    def _not_planted(self, what: str) -> None:
        self.not_planted.append(f"act late or never: {what}")

    def _reasons_and_orders(self) -> None:
        """On referrals the police did not file: reasons asked and given late then an
        order to file never obeyed; reasons given in time then filing ordered and filed
        late; reasons asked and never given."""
        latest = self.end - timedelta(days=75)
        asked_on = {a.case_id for a in self.outbox if a.type == "NonFilingReasonsRequested"}
        pool = [r for r in self._clean_referrals(latest) if r.scenario == "not_filed"
                and r.case_id not in asked_on
                and not any(x.decision == "FILED" for x in r.records)]
        picks = self.rng.sample(pool, min(3, len(pool)))
        plans = (("late", "never"), ("in_time", "late"), ("never", None))
        for referral, (reasons, order) in zip(picks, plans, strict=False):
            asked = self._pick_workday(referral.records[-1].updated.date() + timedelta(days=3),
                                       referral.records[-1].updated.date() + timedelta(days=20))
            due = _add_days(asked, 7)
            action = self._action("NonFilingReasonsRequested", asked, referral,
                                  referral.police, "请在七日内书面说明不立案的理由。",
                                  reply_due=due, word="要说")
            assert action is not None
            answered: date | None = None
            if reasons != "never":
                span = (2, 6) if reasons == "in_time" else (10, 20)
                answered = _add_days(asked, self.rng.randint(*span))
                self._record(referral, "non_filing_reasons", answered,
                             in_reply_to=action.payload["document_number"], word="说",
                             reasons="经审查，认为不符合立案条件。")
            self._act_outcome("REQUIRE_NON_FILING_REASONS", reasons, action, due, answered,
                              "non_filing_reasons_overdue", referral.police)
            if order is None or answered is None:
                continue
            ordered = _add_days(answered, self.rng.randint(5, 10))
            due = _add_days(ordered, 15)
            filing = self._action("FilingOrdered", ordered, referral, referral.police,
                                  "不立案理由不能成立，请在十五日内立案。", reply_due=due,
                                  word="通立")
            assert filing is not None
            filed: date | None = None
            if order == "late":
                filed = _add_days(due, self.rng.randint(5, 20))
                self._record(referral, "filing_decision", filed, decision="FILED",
                             in_reply_to=filing.payload["document_number"], word="立")
                self._after_filing(referral, filed, conclude=False)
            self._act_outcome("ORDER_FILING", order, filing, due, filed,
                              "ordered_filing_overdue", referral.police)
        if len(picks) < 3:
            self._not_planted("REQUIRE_NON_FILING_REASONS / ORDER_FILING (too few "
                              "referrals not filed)")

    def _act_outcome(self, act: str, outcome: str, action: OutboxAction, due: date,
                     answered: date | None, alert: str, responsible: Unit,
                     late: list[tuple[str, str, str, OutboxAction, date, date | None, Unit]]
                     | None = None) -> None:
        """Tally one act; a late or never answered one becomes a gap at its outbox row
        (planted once the outbox is written, ``expect_late_and_unanswered_acts``; ``late``:
        another list of them, whose gaps are planted elsewhere)."""
        self.act_outcomes[act]["unanswered" if outcome == "never" else outcome] += 1
        if outcome != "in_time":
            assert action.case_id is not None
            (self.late_acts if late is None else late).append(
                (outcome, act, alert, action, due, answered, responsible))

    def _opinions_late_and_never(self) -> None:
        """Two 检察意见书 to agencies on their penalty decisions (行政违法行为监督): one
        answered 3–20 days past its two months, one never."""
        silent = self.silent_unit
        plain = [c for c in self.cases if c.role == "plain" and c.procedure == "普通"
                 and c.unit is not silent and c.bad_kind is None and c.referral is None
                 and c.decision_date <= self.end - timedelta(days=160)]
        for outcome, case in zip(("late", "never"), self.rng.sample(plain, min(2, len(plain))),
                                 strict=False):
            issued = self._pick_workday(_add_days(case.decision_date, 30),
                                        self.end - timedelta(days=100))
            due = add_months(issued, 2)
            opinion = self._action("OpinionIssued", issued, None, case.unit,
                                   "该案处罚明显不当，请依法纠正，并将处理结果书面告知本院。",
                                   case=case, reply_due=due, word="行意")
            assert opinion is not None
            case.role = "recommended"
            answered: date | None = None
            if outcome == "late":
                answered = _add_days(due, self.rng.randint(3, 20))
                self._reply(case.unit, case.case_id, (case.decision_number, case.case_number),
                            "检察意见", opinion.payload["document_number"], self.procuratorate,
                            issued, due, day=answered, act="OPINION")
            self._act_outcome("OPINION", outcome, opinion, due, answered,
                              "recommendation_unanswered", case.unit)

    def _invitations_late_and_never(self) -> None:
        """An agency's invitation the procuratorate attends 5–9 days later (its 3 days,
        兴庆区 opinion item 12, run out), and one nobody attends."""
        attended = {a.case_id for a in self.outbox if a.type == "EarlyInterventionAttended"}
        invited = {r.case_id for r in self.agency_rows if r.kind == "invitations"}
        pool = [r for r in self._clean_referrals(self.end - timedelta(days=30))
                if r.case_id not in attended | invited]
        for outcome, referral in zip(("late", "never"),
                                     self.rng.sample(pool, min(2, len(pool))), strict=False):
            agency = referral.agency
            day = self._pick_workday(referral.referral_date,
                                     min(_add_days(referral.referral_date, 60),
                                         self.end - timedelta(days=20)))
            serial = self._next("invitation", agency.code, str(day.year))
            number = f"演{self._style(agency).abbreviation}邀〔{day.year}〕{serial}号"
            self._agency_row("invitations", agency, day, {
                "邀请编号": number,
                "受邀单位": self.procuratorate.name,
                "受邀单位代码": self.procuratorate.code,
                "行政处罚决定书文号": referral.decision_number,
                "案件编号": referral.case_number,
                "邀请理由": "案情重大复杂，涉案金额接近立案追诉标准，邀请提前介入引导取证。",
                "邀请日期": day,
            }, referral.case_id)
            due = _add_days(day, 3)
            attended_on: date | None = None
            if outcome == "late":
                attended_on = _add_days(day, self.rng.randint(5, 9))
                self._action("EarlyInterventionAttended", attended_on, referral,
                             referral.police, "应邀提前介入，就证据收集、案件定性提出意见。",
                             word="介")
            self.act_outcomes["EARLY_INTERVENTION_INVITATION"][
                "unanswered" if outcome == "never" else outcome] += 1
            self.late_invitations.append((outcome, agency, referral.case_id, day, number, due,
                                          attended_on))

    def _cancellations(self) -> None:
        """The police cancel filed cases 撤案 (FilingDecided CANCELLED from their feedback
        API): two whose year to conclusion would have run out by the export (their
        filed-not-concluded gaps are gone) and one still running at the export (its
        pending clock is gone). The agency objects to each five working days later, by
        suggesting filing supervision 建议立案监督 to the procuratorate (a 申请类型
        建议立案监督 row of its reconsiderations export, see :meth:`_objection`)."""
        acted = {action.case_id for _, _, _, action, _, _, _ in self.late_acts}
        pool = [r for r in self._clean_referrals(self.end - timedelta(days=10))
                if r.case_id not in acted and any(x.decision == "FILED" for x in r.records)
                and not any(x.record_type == "transfer_for_prosecution" for x in r.records)
                and r.prosecuted_on is None and r.judged_on is None]
        def year_due(referral: Referral) -> date:
            filed = next(x for x in referral.records if x.decision == "FILED")
            return add_months(filed.day, 12)
        fired = [r for r in pool if year_due(r) <= self.end]
        running = [r for r in pool if year_due(r) > self.end]
        picks = (self.rng.sample(fired, min(2, len(fired)))
                 + self.rng.sample(running, min(1, len(running))))
        for referral in picks:
            last = referral.records[-1].updated.date()
            latest = min(_add_days(year_due(referral), -10), self.end)
            if latest <= last:
                continue
            day = self._pick_workday(_add_days(last, 1), latest)
            if day <= last:
                continue
            self._record(referral, "filing_decision", day, decision="CANCELLED", word="撤",
                         reasons="经侦查，发现不应对犯罪嫌疑人追究刑事责任，决定撤销案件。")
            tally = self.act_outcomes["POLICE_CANCELLATION"]
            tally["in_time"] += 1  # each stops its filed case's year before it runs out
            self.cancelled.append(referral.case_id)
            self._objection(referral, day)
        if not self.cancelled:
            self._not_planted("POLICE_CANCELLATION (no filed case left open)")

    def _objection(self, referral: Referral, cancelled_on: date) -> None:
        """The agency's objection to the cancellation (兴庆区 opinion item 8): no random
        draw (its entry date is its day), so every later pick of this stream stays put."""
        day = self.calendar.add_working_days(cancelled_on, 5)
        if day > self.end:
            return
        serial = self._next("objection", referral.agency.code, str(day.year))
        abbreviation = self._style(referral.agency).abbreviation
        self.agency_rows.append(AgencyRow("reconsiderations", referral.agency, day, day, {
            "申请类型": "建议立案监督",
            "复议申请书文号": f"演{abbreviation}监督〔{day.year}〕{serial}号",
            **_referral_columns(referral),
            "检察院代码": self.procuratorate.code,
            "申请日期": day,
            "复议理由": "公安机关撤销该案的理由不能成立，涉案数额已达立案追诉标准，建议检察机关"
                        "依法开展立案监督。",
        }, referral.case_id))
        self.act_outcomes["CANCELLATION_OBJECTION"]["in_time"] += 1
        self.objected.append(referral.case_id)

    def _enforcement(self) -> None:
        """Penalties exported 未执行 with the clock to enforcement (6 months, an operator
        setting) planted: two re-exported 执行到位 within it, one re-exported after it,
        one never; the re-export keeps the record's 录入日期 (entered once, its status
        updated since) and goes in the file of the month it was exported."""
        silent = self.silent_unit
        latest = add_months(self.end, -8)
        pool = [c for c in self.cases if c.role == "plain" and c.procedure == "普通"
                and c.unit is not silent and c.bad_kind is None and c.referral is None
                and c.fine > 0 and c.entry_date is not None
                and c.entry_date <= _add_days(c.decision_date, 2)
                and c.decision_date <= latest]
        outcomes = ("in_time", "in_time", "late", "never")
        for outcome, case in zip(outcomes, self.rng.sample(pool, min(4, len(pool))),
                                 strict=False):
            due = add_months(case.decision_date, 6)
            enforced: date | None = None
            if outcome == "in_time":
                enforced = _add_days(case.decision_date, self.rng.randint(30, 150))
            elif outcome == "late":  # still after its due date: due <= end - 2 months
                enforced = min(_add_days(due, self.rng.randint(10, 60)), self.end)
            exported = None if enforced is None else min(
                _add_days(enforced, self.rng.randint(0, 5)), self.end)
            self.enforcement[id(case)] = (case, outcome, due, enforced, exported)
            self.act_outcomes["PENALTY_ENFORCEMENT"][
                "unanswered" if outcome == "never" else outcome] += 1
        if len(self.enforcement) < len(outcomes):
            self._not_planted("PENALTY_ENFORCEMENT (too few plain penalties)")

    def _leads(self) -> None:
        """Leads 线索移送 from the procuratorate's outbox (type LeadTransferred) to the
        supervision commission and the justice bureau, four each on agencies' penalty
        cases: two fed back within the month, one 3–20 days after, one never. The feedback
        comes from the receiver's own replies export (agency-replies preset, 来文文号 = the
        lead number, 案件所属单位代码 = the case's agency). Public-interest litigation leads
        are planted apart (:meth:`build_public_interest_leads`)."""
        silent = self.silent_unit
        plain = [c for c in self.cases if c.role == "plain" and c.procedure == "普通"
                 and c.unit is not silent and c.bad_kind is None and c.referral is None
                 and c.decision_date <= self.end - timedelta(days=120)]
        outcomes = ("in_time", "in_time", "late", "never")
        picks = self.rng.sample(plain, min(len(plain), len(outcomes) * len(LEAD_DESTINATIONS)))
        for number, (destination, (role, act, content)) in enumerate(LEAD_DESTINATIONS.items()):
            receiver = next(u for u in self.units if u.role == role)
            chosen = picks[number * len(outcomes):(number + 1) * len(outcomes)]
            for outcome, case in zip(outcomes, chosen, strict=False):
                issued = self._pick_workday(_add_days(case.decision_date, 20),
                                            self.end - timedelta(days=60))
                due = add_months(issued, 1)
                lead = self._action("LeadTransferred", issued, None, receiver, content,
                                    case=case, reply_due=due, word="线")
                assert lead is not None
                lead.payload["destination"] = destination
                case.role = "recommended"
                answered: date | None = None
                if outcome != "never":
                    answered = (_add_days(issued, self.rng.randint(5, 25)) if outcome == "in_time"
                                else _add_days(due, self.rng.randint(3, 20)))
                    answered = min(answered, due) if outcome == "in_time" else answered
                    self._reply(receiver, case.case_id, (case.decision_number, case.case_number),
                                "线索移送", lead.payload["document_number"], self.procuratorate,
                                issued, due, day=answered, act=act, case_unit=case.unit)
                self._act_outcome(act, outcome, lead, due, answered, "lead_feedback_overdue",
                                  receiver)
            if len(chosen) < len(outcomes):
                self._not_planted(f"{act} (too few plain penalties)")

    def build_public_interest_leads(self) -> None:
        """Public-interest litigation leads 公益诉讼线索 (LeadTransferred, destination
        PUBLIC_INTEREST_LITIGATION) from the procuratorate's outbox on two agencies'
        penalty cases: one fed back within the month, one never. The procuratorate
        receives its own lead (its public-interest department), so the feedback is a
        row of its own outbox (type LeadFeedbackGiven, quoting the lead's number).

        Drawn from a random stream of its own after every other planting (the open cases
        included), so nothing planted before moves: the outbox only gains rows."""
        saved, self.rng = self.rng, random.Random(self.seed * 31 + 16)
        try:
            act, content = PUBLIC_INTEREST_LEAD
            silent = self.silent_unit
            plain = [c for c in self.cases if c.role == "plain" and c.procedure == "普通"
                     and c.unit is not silent and c.bad_kind is None and c.referral is None
                     and c.decision_date <= self.end - timedelta(days=120)]
            outcomes = ("in_time", "never")
            picks = self.rng.sample(plain, min(len(plain), len(outcomes)))
            for outcome, case in zip(outcomes, picks, strict=False):
                issued = self._pick_workday(_add_days(case.decision_date, 20),
                                            self.end - timedelta(days=60))
                due = add_months(issued, 1)
                lead = self._action("LeadTransferred", issued, None, self.procuratorate,
                                    content, case=case, reply_due=due, word="线")
                assert lead is not None
                lead.payload["destination"] = "PUBLIC_INTEREST_LITIGATION"
                case.role = "recommended"
                answered: date | None = None
                if outcome == "in_time":
                    answered = min(_add_days(issued, self.rng.randint(5, 25)), due)
                    feedback = self._action(
                        "LeadFeedbackGiven", answered, None, self.procuratorate,
                        "公益诉讼线索已受理，经审查已立案并发出诉前检察建议。", case=case,
                        word="线反", aggregate_id=lead.aggregate_id)
                    assert feedback is not None
                    feedback.payload["in_reply_to_document_number"] = (
                        lead.payload["document_number"])
                    feedback.payload["outcome"] = "ADOPTED"
                self._act_outcome(act, outcome, lead, due, answered, "lead_feedback_overdue",
                                  self.procuratorate, late=self.late_public_interest)
            if len(picks) < len(outcomes):
                self._not_planted(f"{act} (too few plain penalties)")
        finally:
            self.rng = saved

    def expect_late_and_unanswered_acts(self) -> None:
        """The gaps of ``build_late_and_unanswered_acts`` (planted last, so every other
        gap keeps its id): at the outbox row of the act, the agency's invitations row,
        the penalty row that exported 未执行."""
        self._late_act_gaps(self.late_acts)
        for outcome, agency, case_id, day, number, due, attended in self.late_invitations:
            rows = sorted((r for r in self.agency_rows if r.kind == "invitations"
                           and r.unit is agency and r.day.year == day.year),
                          key=lambda r: (r.day, r.entry_date))
            row = next(i for i, r in enumerate(rows, 1) if r.values["邀请编号"] == number)
            self._gap(f"invitation_{'late' if outcome == 'late' else 'unattended'}",
                      "early_intervention_unattended", agency,
                      SourceRef(path=f"exports/{agency.code}/invitations/"
                                     f"invitations_{day.year}.csv", row=row, line=row + 1),
                      case_id=case_id, due=due, resolved_on=attended,
                      responsible=self.procuratorate,
                      detail={"invitation_id": number, "act": "EARLY_INTERVENTION_INVITATION"})
        for case, outcome, due, enforced, _ in self.enforcement.values():
            if outcome == "in_time" or due > self.end:
                continue
            assert case.source is not None
            self._gap(f"enforcement_{'late' if outcome == 'late' else 'missing'}",
                      "penalty_not_enforced", case.unit, case.source, case_id=case.case_id,
                      due=due, resolved_on=enforced,
                      detail={"decision_number": case.decision_number,
                              "act": "PENALTY_ENFORCEMENT"})

    # ----------------------------------------------------------------- numbering

    def number_documents(self) -> None:
        """Decision, case and referral numbers per agency and year, in date order."""
        dated: list[tuple[date, int, PenaltyCase | Referral]] = []
        for case in self.cases:
            dated.append((case.decision_date, 0, case))
        for referral in self.referrals:
            if referral.penalty is None:
                dated.append((referral.referral_date - timedelta(days=20), 1, referral))
        dated.sort(key=lambda item: (item[0], item[1]))
        for day, _, item in dated:
            unit = item.unit if isinstance(item, PenaltyCase) else item.agency
            abbreviation = self._style(unit).abbreviation
            year = str(day.year)
            item.case_number = (
                f"演{abbreviation}立〔{year}〕{self._next('case', unit.code, year)}号"
            )
            if isinstance(item, PenaltyCase):
                word = "简罚" if item.procedure == "简易" else "罚"
                serial = self._next("decision", unit.code, word, year)
                item.decision_number = f"演{abbreviation}{word}〔{year}〕{serial}号"
        for referral in self.referrals:
            if referral.penalty is not None:
                referral.case_number = referral.penalty.case_number
            abbreviation = self._style(referral.agency).abbreviation
            year = str(referral.referral_date.year)
            serial = self._next("referral", referral.agency.code, year)
            referral.number = f"演{abbreviation}移〔{year}〕{serial}号"
            referral.entry_date = self._entry_after(referral.referral_date)

    # ----------------------------------------------------------------- late + bad

    def plant_late_entries_and_terms(self) -> None:
        """Penalty terms for every case; entry dates, a share of them late."""
        rng = self.rng
        for case in self.cases:
            self._penalty_terms(case)
            case.entry_date = self._entry_after(case.decision_date)
        latest = self.end - timedelta(days=90)
        pool = self._plain_cases(lambda c: c.decision_date <= latest)
        count = max(3, round(self.size * 0.025))
        for case in rng.sample(pool, min(count, len(pool))):
            case.role = "late"
            case.entry_date = self._entry_after(case.decision_date, late=True)

    def plant_bad_rows(self) -> None:
        """About 0.5 % bad rows in each format, each of a known kind."""
        rng = self.rng
        kinds = (
            "encoding",
            "invalid_resident_id",
            "invalid_credit_code",
            "impossible_date",
            "future_date",
            "negative_amount",
            "unknown_violation_code",
        )
        pool = self._plain_cases(lambda c: True)
        rng.shuffle(pool)
        count = max(len(kinds), round(self.size * 0.005))
        planted = 0
        for case in pool:
            if planted == count:
                break
            kind = kinds[planted % len(kinds)]
            style = self._style(case.unit)
            if kind == "encoding" and style.file_format == "xlsx":
                continue
            if kind == "invalid_credit_code" and case.party.category == "自然人":
                continue
            if (
                kind == "invalid_credit_code"
                and case.party.credit_code == sole_trader_placeholder()
            ):
                continue
            if kind == "negative_amount" and case.fine <= 0:
                continue
            case.role = "bad"
            case.bad_kind = kind
            planted += 1
        # Police feedback: arrest requests (no clock depends on them) and one leaked
        # internal record type.
        arrests = [r for r in self.feedback if r.record_type == "arrest_request"]
        n_bad_feedback = max(2, round(len(self.feedback) * 0.005))
        for index, record in enumerate(rng.sample(arrests, min(n_bad_feedback, len(arrests)))):
            record.bad_kind = ("invalid_resident_id", "impossible_date")[index % 2]
        police = self.police["county_psb"]
        occurred = self._office_time(self._pick_workday(self.end - timedelta(days=60), self.end))
        self.feedback_extra_bad.append(
            FeedbackRecord(
                police=police,
                record_type="status_sync",
                occurred=occurred,
                updated=self._recorded(occurred),
                referral=None,
                police_case_number="",
                document_number="",
                carries_referral=False,
                bad_kind="unknown_record_type",
            )
        )
        # Procuratorate outbox: a truncated payload and an unknown type.
        for kind in ("malformed_payload", "unknown_type"):
            day = self._pick_workday(self.end - timedelta(days=120), self.end - timedelta(days=5))
            self.outbox_extra_bad.append(
                OutboxAction(
                    "LegacyMigrationNote" if kind == "unknown_type" else "RecommendationIssued",
                    day,
                    self._office_time(day),
                    "supervision_case",
                    f"演检两法监〔{day.year}〕{self._next('supervision', str(day.year))}号",
                    {},
                    None,
                    None,
                    bad_kind=kind,
                )
            )

    def plant_missing_entries(self) -> None:
        """Missing entries 应录未录: decisions never entered, and an agency that stops.

        Six ordinary decisions are left out of their agency's export (their numbers are
        skipped in the series); one agency enters nothing decided in the last 75 days
        (its later cases are all ordinary ones, so nothing else points at them; a county
        too small for a rhythm plants none). A generator of its own (seeded from the
        demo's seed) picks the decisions, so the rest of the county is drawn as before.
        Referrals never entered are scenarios (``assign_scenarios``).
        """
        rng = random.Random(self.seed * 31 + 14)
        cutoff = self.end - timedelta(days=75)
        owing = {r.agency.code for r in self.referrals
                 if r.scenario == "unentered" or r.bad_kind is not None}
        minimum = 3 * self.missing_rules.silent_unit.min_history
        # The busiest eligible agency: its rhythm makes 75 days a silence by the rule.
        candidates = sorted((u for u in self.agencies if u.code not in owing
                             and len(self.cases_by_unit[u.code]) >= minimum),
                            key=lambda u: (-len(self.cases_by_unit[u.code]), u.code))
        for unit in candidates:
            after = [c for c in self.cases_by_unit[unit.code] if c.decision_date > cutoff]
            if after and all(c.role == "plain" and c.referral is None for c in after):
                for case in after:
                    case.role = "silent"
                self.silent_unit = unit
                break
        else:
            self.not_planted.append("missing_entry: silent unit")
        pool = [
            c for c in self.cases
            if c.role == "plain" and c.referral is None and c.unit is not self.silent_unit
            and self.start + timedelta(days=30) <= c.decision_date <= self.end - timedelta(days=60)
        ]
        pool.sort(key=lambda c: c.decision_number)
        for case in rng.sample(pool, min(6, len(pool))):
            case.role = "unentered"

    # ----------------------------------------------------------------- rendering rows

    def _penalty_row(self, case: PenaltyCase, *, reexport: bool = False) -> list[Any]:
        """One 双公示 row; cells are ``str`` or, for XLSX, ``date``/``float`` values.

        ``reexport``: the later export of a decision whose enforcement status changed to
        执行到位 (same record, same 录入日期).
        """
        style = self._style(case.unit)
        xlsx = style.file_format == "xlsx"
        party = case.party

        def day(value: date) -> Any:
            return value if xlsx else value.strftime(style.date_format)

        def money(value: Decimal | None) -> Any:
            if value is None:
                return None if xlsx else ""
            if xlsx:
                return float((value / _TEN_THOUSAND).quantize(_MICRO))
            return _wan(value, style.amount_style)

        legal_like = party.category != "自然人"
        parent = self.by_code.get(case.unit.parent or "")
        source_unit = parent if parent is not None and case.unit.parent else case.unit
        content_parts = []
        if "警告" in case.categories:
            content_parts.append("给予警告")
        if case.fine:
            content_parts.append(f"罚款人民币{case.fine:,.0f}元")
        if "没收违法所得" in case.categories and case.gains:
            content_parts.append(f"没收违法所得{case.gains:,.2f}元")
        if "没收非法财物" in case.categories:
            content_parts.append("没收涉案物品")
        if "责令停产停业" in case.categories:
            content_parts.append("责令停产停业一个月")
        if case.licence:
            content_parts.append(case.licence)
        severe = case.fine >= 100000 or "吊销许可证件" in case.categories
        disclosure_years = 3 if severe else 1
        disclosure = (
            case.decision_date.replace(year=case.decision_date.year + disclosure_years)
            if not (case.decision_date.month == 2 and case.decision_date.day == 29)
            else date(case.decision_date.year + disclosure_years, 2, 28)
        )
        if case.procedure == "简易":
            disclosure = min(disclosure, _add_days(case.decision_date, 90))
        validity = _add_days(case.decision_date, 365)
        quantity_text = ""
        if case.quantity is not None and case.quantity_unit:
            quantity_text = _quantity_text(case.quantity, case.quantity_unit)
        remarks = ""
        if case.role == "referred":
            remarks = "已移送公安机关"
        elif case.procedure == "简易":
            remarks = "当场处罚"
        values: dict[str, Any] = {
            "行政相对人名称": party.name,
            "行政相对人类别": party.category,
            "行政相对人代码_1": party.credit_code if legal_like else "",
            "行政相对人代码_2": "",
            "行政相对人代码_3": "",
            "行政相对人代码_4": "",
            "行政相对人代码_5": "",
            "行政相对人代码_6": "",
            "法定代表人": party.person_name if legal_like else "",
            "法定代表人证件类型": "身份证" if legal_like else "",
            "法定代表人证件号码": party.person_id if legal_like else "",
            "证件类型": "" if legal_like else "身份证",
            "证件号码": "" if legal_like else party.person_id,
            "行政处罚决定书文号": case.decision_number,
            "违法行为类型": case.vtype.label,
            "违法事实": f"经查，当事人{party.name}{case.vtype.fact}。",
            "处罚依据": case.vtype.legal_basis,
            "处罚类别": ";".join(case.categories),
            "处罚内容": "，".join(content_parts) or "给予警告",
            "罚款金额（万元）": money(case.fine),
            "没收违法所得、没收非法财物的金额（万元）": money(case.confiscation),
            "暂扣或吊销证照名称及编号": case.licence,
            "处罚决定日期": day(case.decision_date),
            "处罚有效期": day(validity),
            "公示截止期": day(disclosure),
            "处罚机关": case.unit.name,
            "处罚机关统一社会信用代码": case.unit.code,
            "数据来源单位": source_unit.name,
            "数据来源单位统一社会信用代码": source_unit.code,
            "备注": remarks,
            "违法行为类型代码": case.vtype.code or "",
            "程序类型": case.procedure,
            "执法领域": case.unit.domains[0],
            "行政区划代码": case.unit.division,
            "违法经营额（万元）": money(case.involved),
            "违法所得（万元）": money(case.gains),
            "涉案物品": case.quantity_item if quantity_text else "",
            "涉案数量": quantity_text,
            "数量单位": case.quantity_unit if quantity_text else "",
            "录入日期": day(case.entry_date or case.decision_date),
            "执行情况": "",
            "执行到位日期": None if xlsx else "",
        }
        planted = self.enforcement.get(id(case))
        if planted is not None:
            values["执行情况"] = "执行到位" if reexport else "未执行"
            if reexport and planted[3] is not None:
                values["执行到位日期"] = day(planted[3])
        self._spoil_penalty(case, values, xlsx, style)
        return [values[name] for name in PENALTY_COLUMNS]

    def _spoil_penalty(
        self, case: PenaltyCase, values: dict[str, Any], xlsx: bool, style: AgencyStyle
    ) -> None:
        kind = case.bad_kind
        if kind is None:
            return
        year = case.decision_date.year
        if kind == "encoding":
            values["行政相对人名称"] = writers.BAD_BYTES_MARKER
        elif kind == "invalid_resident_id":
            key = "证件号码" if case.party.category == "自然人" else "法定代表人证件号码"
            values[key] = _spoil_check_char(values[key], "0123456789X")
        elif kind == "invalid_credit_code":
            values["行政相对人代码_1"] = _spoil_check_char(
                values["行政相对人代码_1"], "0123456789ABCDEFGHJKLMNPQRTUWXY"
            )
        elif kind == "impossible_date":
            values["处罚决定日期"] = (
                style.date_format.replace("%Y", str(year)).replace("%m", "02").replace("%d", "30")
            )
        elif kind == "future_date":
            typo = case.decision_date.replace(
                year=int(f"2{str(year)[2]}{str(year)[1]}{str(year)[3]}")
            )
            values["处罚决定日期"] = typo if xlsx else typo.strftime(style.date_format)
        elif kind == "negative_amount":
            values["罚款金额（万元）"] = (
                -float(case.fine / _TEN_THOUSAND)
                if xlsx
                else "-" + _wan(case.fine, style.amount_style)
            )
        elif kind == "unknown_violation_code":
            values["违法行为类型代码"] = "ZZ-RETIRED-0421"

    # ----------------------------------------------------------------- writing

    def _write(self, relative: str, data: bytes) -> str:
        path = self.out_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return writers.sha256_of(data)

    def write_penalties(self) -> None:
        """Monthly penalty files per agency, grouped by entry month (as exported)."""
        grouped: dict[tuple[str, str], list[PenaltyCase]] = defaultdict(list)
        # Re-exports of a decision now enforced go in the file of the month they were
        # exported, after that month's entries.
        reexports: dict[tuple[str, str], list[PenaltyCase]] = defaultdict(list)
        for case in self.cases:
            if case.role in _NEVER_ENTERED:
                self.counts[case.unit.code]["penalties_never_entered"] += 1
                continue
            entry = case.entry_date or case.decision_date
            grouped[(case.unit.code, f"{entry:%Y%m}")].append(case)
        for case, _, _, _, exported in self.enforcement.values():
            if exported is not None:
                reexports[(case.unit.code, f"{exported:%Y%m}")].append(case)
                grouped.setdefault((case.unit.code, f"{exported:%Y%m}"), [])
        for (unit_code, month), cases in sorted(grouped.items()):
            unit = self.by_code[unit_code]
            style = self._style(unit)
            cases.sort(key=lambda c: (c.entry_date or c.decision_date, c.decision_number))
            header = (
                PENALTY_COLUMNS
                if style.header_variant == "domain"
                else PENALTY_COLUMNS_TEMPLATE_2021
            )
            again = sorted(reexports.get((unit_code, month), []),
                           key=lambda c: c.decision_number)
            rows = [self._penalty_row(case) for case in cases] + [
                self._penalty_row(case, reexport=True) for case in again]
            extension = style.file_format
            relative = f"exports/{unit_code}/penalties/penalties_{month}.{extension}"
            if extension == "xlsx":
                data = writers.write_xlsx(header, rows, "行政处罚", style.date_format)
                encoding = None
            else:
                bad_text = {
                    i: c.party.name for i, c in enumerate(cases) if c.bad_kind == "encoding"
                }
                data = writers.encode_csv(
                    header, rows, writers.CsvStyle(style.encoding, style.line_terminator), bad_text
                )
                encoding = style.encoding
            for index, case in enumerate(cases):
                case.source = SourceRef(path=relative, row=index + 1, line=index + 2)
            digest = self._write(relative, data)
            bad = sum(1 for c in cases if c.bad_kind)
            self.files.append(
                ExportFile(
                    path=relative,
                    unit_code=unit_code,
                    kind="penalties",
                    format=extension,
                    encoding=encoding,
                    date_format=style.date_format,
                    header_variant=style.header_variant,
                    records=len(rows),
                    bad_records=bad,
                    sha256=digest,
                )
            )
            self.counts[unit_code]["penalties"] += len(cases)
            self.counts[unit_code]["penalties_bad"] += bad
            if again:
                self.counts[unit_code]["penalties_reexported"] += len(again)

    def _referral_row(self, referral: Referral) -> list[str]:
        style = self._style(referral.agency)
        fmt = style.date_format
        party = referral.party
        legal_like = party.category != "自然人"
        items = list(PACKAGE_ITEMS[:2])
        if referral.quantity is not None:
            items.append(PACKAGE_ITEMS[2])
        if referral.vtype.domain in {"market_regulation", "environment", "forestry", "agriculture"}:
            items.append(PACKAGE_ITEMS[3])
        if self.rng.random() < 0.3:
            items.append(PACKAGE_ITEMS[4])
        unit = referral.vtype.quantity_unit or ""
        receiving_code = referral.police.code
        referral_day = referral.referral_date.strftime(fmt)
        if referral.bad_kind == "invalid_receiving_unit_code":
            receiving_code = _spoil_check_char(receiving_code, "0123456789ABCDEFGHJKLMNPQRTUWXY")
        if referral.bad_kind == "impossible_date":
            referral_day = (
                fmt.replace("%Y", str(referral.referral_date.year))
                .replace("%m", "04")
                .replace("%d", "31")
            )
        values = {
            "移送书文号": referral.number,
            "案件编号": referral.case_number,
            "行政处罚决定书文号": referral.decision_number,
            "案件名称": f"{party.name}涉嫌{referral.vtype.offence_name or '犯罪'}案",
            "移送单位": referral.agency.name,
            "移送单位统一社会信用代码": referral.agency.code,
            "行政区划代码": referral.agency.division,
            "执法领域": referral.agency.domains[0],
            "接收单位": referral.police.name,
            "接收单位代码": receiving_code,
            "当事人名称": party.name,
            "当事人类别": party.category,
            "当事人统一社会信用代码": party.credit_code if legal_like else "",
            "法定代表人": party.person_name if legal_like else "",
            "法定代表人证件类型": "身份证" if legal_like else "",
            "法定代表人证件号码": party.person_id if legal_like else "",
            "当事人证件类型": "" if legal_like else "身份证",
            "当事人证件号码": "" if legal_like else party.person_id,
            "违法行为类型代码": referral.vtype.code or "",
            "涉嫌罪名": referral.vtype.offence_name or "",
            "涉案金额（万元）": _wan(referral.involved, style.amount_style)
            if referral.involved is not None
            else "",
            "涉案物品": (referral.vtype.quantity_item or "") if referral.quantity else "",
            "涉案数量": _quantity_text(referral.quantity, unit) if referral.quantity else "",
            "数量单位": unit if referral.quantity else "",
            "审批日期": referral.referral_date.strftime(fmt),
            "移送日期": referral_day,
            "移送材料": "；".join(items),
            "是否抄送检察院": "是",
            "录入日期": (referral.entry_date or referral.referral_date).strftime(fmt),
            "备注": "",
        }
        return [values[name] for name in REFERRAL_COLUMNS]

    def _side_csv_style(self, unit: Unit) -> writers.CsvStyle:
        style = self._style(unit)
        encoding = "gb18030" if style.file_format == "xlsx" else style.encoding
        return writers.CsvStyle(encoding, style.line_terminator)

    def write_referral_exports(self) -> None:
        """Per agency and year: referrals, hand-overs, reconsideration requests, replies."""
        by_unit: dict[tuple[str, str], list[Referral]] = defaultdict(list)
        for referral in self.referrals:
            by_unit[(referral.agency.code, str(referral.referral_date.year))].append(referral)
        for (unit_code, year), referrals in sorted(by_unit.items()):
            unit = self.by_code[unit_code]
            style = self._style(unit)
            relative = f"exports/{unit_code}/referrals/referrals_{year}.csv"
            referrals.sort(key=lambda r: (r.referral_date, r.number))
            for referral in referrals:
                if referral.scenario == "unentered":  # where it should have been
                    referral.source = SourceRef(path=relative)
            referrals = [r for r in referrals if r.scenario != "unentered"]
            if not referrals:
                continue
            rows = [self._referral_row(r) for r in referrals]
            csv_style = self._side_csv_style(unit)
            data = writers.encode_csv(REFERRAL_COLUMNS, rows, csv_style)
            for index, referral in enumerate(referrals):
                referral.source = SourceRef(path=relative, row=index + 1, line=index + 2)
            bad = sum(1 for r in referrals if r.bad_kind)
            self.files.append(
                ExportFile(
                    path=relative,
                    unit_code=unit_code,
                    kind="referrals",
                    format="csv",
                    encoding=csv_style.encoding,
                    date_format=style.date_format,
                    records=len(rows),
                    bad_records=bad,
                    sha256=self._write(relative, data),
                )
            )
            self.counts[unit_code]["referrals"] += len(rows)
            self.counts[unit_code]["referrals_bad"] += bad
        columns = {
            "handovers": HANDOVER_COLUMNS,
            "reconsiderations": RECONSIDERATION_COLUMNS,
            "replies": REPLY_COLUMNS,
            "invitations": INVITATION_COLUMNS,
            "consultations": CONSULTATION_COLUMNS,
            "open-cases": OPEN_CASE_COLUMNS,
        }
        grouped: dict[tuple[str, str, str], list[AgencyRow]] = defaultdict(list)
        for row in self.agency_rows:
            grouped[(row.kind, row.unit.code, str(row.day.year))].append(row)
        for (kind, unit_code, year), rows_ in sorted(grouped.items()):
            unit = self.by_code[unit_code]
            style = self._style(unit)
            rows_.sort(key=lambda r: (r.day, r.entry_date))
            header = columns[kind]
            rendered = []
            for row in rows_:
                values = dict(row.values)
                values["录入日期"] = row.entry_date
                rendered.append(
                    [
                        v.strftime(style.date_format) if isinstance(v, date) else str(v)
                        for v in (values.get(name, "") for name in header)
                    ]
                )
            relative = f"exports/{unit_code}/{kind}/{kind}_{year}.csv"
            csv_style = self._side_csv_style(unit)
            data = writers.encode_csv(header, rendered, csv_style)
            self.files.append(
                ExportFile(
                    path=relative,
                    unit_code=unit_code,
                    kind=kind,
                    format="csv",
                    encoding=csv_style.encoding,
                    date_format=style.date_format,
                    records=len(rendered),
                    bad_records=0,
                    sha256=self._write(relative, data),
                )
            )
            self.counts[unit_code][kind] += len(rendered)

    def _feedback_json(self, record: FeedbackRecord) -> dict[str, Any]:
        referral = record.referral
        if referral is None:
            return {
                "cursor": record.cursor,
                "updated_at": record.updated.isoformat(),
                "record_id": f"FB{record.police.code[-6:]}{record.cursor:07d}",
                "record_type": record.record_type,
                "record_type_name": "系统状态同步",
                "police_unit_code": record.police.code,
                "police_unit_name": record.police.name,
                "occurred_at": record.occurred.isoformat(),
                "decision_date": record.day.isoformat(),
                "note": "internal status synchronisation",
            }
        party = referral.party
        legal_like = party.category != "自然人"
        party_json: dict[str, Any] = {
            "name": party.name,
            "category": party.category,
            "credit_code": party.credit_code
            if legal_like and party.credit_code != sole_trader_placeholder()
            else None,
            "id_type": "身份证",
            "id_number": party.person_id,
            "person_name": party.person_name,
        }
        occurred = record.occurred.isoformat()
        decision_date = record.day.isoformat()
        if record.bad_kind == "invalid_resident_id":
            party_json["id_number"] = _spoil_check_char(party.person_id, "0123456789X")
        elif record.bad_kind == "impossible_date":
            decision_date = f"{record.day.year}-02-30"
            occurred = f"{decision_date}T{record.occurred:%H:%M:%S}+08:00"
        carries = record.carries_referral
        return {
            "cursor": record.cursor,
            "updated_at": record.updated.isoformat(),
            "record_id": f"FB{record.police.code[-6:]}{record.cursor:07d}",
            "record_type": record.record_type,
            "record_type_name": "撤销案件决定" if record.decision == "CANCELLED"
            else FEEDBACK_TYPES[record.record_type],
            "police_unit_code": record.police.code,
            "police_unit_name": record.police.name,
            "police_case_number": record.police_case_number or None,
            "document_number": record.document_number,
            "occurred_at": occurred,
            "decision_date": decision_date,
            "referral_number": referral.number if carries else None,
            "referring_unit_code": referral.agency.code if carries else None,
            "agency_decision_number": (referral.decision_number or None) if carries else None,
            "agency_case_number": referral.case_number if carries else None,
            "suspected_offence": referral.vtype.offence_name,
            "parties": [party_json],
            "decision": record.decision,
            "reasons": record.reasons,
            "in_reply_to": record.in_reply_to,
        }

    def write_feedback(self) -> None:
        """The police case system's feedback API, one JSON list per police unit."""
        per_unit: dict[str, list[FeedbackRecord]] = defaultdict(list)
        for record in self.feedback + self.feedback_extra_bad:
            per_unit[record.police.code].append(record)
        for police in self.police.values():
            records = sorted(
                per_unit.get(police.code, []), key=lambda r: (r.updated, r.document_number)
            )
            for cursor, record in enumerate(records, start=1):
                record.cursor = cursor
            relative = f"exports/police/{police.code}/feedback.json"
            payload = [self._feedback_json(r) for r in records]
            bad = sum(1 for r in records if r.bad_kind)
            self.files.append(
                ExportFile(
                    path=relative,
                    unit_code=police.code,
                    kind="police_feedback",
                    format="json",
                    encoding="utf-8",
                    records=len(records),
                    bad_records=bad,
                    sha256=self._write(relative, writers.write_json(payload)),
                )
            )
            self.counts[police.code]["feedback"] += len(records)
            self.counts[police.code]["feedback_bad"] += bad
            for record in records:
                self.counts[police.code][f"feedback_{record.record_type}"] += 1

    def write_outbox(self) -> None:
        """The procuratorate's outbox table in a SQLite file."""
        actions = sorted(
            self.outbox + self.outbox_extra_bad, key=lambda a: (a.created, a.aggregate_id)
        )
        rows: list[tuple[int, str, str, str, str, str]] = []
        for row_id, action in enumerate(actions, start=1):
            action.row_id = row_id
            payload = json.dumps(action.payload, ensure_ascii=False, sort_keys=True)
            if action.bad_kind == "malformed_payload":
                payload = '{"action_name": "检察建议", "document_number": "演检行建〔'
            elif action.bad_kind == "unknown_type":
                payload = json.dumps({"note": "数据迁移备注"}, ensure_ascii=False)
            rows.append(
                (
                    row_id,
                    action.aggregate_type,
                    action.aggregate_id,
                    action.type,
                    payload,
                    action.created.isoformat(),
                )
            )
        relative = "exports/procuratorate/actions.sqlite"
        path = self.out_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        writers.write_outbox_sqlite(path, rows)
        bad = sum(1 for a in actions if a.bad_kind)
        self.files.append(
            ExportFile(
                path=relative,
                unit_code=self.procuratorate.code,
                kind="procuratorate_outbox",
                format="sqlite",
                records=len(rows),
                bad_records=bad,
                sha256=writers.sha256_of(path.read_bytes()),
            )
        )
        self.counts[self.procuratorate.code]["outbox"] += len(rows)
        self.counts[self.procuratorate.code]["outbox_bad"] += bad
        for action in actions:
            self.counts[self.procuratorate.code][f"outbox_{action.type}"] += 1

    def _judgment_xml(self, judgment: Judgment) -> writers.XmlElement:
        X = writers.XmlElement
        referral = judgment.referral
        party = referral.party
        defendants: list[writers.XmlElement] = []
        verdict_zh = {"CONVICTED": "有罪", "EXEMPTED": "免予刑事处罚", "ACQUITTED": "无罪"}
        offence = referral.vtype.offence_name or ""
        if party.category == "法人及非法人组织":
            defendants.append(
                X(
                    "defendant",
                    children=(
                        X("name", party.name),
                        X("category", "单位"),
                        X("idType", "统一社会信用代码"),
                        X("idNumber", party.credit_code),
                        X("offence", offence),
                        X("verdict", verdict_zh[judgment.verdict]),
                        X("verdictCode", judgment.verdict),
                        X(
                            "sentence",
                            f"判处罚金人民币{judgment.fine_yuan * 2}元"
                            if judgment.verdict == "CONVICTED"
                            else judgment.sentence,
                        ),
                        X("fineYuan", f"{judgment.fine_yuan * 2:.2f}"),
                    ),
                )
            )
        defendants.append(
            X(
                "defendant",
                children=(
                    X("name", party.person_name),
                    X("category", "自然人"),
                    X("idType", "居民身份证"),
                    X("idNumber", party.person_id),
                    X("offence", offence),
                    X("verdict", verdict_zh[judgment.verdict]),
                    X("verdictCode", judgment.verdict),
                    X("sentence", judgment.sentence),
                    X("fineYuan", f"{judgment.fine_yuan:.2f}"),
                ),
            )
        )
        origin: list[tuple[str, str]] = [
            ("policeUnitCode", referral.police.code),
            ("policeCaseNumber", referral.police_case_number),
            ("agencyCode", referral.agency.code),
        ]
        if referral.link == "full":
            origin.append(("referralNumber", referral.number))
        children: list[writers.XmlElement] = [
            X("courtCaseNumber", judgment.number),
            X("judgmentNumber", judgment.number),
            X("caseName", f"被告人{party.person_name}{offence.removesuffix('罪')}一案"),
            X("procedure", "普通程序"),
            X("judgmentDate", judgment.judged_on.isoformat()),
            X("effectiveDate", _add_days(judgment.judged_on, 12).isoformat())
            if _add_days(judgment.judged_on, 12) <= self.end
            else X("effectiveDate"),
            X("enteredAt", judgment.entered.isoformat()),
            X(
                "publicProsecution",
                attributes=(
                    ("procuratorateCode", self.procuratorate.code),
                    ("procuratorate", self.procuratorate.name),
                    ("indictmentNumber", judgment.indictment_number),
                    ("procuratorateCaseNumber", judgment.procuratorate_case_number),
                ),
            ),
            X("caseOrigin", attributes=tuple(origin)),
            X("defendants", children=tuple(defendants)),
        ]
        exported = judgment.entered
        if judgment.recommendation is not None:
            number, issued, due, content = judgment.recommendation
            # The file cannot predate what it carries: a recommendation issued days after
            # the judgment is exported with it on the day it was issued.
            exported = max(exported, exported.replace(
                year=issued.year, month=issued.month, day=issued.day))
            children.append(
                X(
                    "judicialRecommendation",
                    content,
                    attributes=(
                        ("number", number),
                        ("targetUnitCode", referral.agency.code),
                        ("targetUnit", referral.agency.name),
                        ("issuedOn", issued.isoformat()),
                        ("replyDueDate", due.isoformat()),
                    ),
                )
            )
        return X(
            "courtExport",
            attributes=(
                ("version", "1.0"),
                ("court", self.court.name),
                ("courtCode", self.court.code),
                ("exportedAt", exported.isoformat()),
            ),
            children=(X("judgment", children=tuple(children)),),
        )

    def write_judgments(self) -> None:
        """One XML file per judgment, plus two bad files (a DOCTYPE, a truncated file)."""
        directory = "exports/court/judgments"
        for judgment in sorted(self.judgments, key=lambda j: (j.judged_on, j.number)):
            serial = judgment.number.split("刑初")[1].rstrip("号")
            judgment.path = f"{directory}/judgment_{judgment.judged_on.year}_{int(serial):04d}.xml"
            data = writers.render_xml(self._judgment_xml(judgment))
            self.files.append(
                ExportFile(
                    path=judgment.path,
                    unit_code=self.court.code,
                    kind="court_judgment",
                    format="xml",
                    encoding="utf-8",
                    records=1,
                    bad_records=0,
                    sha256=self._write(judgment.path, data),
                )
            )
        year = self.end.year
        doctype = (
            "<!DOCTYPE courtExport [\n"
            '  <!ENTITY lol "lol">\n'
            '  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">\n'
            '  <!ENTITY xxe SYSTEM "file:///etc/passwd">\n'
            "]>"
        )
        X = writers.XmlElement
        entity_root = X(
            "courtExport",
            attributes=(
                ("version", "1.0"),
                ("court", self.court.name),
                ("courtCode", self.court.code),
            ),
            children=(
                X(
                    "judgment",
                    children=(
                        X("courtCaseNumber", f"（{year}）演刑初9001号"),
                        X("caseName", "ENTITY_PLACEHOLDER"),
                        X("judgmentDate", f"{year}-11-03"),
                    ),
                ),
            ),
        )
        entity_data = writers.render_xml(entity_root, doctype=doctype).replace(
            b"ENTITY_PLACEHOLDER", b"&lol2;&xxe;"
        )
        truncated = (
            writers.render_xml(entity_root)
            .replace(b"ENTITY_PLACEHOLDER", "被告人张某某非法经营一案".encode())
            .replace("演刑初9001号".encode(), "演刑初9002号".encode())
        )
        truncated = truncated[: truncated.index(b"</judgmentDate>") + 8]
        for name, data, kind, error in (
            (
                f"judgment_{year}_9001_doctype.xml",
                entity_data,
                "xml_entity_expansion",
                "DOCTYPE with internal and external entities: must be refused, never expanded",
            ),
            (
                f"judgment_{year}_9002_truncated.xml",
                truncated,
                "xml_malformed",
                "file ends inside an element: not well-formed XML",
            ),
        ):
            relative = f"{directory}/{name}"
            self.files.append(
                ExportFile(
                    path=relative,
                    unit_code=self.court.code,
                    kind="court_judgment",
                    format="xml",
                    encoding="utf-8",
                    records=1,
                    bad_records=1,
                    sha256=self._write(relative, data),
                )
            )
            self.judgment_bad.append((relative, kind, error))
        self.counts[self.court.code]["judgments"] = len(self.judgments) + 2
        self.counts[self.court.code]["judgments_bad"] = 2

    # ----------------------------------------------------------------- expectations

    def _screen(self, case: PenaltyCase) -> tuple[Decimal, str, str]:
        """The hub's screening ratio of a case (max over offences and alternatives).

        Mirrors hub/rules: violation_offences.yaml maps the code to offences and says which
        money column feeds which basis; thresholds.yaml gives each alternative's minimums.
        Returns (ratio, offence id, alternative id); infinity for qualifying codes.
        """
        code = case.vtype.code
        if not code or (case.procedure == "简易" and not self.screening.screen_summary_procedure):
            return Decimal(0), "", ""
        mapping = self.offence_map.for_code(code)
        if mapping is None:
            return Decimal(0), "", ""
        if mapping.qualifying:
            return (
                Decimal("Infinity"),
                mapping.offences[0] if mapping.offences else "",
                "qualifying",
            )
        amounts = mapping.amount_bases(self.screening.default_amounts)
        values: dict[str, Decimal] = {}
        fen = Decimal(100)
        if case.involved is not None:
            for basis_id in amounts.get("illegal_turnover_fen", ()):
                values[basis_id] = case.involved * fen
        if case.gains is not None:
            for basis_id in amounts.get("illegal_gains_fen", ()):
                values[basis_id] = case.gains * fen
        if case.quantity is not None and case.quantity_item and case.quantity_unit:
            for source in mapping.quantities:
                if source.accepts(case.quantity_item):
                    basis = self.thresholds.basis(source.basis)
                    unit = self.screening.canonical_unit(case.quantity_unit)
                    converted = (
                        case.quantity
                        if unit == basis.unit
                        else self.screening.convert(case.quantity, unit, basis.unit or "")
                    )
                    if converted is not None:
                        values[source.basis] = converted
        individual = case.party.category in {"自然人", "个体工商户"}
        best = (Decimal(0), "", "")
        for offence_id in mapping.offences:
            offence = self.thresholds.offence(offence_id)
            if offence.per_se:
                return Decimal("Infinity"), offence_id, "per_se"
            for alternative in offence.alternatives:
                if alternative.party == "individual" and not individual:
                    continue
                if alternative.party == "unit" and individual:
                    continue
                if any(mapping.context.get(k) != v for k, v in alternative.context.items()):
                    continue
                ratio = min(values.get(c.basis, Decimal(0)) / c.minimum for c in alternative.all_of)
                if ratio > best[0]:
                    best = (ratio, offence_id, alternative.id)
        return best

    def expect_screening(self) -> None:
        """Suspected non-referrals and early-intervention candidates, as the hub will see."""
        lead = Decimal(self.screening.lead_ratio)
        early = Decimal(self.screening.early_intervention_ratio)
        window = self.screening.no_referral_window_days
        referred: dict[str, date] = {}
        for referral in self.referrals:
            if referral.bad_kind is None and referral.penalty is not None:
                referred[referral.penalty.case_id] = referral.referral_date
        for case in self.cases:
            if case.bad_kind is not None or case.role in _NEVER_ENTERED:
                continue
            ratio, offence_id, alternative = self._screen(case)
            if ratio < early:
                if case.role in {"suspected", "early"}:
                    raise AssertionError(
                        f"planted {case.role} case {case.decision_number} screens at {ratio}"
                    )
                continue
            referral_day = referred.get(case.case_id)
            if referral_day is not None and (referral_day - case.decision_date).days <= window:
                continue
            alert = "suspected_non_referral" if ratio >= lead else "early_intervention_candidate"
            planted = {
                "suspected": "suspected_non_referral",
                "early": "early_intervention_candidate",
            }.get(case.role)
            if planted != alert:
                raise AssertionError(
                    f"unplanned {alert} on {case.decision_number} ({case.vtype.key}, "
                    f"role {case.role}, ratio {ratio})"
                )
            kind = {"qualifying": "qualifying_violation_not_referred"}.get(
                alternative,
                "near_threshold"
                if alert == "early_intervention_candidate"
                else "above_threshold_not_referred",
            )
            if case.vtype.plant == "repeat":
                kind = "repeat_offence_not_referred"
            assert case.source is not None
            self._gap(
                kind,
                alert,
                case.unit,
                case.source,
                case_id=case.case_id,
                due=_add_days(case.decision_date, window),
                detail={
                    "violation_type_code": case.vtype.code or "",
                    "offence": offence_id,
                    "alternative": alternative,
                    "ratio": "qualifying" if ratio.is_infinite() else f"{ratio:.3f}",
                    "decision_date": case.decision_date.isoformat(),
                },
            )

    def expect_missing_entries(self) -> None:
        """The MISSING_ENTRY alerts due at the export date (hub/rules/missing_entry.yaml).

        Worked out from what the exports hold, as the hub sees it: a number absent between
        two present ones of a series (planted, or a dead-lettered row), a silent agency,
        a referral the police answered that its agency never entered (planted, or a
        dead-lettered row). A unit's clock is its latest decision or referral date.
        """
        rules = self.missing_rules
        cal = self.calendar
        written = [c for c in self.cases
                   if c.role not in _NEVER_ENTERED and c.bad_kind is None]
        clock: dict[str, date] = {}
        for case in written:
            clock[case.unit.code] = max(clock.get(case.unit.code, case.decision_date),
                                        case.decision_date)
        for referral in self.referrals:
            if referral.scenario != "unentered" and referral.bad_kind is None:
                code = referral.agency.code
                clock[code] = max(clock.get(code, referral.referral_date), referral.referral_date)
        by_case = {c.case_id: c for c in self.cases}
        # numbers skipped: per unit, series and year
        series: dict[tuple[str, str, str], dict[int, PenaltyCase]] = defaultdict(dict)
        for case in written:
            prefix, year, serial = _split_number(case.decision_number)
            series[(case.unit.code, prefix, year)][serial] = case
        for (unit_code, prefix, year), numbers in sorted(series.items()):
            present = sorted(numbers)
            for below, above in itertools.pairwise(present):
                if above - below < 2 or above - below - 1 > rules.number_gaps.max_gap:
                    continue
                due = cal.add_working_days(numbers[above].decision_date,
                                           rules.number_gaps.grace_working_days)
                if due >= clock[unit_code]:
                    continue
                for serial in range(below + 1, above):
                    number = f"{prefix}〔{year}〕{serial}号"
                    missing = by_case.get(case_id_for(unit_code, number))
                    kind = ("number_gap.never_entered"
                            if missing is not None and missing.role == "unentered"
                            else "number_gap.dead_lettered")
                    source = (missing.source if missing is not None and missing.source
                              else numbers[above].source)
                    assert source is not None
                    self._gap(kind, "missing_entry", self.by_code[unit_code], source,
                              case_id=case_id_for(unit_code, number), due=due,
                              detail={"missing_number": number})
        # silent agencies, against the county's clock (the median unit's latest decision)
        dates: dict[str, list[date]] = defaultdict(list)
        for case in written:
            dates[case.unit.code].append(case.decision_date)
        history = {code: sorted(set(days))[-rules.silent_unit.history_size:]
                   for code, days in dates.items()
                   if len(set(days)) >= rules.silent_unit.min_history}
        if history:
            latest = sorted(days[-1] for days in history.values())
            county = latest[(len(latest) - 1) // 2]
            for code, days in sorted(history.items()):
                median = statistics.median(cal.working_days_between(a, b)
                                           for a, b in itertools.pairwise(days))
                threshold = max(rules.silent_unit.min_working_days,
                                math.ceil(rules.silent_unit.history_multiplier * median))
                due = cal.add_working_days(days[-1], threshold)
                if due >= county:
                    continue
                unit = self.by_code[code]
                planted = unit is self.silent_unit
                last = max((c for c in self.cases_by_unit[code]
                            if c.role not in _NEVER_ENTERED and c.bad_kind is None),
                           key=lambda c: c.decision_date)
                assert last.source is not None
                self._gap("silent_unit" if planted else "silent_unit.natural",
                          "missing_entry", unit, last.source,
                          case_id=case_id_for(code, _SILENT_SUBJECT), due=due,
                          detail={"last_entry": days[-1].isoformat(),
                                  "threshold_working_days": str(threshold),
                                  "county_clock": county.isoformat()})
        if self.silent_unit is not None and not any(
                g.kind == "silent_unit" for g in self.gaps):
            self.not_planted.append("missing_entry: silent unit (its rhythm is too sparse)")
        # referrals the police answered that the hub never saw
        for referral in self.referrals:
            if referral.scenario != "unentered" and referral.bad_kind is None:
                continue
            quoted = sorted((r for r in referral.records
                             if r.carries_referral and r.bad_kind is None),
                            key=lambda r: r.day)
            if not quoted:
                continue
            due = cal.add_working_days(quoted[0].day,
                                       rules.unentered_referrals.grace_working_days)
            if due >= clock.get(referral.agency.code, date.min):
                continue
            assert referral.source is not None
            self._gap("unentered_referral" if referral.scenario == "unentered"
                      else "unentered_referral.dead_lettered", "missing_entry",
                      referral.agency, referral.source, case_id=referral.case_id, due=due,
                      responsible=referral.agency,
                      detail={"referral_number": referral.number,
                              "police_unit_code": referral.police.code})

    def _gap(
        self,
        kind: str,
        alert: str,
        unit: Unit,
        source: SourceRef,
        *,
        case_id: str | None = None,
        due: date | None = None,
        resolved_on: date | None = None,
        field_name: str | None = None,
        error: str | None = None,
        responsible: Unit | None = None,
        detail: dict[str, str] | None = None,
    ) -> None:
        self.gaps.append(
            Gap(
                id=f"gap-{len(self.gaps) + 1:04d}",
                kind=kind,
                alert=alert,
                alert_kind=ALERT_KINDS[alert],
                unit_code=unit.code,
                responsible_unit_code=responsible.code if responsible else None,
                case_id=case_id,
                source=source,
                due=due,
                resolved_on=resolved_on,
                field=field_name,
                error=error,
                detail=detail or {},
            )
        )

    def expect_penalty_gaps(self) -> None:
        """Late entries and bad penalty rows."""
        for case in self.cases:
            if case.role in _NEVER_ENTERED:
                continue
            assert case.source is not None
            deadline = self.calendar.add_working_days(case.decision_date, 3)
            if (
                case.entry_date is not None
                and case.entry_date > deadline
                and case.procedure == "普通"
            ):
                if case.role != "late":
                    raise AssertionError(f"unplanned late entry {case.decision_number}")
                self._gap(
                    "late_entry",
                    "entry_late",
                    case.unit,
                    case.source,
                    case_id=case.case_id,
                    due=deadline,
                    resolved_on=case.entry_date,
                    detail={
                        "decision_date": case.decision_date.isoformat(),
                        "entry_date": case.entry_date.isoformat(),
                        "working_days_after_decision": str(
                            self.calendar.working_days_between(case.decision_date, case.entry_date)
                        ),
                    },
                )
            if case.bad_kind is not None:
                field_name, error = _BAD_PENALTY_ERRORS[case.bad_kind]
                style = self._style(case.unit)
                if style.header_variant != "domain":
                    field_name = PENALTY_COLUMNS_TEMPLATE_2021[PENALTY_COLUMNS.index(field_name)]
                if case.bad_kind == "encoding":
                    error = error.format(encoding=style.encoding)
                self._gap(
                    f"bad_row.{case.bad_kind}",
                    "dead_letter",
                    case.unit,
                    case.source,
                    case_id=case.case_id,
                    field_name=field_name,
                    error=error,
                )

    def _simulate_matching(self) -> dict[FeedbackRecord, tuple[str | None, str]]:
        """What the hub's matcher does with each feedback record, in cursor order.

        Mirrors hub/rules/matching.yaml: a referral number (of a referral the hub has)
        matches outright and teaches the police case number; a known police case number
        matches; otherwise party identifiers, offence and date window score candidates
        (with the ``sole_candidate`` bonus when only one case of the party is in the
        window, then capped at ``identifier_max``, as streams/matching_logic.py does),
        and only a unique candidate at or above the confident threshold is matched.
        The hub knows every referral here: it reads them all before the feedback (a hub
        that reads feedback first may decide differently, see README "Known differences").
        """
        matching = self.matching
        bonus = matching.party_identifier_bonus
        known = [r for r in self.referrals if r.bad_kind is None and r.scenario != "unentered"]
        by_number = {r.number: r for r in known}
        # The hub indexes referrals and penalty decisions alike for identifier matching:
        # (case id, identifiers, day, offence, receiving police unit code).
        indexed: list[tuple[str, set[str], date, str | None, str | None]] = [
            (
                r.case_id,
                set(_identifiers(r.party)),
                r.referral_date,
                r.vtype.offence_name,
                r.police.code,
            )
            for r in known
        ]
        indexed += [
            (c.case_id, set(_identifiers(c.party)), c.decision_date, None, None)
            for c in self.cases
            if c.bad_kind is None and c.role not in _NEVER_ENTERED
        ]
        by_identifier: dict[str, list[int]] = defaultdict(list)
        for position, entry in enumerate(indexed):
            for identifier in sorted(entry[1]):
                by_identifier[identifier].append(position)
        learned: dict[str, str] = {}
        outcome: dict[FeedbackRecord, tuple[str | None, str]] = {}
        records = sorted(self.feedback, key=lambda r: (r.police.code, r.cursor))
        for record in records:
            if record.bad_kind is not None:
                outcome[record] = (None, "bad_record")
                continue
            referral = record.referral
            assert referral is not None
            police_key = f"{record.police.code}|{record.police_case_number}"
            if record.police_case_number and police_key in learned:
                outcome[record] = (learned[police_key], "police_case_number")
                continue
            if record.carries_referral:
                match = by_number.get(referral.number)
                if match is None:
                    outcome[record] = (None, "unknown_referral")
                else:
                    if record.police_case_number:
                        learned[police_key] = match.case_id
                    outcome[record] = (match.case_id, "referral_number")
                continue
            identifiers = set(_identifiers(referral.party))
            best: dict[str, Decimal] = {}
            positions = sorted({p for i in identifiers for p in by_identifier.get(i, [])})
            for position in positions:
                case_id, _, day, offence, receiving = indexed[position]
                age = (record.day - day).days
                if age < 0 or age > matching.date_window_days:
                    continue
                score = matching.scores.party_identifier
                if receiving == record.police.code:
                    score += bonus.same_referring_unit
                if offence is not None and offence == referral.vtype.offence_name:
                    score += bonus.same_offence
                best[case_id] = max(score, best.get(case_id, Decimal(0)))
            if len(best) == 1 and bonus.sole_candidate:
                # The only case of this party in the window: the hub applies the match.
                best = {case_id: score + bonus.sole_candidate for case_id, score in best.items()}
            best = {case_id: min(score, bonus.identifier_max) for case_id, score in best.items()}
            top = max(best.values(), default=Decimal(0))
            leaders = [case_id for case_id, score in best.items() if score == top]
            if len(leaders) == 1 and top >= matching.confident_threshold:
                learned[police_key] = leaders[0]
                outcome[record] = (leaders[0], "party_offence_dates")
            elif len(leaders) > 1:
                outcome[record] = (None, "ambiguous")
            else:
                outcome[record] = (None, "party_offence_dates")
        return outcome

    def expect_feedback_and_clocks(self) -> list[FeedbackExpectation]:
        """Matching expectations, then every clock from what the hub can match."""
        outcome = self._simulate_matching()
        expectations: list[FeedbackExpectation] = []
        matched: dict[Referral, list[FeedbackRecord]] = defaultdict(list)
        feedback_path = {
            p.code: f"exports/police/{p.code}/feedback.json" for p in self.police.values()
        }
        for record in sorted(self.feedback, key=lambda r: (r.police.code, r.cursor)):
            case_id, basis = outcome[record]
            referral = record.referral
            assert referral is not None
            expectations.append(
                FeedbackExpectation(
                    police_unit_code=record.police.code,
                    cursor=record.cursor,
                    record_type=record.record_type,
                    expected_case_id=case_id,
                    true_case_id=referral.case_id,
                    basis=basis,
                )
            )
            source = SourceRef(path=feedback_path[record.police.code], cursor=record.cursor)
            if record.bad_kind is not None:
                field_name, error = _BAD_FEEDBACK_ERRORS[record.bad_kind]
                self._gap(
                    f"bad_record.{record.bad_kind}",
                    "dead_letter",
                    record.police,
                    source,
                    case_id=referral.case_id,
                    field_name=field_name,
                    error=error,
                )
                continue
            if case_id is None:
                kind = {
                    "ambiguous": "ambiguous_feedback",
                    "unknown_referral": "feedback_for_unentered_referral"
                    if referral.scenario == "unentered"
                    else "feedback_for_dead_lettered_referral",
                    "party_offence_dates": "identifier_only_feedback",
                }[basis]
                # The hub's alert is keyed by the case the record arrives under: the
                # quoted referral's case, or the police case number under the police unit.
                arrived = (
                    referral.case_id
                    if record.carries_referral
                    else case_id_for(record.police.code, record.police_case_number)
                )
                self._gap(
                    kind,
                    "feedback_unmatched",
                    record.police,
                    source,
                    case_id=arrived,
                    detail={
                        "true_case_id": referral.case_id,
                        "police_case_number": record.police_case_number,
                        "record_type": record.record_type,
                        "why": _UNMATCHED_WHY[kind],
                    },
                )
                continue
            matched[referral].append(record)
        for record in self.feedback_extra_bad:
            expectations.append(
                FeedbackExpectation(
                    police_unit_code=record.police.code,
                    cursor=record.cursor,
                    record_type=record.record_type,
                    expected_case_id=None,
                    true_case_id=None,
                    basis="bad_record",
                )
            )
            field_name, error = _BAD_FEEDBACK_ERRORS[record.bad_kind or ""]
            self._gap(
                f"bad_record.{record.bad_kind}",
                "dead_letter",
                record.police,
                SourceRef(path=feedback_path[record.police.code], cursor=record.cursor),
                field_name=field_name,
                error=error,
            )
        for referral in self.referrals:
            assert referral.source is not None
            if referral.scenario == "unentered":
                continue  # no clock runs on a referral the hub never saw (missing entry)
            if referral.bad_kind is not None:
                field_name, error = _BAD_REFERRAL_ERRORS[referral.bad_kind]
                self._gap(
                    f"bad_row.{referral.bad_kind}",
                    "dead_letter",
                    referral.agency,
                    referral.source,
                    case_id=referral.case_id,
                    field_name=field_name,
                    error=error,
                )
                continue
            self._referral_clocks(referral, matched.get(referral, []))
        return expectations

    def _referral_clocks(self, referral: Referral, seen: list[FeedbackRecord]) -> None:
        """Receipt, filing-decision, 6-month and 1-year clocks of one referral."""
        end = self.end
        source = referral.source
        assert source is not None
        case_id = referral.case_id
        planted_cause = referral.scenario
        receipts = [r for r in seen if r.record_type == "receipt"]
        decisions = [r for r in seen if r.record_type in {"filing_decision", "not_filed"}]
        detail = {
            "referral_number": referral.number,
            "referral_date": referral.referral_date.isoformat(),
            "scenario": planted_cause,
            "feedback_link": referral.link,
        }
        receipt_due = _add_days(referral.referral_date, 1)
        if not receipts and receipt_due <= end:
            kind = (
                "receipt_missing"
                if planted_cause in {"receipt_missing", "no_feedback"}
                else (
                    "ambiguous_feedback" if planted_cause == "ambiguous" else "receipt_not_matched"
                )
            )
            self._gap(
                kind,
                "receipt_missing",
                referral.agency,
                source,
                case_id=case_id,
                due=receipt_due,
                responsible=referral.police,
                detail=detail,
            )
        elif not receipts:
            self._pending("ACKNOWLEDGEMENT_OVERDUE", case_id, referral.police, receipt_due)
        first_decision = min((r.day for r in decisions), default=None)
        if receipts:
            due = _add_days(receipts[0].day, 3)
            if first_decision is None and due > end:
                self._pending("FILING_DECISION_OVERDUE", case_id, referral.police, due)
            elif (first_decision is None or first_decision > due) and due <= end:
                kind = {
                    "late_3_days": "late_decision_3_days",
                    "late_30_days": "late_decision_30_days",
                    "late_6_months": "late_decision_6_months",
                    "never_decided": "decision_missing",
                    "ambiguous": "ambiguous_feedback",
                }.get(planted_cause, "decision_not_matched")
                economic = referral.vtype.offence_category == "economic"
                self._gap(
                    kind,
                    "filing_decision_overdue",
                    referral.agency,
                    source,
                    case_id=case_id,
                    due=due,
                    resolved_on=first_decision,
                    responsible=referral.police,
                    detail={**detail, "economic_crime_clock": str(economic).lower()},
                )
        due_6 = add_months(referral.referral_date, 6)
        if first_decision is None or first_decision > due_6:
            if due_6 <= end:
                kind = {
                    "late_6_months": "late_decision_6_months",
                    "never_decided": "decision_missing",
                    "no_feedback": "no_feedback",
                    "ambiguous": "ambiguous_feedback",
                }.get(planted_cause, "decision_not_matched")
                self._gap(
                    kind,
                    "referral_not_filed_6_months",
                    referral.agency,
                    source,
                    case_id=case_id,
                    due=due_6,
                    resolved_on=first_decision,
                    responsible=referral.police,
                    detail=detail,
                )
            else:
                self._pending("REFERRAL_NOT_FILED_LONG", case_id, referral.police, due_6)
        filed = [r for r in seen if r.record_type == "filing_decision"
                 and r.decision != "CANCELLED"]
        if filed:
            filed_on = filed[0].day
            # Stops of filed-case-not-concluded-1-year on the referral's case: the matched
            # transfer for prosecution, the prosecution decision (the judgment is keyed by
            # the court's case number, so it never reaches this case; it always follows
            # the prosecution decision anyway), the police's cancellation 撤案.
            transfers = [r.day for r in seen if r.record_type == "transfer_for_prosecution"
                         or r.decision == "CANCELLED"]
            concluded = min(
                (d for d in (*transfers, referral.prosecuted_on, referral.judged_on)
                 if d is not None),
                default=None,
            )
            due_12 = add_months(filed_on, 12)
            if (concluded is None or concluded > due_12) and due_12 <= end:
                kind = (
                    "filed_not_concluded"
                    if planted_cause == "filed_not_concluded"
                    else "conclusion_late"
                )
                self._gap(
                    kind,
                    "filed_not_concluded_1_year",
                    referral.agency,
                    source,
                    case_id=case_id,
                    due=due_12,
                    resolved_on=concluded,
                    responsible=referral.police,
                    detail=detail,
                )
            elif concluded is None:
                self._pending("FILED_NOT_CONCLUDED", case_id, referral.police, due_12)
            handover_due = _add_days(filed_on, 3)
            if not any(d >= filed_on for d in referral.handovers):
                self._pending("HANDOVER_OVERDUE", case_id, referral.agency, handover_due)

    def expect_outbox_gaps(self) -> None:
        """Unanswered recommendations and the bad outbox rows."""
        path = "exports/procuratorate/actions.sqlite"
        for action in self.outbox:
            act = OUTBOX_TYPES[action.type][1]
            if "demo_answered" in action.payload:
                del action.payload["demo_answered"]
                answered = any(r.answers == action.payload["document_number"]
                               for r in self.agency_rows if r.kind == "replies")
                self.act_outcomes[act]["in_time" if answered else "pending"] += 1
            if "demo_late" in action.payload:
                answered_on = date.fromisoformat(action.payload.pop("demo_late"))
                assert action.target is not None
                self.act_outcomes[act]["late"] += 1
                self._gap(
                    "reply_late", "recommendation_unanswered", self.procuratorate,
                    SourceRef(path=path), case_id=action.case_id,
                    due=date.fromisoformat(action.payload["reply_due_date"]),
                    resolved_on=answered_on, responsible=action.target,
                    detail={"document_number": action.payload["document_number"],
                            "act": act, "_action": str(id(action))})
            if "demo_unanswered" in action.payload:
                del action.payload["demo_unanswered"]
                due = date.fromisoformat(action.payload["reply_due_date"])
                assert action.target is not None
                self.act_outcomes[act]["unanswered" if due <= self.end else "pending"] += 1
                if due <= self.end:
                    self._gap(
                        "recommendation_unanswered",
                        "recommendation_unanswered",
                        self.procuratorate,
                        SourceRef(path=path),
                        case_id=action.case_id,
                        due=due,
                        responsible=action.target,
                        detail={
                            "document_number": action.payload["document_number"],
                            "act": act,
                            "_action": str(id(action)),
                        },
                    )
                else:
                    self._pending("REPLY_OVERDUE", action.case_id or "", action.target, due,
                                  act=act)

    def finish_outbox_gaps(self) -> None:
        """Fill in outbox row ids once the table is written."""
        path = "exports/procuratorate/actions.sqlite"
        by_identity = {str(id(a)): a for a in self.outbox}
        fixed: list[Gap] = []
        for gap in self.gaps:
            if "_action" in gap.detail:
                action = by_identity[gap.detail["_action"]]
                detail = {k: v for k, v in gap.detail.items() if k != "_action"}
                gap = gap.model_copy(
                    update={
                        "source": SourceRef(path=path, outbox_id=action.row_id),
                        "detail": detail,
                    }
                )
            fixed.append(gap)
        self.gaps = fixed
        for action in self.outbox_extra_bad:
            field_name, error = _BAD_OUTBOX_ERRORS[action.bad_kind or ""]
            self._gap(
                f"bad_row.{action.bad_kind}",
                "dead_letter",
                self.procuratorate,
                SourceRef(path=path, outbox_id=action.row_id),
                field_name=field_name,
                error=error,
            )

    # ----------------------------------------------------------------- run

    def run(self) -> DemoManifest:
        """Build the world, write every export, and return the manifest."""
        self.build_penalties()
        self.plant_screening()
        self.build_referrals()
        self.assign_scenarios()
        self.number_documents()
        for referral in self.referrals:
            if referral.scenario == "bad_row":
                referral.bad_kind = ("invalid_receiving_unit_code", "impossible_date")[
                    sum(1 for r in self.referrals if r.bad_kind)
                ]
        self.build_chains()
        self.build_prosecutorial_leads()
        self.plant_late_entries_and_terms()
        self.plant_bad_rows()
        self.plant_missing_entries()
        self.build_supervision_acts()
        self.build_late_and_unanswered_acts()
        self.build_open_cases()
        self.build_public_interest_leads()
        self.write_penalties()
        self.write_referral_exports()
        self.write_feedback()
        self.expect_penalty_gaps()
        self.expect_screening()
        feedback = self.expect_feedback_and_clocks()
        self.expect_missing_entries()
        self.expect_outbox_gaps()
        self.write_outbox()
        self.finish_outbox_gaps()
        self.write_judgments()
        self.finish_outbox_gaps_for_judgments()
        self.expect_consultation_gaps()
        self.expect_judicial_recommendation_gaps()
        self.expect_late_and_unanswered_acts()
        self.expect_open_case_gaps()
        self._late_act_gaps(self.late_public_interest)  # last: every other gap keeps its id
        totals: dict[str, int] = defaultdict(int)
        for unit_counts in self.counts.values():
            for key, value in unit_counts.items():
                totals[key] += value
        for gap in self.gaps:
            totals[f"gaps_{gap.alert}"] += 1
        manifest = DemoManifest(
            seed=self.seed,
            penalty_cases=self.size,
            start=self.start,
            end=self.end,
            as_of=self.end,
            county={
                "name": self.county.name,
                "name_en": self.county.name_en,
                "division_code": self.county.division_code,
            },
            violation_types_source="hub/rules/violation_types.yaml",
            calendar_warnings=sorted(set(self.calendar.warnings)),
            case_id_rule=CASE_ID_RULE,
            files=sorted(self.files, key=lambda f: f.path),
            counts={
                code: dict(sorted(values.items())) for code, values in sorted(self.counts.items())
            },
            totals=dict(sorted(totals.items())),
            gaps=self.gaps,
            pending_clocks=sorted(
                self.pending, key=lambda p: (p.due, p.case_id, p.alert_kind or "")
            ),
            feedback=feedback,
            acts=self._act_tallies(),
            not_planted=self.not_planted,
        )
        data = manifest.model_dump_json(indent=2).encode("utf-8") + b"\n"
        (self.out_dir / "manifest.json").write_bytes(data)
        return manifest

    def _late_act_gaps(
            self, late: list[tuple[str, str, str, OutboxAction, date, date | None, Unit]]
    ) -> None:
        """Each act answered late or never: a gap at its outbox row."""
        outbox = "exports/procuratorate/actions.sqlite"
        for outcome, act, alert, action, due, answered, responsible in late:
            self._gap(f"{act.lower()}_{'late' if outcome == 'late' else 'unanswered'}",
                      alert, self.procuratorate, SourceRef(path=outbox,
                                                           outbox_id=action.row_id),
                      case_id=action.case_id, due=due, resolved_on=answered,
                      responsible=responsible,
                      detail={"document_number": action.payload["document_number"],
                              "act": act})

    def _act_tallies(self) -> dict[str, ActTally]:
        """Per act, what was planted and how it ended (manifest ``acts``)."""
        from deploy.demo.check import act_rules
        from hub.rules import load_deadlines

        rules = act_rules()
        kinds = {rule.id: str(rule.alert_kind) for rule in load_deadlines().rules}
        tallies: dict[str, ActTally] = {}
        for act, outcomes in sorted(self.act_outcomes.items()):
            rule_id = rules.get(act, "")
            case_ids = {"POLICE_CANCELLATION": sorted(self.cancelled),
                        "CANCELLATION_OBJECTION": sorted(self.objected)}.get(act, [])
            delivery = ({"inbox": self.procuratorate.code,
                         "event_type": "FilingSupervisionRequested"}
                        if act == "CANCELLATION_OBJECTION" else {})
            tallies[act] = ActTally(rule_id=rule_id, alert_kind=kinds.get(rule_id, ""),
                                    planted=sum(outcomes.values()), case_ids=case_ids,
                                    **delivery, **outcomes)
        return tallies

    def finish_outbox_gaps_for_judgments(self) -> None:
        """Judgment bad files are written last; their gaps follow the outbox ones."""
        for relative, kind, error in self.judgment_bad:
            self._gap(
                f"bad_file.{kind}", "dead_letter", self.court, SourceRef(path=relative), error=error
            )


_BAD_PENALTY_ERRORS: dict[str, tuple[str, str]] = {
    "encoding": ("行政相对人名称", "bytes not valid in the file's encoding ({encoding})"),
    "invalid_resident_id": (
        "证件号码",
        "resident ID check character does not match (GB 11643-1999)",
    ),
    "invalid_credit_code": (
        "行政相对人代码_1",
        "统一社会信用代码 check character does not match (GB 32100-2015)",
    ),
    "impossible_date": ("处罚决定日期", "no such calendar date (February 30)"),
    "future_date": ("处罚决定日期", "decision date in the future (year typo)"),
    "negative_amount": ("罚款金额（万元）", "negative fine amount"),
    "unknown_violation_code": ("违法行为类型代码", "code not in hub/rules/violation_types.yaml"),
}
_BAD_REFERRAL_ERRORS: dict[str, tuple[str, str]] = {
    "invalid_receiving_unit_code": (
        "接收单位代码",
        "统一社会信用代码 check character does not match (GB 32100-2015)",
    ),
    "impossible_date": ("移送日期", "no such calendar date (April 31)"),
}
_BAD_FEEDBACK_ERRORS: dict[str, tuple[str, str]] = {
    "invalid_resident_id": (
        "parties[0].id_number",
        "resident ID check character does not match (GB 11643-1999)",
    ),
    "impossible_date": ("decision_date", "no such calendar date (February 30)"),
    "unknown_record_type": ("record_type", "unknown record type 'status_sync'"),
}
_BAD_OUTBOX_ERRORS: dict[str, tuple[str, str]] = {
    "malformed_payload": ("payload", "payload is not valid JSON (truncated)"),
    "unknown_type": ("type", "unknown outbox event type 'LegacyMigrationNote'"),
}
#: The subject the hub files a silent unit's alert under (streams/missing_entry_logic.py).
_SILENT_SUBJECT = "应录未录:长期未录入"


def _split_number(number: str) -> tuple[str, str, int]:
    """``演市监罚〔2025〕13号`` → (``演市监罚``, ``2025``, 13): the generator's own spelling."""
    prefix, rest = number.split("〔", 1)
    year, serial = rest.split("〕", 1)
    return prefix, year, int(serial.rstrip("号"))


#: Penalty cases planted as never entered: left out of every export.
_NEVER_ENTERED = frozenset({"unentered", "silent"})

_UNMATCHED_WHY: dict[str, str] = {
    "ambiguous_feedback": "two referrals share the party, offence and date: a person must choose",
    "feedback_for_dead_lettered_referral": "quotes a referral whose export row was "
    "dead-lettered, so the hub never saw it",
    "feedback_for_unentered_referral": "quotes a referral the agency never entered",
    "identifier_only_feedback": "only party identifiers link it to its referral and the "
    "party has another case in the date window, so hub/rules/matching.yaml gives no "
    "sole-candidate bonus and a person confirms the candidate",
}


_CHINESE_NUMBERS = "零一二三四五六七八九十"


def _term_text(months: int) -> str:
    """A prison term as a judgment words it: 18 → 一年六个月, 8 → 八个月."""
    years, rest = divmod(months, 12)
    text = f"{_CHINESE_NUMBERS[years]}年" if years else ""
    if rest:
        text += f"{_CHINESE_NUMBERS[rest]}个月"
    return text


def _alert_name(alert_kind: str) -> str | None:
    for name, kind in ALERT_KINDS.items():
        if kind == alert_kind:
            return name
    return None


def _spoil_check_char(value: str, alphabet: str) -> str:
    """The same identifier with a different (hence wrong) last character."""
    last = value[-1]
    replacement = (
        alphabet[(alphabet.index(last) + 1) % len(alphabet)] if last in alphabet else alphabet[0]
    )
    return value[:-1] + replacement


def generate(
    out_dir: Path,
    *,
    seed: int = 2026,
    penalty_cases: int = 10_000,
    start: date = DEFAULT_START,
    end: date = DEFAULT_END,
) -> DemoManifest:
    """Write Demo County's exports into ``out_dir`` and return the manifest.

    ``out_dir`` is created; existing files of a previous run with the same layout are
    overwritten (run into an empty directory for a clean set).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    return _Generator(out_dir, seed, penalty_cases, start, end).run()


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m deploy.demo.generate OUT_DIR [--seed] [--cases]``."""
    parser = argparse.ArgumentParser(
        prog="python -m deploy.demo.generate",
        description="Generate Demo County's fictional source-system exports and manifest.",
    )
    parser.add_argument("out_dir", type=Path, help="directory to write exports/ and manifest.json")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--cases", type=int, default=10_000, help="penalty cases (>= 200)")
    parser.add_argument("--start", type=date.fromisoformat, default=DEFAULT_START)
    parser.add_argument("--end", type=date.fromisoformat, default=DEFAULT_END)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    began = time.perf_counter()
    manifest = generate(
        args.out_dir, seed=args.seed, penalty_cases=args.cases, start=args.start, end=args.end
    )
    elapsed = time.perf_counter() - began
    by_alert: dict[str, int] = defaultdict(int)
    for gap in manifest.gaps:
        by_alert[gap.alert] += 1
    logger.info("wrote %s files to %s in %.2f s", len(manifest.files), args.out_dir, elapsed)
    for alert, count in sorted(by_alert.items()):
        logger.info("planted %-30s %5d", alert, count)
    if manifest.not_planted:
        logger.warning("not planted (window or size too small): %s", manifest.not_planted)
    return 0


if __name__ == "__main__":
    sys.exit(main())

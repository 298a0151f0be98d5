"""Missing entries 应录未录, pure part: what a unit should have entered and did not.

The five reports' first failure is what never reaches the platform: units that stop
entering, selective entry, staff turnover. The hub sees only what arrives, so it infers
the missing from three traces, each charged to the unit that owes the entry:

- **silent unit**: no penalty decision of the unit for longer than its own rhythm allows
  (``max(min_working_days, history_multiplier × its median gap)`` working days), counted
  against the county's clock (the median of every unit's latest decision date, so a feed
  read ahead of the others, or one future-dated typo, does not make everyone silent);
- **number gaps**: 〔2025〕12号 and 14号 present, 13号 absent once the unit's own latest
  decision is more than a grace period past 14号's decision date (a series is the text
  before the year: 罚 and 简罚 are numbered apart);
- **unentered referral**: police feedback or a court judgment quotes a referral letter
  the referring agency never entered, once the agency's own latest entry is a grace
  period past the feedback.

Every clock here is *event* time (the decision dates the exports carry), never the wall
clock, so a backfill of last year's exports finds last year's gaps and a replay finds the
same ones. The thresholds are data (``hub/rules/missing_entry.yaml``, operator settings).

:class:`MissingEntryTracker` is fed the statistics feed's events (what it keeps is its
base's, :class:`~streams.missing_entry_ledger.MissingEntryLedger`) and returns, per
evaluation, the alerts to raise and to resolve (a missing number that arrives, a silent
unit that enters again, a referral entered late). Alert ids are deterministic, so an
evaluation repeated after a restart emits byte-identical events.
"""

from __future__ import annotations

import math
import statistics
from datetime import date, datetime, time
from itertools import pairwise
from typing import Literal

from hub.calendar import CHINA_TZ
from hub.identity import case_id_for
from hub.models import Alert, AlertKind, AlertStatus
from streams._alerts import build_alert, uuid_for
from streams.missing_entry_ledger import MissingEntryLedger, _iso

__all__ = [
    "PROCESSOR",
    "RULE_NUMBER_GAP",
    "RULE_SILENT_UNIT",
    "RULE_UNENTERED_REFERRAL",
    "MissingEntryTracker",
    "number_gap_case_id",
    "silent_unit_case_id",
]

PROCESSOR = "stats"
RULE_SILENT_UNIT = "missing-entry-silent-unit"
RULE_NUMBER_GAP = "missing-entry-number-gap"
RULE_UNENTERED_REFERRAL = "missing-entry-unentered-referral"

Check = Literal["silent", "gap", "referral"]
_RULES: dict[str, str] = {"silent": RULE_SILENT_UNIT, "gap": RULE_NUMBER_GAP,
                          "referral": RULE_UNENTERED_REFERRAL}


def silent_unit_case_id(unit_code: str) -> str:
    """The subject an alert about a silent unit is filed under (one per unit)."""
    return case_id_for(unit_code, "应录未录:长期未录入")


def number_gap_case_id(unit_code: str, missing_number: str) -> str:
    """The case id the missing decision would have had (``case_id_for(unit, number)``):
    when the case is entered at last, its alert and its case are one."""
    return case_id_for(unit_code, missing_number)


def _day(text: str) -> date:
    return date.fromisoformat(text)


def _instant(day: date) -> datetime:
    """An alert's legal time: the start of the China day after the last allowed day."""
    return datetime.combine(day, time(0), CHINA_TZ)


class MissingEntryTracker(MissingEntryLedger):
    """The three checks of missing entries over what the ledger has seen."""

    def evaluate(self, *, today: date, hub_unit_code: str, now: datetime,
                 unit_names: dict[str, str] | None = None) -> list[Alert]:
        """The alerts to emit now: raised for new findings, resolved for healed ones.

        ``unit_names`` (code → name) only words the messages; the view names the unit too.

        Silence is re-judged for every unit when the county's clock moves; gaps and
        unentered referrals only for the units whose facts changed since the last call.
        """
        names = unit_names or {}
        changes: list[Alert] = []
        county = self.county_clock(today)
        if county != self._county_clock:
            self._county_clock = county
            self._dirty |= set(self._dates)
        dirty, self._dirty = self._dirty, set()
        for unit in sorted(dirty):
            wanted: dict[str, dict[str, str]] = {}
            wanted.update(self._silent(unit, county, today))
            wanted.update(self._gaps(unit, today))
            wanted.update(self._unentered(unit, county, today))
            changes += self._diff(unit, wanted, hub_unit_code, now, names.get(unit, ""))
        return changes

    def county_clock(self, today: date) -> str | None:
        """The median latest decision date of the units with history (never after today)."""
        minimum = self.parameters.silent_unit.min_history
        latest = sorted(dates[-1] for dates in self._dates.values() if len(dates) >= minimum)
        if not latest:
            return None
        return min(latest[(len(latest) - 1) // 2], _iso(today))

    def threshold(self, unit: str) -> int | None:
        """Working days of silence that make ``unit`` silent; None without history."""
        rule = self.parameters.silent_unit
        dates = self._dates.get(unit, [])
        if len(dates) < rule.min_history:
            return None
        cached = self._gap_cache.get(unit)
        if cached is None:
            cal = self.calendar
            gaps = [cal.working_days_between(_day(a), _day(b))
                    for a, b in pairwise(dates)]
            median = statistics.median(gaps) if gaps else 0
            cached = self._gap_cache[unit] = max(
                rule.min_working_days, math.ceil(rule.history_multiplier * median))
        return cached

    def _silent(self, unit: str, county: str | None,
                today: date) -> dict[str, dict[str, str]]:
        threshold = self.threshold(unit)
        dates = self._dates.get(unit, [])
        if threshold is None or county is None or not dates:
            return {}
        last = _day(dates[-1])
        due = self.calendar.add_working_days(last, threshold)
        if _iso(due) >= county:
            return {}
        silent_for = self.calendar.working_days_between(last, _day(county))
        alert_id = uuid_for("alert", silent_unit_case_id(unit), RULE_SILENT_UNIT, _iso(last))
        return {alert_id: {
            "check": "silent", "unit": unit, "case_id": silent_unit_case_id(unit),
            "due": _iso(due), "last_entry": _iso(last), "county_clock": county,
            "threshold": str(threshold), "silent_working_days": str(silent_for)}}

    def _gaps(self, unit: str, today: date) -> dict[str, dict[str, str]]:
        rule = self.parameters.number_gaps
        clock = self._clock.get(unit)
        if clock is None:
            return {}
        clock = min(clock, _iso(today))
        found: dict[str, dict[str, str]] = {}
        for key in self._series_of.get(unit, ()):
            series = self._series[key]
            for below, above in self._gap_pairs.get(key, {}).items():
                seen_on, template = series.entry(above)
                due = self.calendar.add_working_days(_day(seen_on), rule.grace_working_days)
                if _iso(due) >= clock:
                    continue
                for missing in range(below + 1, above):
                    spelled = template.replace("{n}", str(missing))
                    case_id = number_gap_case_id(unit, spelled)
                    alert_id = uuid_for("alert", case_id, RULE_NUMBER_GAP, spelled)
                    found[alert_id] = {
                        "check": "gap", "unit": unit, "case_id": case_id, "due": _iso(due),
                        "missing_number": spelled,
                        "previous_number": template.replace("{n}", str(below)),
                        "next_number": template.replace("{n}", str(above)),
                        "next_decided_on": seen_on, "unit_clock": clock}
        return found

    def _unentered(self, unit: str, county: str | None,
                   today: date) -> dict[str, dict[str, str]]:
        rule = self.parameters.unentered_referrals
        clock = self._clock.get(unit) or county
        if clock is None:
            return {}
        clock = min(clock, _iso(today))
        found: dict[str, dict[str, str]] = {}
        candidates = self._maybe_unentered.get(unit, set())
        for key in sorted(candidates):
            seen = self._feedback.get(key)
            # Entered stays entered: such feedback is never a finding again.
            entered = seen is not None and self.is_entered(key)
            if seen is None or entered or self._case_entered(seen["case_id"]):
                candidates.discard(key)
                if entered:
                    self._feedback.pop(key, None)
                continue
            due = self.calendar.add_working_days(_day(seen["date"]),
                                                 rule.grace_working_days)
            if _iso(due) >= clock:
                continue
            alert_id = uuid_for("alert", RULE_UNENTERED_REFERRAL, key)
            found[alert_id] = {
                "check": "referral", "unit": unit, "case_id": seen["case_id"],
                "due": _iso(due), "referral_number": seen["number"],
                "feedback_type": seen["type"], "feedback_unit": seen["unit"],
                "feedback_date": seen["date"], "trigger": seen["event_id"],
                "unit_clock": clock}
        return found

    def _diff(self, unit: str, wanted: dict[str, dict[str, str]], hub_unit_code: str,
              now: datetime, name: str) -> list[Alert]:
        changes: list[Alert] = []
        for alert_id in sorted(wanted):
            if alert_id not in self._open:
                self._open[alert_id] = wanted[alert_id]
                changes.append(self._alert(alert_id, wanted[alert_id], AlertStatus.RAISED,
                                           hub_unit_code, now, name))
        for alert_id in sorted(a for a, v in self._open.items() if v["unit"] == unit):
            if alert_id not in wanted:
                facts = self._open.pop(alert_id)
                changes.append(self._alert(alert_id, facts, AlertStatus.RESOLVED,
                                           hub_unit_code, now, name))
        return changes

    def open_alerts(self) -> dict[str, dict[str, str]]:
        """The open findings by alert id (what each would resolve)."""
        return dict(self._open)

    def _alert(self, alert_id: str, facts: dict[str, str], status: AlertStatus,
               hub_unit_code: str, now: datetime, name: str) -> Alert:
        check = facts["check"]
        rule = {"silent": self.parameters.silent_unit, "gap": self.parameters.number_gaps,
                "referral": self.parameters.unentered_referrals}[check]
        due = _day(facts["due"])
        resolved = status is AlertStatus.RESOLVED
        details = {key: value for key, value in facts.items() if key != "unit"}
        details["operator_set"] = "true"
        details["title_zh"] = _TITLES[check][0]
        return build_alert(
            alert_id=alert_id, case_id=facts["case_id"], kind=AlertKind.MISSING_ENTRY,
            severity="WARNING", status=status, hub_unit_code=hub_unit_code,
            responsible_unit_code=facts["unit"], rule_id=_RULES[check],
            legal_source=rule.source, occurred_at=_instant(due), recorded_at=now,
            processor=PROCESSOR, message=_message(check, facts, name, resolved), due_date=due,
            trigger_event_id=facts.get("trigger"), details=details)


_TITLES: dict[str, tuple[str, str]] = {
    "silent": ("应录未录：长期未录入", "Missing entries: unit silent"),
    "gap": ("应录未录：决定书文号缺号", "Missing entries: decision number skipped"),
    "referral": ("应录未录：移送未录入", "Missing entries: referral never entered"),
}


def _message(check: str, facts: dict[str, str], name: str, resolved: bool) -> str:
    """The alert text, "中文 / English" clause by clause (the view shows one language)."""
    zh, en = _TITLES[check]
    if check == "silent":
        who = f"{name}：" if name else ""
        body = (f"{who}自{facts['last_entry']}起已{facts['silent_working_days']}个工作日"
                f"未录入处罚决定（按其以往录入频率，超过{facts['threshold']}个工作日即属异常） / "
                f"{name + ': ' if name else ''}no penalty decision entered for "
                f"{facts['silent_working_days']} working days since {facts['last_entry']} "
                f"(over {facts['threshold']} given its own history)")
    elif check == "gap":
        body = (f"{facts['missing_number']}未录入（{facts['previous_number']}与"
                f"{facts['next_number']}已录入） / {facts['missing_number']} not entered "
                f"({facts['previous_number']} and {facts['next_number']} are)")
    else:
        body = (f"反馈或判决引用的移送书{facts['referral_number']}，移送机关未录入 / "
                f"referral {facts['referral_number']} quoted by feedback or a judgment was "
                f"never entered by the referring agency")
    state = "；已补录 / entered since" if resolved else ""
    return f"{zh} / {en}: {body}{state}"

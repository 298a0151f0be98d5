"""The legal clocks of the lifecycle (``deadlines.yaml``), validated against the event contract.

Each rule says which event starts a clock, which events stop it, how long it runs, on
which calendar, and who must act; ``streams.deadline_logic`` evaluates them. Event and
field names are checked against ``hub.models`` at load time, so a typo in an operator's
file fails at start-up with its YAML path instead of silently never firing.
"""

from __future__ import annotations

import os
from datetime import date, datetime, time
from typing import Any, Literal

from pydantic import Field, model_validator

from hub.models import CHINA_TZ, AlertKind
from hub.rules._common import (
    NonEmptyText,
    Severity,
    Sourced,
    UnitKind,
    event_model,
)
from hub.rules._loader import RuleFile, RuleModel

__all__ = [
    "DEADLINES_ENV",
    "ClockSpec",
    "ClockUnit",
    "Correlation",
    "DeadlineRule",
    "DeadlineRules",
    "Escalation",
    "EventMatcher",
    "OverdueCopy",
    "PeriodEnd",
    "ResponsibleSpec",
    "field_text",
    "load_deadlines",
]

DEADLINES_ENV = "LIANGFA_RULES_DEADLINES"

#: Units a clock counts in; the same spelling as ``hub.calendar.ClockUnit``.
ClockUnit = Literal["working_days", "days", "hours", "months"]


def field_text(value: object) -> str | None:
    """How a field value compares with the strings of a rule file (None for empty).

    Enums compare by value, booleans as ``true``/``false``: rule files are written by
    people, not by Python.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    raw = getattr(value, "value", value)
    text = str(raw).strip()
    return text or None


class EventMatcher(RuleModel):
    """An event type with optional field filters (all must hold; ``unless`` must not)."""

    event_type: NonEmptyText
    where: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    unless: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    timestamp: NonEmptyText = "occurred_at"
    #: Fields tried before ``timestamp`` for the start instant, the first the event fills
    #: winning (a penalty's service date 送达日期, then its effective date 生效日期): an
    #: export that has them starts the clock when the decision took effect, one that
    #: does not falls back to ``timestamp``. A date starts at 00:00 China time.
    start_fields: tuple[NonEmptyText, ...] = ()

    def matches(self, event: object) -> bool:
        """True when ``event`` is of this type and passes the filters."""
        if type(event).__name__ != self.event_type:
            return False
        for field, allowed in self.where.items():
            if field_text(getattr(event, field, None)) not in allowed:
                return False
        for field, refused in self.unless.items():
            if field_text(getattr(event, field, None)) in refused:
                return False
        return True

    def start_instant(self, event: object) -> datetime | None:
        """The instant the clock starts from (None when the event lacks it): the first
        of ``start_fields`` the event fills, else ``timestamp``."""
        for field in self.start_fields:
            value = getattr(event, field, None)
            if isinstance(value, datetime):
                return value
            if isinstance(value, date):
                return datetime.combine(value, time(), CHINA_TZ)
        value = getattr(event, self.timestamp, None)
        return value if isinstance(value, datetime) else None

    def problems(self, path: str) -> list[str]:
        """Unknown event types or fields, each with its YAML path."""
        model = event_model(self.event_type)
        if model is None:
            return [f"{path}.event_type: no event type {self.event_type!r} in hub.models"]
        found: list[str] = []
        for section, filters in (("where", self.where), ("unless", self.unless)):
            for field in filters:
                if field not in model.model_fields:
                    found.append(
                        f"{path}.{section}.{field}: {self.event_type} has no field {field!r}"
                    )
        found.extend(
            f"{path}.start_fields: {self.event_type} has no field {field!r}"
            for field in self.start_fields if field not in model.model_fields
        )
        if self.timestamp not in model.model_fields:
            found.append(
                f"{path}.timestamp: {self.event_type} has no field {self.timestamp!r}"
            )
        return found


class Correlation(RuleModel):
    """A field of the start event that the stop event quotes (consultation id, document no.)."""

    start: NonEmptyText
    stop: NonEmptyText


class ClockSpec(RuleModel):
    """How long a clock runs: an amount of a unit on the PRC calendar."""

    amount: int = Field(ge=0)
    unit: ClockUnit


class Escalation(RuleModel):
    """A later limit after which the alert gets a higher severity."""

    after: ClockSpec
    severity: Severity
    note: NonEmptyText


class OverdueCopy(Sourced):
    """Who gets a copy of the alert once the clock ran out (an escalation to a third body).

    ``roles`` are unit roles (``unit_roles.yaml``) looked up in the responsible unit's
    jurisdiction, as routing does; ``purpose`` says what the copy asks of them (Jiashan:
    the justice bureau issues an 行政执法监督通知书 to the agency that did not answer).
    """

    roles: tuple[NonEmptyText, ...] = Field(min_length=1)
    purpose_zh: NonEmptyText
    purpose_en: NonEmptyText


class ResponsibleSpec(RuleModel):
    """Who must act when the clock runs out.

    ``start_event_source``: the unit that produced the starting event;
    ``start_event_field``: the unit named in ``field`` of the starting event;
    ``referring_agency``: the agency that referred the case (its latest referral);
    ``receiving_police``: the police unit that has the referral (receipt, else addressee);
    ``procuratorate``: the hub's own procuratorate (the platform management centre), which
    enters what reaches it from outside the platform, such as a judgment (兴庆区 item 8).
    """

    party: Literal[
        "start_event_source", "start_event_field", "referring_agency", "receiving_police",
        "procuratorate",
    ]
    field: str | None = None
    unit_kind: UnitKind | Literal["any"] = "any"


class PeriodEnd(Sourced):
    """What a period does when its last day is a rest day (节假日: a weekend or public
    holiday that is not an adjusted workday): ``extend`` to the first working day after
    it, or ``keep`` that day. Natural-day and month clocks only; hour clocks and
    working-day clocks are untouched."""

    on_rest_day: Literal["extend", "keep"]


class DeadlineRule(Sourced):
    """One clock of the lifecycle (a row of DOMAIN.md's table, or an operator threshold)."""

    id: NonEmptyText = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    alert_kind: NonEmptyText
    title_zh: NonEmptyText
    title_en: NonEmptyText
    evaluation: Literal["deadline", "window", "same_event_lag"]
    starts_on: tuple[EventMatcher, ...] = Field(min_length=1)
    stops_on: tuple[EventMatcher, ...] = ()
    #: A stop dated before the start's day satisfies the clock too (a hand-over made with
    #: the referral, before the filing decision that starts the hand-over clock).
    earlier_stop_counts: bool = False
    lag_until: str | None = None
    correlate: tuple[Correlation, ...] = ()
    due_field: str | None = None
    lateness_exempt_when: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    clock: ClockSpec
    escalations: tuple[Escalation, ...] = ()
    copy_when_overdue: OverdueCopy | None = None
    applies_to_offence_categories: tuple[str, ...] = ()
    excludes_offence_categories: tuple[str, ...] = ()
    responsible: ResponsibleSpec
    severity: Severity
    monitored: bool = True
    operator_set: bool = False
    #: The file's ``period_end`` unless the rule gives its own.
    period_end: PeriodEnd | None = None
    #: One clock per document (the file's ``documents``): a corrected record of a
    #: document entered already starts none (the entry clocks: its first entry decides).
    per_document: bool = False
    notes: str = ""

    @property
    def rest_day_extends(self) -> bool:
        """Whether a last day on a rest day moves to the next working day."""
        return self.period_end is not None and self.period_end.on_rest_day == "extend"

    def start_matcher(self, event: object) -> EventMatcher | None:
        """The ``starts_on`` entry ``event`` satisfies, if any."""
        for matcher in self.starts_on:
            if matcher.matches(event):
                return matcher
        return None

    def is_stop(self, event: object) -> bool:
        """True when ``event`` is one of the events that satisfy this clock."""
        return any(matcher.matches(event) for matcher in self.stops_on)

    def stop_instant(self, stop_event: object, default: datetime) -> datetime:
        """When ``stop_event`` satisfied the clock: ``default`` (its occurred_at) unless
        its ``stops_on`` entry names another ``timestamp``.

        A re-export of a penalty that says it is now enforced carries the decision date
        as occurred_at; its entry names ``enforced_on`` (a date: its start in China
        time). An entry whose field the event left empty falls back to when the hub read
        the event (recorded_at), never to an earlier time that would hide lateness.
        """
        for matcher in self.stops_on:
            if not matcher.matches(stop_event) or matcher.timestamp == "occurred_at":
                continue
            value = getattr(stop_event, matcher.timestamp, None)
            if isinstance(value, datetime):
                return value
            if isinstance(value, date):
                return datetime.combine(value, time(), CHINA_TZ)
            recorded = getattr(stop_event, "recorded_at", None)
            return recorded if isinstance(recorded, datetime) else default
        return default

    def lateness_exempt(self, stop_event: object) -> bool:
        """True when the stop event declares a circumstance that makes lateness excusable."""
        if not self.lateness_exempt_when:
            return False
        return all(
            field_text(getattr(stop_event, field, None)) in allowed
            for field, allowed in self.lateness_exempt_when.items()
        )

    def declared_due_date(self, start_event: object) -> date | None:
        """The due date the starting document states itself (``due_field``), if any."""
        if self.due_field is None:
            return None
        value = getattr(start_event, self.due_field, None)
        if isinstance(value, datetime):
            return None
        return value if isinstance(value, date) else None

    def applies_to_category(self, category: str | None) -> bool:
        """Whether the rule covers a case of this offence category (None: unknown)."""
        if self.applies_to_offence_categories:
            return category in self.applies_to_offence_categories
        if self.excludes_offence_categories and category is not None:
            return category not in self.excludes_offence_categories
        return True

    def problems(self, path: str) -> list[str]:
        """Cross-checks against the event contract, each with its YAML path."""
        found: list[str] = []
        if self.alert_kind not in AlertKind.__members__:
            found.append(f"{path}.alert_kind: {self.alert_kind!r} is not a hub.models.AlertKind")
        for index, matcher in enumerate(self.starts_on):
            found.extend(matcher.problems(f"{path}.starts_on[{index}]"))
        for index, matcher in enumerate(self.stops_on):
            found.extend(matcher.problems(f"{path}.stops_on[{index}]"))
        if self.copy_when_overdue is not None and self.evaluation != "deadline":
            found.append(f"{path}.copy_when_overdue: only a deadline rule leaves an overdue "
                         "alert open to copy")
        if self.evaluation == "same_event_lag":
            if not self.lag_until:
                found.append(f"{path}.lag_until: required when evaluation is same_event_lag")
            else:
                for index, matcher in enumerate(self.starts_on):
                    model = event_model(matcher.event_type)
                    if model is not None and self.lag_until not in model.model_fields:
                        found.append(
                            f"{path}.lag_until: {matcher.event_type} (starts_on[{index}]) has "
                            f"no field {self.lag_until!r}"
                        )
        elif not self.stops_on:
            found.append(f"{path}.stops_on: a {self.evaluation} rule needs stop events")
        for index, pair in enumerate(self.correlate):
            for matcher in self.starts_on:
                model = event_model(matcher.event_type)
                if model is not None and pair.start not in model.model_fields:
                    found.append(
                        f"{path}.correlate[{index}].start: {matcher.event_type} has no field "
                        f"{pair.start!r}"
                    )
            # A stop type without the field is matched by case: only flag a field that
            # no stop type has at all.
            if self.stops_on and not any(
                (model := event_model(other.event_type)) is not None
                and pair.stop in model.model_fields
                for other in self.stops_on
            ):
                found.append(
                    f"{path}.correlate[{index}].stop: no stop event has field {pair.stop!r}"
                )
        if self.due_field is not None:
            for index, matcher in enumerate(self.starts_on):
                model = event_model(matcher.event_type)
                if model is not None and self.due_field not in model.model_fields:
                    found.append(
                        f"{path}.due_field: {matcher.event_type} (starts_on[{index}]) has no "
                        f"field {self.due_field!r}"
                    )
        if self.responsible.party == "start_event_field":
            if not self.responsible.field:
                found.append(f"{path}.responsible.field: required for start_event_field")
            else:
                for index, matcher in enumerate(self.starts_on):
                    model = event_model(matcher.event_type)
                    if model is not None and self.responsible.field not in model.model_fields:
                        found.append(
                            f"{path}.responsible.field: {matcher.event_type} (starts_on"
                            f"[{index}]) has no field {self.responsible.field!r}"
                        )
        if self.applies_to_offence_categories and self.excludes_offence_categories:
            found.append(
                f"{path}: give applies_to_offence_categories or excludes_offence_categories, "
                "not both"
            )
        return found


class DeadlineRules(RuleModel):
    """The whole deadline file."""

    version: Literal[1] = 1
    #: Every rule's ``period_end`` unless it gives its own (none: a period keeps its day).
    period_end: PeriodEnd | None = None
    #: The field numbering the document an event of a type records. Start events of one
    #: type, from one unit, naming one document (a corrected or re-read record: a new
    #: event id) start one clock, the one entered first.
    documents: dict[str, NonEmptyText] = Field(default_factory=dict)
    rules: tuple[DeadlineRule, ...] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _rules_inherit_period_end(cls, data: Any) -> Any:
        """The file-wide ``period_end`` into each rule that names none, before validation
        (a rule is frozen once built)."""
        if not isinstance(data, dict) or data.get("period_end") is None:
            return data
        rules = data.get("rules")
        if not isinstance(rules, list | tuple):
            return data
        inherited = [{**rule, "period_end": data["period_end"]}
                     if isinstance(rule, dict) and rule.get("period_end") is None else rule
                     for rule in rules]
        return {**data, "rules": inherited}

    def cross_check(self) -> list[str]:
        """Unique ids, and every rule consistent with the event contract."""
        problems: list[str] = []
        seen: dict[str, int] = {}
        for index, rule in enumerate(self.rules):
            if rule.id in seen:
                problems.append(
                    f"rules[{index}].id: {rule.id!r} already used by rules[{seen[rule.id]}]"
                )
            seen.setdefault(rule.id, index)
            problems.extend(rule.problems(f"rules[{index}]"))
        for event_type, field in self.documents.items():
            model = event_model(event_type)
            if model is None:
                problems.append(f"documents.{event_type}: no event type {event_type!r}")
            elif field not in model.model_fields:
                problems.append(f"documents.{event_type}: {event_type} has no field {field!r}")
        return problems

    def by_id(self, rule_id: str) -> DeadlineRule:
        """The rule with this id (KeyError names it)."""
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(f"no deadline rule {rule_id!r}")

    def monitored(self) -> tuple[DeadlineRule, ...]:
        """The rules the monitor evaluates (those an event can start)."""
        return tuple(rule for rule in self.rules if rule.monitored)


_FILE = RuleFile("deadlines.yaml", DEADLINES_ENV, DeadlineRules)


def load_deadlines(path: str | os.PathLike[str] | None = None) -> DeadlineRules:
    """The deadline rules in force (argument, ``LIANGFA_RULES_DEADLINES``, rules dir, shipped).

    Cached per resolved path: processors call it per event.
    """
    return _FILE.load(path)

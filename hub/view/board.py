"""The front page's oversight (issue #14, "done when"): what a prosecutor must see on opening
the view, without a download.

* **missing entries per unit** (应录未录): the open ``MISSING_ENTRY`` alerts grouped by the
  unit that owes the entry, each said in one sentence (a silent unit, a skipped decision
  number, a referral never entered);
* **why each lead was raised**: the offence and its article, the figure of the case that
  reached (or came close to) the filing threshold *beside* that threshold, the share
  reached, the screening rule, and the threshold's source named as a document, built
  from the alert's details and the rule files (a hazardous-waste lead reads "危险废物数量
  2.634 吨，追诉标准 3 吨", not the fine);
* **repeat offenders across units** (多次受罚): the same party (credit code or ID number)
  penalised by more than one unit, which no single agency's export shows.

The quarter's ranking comes from :mod:`hub.view.assessment` unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.identity import sole_trader_placeholder
from hub.rules import load_screening, load_thresholds
from hub.view.i18n import Translator
from hub.view.library import source_text
from hub.view.queries import OWED_ALERT_STATUSES, Scope
from hub.view.store import AlertRow, CaseNumberRow, CasePartyRow, CaseRow
from hub.view.texts import localize

__all__ = [
    "LeadExplanation",
    "LeadFigure",
    "MissingEntryLine",
    "RepeatOffender",
    "UnitMissingEntries",
    "lead_explanation",
    "missing_entries_by_unit",
    "open_leads",
    "other_units_penalising",
    "repeat_offenders",
]

_ACTIVE = ("open", "assigned")
_CHECKS = {"missing-entry-silent-unit": "silent", "missing-entry-number-gap": "gap",
           "missing-entry-unentered-referral": "referral"}


@dataclass(frozen=True, slots=True)
class MissingEntryLine:
    """One thing a unit should have entered: what, and since when it is owed."""

    alert_id: str
    case_id: str
    check: str
    text: str
    due_date: str


@dataclass(frozen=True, slots=True)
class UnitMissingEntries:
    """A unit's open missing entries: the lines shown, and the counts of all of them."""

    unit_code: str
    lines: tuple[MissingEntryLine, ...]
    counts: dict[str, int]
    total: int


def _missing_text(message: str, language: str) -> str:
    """The alert's sentence without its title (the card's column says the kind)."""
    text = localize(message, language)
    separator = "：" if language == "zh" else ": "
    parts = text.split(separator, 2)
    if len(parts) == 3 and parts[0] in ("应录未录", "Missing entries"):
        return parts[2]
    return text


_CHECK_ORDER = {"silent": 0, "referral": 1, "gap": 2}


def missing_entries_by_unit(session: Session, scope: Scope, language: str,
                            per_unit: int = 5) -> list[UnitMissingEntries]:
    """Open missing-entry alerts grouped by the unit that owes them, most first.

    Every unit with one is listed; each shows at most ``per_unit`` lines (the counts
    cover all of them), a silent unit first, then referrals never entered, then numbers.
    """
    query = select(AlertRow).where(AlertRow.kind == "MISSING_ENTRY",
                                   AlertRow.status.in_(OWED_ALERT_STATUSES))
    if scope.unit_code is not None:
        query = query.where(AlertRow.unit_code == scope.unit_code)
    grouped: dict[str, list[MissingEntryLine]] = {}
    for row in session.scalars(query):
        check = _CHECKS.get(row.rule_id, "gap")
        grouped.setdefault(row.unit_code, []).append(MissingEntryLine(
            row.alert_id, row.case_id, check, _missing_text(row.message, language),
            row.due_date.isoformat() if row.due_date else ""))
    result: list[UnitMissingEntries] = []
    for unit, lines in sorted(grouped.items(), key=lambda item: (-len(item[1]), item[0])):
        lines.sort(key=lambda line: (_CHECK_ORDER.get(line.check, 3), line.due_date,
                                     line.text))
        counts = {check: sum(1 for line in lines if line.check == check)
                  for check in _CHECK_ORDER}
        result.append(UnitMissingEntries(unit, tuple(lines[:per_unit]), counts, len(lines)))
    return result


# -- leads -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LeadFigure:
    """One figure of the case beside the threshold it was compared with."""

    basis: str
    found: str
    threshold: str
    share: str


@dataclass(frozen=True, slots=True)
class LeadExplanation:
    """Why a lead was raised, in one language."""

    offence: str
    rule: str
    figures: tuple[LeadFigure, ...]
    note: str
    source: str


def _decimal(text: Any) -> Decimal | None:
    try:
        return Decimal(str(text))
    except (InvalidOperation, ValueError):
        return None


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def _yuan(fen: Decimal) -> str:
    whole, cents = divmod(int(fen), 100)
    return f"¥{whole:,}" + (f".{cents:02d}" if cents else "")


def _percent(value: Decimal) -> str:
    return f"{_plain((value * 100).quantize(Decimal('0.1')))}%"


def _figure(basis_id: str, value: Decimal, t: Translator) -> str:
    basis = next((b for b in load_thresholds().bases if b.id == basis_id), None)
    kind = basis.kind if basis else "quantity"
    if kind == "money":
        return _yuan(value)
    if kind == "ratio":
        return _percent(value)
    unit = basis.unit if basis and basis.unit else ""
    return f"{_plain(value)} {t.label('library.unit', unit)}".strip() if unit else _plain(value)


def _basis_name(basis_id: str, language: str) -> str:
    basis = next((b for b in load_thresholds().bases if b.id == basis_id), None)
    if basis is None:
        return basis_id
    return basis.name_zh if language == "zh" else basis.name_en


def lead_explanation(kind: str, details: dict[str, Any], language: str,
                     repeat_units: int = 0) -> LeadExplanation | None:
    """Why the screening raised this lead: offence, rule, figure beside threshold, source.

    ``None`` for an alert that is not a screening lead (or an old one without the
    offence in its details). ``repeat_units`` is the number of *other* units that also
    penalised the party (a fact the view adds; screening reads one agency's export).
    """
    offence = str(details.get("offence") or "")
    if not offence:
        return None
    t = Translator(language)
    article = str(details.get("criminal_law_article") or "")
    title = t("board.lead_offence", offence=offence, article=article) if article else offence
    screening = load_screening()
    ratio_key = "early_intervention_ratio" if kind == "EARLY_INTERVENTION_CANDIDATE" else \
        "lead_ratio"
    ratio = _decimal(getattr(screening, ratio_key)) or Decimal(1)
    rule = t(f"board.rule.{kind}" if kind in ("EARLY_INTERVENTION_CANDIDATE",
                                               "SUSPECTED_NON_REFERRAL") else "board.rule.other",
             share=_percent(ratio), window=screening.no_referral_window_days)
    if details.get("criterion_zh"):
        rule = t("board.rule_criterion_early" if kind == "EARLY_INTERVENTION_CANDIDATE"
                 else "board.rule_criterion", window=screening.no_referral_window_days)
    figures: list[LeadFigure] = []
    # a figure the record does not give, taken from another (the goods value for the
    # sales amount: screening.yaml stand_ins), is shown as such, never as the case's own
    stood_in = {condition.removesuffix(" (stand-in)") for condition in str(
        details.get("unchecked_conditions") or "").split("; ")
        if condition.endswith(" (stand-in)")}
    for key, raw in sorted(details.items()):
        if not key.startswith("threshold."):
            continue
        basis = key.removeprefix("threshold.")
        minimum = _decimal(raw)
        value = _decimal(details.get(f"value.{basis}"))
        if minimum is None:
            continue
        found = _figure(basis, value, t) if value is not None else t("board.not_recorded")
        if value is not None and basis in stood_in:
            found = t("board.stand_in", figure=found)
        share = _percent(value / minimum) if value is not None and minimum else ""
        figures.append(LeadFigure(_basis_name(basis, language), found,
                                  _figure(basis, minimum, t), share))
    note = ""
    criterion = str(details.get("criterion_zh") or "")
    if not figures and criterion:
        # a conduct criterion (closed season and 电鱼) and what established it
        stated = [f"{t.label('board.circumstance', key.removeprefix('circumstance.'))} "
                  f"{value}" for key, value in details.items()
                  if key.startswith("circumstance.")]
        note = t("board.criterion", criterion=criterion,
                 circumstances=t("library.sentence_sep").join(stated))
    elif not figures:
        reason = str(details.get("reason") or "")
        note = localize(reason, language) if language == "en" else t(
            "board.qualitative" if "per se" not in reason else "board.per_se")
    if details.get("conditions_checked") == "false":
        unchecked = t("board.unchecked")
        note = f"{note}{t('library.sentence_sep')}{unchecked}" if note else unchecked
    if repeat_units:
        repeat = t("board.repeat_note", units=repeat_units)
        note = f"{note}{t('library.sentence_sep')}{repeat}" if note else repeat
    source = source_text(str(details.get("threshold_source") or ""), language)
    return LeadExplanation(title, rule, tuple(figures), note, source)


def open_leads(session: Session, scope: Scope, limit: int = 10) -> list[AlertRow]:
    """The screening leads not yet reviewed, suspected non-referrals first, newest first."""
    query = select(AlertRow).where(AlertRow.is_lead.is_(True), AlertRow.status.in_(_ACTIVE),
                                   AlertRow.reviewed_at.is_(None))
    if scope.unit_code is not None:
        query = query.where(AlertRow.unit_code == scope.unit_code)
    rows = session.scalars(query.order_by(AlertRow.raised_at.desc()).limit(limit * 4)).all()
    ordered = sorted(rows, key=lambda row: (row.kind != "SUSPECTED_NON_REFERRAL",
                                            -row.raised_at.timestamp()))
    return list(ordered[:limit])


# -- repeat offenders --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RepeatOffender:
    """A party penalised by several units: who, how often, by whom, in which cases."""

    identifier: str
    name: str
    penalties: int
    unit_codes: tuple[str, ...]
    case_ids: tuple[str, ...]


#: Identifiers that name no one party: none, and the sole-trader placeholder (rows a view
#: stored before its apply left the placeholder out are still in the store).
_NO_KEYS = ("", sole_trader_placeholder())


def repeat_offenders(session: Session, scope: Scope, *, min_units: int = 2,
                     limit: int = 20) -> list[RepeatOffender]:
    """Parties (by credit code or ID number) with penalty decisions of ``min_units`` or
    more units, most units first.

    A case counts as a penalty when it carries a decision number (决定书文号); a legal
    representative is not the party. A unit user sees only parties its own unit
    penalised, and the other units' cases are counted, not listed.
    """
    penalised = (
        select(CasePartyRow.identifier, CasePartyRow.name, CaseRow.unit_code, CaseRow.case_id)
        .join(CaseRow, CaseRow.case_id == CasePartyRow.case_id)
        .join(CaseNumberRow, (CaseNumberRow.case_id == CaseRow.case_id)
              & (CaseNumberRow.kind == "decision_number"))
        .where(CasePartyRow.identifier.not_in(_NO_KEYS),
               CasePartyRow.kind != "LEGAL_REPRESENTATIVE")
    ).subquery()
    repeated = (
        select(penalised.c.identifier)
        .group_by(penalised.c.identifier)
        .having(func.count(func.distinct(penalised.c.unit_code)) >= min_units)
        .order_by(func.count(func.distinct(penalised.c.unit_code)).desc(),
                  func.count(func.distinct(penalised.c.case_id)).desc(),
                  penalised.c.identifier)
    )
    if scope.unit_code is not None:
        own = select(penalised.c.identifier).where(penalised.c.unit_code == scope.unit_code)
        repeated = repeated.where(penalised.c.identifier.in_(own))
    identifiers = [str(value) for value in session.scalars(repeated.limit(limit))]
    if not identifiers:
        return []
    rows = session.execute(
        select(penalised.c.identifier, penalised.c.name, penalised.c.unit_code,
               penalised.c.case_id)
        .where(penalised.c.identifier.in_(identifiers))
        .order_by(penalised.c.case_id)
    ).all()
    found: dict[str, list[Any]] = {identifier: [] for identifier in identifiers}
    for row in rows:
        found[str(row.identifier)].append(row)
    result: list[RepeatOffender] = []
    for identifier, parts in found.items():
        units = tuple(sorted({str(part.unit_code) for part in parts}))
        cases = tuple(dict.fromkeys(str(part.case_id) for part in parts
                                    if scope.unit_code in (None, part.unit_code)))
        result.append(RepeatOffender(identifier, str(parts[0].name), len(
            {str(part.case_id) for part in parts}), units, cases))
    return result


def other_units_penalising(session: Session, case_ids: list[str]) -> dict[str, int]:
    """Per case: how many *other* units penalised one of its parties (by identifier)."""
    if not case_ids:
        return {}
    parties = session.execute(
        select(CasePartyRow.case_id, CasePartyRow.identifier, CaseRow.unit_code)
        .join(CaseRow, CaseRow.case_id == CasePartyRow.case_id)
        .where(CasePartyRow.case_id.in_(case_ids), CasePartyRow.identifier.not_in(_NO_KEYS),
               CasePartyRow.kind != "LEGAL_REPRESENTATIVE")
    ).all()
    identifiers = {str(row.identifier) for row in parties}
    if not identifiers:
        return {}
    units_of: dict[str, set[str]] = {}
    for identifier, unit in session.execute(
        select(CasePartyRow.identifier, CaseRow.unit_code)
        .join(CaseRow, CaseRow.case_id == CasePartyRow.case_id)
        .join(CaseNumberRow, (CaseNumberRow.case_id == CaseRow.case_id)
              & (CaseNumberRow.kind == "decision_number"))
        .where(CasePartyRow.identifier.in_(identifiers))
    ).all():
        units_of.setdefault(str(identifier), set()).add(str(unit))
    result: dict[str, int] = {}
    for row in parties:
        others = units_of.get(str(row.identifier), set()) - {str(row.unit_code)}
        result[str(row.case_id)] = max(result.get(str(row.case_id), 0), len(others))
    return result

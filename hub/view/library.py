"""The legal library (法律法规 / 执法依据): every rule the hub applies, with its source.

Built from the rule files themselves (``hub/rules/*.yaml``, or the operator's
replacements), so the page can never drift from what the engine enforces: deadlines
(时限), criminal filing thresholds (立案追诉标准), the violation → offence mapping
(违法行为与罪名), routing (移送路由), screening parameters and the assessment's points and
vetoes. Each entry is one sentence in the reader's language and the source as the rule
file cites it (documents by issuer, title, number and date).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path

import yaml

from hub.errors import ConfigError
from hub.rules.assessment import AssessmentRules, Veto, load_assessment
from hub.rules.conduct import load_conduct_criteria
from hub.rules.deadlines import DeadlineRule, load_deadlines
from hub.rules.roles import load_unit_roles
from hub.rules.routing import load_routing
from hub.rules.screening import load_screening
from hub.rules.thresholds import Condition, Offence, ThresholdTable, load_thresholds
from hub.rules.violations import load_violation_offences, load_violation_types
from hub.view.i18n import Translator
from hub.view.texts import cite

__all__ = [
    "SECTIONS",
    "LibraryEntry",
    "library_entries",
    "search_library",
    "source_text",
    "veto_scope",
]

SECTIONS = ("deadlines", "thresholds", "offences", "routing", "screening", "assessment")


@dataclass(frozen=True, slots=True)
class LibraryEntry:
    """One rule: what it says and where it comes from."""

    section: str
    ref: str
    title: str
    rule: str
    source: str
    verified: bool
    operator_set: bool

    def matches(self, query: str) -> bool:
        """Whether every word of ``query`` occurs in the entry (case-insensitive)."""
        text = " ".join((self.ref, self.title, self.rule, self.source)).casefold()
        return all(word in text for word in query.casefold().split())


#: A space YAML's folding put between two Chinese characters (a line break in the file).
_FOLDED_SPACE = re.compile(r"(?<=[\u3000-\u9fff\uff00-\uffef])\s+(?=[\u3000-\u9fff\uff00-\uffef])")


_TERMS_FILE = Path(__file__).with_name("library_terms.yaml")


@cache
def _chinese_terms() -> tuple[tuple[re.Pattern[str], str], ...]:
    """The replacements that turn the rule files' English shorthand into Chinese."""
    try:
        document = yaml.safe_load(_TERMS_FILE.read_text(encoding="utf-8")) or {}
        return tuple((re.compile(pattern), replacement)
                     for pattern, replacement in document.get("replacements", []))
    except (OSError, yaml.YAMLError, re.error, ValueError) as exc:
        raise ConfigError(f"cannot read {_TERMS_FILE}", [f"{_TERMS_FILE}: {exc}"]) from exc


#: English prose after the last Chinese character or closing bracket of a clause.
_ENGLISH_TAIL = re.compile(
    r"^(.*[\u3000-\u9fff\uff00-\uffef)）])[\s:,]+[A-Za-z][^\u3000-\u9fff]*$")
_HAS_CHINESE = re.compile(r"[\u4e00-\u9fff]")


def _clauses(text: str) -> list[str]:
    """``text`` split on "; " outside brackets."""
    parts: list[str] = []
    depth = start = 0
    for index, char in enumerate(text):
        if char in "(（":
            depth += 1
        elif char in ")）":
            depth = max(depth - 1, 0)
        elif depth == 0 and text.startswith("; ", index):
            parts.append(text[start:index])
            start = index + 2
    parts.append(text[start:])
    return parts


def chinese(text: str) -> str:
    """``text`` for the Chinese page: the rule files' English shorthand in Chinese (data in
    ``library_terms.yaml``), English glosses and explanations dropped, clauses with no
    Chinese left out (the English page shows the rule file's full text)."""
    for pattern, replacement in _chinese_terms():
        text = pattern.sub(replacement, text)
    kept: list[str] = []
    for clause in _clauses(text):
        tail = _ENGLISH_TAIL.match(clause.strip())
        clause = (tail.group(1) if tail else clause).strip()
        if _HAS_CHINESE.search(clause):
            kept.append(clause)
    return "；".join(kept) if kept else text.strip()


def source_text(source: str, language: str = "zh") -> str:
    """A rule's source as a reader sees it: documents named (``cite``), no space where the
    rule file broke a Chinese line, and in Chinese on the Chinese page."""
    text = _FOLDED_SPACE.sub("", cite(source))
    return chinese(text) if language == "zh" else text


def _yuan(fen: int) -> str:
    whole, cents = divmod(fen, 100)
    return f"¥{whole:,}" + (f".{cents:02d}" if cents else "")


def _number(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def _clock(rule: DeadlineRule, t: Translator) -> str:
    return t(f"library.clock.{rule.clock.unit}", amount=rule.clock.amount)


def _events(names: Iterable[str], t: Translator) -> str:
    return t("library.list_sep").join(dict.fromkeys(t.label("event_type", n) for n in names))


def _deadlines(t: Translator) -> list[LibraryEntry]:
    entries: list[LibraryEntry] = []
    zh = t.language == "zh"
    for rule in load_deadlines().rules:
        parts = [t("library.deadline_clock", clock=_clock(rule, t)),
                 t("library.deadline_start", events=_events(
                     (m.event_type for m in rule.starts_on), t))]
        if rule.stops_on:
            parts.append(t("library.deadline_stop", events=_events(
                (m.event_type for m in rule.stops_on), t)))
        parts.append(t("library.deadline_responsible",
                       party=t(f"library.responsible.{rule.responsible.party}")))
        parts.append(t("library.deadline_alert", kind=t.label("alert_kind", rule.alert_kind)))
        if not rule.monitored:
            parts.append(t("library.not_monitored"))
        entries.append(LibraryEntry(
            "deadlines", rule.id, rule.title_zh if zh else rule.title_en,
            t("library.sentence_sep").join(parts), source_text(rule.source, t.language),
            rule.verified, rule.operator_set))
    return entries


def _condition(condition: Condition, table: ThresholdTable, t: Translator) -> str:
    basis = next((b for b in table.bases if b.id == condition.basis), None)
    name = (basis.name_zh if t.language == "zh" else basis.name_en) if basis else \
        condition.basis
    if condition.min_fen is not None:
        figure = _yuan(condition.min_fen)
        if condition.range_fen:
            figure += t("library.province_range", low=_yuan(condition.range_fen[0]),
                        high=_yuan(condition.range_fen[1]))
    elif condition.min_quantity is not None:
        unit = basis.unit if basis and basis.unit else ""
        figure = f"{_number(condition.min_quantity)} {t.label('library.unit', unit)}".strip()
        if condition.range_quantity:
            figure += t("library.province_range", low=_number(condition.range_quantity[0]),
                        high=_number(condition.range_quantity[1]))
    else:
        assert condition.min_ratio is not None
        figure = f"{_number(condition.min_ratio * 100)}%"
    return f"{name} ≥ {figure}"


def _offence_rule(offence: Offence, table: ThresholdTable, t: Translator) -> str:
    category = next((c for c in table.categories if c.id == offence.category), None)
    head = t("library.offence_head", article=offence.article,
             category=(category.name_zh if t.language == "zh" else category.name_en)
             if category else offence.category)
    if offence.per_se:
        body = t("library.per_se")
    elif offence.alternatives:
        alternatives = []
        for alternative in offence.alternatives:
            text = t("library.and").join(_condition(c, table, t) for c in alternative.all_of)
            if alternative.party != "any":
                text += t(f"library.party.{alternative.party}")
            if alternative.context:
                text += t("library.context", context=", ".join(
                    f"{k}={v}" for k, v in alternative.context.items()))
            alternatives.append(text)
        body = t("library.or").join(alternatives)
    else:
        body = t("library.indicators", items=t("library.list_sep").join(offence.indicators))
    parts = [head, body]
    if offence.also_requires:
        parts.append(t("library.also_requires",
                       items=t("library.list_sep").join(offence.also_requires)))
    text = t("library.sentence_sep").join(parts)
    return chinese(text) if t.language == "zh" else text


def _thresholds(t: Translator) -> list[LibraryEntry]:
    table = load_thresholds()
    return [
        LibraryEntry("thresholds", offence.id,
                     offence.name_zh if t.language == "zh" else offence.name_en,
                     _offence_rule(offence, table, t), source_text(offence.source, t.language),
                     offence.verified,
                     any(c.province_set for a in offence.alternatives for c in a.all_of))
        for offence in table.offences
    ]


def _offences(t: Translator) -> list[LibraryEntry]:
    zh = t.language == "zh"
    types = {entry.code: entry for entry in load_violation_types().violation_types}
    offences = {offence.id: offence for offence in load_thresholds().offences}
    entries: list[LibraryEntry] = []
    for mapping in load_violation_offences().mappings:
        violation = types.get(mapping.violation_type)
        title = (violation.name_zh if zh else violation.name_en) if violation else \
            mapping.violation_type
        if mapping.offences:
            names = [(offences[o].name_zh if zh else offences[o].name_en)
                     if o in offences else o for o in mapping.offences]
            rule = t("library.may_amount_to", offences=t("library.list_sep").join(names))
            if mapping.qualifying:
                rule += t("library.sentence_sep") + t("library.qualifying")
        else:
            rule = t("library.administrative_only")
        entries.append(LibraryEntry("offences", mapping.violation_type, title, rule,
                                    source_text(mapping.source, t.language),
                                    mapping.verified, False))
    return entries


def _routing(t: Translator) -> list[LibraryEntry]:
    zh = t.language == "zh"
    roles = {role.id: (role.name_zh if zh else role.name_en)
             for role in load_unit_roles().roles}
    domains = {d.id: (d.name_zh if zh else d.name_en) for d in load_violation_types().domains}
    categories = {c.id: (c.name_zh if zh else c.name_en)
                  for c in load_thresholds().categories}
    sep = t("library.list_sep")

    def role_list(ids: Iterable[str]) -> str:
        return t("library.then").join(roles.get(r, r) for r in ids)

    routing = load_routing()
    entries: list[LibraryEntry] = []
    for route in routing.referral_routes:
        scope = [domains.get(d, d) for d in route.when.domains]
        scope += [categories.get(c, c) for c in route.when.offence_categories]
        title = t("library.route_title", scope=sep.join(scope) if scope else t("library.any"))
        entries.append(LibraryEntry("routing", route.id, title,
                                    t("library.route_rule", roles=role_list(route.police_roles)),
                                    source_text(route.source, t.language),
                                    route.verified, False))
    for copy in routing.copies:
        entries.append(LibraryEntry(
            "routing", copy.id, t("library.copy_title"),
            t("library.copy_rule", events=_events(copy.event_types, t),
              roles=role_list(copy.roles)), source_text(copy.source, t.language),
            copy.verified, False))
    for lead in routing.lead_routes:
        entries.append(LibraryEntry(
            "routing", lead.id, t("library.lead_title", destination=t.label(
                "library.destination", lead.destination)),
            t("library.route_rule", roles=role_list(lead.roles)),
            source_text(lead.source, t.language), lead.verified, False))
    return entries


def _screening(t: Translator) -> list[LibraryEntry]:
    screening = load_screening()
    ratio = _number(Decimal(str(screening.early_intervention_ratio)) * 100)
    lead = _number(Decimal(str(screening.lead_ratio)) * 100)
    return [LibraryEntry(
        "screening", "screening", t("library.screening_title"),
        t("library.screening_rule", lead=lead, ratio=ratio,
          window=screening.no_referral_window_days),
        source_text(screening.source, t.language), screening.verified, True)]


def _conduct(t: Translator) -> list[LibraryEntry]:
    """Closed seasons, closed areas, banned methods, their criteria and repeat penalties."""
    conduct = load_conduct_criteria()
    fishing = conduct.fishing
    items = t("library.list_sep")
    entries = [LibraryEntry(
        "screening", "fishing-methods", t("board.circumstance.banned_method"),
        t("library.conduct_methods", methods=items.join(m.name_zh for m in fishing.banned_methods)),
        source_text(fishing.banned_methods_source, t.language), fishing.banned_methods_verified,
        False)]
    for area in fishing.closed_areas:
        entries.append(LibraryEntry(
            "screening", f"fishing-area-{area.id}", area.name_zh,
            t("library.conduct_area", names=items.join(area.keywords)),
            source_text(area.source, t.language), area.verified, False))
    for season in fishing.closed_seasons:
        years = (t("library.conduct_season_years", first=season.years[0], last=season.years[1])
                 if season.years else "")
        where = (t("library.conduct_season_named", names=items.join(season.keywords))
                 if season.keywords else t("library.conduct_season_default"))
        entries.append(LibraryEntry(
            "screening", f"fishing-season-{season.id}", season.name_zh,
            t("library.conduct_season", start=season.start, end=season.end, years=years,
              where=where),
            source_text(season.source, t.language), season.verified, season.operator_set))
    outcomes = {"suspected_non_referral": "SUSPECTED_NON_REFERRAL",
                "early_intervention": "EARLY_INTERVENTION_CANDIDATE"}
    for criterion in fishing.criteria:
        entries.append(LibraryEntry(
            "screening", f"fishing-{criterion.id}", criterion.name_zh,
            t("library.conduct_rule", circumstances=items.join(
                t.label("board.circumstance", c) for c in criterion.all_of),
              then=t("library.then"), outcome=t.label("alert_kind", outcomes[criterion.outcome])),
            source_text(criterion.source, t.language), criterion.verified, False))
    for repeat in conduct.repeat_penalties:
        period = (t("library.conduct_repeat_years", years=repeat.within_years)
                  if repeat.within_years else t("library.conduct_repeat_any"))
        offence = next((o for o in load_thresholds().offences if o.id == repeat.offence), None)
        entries.append(LibraryEntry(
            "screening", f"repeat-{repeat.id}", offence.name_zh if offence else repeat.offence,
            t("library.conduct_repeat", period=period),
            source_text(repeat.source, t.language), repeat.verified, False))
    return entries


def veto_scope(t: Translator, veto: Veto, rules: AssessmentRules) -> str:
    """Which assessed unit kinds a veto applies to and, when it spares some, why.

    A veto that spares a kind ("idle platform": agencies only) left a silent police bureau
    unvetoed beside a vetoed agency on the ranking without a word; the reason is the rule
    file's (``scope_zh``/``scope_en``), so the assessing body that changes the scope
    changes the explanation with it.
    """
    assessed = list(dict.fromkeys(k for i in rules.indicators for k in i.applies_to))
    spared = [kind for kind in assessed if kind not in veto.applies_to]
    names = t("library.list_sep").join(t.label("unit_kind", k) for k in veto.applies_to)
    if spared:
        text = t("library.veto_only", kinds=names, others=t("library.list_sep").join(
            t.label("unit_kind", k) for k in spared))
    else:
        text = t("library.applies_to", kinds=names)
    reason = veto.scope_en if t.language == "en" else veto.scope_zh
    return text + (t("library.sentence_sep") + reason if reason else "")


def _assessment(t: Translator, rules: AssessmentRules) -> list[LibraryEntry]:
    zh = t.language == "zh"
    entries: list[LibraryEntry] = []
    for indicator in rules.indicators:
        rule = t(f"library.method.{indicator.method}", weight=_number(
            Decimal(str(indicator.weight))), deduction=_number(Decimal(str(indicator.deduction))))
        if indicator.alert_kinds:
            rule += t("library.sentence_sep") + t("library.counts_alerts", kinds=t(
                "library.list_sep").join(t.label("alert_kind", k) for k in indicator.alert_kinds))
        rule += t("library.sentence_sep") + t("library.applies_to", kinds=t(
            "library.list_sep").join(t.label("unit_kind", k) for k in indicator.applies_to))
        entries.append(LibraryEntry("assessment", indicator.id,
                                    indicator.name_zh if zh else indicator.name_en, rule,
                                    source_text(indicator.source, t.language), indicator.verified,
                                    indicator.operator_set))
    for veto in rules.vetoes:
        entries.append(LibraryEntry(
            "assessment", veto.id, t("assessment.veto_prefix")
            + (veto.name_zh if zh else veto.name_en),
            t("library.veto_rule", measure=t(f"assessment.figures.{veto.measure}"),
              op=veto.op, value=veto.value,
              periods=t("library.list_sep").join(t(f"assessment.kind.{p}")
                                                 for p in veto.periods))
            + t("library.sentence_sep") + veto_scope(t, veto, rules),
            source_text(veto.source, t.language), veto.verified, veto.operator_set))
    recheck = rules.recheck
    entries.append(LibraryEntry(
        "assessment", "recheck", t("library.recheck_title"),
        t("library.recheck_rule", count=recheck.cases_per_unit),
        source_text(recheck.source, t.language), recheck.verified, recheck.operator_set))
    return entries


def library_entries(language: str = "zh") -> list[LibraryEntry]:
    """Every rule in force, section by section, in ``language``."""
    t = Translator(language)
    return [*_deadlines(t), *_thresholds(t), *_offences(t), *_routing(t), *_screening(t),
            *_conduct(t), *_assessment(t, load_assessment())]


def search_library(entries: list[LibraryEntry], query: str = "", section: str = ""
                   ) -> list[LibraryEntry]:
    """Entries of a section (all when empty) containing every word of ``query``."""
    return [entry for entry in entries
            if (not section or entry.section == section) and entry.matches(query)]

"""A party's earlier penalties, by any unit: the count some offences' thresholds need.

Some offences are a repeat of a penalised conduct (illegal medical practice after two
penalties), which no single unit's export shows: the engine keeps each party's penalties
(:mod:`streams.engine.party_history`) and counts here the ones a repeat rule counts. Who
the party is (a credit code or an ID number, never a name) decides the count, so the
key of the history is defined here too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from hub.identity import identifier_key, sole_trader_placeholder
from hub.models import PenaltyCaseRecorded
from hub.rules.conduct import RepeatPenaltyRule
from streams.screening_assessment import ScreeningRules, violation_code

__all__ = ["PriorPenalty", "count_prior_penalties", "party_identifier",
           "prior_penalty_counts"]


@dataclass(frozen=True)
class PriorPenalty:
    """One earlier penalty of a party, as the party history keeps it (any unit)."""

    event_id: str
    case_id: str
    unit_code: str
    violation_type_code: str | None
    decided_on: date


def party_identifier(penalty: PenaltyCaseRecorded) -> str | None:
    """The key of the party's history: its credit code or ID number (a name is no key:
    two 张伟 are two people).

    The sole-trader placeholder 00000000000000000X is no key either: every sole trader
    without a credit code files it, and counted as one party they made every clinic of
    the demo county a repeat offender of 非法行医. Such a trader is known by its
    operator's ID number, the person the repeat criterion is about.

    The key is :func:`hub.identity.identifier_key` of the value: one person written
    '…002X' by one export and '…002x' (or in full-width digits) by another is one
    history, or the third penalty finds one prior instead of two and no lead is raised.
    """
    party = penalty.primary_party
    placeholder = sole_trader_placeholder()
    for value in party.identifiers():
        key = identifier_key(value)
        if key and key != placeholder:
            return key
    representative = party.legal_representative_id_number
    if not representative:
        return None
    return identifier_key(representative) or None


def count_prior_penalties(penalty: PenaltyCaseRecorded, history: Iterable[PriorPenalty],
                          rule: RepeatPenaltyRule) -> int:
    """Earlier penalties of the party for the same conduct, by any unit, that ``rule``
    counts: decided before this one (same day: an earlier case id, so two decisions of
    one day count once each way) and within ``within_years`` when the rule limits it.

    The penalty itself and corrected copies of its own case are never counted.
    """
    since: date | None = None
    if rule.within_years is not None:
        decided = penalty.decision_date
        try:
            since = decided.replace(year=decided.year - rule.within_years)
        except ValueError:  # 29 February
            since = decided.replace(year=decided.year - rule.within_years, day=28)
    counted: set[str] = set()
    for prior in history:
        if prior.case_id == penalty.case_id or prior.violation_type_code not in \
                rule.violation_types:
            continue
        earlier = (prior.decided_on, prior.case_id) < (penalty.decision_date, penalty.case_id)
        if earlier and (since is None or prior.decided_on >= since):
            counted.add(prior.case_id)
    return len(counted)


def prior_penalty_counts(penalties: Iterable[PenaltyCaseRecorded],
                         history: Mapping[str, Iterable[PriorPenalty]],
                         rules: ScreeningRules) -> dict[str, int]:
    """Per penalty event id, the party's earlier penalties a repeat rule counts.

    ``history`` maps a party identifier to its penalties (the party history store);
    penalties without an identifier, or of a conduct no rule counts, get no entry.
    """
    counts: dict[str, int] = {}
    for penalty in penalties:
        code = penalty.violation_type_code or violation_code(penalty, rules)
        rule = rules.conduct.repeat_rule(code)
        key = party_identifier(penalty)
        if rule is None or key is None:
            continue
        counts[penalty.event_id] = count_prior_penalties(penalty, history.get(key, ()), rule)
    return counts

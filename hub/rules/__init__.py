"""Legal rule data: deadlines, thresholds, code lists, routing, each naming its source.

Every file under ``hub/rules/`` is YAML validated by a pydantic model, loaded through
one cached ``load_*()`` per file, and replaceable by an operator (the file's own
``LIANGFA_RULES_*`` variable, or ``LIANGFA_RULES_DIR`` for a directory). The files refer
to one another (a violation type maps to an offence id, a routing rule names a role):
:func:`load_rule_set` loads them together and reports every dangling reference at once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hub.errors import ConfigError
from hub.rules._loader import RULES_DIR_ENV, clear_rule_caches, registered_rule_files
from hub.rules.conduct import CONDUCT_ENV, load_conduct_criteria
from hub.rules.deadlines import DEADLINES_ENV, DeadlineRule, DeadlineRules, load_deadlines
from hub.rules.entitlements import ENTITLEMENTS_ENV, Entitlements, load_entitlements
from hub.rules.masking import MASKING_ENV, MaskingRules, load_masking
from hub.rules.missing_entry import MISSING_ENTRY_ENV, MissingEntryParameters, load_missing_entry
from hub.rules.roles import UNIT_ROLES_ENV, UnitRole, UnitRoleList, load_unit_roles
from hub.rules.routing import ROUTING_ENV, RoutingRules, load_routing
from hub.rules.screening import (
    MATCHING_ENV,
    SCREENING_ENV,
    MatchingParameters,
    ScreeningParameters,
    load_matching,
    load_screening,
)
from hub.rules.thresholds import (
    THRESHOLDS_ENV,
    Offence,
    ThresholdTable,
    load_thresholds,
)
from hub.rules.violations import (
    VIOLATION_OFFENCES_ENV,
    VIOLATION_TYPES_ENV,
    ViolationMapping,
    ViolationOffenceTable,
    ViolationType,
    ViolationTypeList,
    amount_bases,
    classify_violation,
    load_violation_offences,
    load_violation_types,
)

__all__ = [
    "CONDUCT_ENV",
    "DEADLINES_ENV",
    "ENTITLEMENTS_ENV",
    "MASKING_ENV",
    "MATCHING_ENV",
    "MISSING_ENTRY_ENV",
    "ROUTING_ENV",
    "RULES_DIR_ENV",
    "SCREENING_ENV",
    "THRESHOLDS_ENV",
    "UNIT_ROLES_ENV",
    "VIOLATION_OFFENCES_ENV",
    "VIOLATION_TYPES_ENV",
    "DeadlineRule",
    "DeadlineRules",
    "Entitlements",
    "MaskingRules",
    "MatchingParameters",
    "MissingEntryParameters",
    "Offence",
    "RoutingRules",
    "RuleSet",
    "ScreeningParameters",
    "ThresholdTable",
    "UnitRole",
    "UnitRoleList",
    "ViolationMapping",
    "ViolationOffenceTable",
    "ViolationType",
    "ViolationTypeList",
    "classify_violation",
    "clear_rule_caches",
    "cross_file_problems",
    "load_conduct_criteria",
    "load_deadlines",
    "load_entitlements",
    "load_masking",
    "load_matching",
    "load_missing_entry",
    "load_routing",
    "load_rule_set",
    "load_screening",
    "load_thresholds",
    "load_unit_roles",
    "load_violation_offences",
    "load_violation_types",
    "registered_rule_files",
]


@dataclass(frozen=True)
class RuleSet:
    """Every rule file, loaded together and checked against one another."""

    deadlines: DeadlineRules
    thresholds: ThresholdTable
    violation_types: ViolationTypeList
    violation_offences: ViolationOffenceTable
    routing: RoutingRules
    unit_roles: UnitRoleList
    screening: ScreeningParameters
    matching: MatchingParameters
    masking: MaskingRules
    entitlements: Entitlements


def cross_file_problems(rules: RuleSet) -> list[str]:
    """References between files that do not resolve, each named by file and YAML path."""
    problems: list[str] = []
    categories = rules.thresholds.category_ids()
    for index, rule in enumerate(rules.deadlines.rules):
        for field, values in (
            ("applies_to_offence_categories", rule.applies_to_offence_categories),
            ("excludes_offence_categories", rule.excludes_offence_categories),
        ):
            problems.extend(
                f"deadlines.yaml: rules[{index}].{field}: unknown offence category {value!r}"
                for value in values
                if value not in categories
            )
    codes = rules.violation_types.codes()
    bases = {basis.id: basis for basis in rules.thresholds.bases}
    offence_ids = {offence.id for offence in rules.thresholds.offences}
    for index, mapping in enumerate(rules.violation_offences.mappings):
        path = f"violation_offences.yaml: mappings[{index}]"
        if mapping.violation_type not in codes:
            problems.append(
                f"{path}.violation_type: {mapping.violation_type!r} is not in "
                "violation_types.yaml"
            )
        problems.extend(
            f"{path}.offences: unknown offence {offence_id!r}"
            for offence_id in mapping.offences
            if offence_id not in offence_ids
        )
        for field, basis_ids in amount_bases({}, mapping.amounts).items():
            for basis_id in basis_ids:
                basis = bases.get(basis_id)
                if basis is None or basis.kind != "money":
                    problems.append(
                        f"{path}.amounts.{field}: {basis_id!r} is not a money basis"
                    )
        for q_index, source in enumerate(mapping.quantities):
            basis = bases.get(source.basis)
            if basis is None or basis.kind != "quantity":
                problems.append(
                    f"{path}.quantities[{q_index}].basis: {source.basis!r} is not a quantity "
                    "basis"
                )
    for field, basis_ids in amount_bases(rules.screening.default_amounts, None).items():
        for basis_id in basis_ids:
            basis = bases.get(basis_id)
            if basis is None or basis.kind != "money":
                problems.append(
                    f"screening.yaml: default_amounts.{field}: {basis_id!r} is not a money "
                    "basis"
                )
    domains = rules.violation_types.domain_ids()
    for index, route in enumerate(rules.routing.referral_routes):
        path = f"routing.yaml: referral_routes[{index}]"
        problems.extend(
            f"{path}.when.domains: unknown domain {domain!r}"
            for domain in route.when.domains
            if domain not in domains
        )
        problems.extend(
            f"{path}.when.offence_categories: unknown offence category {category!r}"
            for category in route.when.offence_categories
            if category not in categories
        )
        for role_id in route.police_roles:
            role = rules.unit_roles.get(role_id)
            if role is None:
                problems.append(f"{path}.police_roles: unknown role {role_id!r}")
            elif role.kind != "police":
                problems.append(
                    f"{path}.police_roles: role {role_id!r} is a {role.kind} role, not police"
                )
    for role_id in sorted(rules.routing.role_ids() - rules.unit_roles.ids()):
        problems.append(f"routing.yaml: role {role_id!r} is not in unit_roles.yaml")
    return problems


def load_rule_set(directory: str | os.PathLike[str] | None = None) -> RuleSet:
    """Every rule file (from ``directory`` when given), cross-checked; ConfigError lists all.

    Files missing from ``directory`` fall back to the usual resolution, so an operator's
    directory may hold only the files it changes.
    """

    def pick(name: str) -> str | None:
        if directory is None:
            return None
        candidate = Path(directory) / name
        return str(candidate) if candidate.is_file() else None

    rules = RuleSet(
        deadlines=load_deadlines(pick("deadlines.yaml")),
        thresholds=load_thresholds(pick("thresholds.yaml")),
        violation_types=load_violation_types(pick("violation_types.yaml")),
        violation_offences=load_violation_offences(pick("violation_offences.yaml")),
        routing=load_routing(pick("routing.yaml")),
        unit_roles=load_unit_roles(pick("unit_roles.yaml")),
        screening=load_screening(pick("screening.yaml")),
        matching=load_matching(pick("matching.yaml")),
        masking=load_masking(pick("masking.yaml")),
        entitlements=load_entitlements(pick("entitlements.yaml")),
    )
    problems = cross_file_problems(rules)
    if problems:
        raise ConfigError(f"rule files disagree in {len(problems)} place(s)", problems)
    return rules

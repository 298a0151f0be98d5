"""acl_bindings: what each principal gets, generated from the fixture unit registry."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hub.errors import ConfigError
from hub.security import (
    AclBinding,
    ServicePrincipals,
    acl_bindings,
    ensure_passwords,
    load_passwords,
    scram_users,
    unit_principal,
)
from hub.units import UnitRegistry, load_unit_registry

UNITS_FILE = Path(__file__).parent / "data" / "units.yaml"
MARKET = "11420999MB00000114"  # agency
TOBACCO = "11420999MB0000029X"  # agency
FOREST_POLICE = "11420999MB000007X1"  # police
COUNTY_PROCURATORATE = "11420999MB0000096U"
CITY_PROCURATORATE = "11420900MB00001687"


@pytest.fixture(scope="module")
def registry() -> UnitRegistry:
    return load_unit_registry(UNITS_FILE)


@pytest.fixture(scope="module")
def bindings(registry: UnitRegistry) -> list[AclBinding]:
    return acl_bindings(registry, ServicePrincipals(subscribers=("press",)),
                        connectors={"market-penalties": MARKET})


def _grants(bindings: list[AclBinding], principal: str) -> set[tuple[str, str, str, str]]:
    return {(b.resource_type, b.pattern_type, b.name, b.operation)
            for b in bindings if b.principal == principal}


def _allowed(bindings: list[AclBinding], principal: str, topic: str, operation: str) -> bool:
    return any(b.principal == principal and b.resource_type == "TOPIC"
               and b.operation == operation and b.permission == "ALLOW"
               and (b.name == topic if b.pattern_type == "LITERAL" else topic.startswith(b.name))
               for b in bindings)


@pytest.mark.parametrize(("unit", "expected"), [
    (MARKET, {
        ("TOPIC", "PREFIXED", f"lf.ingest.{MARKET}.", "WRITE"),
        ("TOPIC", "PREFIXED", f"lf.ingest.{MARKET}.", "READ"),
        ("TOPIC", "LITERAL", f"lf.inbox.{MARKET}", "READ"),
        ("GROUP", "PREFIXED", MARKET, "READ"),
        ("TOPIC", "LITERAL", "lf.dlq.market-penalties", "WRITE"),
        ("TOPIC", "LITERAL", "lf.dlq.market-penalties", "READ"),
    }),
    (FOREST_POLICE, {
        ("TOPIC", "PREFIXED", f"lf.ingest.{FOREST_POLICE}.", "WRITE"),
        ("TOPIC", "PREFIXED", f"lf.ingest.{FOREST_POLICE}.", "READ"),
        ("TOPIC", "LITERAL", f"lf.inbox.{FOREST_POLICE}", "READ"),
        ("GROUP", "PREFIXED", FOREST_POLICE, "READ"),
    }),
    (COUNTY_PROCURATORATE, {
        ("TOPIC", "PREFIXED", f"lf.ingest.{COUNTY_PROCURATORATE}.", "WRITE"),
        ("TOPIC", "PREFIXED", f"lf.ingest.{COUNTY_PROCURATORATE}.", "READ"),
        ("TOPIC", "LITERAL", f"lf.inbox.{COUNTY_PROCURATORATE}", "READ"),
        ("GROUP", "PREFIXED", COUNTY_PROCURATORATE, "READ"),
        ("TOPIC", "PREFIXED", "lf.", "READ"),
    }),
])
def test_each_unit_gets_exactly_its_grants(bindings, unit, expected):
    assert _grants(bindings, unit_principal(unit)) == expected


@pytest.mark.parametrize(("principal", "topic", "operation", "allowed"), [
    (unit_principal(MARKET), f"lf.ingest.{MARKET}.penalties", "WRITE", True),
    (unit_principal(MARKET), f"lf.ingest.{TOBACCO}.penalties", "WRITE", False),
    (unit_principal(MARKET), "lf.case-events", "WRITE", False),
    (unit_principal(MARKET), "lf.case-events", "READ", False),
    (unit_principal(MARKET), f"lf.inbox.{TOBACCO}", "READ", False),
    (unit_principal(TOBACCO), "lf.dlq.market-penalties", "WRITE", False),
    (unit_principal(TOBACCO), "lf.dlq.market-penalties", "READ", False),
    (unit_principal(CITY_PROCURATORATE), f"lf.inbox.{MARKET}", "READ", True),
    (unit_principal(CITY_PROCURATORATE), "lf.audit", "READ", True),
    (unit_principal(CITY_PROCURATORATE), "lf.case-events", "WRITE", False),
    ("User:liangfa-streams", f"lf.ingest.{TOBACCO}.penalties", "READ", True),
    ("User:liangfa-streams", f"lf.ingest.{TOBACCO}.penalties", "WRITE", False),
    ("User:liangfa-streams", "lf.case-events", "WRITE", True),
    ("User:liangfa-streams", f"lf.inbox.{MARKET}", "WRITE", True),
    ("User:liangfa-streams", "liangfa-streams-aggregate-cases-changelog", "WRITE", True),
    ("User:liangfa-view", "lf.case-state", "READ", True),
    ("User:liangfa-view", "lf.view-actions", "WRITE", True),
    ("User:liangfa-view", "lf.audit", "WRITE", False),
    ("User:liangfa-view", "lf.audit-intake", "WRITE", True),
    ("User:liangfa-streams", "lf.audit", "WRITE", False),
    ("User:liangfa-streams", "lf.audit-intake", "WRITE", True),
    ("User:liangfa-audit", "lf.audit-intake", "READ", True),
    ("User:liangfa-audit", "lf.audit", "WRITE", True),
    ("User:liangfa-audit", "lf.dlq.audit", "WRITE", True),
    ("User:liangfa-audit", "lf.audit-intake", "WRITE", False),
    ("User:liangfa-audit", "lf.case-events", "READ", False),
    ("User:liangfa-view", "lf.case-events", "WRITE", False),
    ("User:liangfa-view", f"lf.ingest.{COUNTY_PROCURATORATE}.view-acts", "WRITE", True),
    ("User:liangfa-view", f"lf.ingest.{COUNTY_PROCURATORATE}.penalties", "WRITE", False),
    ("User:liangfa-view", f"lf.ingest.{MARKET}.view-acts", "WRITE", False),
    ("User:liangfa-streams", "lf.public.case-events", "WRITE", False),
    ("User:liangfa-streams", "lf.streams.stats-feed", "WRITE", True),
    ("User:liangfa-streams", "lf.streams.case-intake", "DELETE", True),
    ("User:liangfa-streams", "lf.case-events", "DELETE", False),
    ("User:liangfa-view", "lf.streams.case-intake", "DELETE", False),
    ("User:liangfa-public", "lf.case-state", "READ", True),
    ("User:liangfa-public", "lf.public.case-state", "WRITE", True),
    ("User:liangfa-public", "lf.dlq.streams", "WRITE", True),
    ("User:liangfa-public", "lf.case-events", "WRITE", False),
    ("User:liangfa-public", "lf.audit", "READ", False),
    ("User:liangfa-public", f"lf.ingest.{MARKET}.penalties", "READ", False),
    ("User:liangfa-registry", "kafkasql-journal", "WRITE", True),
    ("User:liangfa-registry", "lf.case-events", "READ", False),
    ("User:liangfa-registry", f"lf.ingest.{MARKET}.penalties", "WRITE", False),
    ("User:sub-press", "lf.public.case-summaries", "READ", True),
    ("User:sub-press", "lf.case-events", "READ", False),
])
def test_who_may_do_what(bindings, principal, topic, operation, allowed):
    assert _allowed(bindings, principal, topic, operation) is allowed


def test_bindings_are_sorted_unique_and_deny_only_nested_groups(bindings):
    assert bindings == sorted(set(bindings))
    assert {b.host for b in bindings} == {"*"}
    denied = {(b.principal, b.resource_type, b.pattern_type, b.name, b.operation)
              for b in bindings if b.permission == "DENY"}
    # the engine's group prefix covers the publisher's group, and nothing else nests
    assert denied == {("User:liangfa-streams", "GROUP", "PREFIXED", "liangfa-streams-public",
                       "ALL")}


def test_nested_group_prefixes_are_fenced_both_ways_by_kind(registry):
    bindings = acl_bindings(registry, ServicePrincipals(subscribers=("a", "ab", "b")))
    denied = {(b.principal, b.pattern_type, b.name)
              for b in bindings if b.permission == "DENY"}
    assert ("User:sub-a", "PREFIXED", "sub-ab") in denied
    # the longer prefix does not cover the shorter; unrelated subscribers are untouched
    assert not any(principal in ("User:sub-ab", "User:sub-b") for principal, _, _ in denied)
    # a fence never shuts a principal out of its own group
    for b in bindings:
        if b.permission == "DENY":
            assert not any(a.principal == b.principal and a.name == b.name
                           and a.permission == "ALLOW" for a in bindings)


def test_every_unit_is_covered_and_nobody_else_is_a_unit(registry, bindings):
    unit_principals = {b.principal for b in bindings if b.principal.startswith("User:unit-")}
    assert unit_principals == {unit_principal(unit.code) for unit in registry}


def test_only_procuratorates_read_everything(registry, bindings):
    read_all = {b.principal for b in bindings
                if b.pattern_type == "PREFIXED" and b.name == "lf." and b.operation == "READ"}
    assert read_all == {unit_principal(u.code) for u in registry.find(kind="procuratorate")}


def test_connector_of_an_unknown_unit_is_refused(registry):
    with pytest.raises(KeyError, match="not in the unit registry"):
        acl_bindings(registry, connectors={"ghost": "91110000MA00000000"})


def test_scram_users_are_units_then_services(registry):
    users = scram_users(registry, ServicePrincipals(subscribers=("press",)))
    assert users[: len(registry)] == [f"unit-{unit.code}" for unit in registry]
    assert users[len(registry):] == ["liangfa-streams", "liangfa-view", "liangfa-audit",
                                     "liangfa-public", "liangfa-registry", "sub-press"]


def test_generated_passwords_are_private_and_kept(tmp_path):
    path = tmp_path / "secrets" / "scram.json"
    first = ensure_passwords(path, ["unit-a", "unit-b"])
    assert os.stat(path).st_mode & 0o777 == 0o600
    second = ensure_passwords(path, ["unit-a", "unit-b", "unit-c"])
    assert second["unit-a"].get_secret_value() == first["unit-a"].get_secret_value()
    assert set(load_passwords(path)) == {"unit-a", "unit-b", "unit-c"}


def test_a_secrets_file_others_can_read_is_refused(tmp_path):
    path = tmp_path / "scram.json"
    path.write_text(json.dumps({"unit-a": "pw"}), encoding="utf-8")
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        load_passwords(path)

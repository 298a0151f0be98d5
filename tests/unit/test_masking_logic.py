"""Masking personal information for the public feeds (hub/rules/masking.yaml)."""

from __future__ import annotations

import io

import fastavro
import pytest

from hub.models import CaseReferred, EarlyInterventionAttended, PartyCategory
from hub.models.examples import example_events
from hub.rules.masking import MaskingRules, load_masking
from hub.schemas import local_schema
from streams.masking_logic import PersonalDataMasker, mask_id_number, mask_name


@pytest.fixture(scope="module")
def masker() -> PersonalDataMasker:
    return PersonalDataMasker(load_masking())


@pytest.mark.parametrize(("name", "masked"), [
    ("张示例", "张某"),
    ("欧阳示例", "欧阳某"),
    ("  李四 ", "李某"),
    ("王", "王某"),
    ("", ""),
])
def test_names_keep_the_surname_only(name: str, masked: str) -> None:
    assert mask_name(name, load_masking().compound_surnames) == masked


@pytest.mark.parametrize(("number", "masked"), [
    ("42118119900101001X", "421181************"),
    ("421181199001010012", "421181************"),
    ("E12345678", "*********"),
])
def test_id_numbers_keep_at_most_the_division_code(number: str, masked: str) -> None:
    assert mask_id_number(number) == masked


def test_people_are_masked_and_organisations_are_not(masker: PersonalDataMasker) -> None:
    referral = example_events()["cn.liangfa.events.CaseReferred"]
    assert isinstance(referral, CaseReferred)
    record = referral.to_avro()
    changed = masker.mask(referral.avro_name, record)
    originals = {p.category: p for p in referral.parties}
    masked = {str(p["category"]): p for p in record["parties"]}
    person = masked["NATURAL_PERSON"]
    assert person["name"] == originals[PartyCategory.NATURAL_PERSON].name[0] + "某"
    assert person["id_number"].endswith("*" * 12)
    company = masked["LEGAL_PERSON"]
    assert company["name"] == originals[PartyCategory.LEGAL_PERSON].name
    assert company["credit_code"] == originals[PartyCategory.LEGAL_PERSON].credit_code
    assert company["legal_representative_id_number"].endswith("*" * 12)
    assert changed == 4  # person name + ID, representative name + ID


def test_free_text_is_withheld_and_lists_of_names_masked(masker: PersonalDataMasker) -> None:
    penalty = example_events()["cn.liangfa.events.PenaltyCaseRecorded"]
    record = penalty.to_avro()
    assert record["violation_facts"]
    masker.mask(penalty.avro_name, record)
    assert record["violation_facts"] == ""  # required string: empty, not null
    attended = example_events()["cn.liangfa.events.EarlyInterventionAttended"]
    assert isinstance(attended, EarlyInterventionAttended)
    record = attended.to_avro()
    masker.mask(attended.avro_name, record)
    assert record["attendees"] == [name[0] + "某" for name in attended.attendees]


@pytest.mark.parametrize("avro_name", sorted(example_events()))
def test_every_masked_example_still_fits_its_schema(masker: PersonalDataMasker,
                                                    avro_name: str) -> None:
    """Subscribers decode the public copy with the registry's schema: it must still fit."""
    record = example_events()[avro_name].to_avro()
    masker.mask(avro_name, record)
    parsed = fastavro.parse_schema(local_schema(avro_name))
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, parsed, record)
    buffer.seek(0)
    assert fastavro.schemaless_reader(buffer, parsed, parsed) is not None


def test_an_unknown_type_is_refused_not_passed_through(masker: PersonalDataMasker) -> None:
    with pytest.raises(LookupError, match="not published"):
        masker.mask("cn.liangfa.events.NoSuchEvent", {})


def test_a_rule_naming_a_missing_field_is_a_problem() -> None:
    rules = load_masking()
    broken = MaskingRules.model_validate({
        **rules.model_dump(),
        "fields": [{"record": "Party", "field": "shoe_size", "mask": "withhold"},
                   {"record": "Nobody", "field": "name", "mask": "surname"}],
    })
    problems = broken.cross_check()
    assert any("shoe_size" in p for p in problems)
    assert any("Nobody" in p for p in problems)

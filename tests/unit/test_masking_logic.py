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
    ("E12345678", "*" * 18),  # a passport: its length does not show
    ("H1234567890", "*" * 18),  # a Hong Kong or Macao permit: nor does this one's
    ("810000199001010019", "*" * 18),  # residence permits of Hong Kong, Macao, Taiwan
    ("830000199001010015", "*" * 18),  # residents: their first digits say where from
    ("911156199001010014", "*" * 18),  # a foreign permanent resident ID (2023)
    ("", ""),
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
    # Free text no rule keeps is withheld: the export's file name, the package's
    # document titles, the seized goods' names.
    assert record["source_record"] == ""
    assert {item["title"] for item in record["package_items"]} == {""}
    assert {item["name"] for item in record["quantities"]} == {""}
    assert [item["value"] for item in record["quantities"]] == [
        item.value for item in referral.quantities]
    # person name + ID, representative name + ID, source record, two titles, one name
    assert changed == 4 + 1 + len(referral.package_items) + len(referral.quantities)


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


def test_a_text_field_nobody_judged_is_withheld(masker: PersonalDataMasker) -> None:
    """Fail closed: a schema that gains a text field (here a witness's name and ID) or a
    new event type publishes none of it until a rule or a keep list names it."""
    schema = {"type": "record", "name": "WitnessHeard", "namespace": "cn.liangfa.events",
              "fields": [{"name": "case_id", "type": "string"},
                         {"name": "witness_name", "type": "string"},
                         {"name": "witness_id_number", "type": ["null", "string"]},
                         {"name": "notes", "type": {"type": "array", "items": "string"}},
                         {"name": "extra", "type": {"type": "map", "values": "string"}},
                         {"name": "pages", "type": "int"}]}
    fresh = PersonalDataMasker(load_masking(), {"cn.liangfa.events.WitnessHeard": schema})
    record = {"case_id": "c-1", "witness_name": "张三丰",
              "witness_id_number": "11010519491231002X", "notes": ["张三丰说"],
              "extra": {"phone": "13800138000"}, "pages": 3}
    assert fresh.mask("cn.liangfa.events.WitnessHeard", record) == 4
    assert record == {"case_id": "c-1", "witness_name": "", "witness_id_number": None,
                      "notes": [], "extra": {}, "pages": 3}


def test_the_shipped_rules_judge_every_text_field() -> None:
    """Every text field of the shipped schemas is masked, withheld or kept by name: a
    schema change that adds one fails here until ``masking.yaml`` says what it is."""
    assert load_masking().unclassified_fields() == []


@pytest.mark.parametrize("category", [None, "SOLE_TRADER", "UNKNOWN", "NATURAL_PERSON"])
def test_a_party_not_known_to_be_an_organisation_is_masked_whole(
        masker: PersonalDataMasker, category: str | None) -> None:
    referral = example_events()["cn.liangfa.events.CaseReferred"]
    record = referral.to_avro()
    party = record["parties"][0]
    party.update({"name": "李四", "category": category,
                  "credit_code": "92421181MA00000001", "tax_registration_number":
                  "11010519491231002X01", "business_registration_number": "421181600012345"})
    masker.mask(referral.avro_name, record)
    assert party["name"] == "李某"
    assert set(party["credit_code"]) == {"*"}
    assert set(party["tax_registration_number"]) == {"*"}
    assert set(party["business_registration_number"]) == {"*"}


def test_a_two_character_name_is_not_taken_for_a_compound_surname() -> None:
    compound = load_masking().compound_surnames
    assert mask_name("欧阳", compound) == "欧某"
    assert mask_name("司马光", compound) == "司马某"

"""Records the public feeds withhold whole (hub/rules/masking.yaml, withhold_records): a
child's case, whatever masking leaves of it, and a penalty past its 公示截止期."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from hub.calendar import CHINA_TZ
from hub.identity import resident_id_check_char
from hub.models import IdDocumentType, Party, PartyCategory, PenaltyCaseRecorded
from hub.models.examples import example_events
from hub.rules.masking import load_masking
from hub.serde import LocalSerde
from streams.publication_logic import MINOR, PAST_DISCLOSURE, birth_date, withheld_reason

RULES = load_masking()


def _resident_id(born: date) -> str:
    first17 = "429901" + born.strftime("%Y%m%d") + "123"
    return first17 + resident_id_check_char(first17)


def _penalty(*, born: date | None = None, category: PartyCategory =
             PartyCategory.NATURAL_PERSON, disclosure: date | None = date(2027, 3, 4)
             ) -> dict[str, object]:
    example = example_events()["cn.liangfa.events.PenaltyCaseRecorded"]
    assert isinstance(example, PenaltyCaseRecorded)
    parties = list(example.parties)
    if born is not None:
        parties.append(Party(name="示例某", category=category,
                             id_type=IdDocumentType.RESIDENT_ID, id_number=_resident_id(born)))
    return example.model_copy(update={"parties": parties,
                                      "disclosure_deadline": disclosure}).to_avro()


@pytest.mark.parametrize(("number", "born"), [
    ("42118119900101001X", date(1990, 1, 1)),
    ("421181900101001", date(1990, 1, 1)),  # the first generation's 15 digits
    ("421181199013010012", None),  # no thirteenth month
    ("E12345678", None),  # a passport carries no birth date
])
def test_the_birth_date_is_read_from_a_resident_id(number: str, born: date | None) -> None:
    assert birth_date(number) == born


def test_an_adults_penalty_in_its_disclosure_period_is_published() -> None:
    record = _penalty(born=date(1990, 6, 1))
    assert withheld_reason(record, rules=RULES, today=date(2026, 12, 7)) is None


def test_a_child_at_the_decision_is_withheld_even_when_grown_up_since() -> None:
    decided = example_events()["cn.liangfa.events.PenaltyCaseRecorded"]
    assert isinstance(decided, PenaltyCaseRecorded)
    # Seventeen on the decision day (the example's act and decision are in 2024).
    born = decided.decision_date.replace(year=decided.decision_date.year - 17)
    record = _penalty(born=born)
    assert withheld_reason(record, rules=RULES, today=date(2026, 12, 7)) == MINOR
    # Eighteen on the earliest date the record carries: published (masked).
    earliest = min(decided.occurred_at.date(), decided.decision_date)
    adult = _penalty(born=earliest.replace(year=earliest.year - 18))
    assert withheld_reason(adult, rules=RULES, today=date(2026, 12, 7)) is None


def test_ages_are_counted_on_the_china_day_of_the_record_as_the_publisher_decodes_it(
        ) -> None:
    """The publisher reads records back from Avro, their instants in UTC: an act at
    00:30 Beijing time on someone's eighteenth birthday is on the day before in UTC,
    and an adult's case must not be taken for a child's."""
    example = example_events()["cn.liangfa.events.PenaltyCaseRecorded"]
    assert isinstance(example, PenaltyCaseRecorded)
    decided = example.decision_date
    at = datetime.combine(decided, time(0, 30), tzinfo=CHINA_TZ)
    born = decided.replace(year=decided.year - 18)
    adult = Party(name="示例某", category=PartyCategory.NATURAL_PERSON,
                  id_type=IdDocumentType.RESIDENT_ID, id_number=_resident_id(born))
    event = example.model_copy(update={
        "occurred_at": at, "recorded_at": at + timedelta(days=1),
        "parties": [*example.parties, adult], "disclosure_deadline": date(2099, 1, 1)})
    serde = LocalSerde()
    serde.bind_writer(event.avro_name, 1)
    _, decoded = serde.decode_raw(serde.encode(event))
    assert withheld_reason(decoded, rules=RULES, today=date(2026, 12, 7)) is None
    younger = adult.model_copy(update={"id_number": _resident_id(born + timedelta(days=1))})
    _, decoded = serde.decode_raw(serde.encode(event.model_copy(
        update={"parties": [*example.parties, younger]})))
    assert withheld_reason(decoded, rules=RULES, today=date(2026, 12, 7)) == MINOR


def test_an_organisation_is_never_taken_for_a_child() -> None:
    record = _penalty(born=date(2015, 1, 1), category=PartyCategory.LEGAL_PERSON)
    assert withheld_reason(record, rules=RULES, today=date(2026, 12, 7)) is None


def test_a_penalty_past_its_disclosure_deadline_is_withheld() -> None:
    record = _penalty(disclosure=date(2026, 12, 6))
    assert withheld_reason(record, rules=RULES, today=date(2026, 12, 7)) == PAST_DISCLOSURE
    on_the_day = _penalty(disclosure=date(2026, 12, 7))
    assert withheld_reason(on_the_day, rules=RULES, today=date(2026, 12, 7)) is None

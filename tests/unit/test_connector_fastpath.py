"""The connector's hot path gives exactly what the general path gives.

Headers: :class:`connectors.chunks.EventHeaders` caches the parts of the CloudEvents
headers that repeat across an export; they must equal ``hub.serde.cloudevent_headers``
byte for byte, whatever the instant and its zone. Mapping: the record a mapper hands the
serde is the validated model's own Avro form, and ids do not depend on the caches.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from aiokafka.partitioner import DefaultPartitioner, murmur2
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.chunks import EventHeaders
from connectors.config import parse_config
from connectors.delivery import key_hash, key_hashes
from connectors.mapping import Mapper
from connectors.samples import DEMO_MARKET_UNIT, PENALTY_HEADER, penalty_row
from hub.identity import (
    HUB_NAMESPACE,
    case_id_for,
    content_hash,
    credit_code_check_char,
    event_id_for,
    is_valid_credit_code,
    is_valid_resident_id,
    resident_id_check_char,
)
from hub.models import CHINA_TZ, PenaltyCaseRecorded, PenaltyCategory
from hub.serde import cloudevent_headers

_ZONES = st.sampled_from([CHINA_TZ, UTC, ZoneInfo("Europe/Berlin"),
                          timezone(timedelta(hours=-5))])
_INSTANTS = st.builds(lambda moment, zone: moment.replace(tzinfo=UTC).astimezone(zone),
                      st.datetimes(min_value=datetime(2000, 1, 1),
                                   max_value=datetime(2030, 1, 1)), _ZONES)
_HEADERS = EventHeaders()


@settings(deadline=None)
@given(st.lists(st.tuples(_INSTANTS, st.uuids(), st.uuids()), min_size=1, max_size=5))
def test_cached_headers_equal_the_serde_headers(events: list[tuple[datetime, object,
                                                                  object]]) -> None:
    for occurred_at, event_id, case_id in events:
        for same_instant in (occurred_at, occurred_at.astimezone(CHINA_TZ)):
            record = {"event_id": str(event_id), "case_id": str(case_id),
                      "source_unit": DEMO_MARKET_UNIT, "connector_id": "c-1",
                      "occurred_at": same_instant}
            assert _HEADERS.of(PenaltyCaseRecorded.avro_name, record) == \
                cloudevent_headers(PenaltyCaseRecorded.avro_name, record)


def _mapper() -> Mapper:
    config = parse_config({"id": "m-fast", "unit": DEMO_MARKET_UNIT, "kind": "file",
                           "source": {"path": "/tmp"}, "preset": "penalty-disclosure"})
    return Mapper(config.mapping, unit=config.unit, connector_id=config.id)


_MAPPER = _mapper()


@settings(deadline=None, max_examples=60)
@given(st.integers(min_value=1, max_value=10**9), st.booleans())
def test_the_mapped_record_is_the_validated_models_avro_form(number: int,
                                                             natural: bool) -> None:
    row = dict(zip(PENALTY_HEADER, penalty_row(number, natural_person=natural), strict=True))
    read_time = datetime(2024, 3, 20, tzinfo=CHINA_TZ)
    mapped = _MAPPER.map(row, "f.csv#row 2", read_time)
    validated = PenaltyCaseRecorded.model_validate(mapped.event.model_dump())
    assert mapped.record == validated.to_avro()
    assert mapped.key == validated.case_id.encode()
    # A fresh mapper (empty conversion caches) gives the same ids.
    fresh = _mapper().map(row, "f.csv#row 2", read_time)
    assert (fresh.event_id, fresh.key) == (mapped.event_id, mapped.key)


@given(st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=17, max_size=17))
def test_cached_check_characters_match_the_formula(first17: str) -> None:
    # Called twice: the second answer comes from the cache and must be the same.
    check = credit_code_check_char(first17)
    assert credit_code_check_char(first17) == check
    # GB 32100-2015 layout besides the check: a registration department (never 0) and
    # a 6-digit division part (characters 3-8).
    layout = first17[0] != "0" and first17[2:8].isdigit()
    assert is_valid_credit_code(first17 + check) is layout
    assert is_valid_credit_code(first17 + check) is layout
    # A resident ID of a province, a real birth date and a sequence drawn from the text.
    digits = "42990119800229" + "".join(str(ord(c) % 10) for c in first17[:3])
    resident_check = resident_id_check_char(digits)
    assert is_valid_resident_id(digits + resident_check)
    wrong = "0" if resident_check != "0" else "1"
    assert not is_valid_resident_id(digits + wrong)


def _reference_hash(payload: dict[str, object]) -> str:
    """content_hash as it was first written: the json module's text, SHA-256."""
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


_SCALARS = (st.text() | st.integers(min_value=-(2**70), max_value=2**70) | st.booleans()
            | st.none() | st.dates() | st.datetimes(timezones=st.just(CHINA_TZ))
            | st.floats() | st.decimals(allow_nan=False)
            | st.sampled_from(list(PenaltyCategory)))
_PAYLOADS = st.dictionaries(st.text(), st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(), inner, max_size=3), max_leaves=12), max_size=8)


@settings(deadline=None, max_examples=300)
@given(_PAYLOADS)
def test_content_hash_is_the_json_modules_hash(payload: dict[str, object]) -> None:
    """The orjson fast path writes the same text: ids stay what earlier versions made."""
    assert content_hash(payload) == _reference_hash(payload)


_SAFE_SCALARS = (st.text() | st.integers(min_value=-(2**70), max_value=2**70)
                 | st.booleans() | st.none() | st.dates() | _INSTANTS
                 | st.datetimes(timezones=st.just(CHINA_TZ))
                 | st.datetimes(timezones=st.just(ZoneInfo("America/New_York")))
                 | st.decimals(allow_nan=False) | st.sampled_from(list(PenaltyCategory)))
_SAFE_PAYLOADS = st.dictionaries(st.text(), st.recursive(
    _SAFE_SCALARS, lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(), inner, max_size=3), max_leaves=12), max_size=8)


@settings(deadline=None, max_examples=300)
@given(_SAFE_PAYLOADS)
def test_checked_content_hash_is_the_json_modules_hash(payload: dict[str, object]) -> None:
    """``checked=True`` (no type scan; what a mapper whose conversions and constants give
    only these types uses) and the remembered texts of dates and instants (zones, folds)
    change no hash; asked twice, the second answer comes from the remembered texts."""
    assert content_hash(payload, checked=True) == _reference_hash(payload)
    assert content_hash(payload, checked=True) == _reference_hash(payload)


def test_a_mapper_with_a_float_constant_hashes_with_the_type_scan() -> None:
    assert _MAPPER.hash_checked
    config = parse_config({"id": "m-float", "unit": DEMO_MARKET_UNIT, "kind": "file",
                           "source": {"path": "/tmp"}, "preset": "penalty-disclosure",
                           "mapping": {"fields": {"remarks": {"value": 1e16}}}})
    mapper = Mapper(config.mapping, unit=config.unit, connector_id=config.id)
    assert not mapper.hash_checked


@given(st.text(), st.text())
def test_fast_uuid5_ids_are_the_standard_uuid5(unit: str, text: str) -> None:
    assert event_id_for(unit, text, "h") == str(
        uuid.uuid5(HUB_NAMESPACE, f"event:{unit}|{text}|h"))
    assert case_id_for(unit, text) == str(uuid.uuid5(
        HUB_NAMESPACE, f"case:{unit.strip().upper()}|{' '.join(text.split())}"))


@given(st.binary(max_size=80))
def test_key_hash_is_kafkas_murmur2(key: bytes) -> None:
    """Events land on the partition aiokafka's (and Java's) default partitioner picks."""
    assert key_hash(key) == murmur2(key) & 0x7FFFFFFF
    partitions = list(range(7))
    assert partitions[key_hash(key) % 7] == DefaultPartitioner()(key, partitions, partitions)


@given(st.integers(0, 12).flatmap(lambda words: st.lists(
    st.binary(min_size=4 * words, max_size=4 * words), min_size=0, max_size=300)),
       st.lists(st.binary(max_size=41), max_size=20))
@settings(max_examples=150)
def test_key_hashes_of_a_chunk_are_each_keys_hash(same_length: list[bytes],
                                                   mixed: list[bytes]) -> None:
    """All keys at once (one 64-bit lane per key) gives every key's own murmur2, in order:
    keys of one length that is a multiple of 4 (the lane path, all-0xFF words included),
    mixed lengths and short lists (key by key)."""
    for keys in (same_length, mixed, same_length + mixed,
                 [b"\xff" * 36] * 9 + [b"\x00" * 36] * 9):
        assert key_hashes(keys) == [murmur2(key) & 0x7FFFFFFF for key in keys]

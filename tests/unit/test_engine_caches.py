"""The native engine's shortcuts give exactly what the long way gives.

Ids derived without ``uuid`` objects, state encoded with orjson, decoded values and case
documents kept between batches, headers passed through: each must be indistinguishable
from the work it saves, or replays would no longer be idempotent.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from hub.identity import HUB_NAMESPACE
from hub.models import CaseEvent, FilingDecided, ReferralReceived
from hub.models.examples import example_events
from streams._alerts import alert_id_for, uuid_for
from streams.engine.case_document import CaseDocument
from streams.engine.inputs import record_headers
from streams.engine.outputs import DECODED_CACHE, remember
from streams.engine.state import decode_value, encode_value


def test_uuid_for_matches_uuid5_in_the_hub_namespace() -> None:
    for parts in [("alert", "case-1", "rule", "event"), ("stats", "移送单位", "2024-05", ""),
                  ("",), ("alert-event", "x" * 300, "RAISED", "WARNING", "")]:
        assert uuid_for(*parts) == str(uuid.uuid5(HUB_NAMESPACE, "|".join(parts)))
    assert alert_id_for("c", "r", "e") == str(uuid.uuid5(HUB_NAMESPACE, "alert|c|r|e"))


def test_state_values_are_compact_json_readable_both_ways() -> None:
    value = {"seen": ["a", "b"], "名称": "行政执法", "n": 3, "none": None, "f": 0.25}
    encoded = encode_value(value)
    assert encoded == json.dumps(value, separators=(",", ":"),
                                 ensure_ascii=False).encode("utf-8")
    assert decode_value(encoded) == value
    assert decode_value(json.dumps(value).encode("ascii")) == value


def test_decoded_cache_is_bounded_and_drops_the_oldest() -> None:
    event: CaseEvent = next(iter(example_events().values()))
    cache: dict[bytes, CaseEvent] = {}
    for number in range(DECODED_CACHE + 1):
        remember(cache, f"value-{number}".encode(), event)
    assert len(cache) <= DECODED_CACHE
    assert b"value-0" not in cache
    assert f"value-{DECODED_CACHE}".encode() in cache


def test_a_kept_document_starts_each_batch_with_clean_flags() -> None:
    event = next(iter(example_events().values()))
    document = CaseDocument(2, event.case_id, None)
    document.add_event(event)
    document.mark_seen(event.event_id)
    document.aggregate_changed = True
    stored = document.encoded()
    document.begin_batch()
    assert not (document.changed or document.aggregate_changed or document.deadlines_due
                or document.screening_due)
    assert document.last_record is None
    # What it holds is still what the store holds.
    assert document.encoded() == stored
    assert event.event_id in document.seen


def test_headers_pass_through_and_null_values_become_empty() -> None:
    assert record_headers(None) == ()
    assert record_headers([("ce_id", b"1"), ("ce_type", b"t")]) == (("ce_id", b"1"),
                                                               ("ce_type", b"t"))
    assert record_headers([("ce_id", None)]) == (("ce_id", b""),)


def test_partition_of_is_the_default_partitioners_choice() -> None:
    from aiokafka.partitioner import DefaultPartitioner

    from streams.engine.outputs import partition_of

    partitioner = DefaultPartitioner()
    for count in (1, 4, 12):
        partitions = list(range(count))
        for number in range(500):
            key = f"case-{number}".encode()
            expected = partitioner(key, partitions, partitions)
            assert partition_of(key, partitions) == expected
            assert partition_of(key, partitions) == expected  # from the cache


def test_release_held_returns_what_is_ready_and_keeps_the_rest_with_its_grace() -> None:
    """Feedback whose referral arrived is released at once; the other keeps its time."""
    events = example_events()
    receipt = next(e for e in events.values() if isinstance(e, ReferralReceived))
    filing = next(e for e in events.values() if isinstance(e, FilingDecided))
    document = CaseDocument(0, receipt.case_id, None)
    until = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    document.hold(receipt, until)
    document.hold(filing, until)
    document.changed = False

    released = document.release_held(lambda held: isinstance(held, ReferralReceived))

    assert [event.event_id for event in released] == [receipt.event_id]
    assert document.changed
    assert document.held_until() == until
    assert [event.event_id for event in document.take_held()] == [filing.event_id]
    assert document.release_held(lambda held: True) == []

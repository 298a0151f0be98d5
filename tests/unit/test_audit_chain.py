"""The audit hash chain without a broker: sealing, the canonical encoding through Avro, and
what ``check_partition`` names when a record is altered, removed, inserted or moved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.audit.chain import (
    GENESIS_HASH,
    Anchor,
    ChainEntry,
    PartitionSummary,
    canonical_bytes,
    check_anchors,
    check_partition,
    record_hash,
    seal,
    unsealed,
)
from hub.identity import case_id_for
from hub.models import AuditOperation, AuditRecorded
from hub.models.examples import EXAMPLE_HUB_UNIT, example_events
from hub.serde import LocalSerde

PARTITION = 2


def _record(index: int) -> AuditRecorded:
    base = example_events()[AuditRecorded.avro_name]
    assert isinstance(base, AuditRecorded)
    moment = datetime(2026, 12, 1, 9, 0, tzinfo=UTC) + timedelta(seconds=index)
    return base.model_copy(update={
        "event_id": f"00000000-0000-4000-8000-{index:012d}",
        "case_id": case_id_for(EXAMPLE_HUB_UNIT, f"audit:{index}"),
        "occurred_at": moment, "recorded_at": moment,
        "actor": f"prosecutor.{index}", "operation": AuditOperation.VIEW})


def _chain(count: int) -> list[AuditRecorded]:
    records: list[AuditRecorded] = []
    previous = GENESIS_HASH
    for index in range(count):
        sealed = seal(_record(index), PARTITION, index, previous)
        previous = sealed.chain_hash or ""
        records.append(sealed)
    return records


def _entries(records: list[AuditRecorded | None]) -> list[ChainEntry]:
    return [ChainEntry(PARTITION, offset, record, None if record else "undecodable")
            for offset, record in enumerate(records)]


def _check(records: list[AuditRecorded | None]) -> list[str]:
    _, findings = check_partition(PARTITION, _entries(records))
    return [f"{f.kind} {f.offset} {f.audit_id}" for f in findings]


def test_sealed_records_link_and_survive_the_avro_round_trip() -> None:
    records = _chain(3)
    assert [r.chain_sequence for r in records] == [0, 1, 2]
    assert records[0].chain_previous_hash == GENESIS_HASH
    assert records[1].chain_previous_hash == records[0].chain_hash
    serde = LocalSerde()
    serde.bind_writer(AuditRecorded.avro_name, 41)
    for record in records:
        decoded = serde.decode(serde.encode(record))
        assert isinstance(decoded, AuditRecorded)
        assert record_hash(decoded, PARTITION) == record.chain_hash
    assert record_hash(records[0], PARTITION + 1) != records[0].chain_hash


def test_canonical_encoding_leaves_out_empty_fields_so_new_optional_fields_keep_hashes() -> None:
    record = seal(_record(0).model_copy(update={"query": None}), PARTITION, 0, GENESIS_HASH)
    encoded = canonical_bytes(record, PARTITION).decode()
    assert '"query"' not in encoded and '"chain_hash"' not in encoded
    assert f'"partition":{PARTITION}' in encoded and '"operation":"VIEW"' in encoded
    assert unsealed(record).chain_hash is None


def test_an_intact_chain_has_no_finding_and_reports_its_head() -> None:
    records = _chain(5)
    summary, findings = check_partition(PARTITION, _entries(list(records)))
    assert findings == []
    assert (summary.sealed, summary.head_sequence, summary.head_hash) == (
        5, 4, records[4].chain_hash)


def test_an_altered_record_is_named() -> None:
    records: list[AuditRecorded | None] = list(_chain(5))
    original = records[2]
    assert original is not None
    records[2] = original.model_copy(update={"actor": "someone.else"})
    assert _check(records) == [f"altered 2 {original.event_id}"]


def test_a_replaced_record_with_a_recomputed_hash_is_named_by_the_next_link() -> None:
    chain = _chain(5)
    forged = chain[2].model_copy(update={"actor": "someone.else"})
    forged = forged.model_copy(update={"chain_hash": record_hash(forged, PARTITION)})
    records: list[AuditRecorded | None] = [*chain[:2], forged, *chain[3:]]
    assert _check(records) == [f"altered 2 {chain[2].event_id}"]


def test_a_removed_record_is_named_by_its_gap() -> None:
    chain = _chain(5)
    records: list[AuditRecorded | None] = [*chain[:2], *chain[3:]]
    _, findings = check_partition(PARTITION, _entries(records))
    assert [(f.kind, f.offset, f.audit_id) for f in findings] == [
        ("removed", 2, chain[3].event_id)]
    assert "sequence(s) 2 missing" in findings[0].detail


@pytest.mark.parametrize("first", [True, False], ids=["first-record", "after-the-chain"])
def test_a_forged_huge_sequence_is_named_without_counting_to_it(first: bool) -> None:
    """A record sealed with sequence 2**62 (written to lf.audit by whoever could): verify
    names the gap as ranges instead of listing 2**62 numbers (hours and all the memory,
    blinding the very check meant to catch it)."""
    chain = _chain(3)
    forged = seal(_record(7), PARTITION, 2**62, chain[-1].chain_hash or "")
    records: list[AuditRecorded | None] = [forged, *chain] if first else [*chain, forged]
    _, findings = check_partition(PARTITION, _entries(records))
    removed = [f for f in findings if f.kind == "removed"]
    assert removed and removed[0].audit_id == forged.event_id
    assert f"sequence(s) 3-{2**62 - 1} missing" in removed[0].detail


def test_gaps_and_late_sequences_are_named_together() -> None:
    chain = _chain(7)
    records: list[AuditRecorded | None] = [chain[0], chain[5], chain[2], chain[6]]
    _, findings = check_partition(PARTITION, _entries(records))
    details = {f.detail for f in findings if f.offset == 1}
    assert any("comes before sequence(s) 2, which follow later" in d for d in details)
    assert any("sequence(s) 1, 3-4 missing" in d for d in details)


def test_two_swapped_records_are_both_named_as_reordered() -> None:
    chain = _chain(5)
    records: list[AuditRecorded | None] = [chain[0], chain[1], chain[3], chain[2], chain[4]]
    assert _check(records) == [f"reordered 2 {chain[3].event_id}",
                               f"reordered 3 {chain[2].event_id}"]


@pytest.mark.parametrize("kind", ["unchained", "copy"])
def test_an_inserted_record_is_named(kind: str) -> None:
    chain = _chain(4)
    extra = unsealed(_record(99)) if kind == "unchained" else chain[1]
    records: list[AuditRecorded | None] = [*chain[:2], extra, *chain[2:]]
    assert _check(records) == [f"inserted 2 {extra.event_id}"]


def test_records_from_before_the_chain_are_counted_not_reported() -> None:
    legacy = [unsealed(_record(90)), unsealed(_record(91))]
    summary, findings = check_partition(PARTITION, _entries([*legacy, *_chain(2)]))
    assert findings == []
    assert (summary.legacy, summary.sealed) == (2, 2)


def test_an_unreadable_record_inside_the_chain_is_altered() -> None:
    chain = _chain(3)
    records: list[AuditRecorded | None] = [chain[0], None, *chain[1:]]
    assert _check(records) == ["altered 1 ?"]


def test_anchors_find_a_cut_tail_and_a_rewritten_chain() -> None:
    chain = _chain(4)
    summary, _ = check_partition(PARTITION, _entries(list(chain[:3])))
    cut = check_anchors({PARTITION: summary},
                        [Anchor(PARTITION, 3, chain[3].chain_hash or "")])
    assert [f.kind for f in cut] == ["removed"] and "sequence 3" in cut[0].detail
    rewritten = check_anchors({PARTITION: summary}, [Anchor(PARTITION, 1, "f" * 64)])
    assert [f.kind for f in rewritten] == ["altered"]
    kept = check_anchors({PARTITION: summary},
                         [Anchor(PARTITION, 2, chain[2].chain_hash or "")])
    assert kept == []
    assert check_anchors({}, [Anchor(7, 0, "0" * 64)])[0].partition == 7
    assert isinstance(summary, PartitionSummary)

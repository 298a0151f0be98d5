"""A party's penalties across units, for the screening's repeat-penalty criteria.

非法行医 is an offence once the party was penalised twice before (立案追诉标准（一）
Art. 57), and the earlier penalties may come from other units: other cases, keyed by
other case ids. The screening therefore needs a history keyed by the party's identifier
(credit code or ID number, :func:`streams.screening_priors.party_identifier`), not by
case. It lives in the case partition stores (:class:`streams.engine.state.PartitionStore`,
RocksDB with a compacted changelog, so it is recovered with the partition): key
``h|<identifier>``, a JSON list of the party's penalties that a repeat rule counts
(``conduct_criteria.yaml`` ``repeat_penalties``), at most :data:`MAX_ENTRIES`.

Where a penalty is written: the store of its own case's partition (the task that owns
the case is the only writer of that partition, so a read-modify-write is safe). Where
it is read: every partition store this worker owns, merged. On one worker (a county's
default) that is the whole history. **Limitation**, chosen over a repartition by party
identifier for now: with several workers, penalties on partitions another worker owns
are not seen, and an earlier penalty read after a later one does not re-screen the later
case (its lead is raised when that case is next screened). The view's list of parties
penalised by several units counts over every case and stays the complete picture; a
global, party-keyed topic tailed by every worker (as :mod:`streams.engine.global_index`
does for referrals) would close both gaps.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

from hub.models import PenaltyCaseRecorded
from streams.engine.state import PartitionStore, decode_value, encode_value
from streams.screening_assessment import ScreeningRules, violation_code
from streams.screening_priors import PriorPenalty, party_identifier, prior_penalty_counts

__all__ = ["KEY_PREFIX", "MAX_ENTRIES", "history_of", "prior_counts", "record"]

KEY_PREFIX = b"h|"
#: Penalties kept per party (the latest by decision date); criteria count two or three.
MAX_ENTRIES = 50


def _key(identifier: str) -> bytes:
    return KEY_PREFIX + identifier.encode("utf-8")


def _spellings(identifier: str) -> tuple[str, ...]:
    """The keys a party's history may be stored under: its key and its lower-case
    spelling. Before identifiers were keyed by :func:`hub.identity.identifier_key` the
    history was keyed by the value as typed: an agency writing a resident ID's x, or a
    passport or permit number in lower case, stored its penalties under that spelling;
    they are read, and moved to the key when the party's next penalty is recorded. (A
    value typed with spaces inside is not found; credit codes were upper case already.)"""
    lower = identifier.lower()
    return (identifier,) if lower == identifier else (identifier, lower)


def _entries(store: PartitionStore, identifier: str) -> list[PriorPenalty]:
    entries: list[PriorPenalty] = []
    for spelling in _spellings(identifier):
        raw = store.get(_key(spelling))
        if raw is not None:
            entries += [PriorPenalty(item["event_id"], item["case_id"], item["unit_code"],
                                     item.get("violation_type_code"),
                                     date.fromisoformat(item["decided_on"]))
                        for item in decode_value(raw)]
    return entries


def history_of(stores: Iterable[PartitionStore], identifier: str) -> list[PriorPenalty]:
    """The party's penalties in every given store, one entry per case (the latest copy)."""
    by_case: dict[str, PriorPenalty] = {}
    for store in stores:
        for entry in _entries(store, identifier):
            by_case[entry.case_id] = entry
    return sorted(by_case.values(), key=lambda e: (e.decided_on, e.case_id))


def record(store: PartitionStore, penalty: PenaltyCaseRecorded, identifier: str,
           code: str | None) -> None:
    """Stage the penalty in its party's history (a corrected copy replaces its case's).

    Entries stored under an older spelling of the key (:func:`_spellings`) are moved to
    the key, one entry per case (the key's own entry first).
    """
    by_case: dict[str, PriorPenalty] = {}
    for entry in _entries(store, identifier):
        if entry.case_id != penalty.case_id:
            by_case.setdefault(entry.case_id, entry)
    entries = [*by_case.values(), PriorPenalty(penalty.event_id, penalty.case_id,
                                               penalty.source_unit, code,
                                               penalty.decision_date)]
    entries.sort(key=lambda e: (e.decided_on, e.case_id))
    for spelling in _spellings(identifier)[1:]:
        if store.get(_key(spelling)) is not None:
            store.put(_key(spelling), None)
    store.put(_key(identifier), encode_value([
        {"event_id": e.event_id, "case_id": e.case_id, "unit_code": e.unit_code,
         "violation_type_code": e.violation_type_code, "decided_on": e.decided_on.isoformat()}
        for e in entries[-MAX_ENTRIES:]]))


def prior_counts(stores: Mapping[int, PartitionStore], partition: int,
                 penalties: Iterable[object], rules: ScreeningRules) -> dict[str, int]:
    """Record this case's counted penalties, then count each one's earlier penalties.

    ``penalties`` are the case's screened events (referrals are skipped); only penalties
    whose conduct a repeat rule counts and whose party has an identifier are recorded,
    so the store costs nothing for every other case. Returns event id → earlier
    penalties of the party (:func:`streams.screening_priors.prior_penalty_counts`).
    """
    counted: list[PenaltyCaseRecorded] = []
    own = stores.get(partition)  # None: the partition just moved away; count, write nothing
    for event in penalties:
        if not isinstance(event, PenaltyCaseRecorded):
            continue
        identifier = party_identifier(event)
        code = event.violation_type_code or violation_code(event, rules)
        if identifier is None or rules.conduct.repeat_rule(code) is None:
            continue
        if own is not None:
            record(own, event, identifier, code)
        counted.append(event)
    if not counted:
        return {}
    history = {identifier: history_of(stores.values(), identifier)
               for identifier in {party_identifier(event) for event in counted} if identifier}
    return prior_penalty_counts(counted, history, rules)

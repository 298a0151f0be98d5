"""What the feedback matcher remembers of referrals, and where it keeps it.

The matcher's memory outlives any one feedback and is shared by more than the matcher:
a referral's record is replicated to every worker (:mod:`streams.engine.global_index`),
stored in RocksDB (:mod:`streams.engine.match_store`) and keyed by the same normalised
numbers in the statistics feed (:mod:`streams.matching`). The record, its key, the way
numbers and identifiers are normalised for comparison, and the storage's contract live
here, apart from the decisions the matcher takes on them (:mod:`streams.matching_logic`).
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from hub.calendar import china_date
from hub.identity import identifier_key
from hub.models import CaseReferred, Party, PenaltyCaseRecorded

__all__ = [
    "InMemoryMatchStorage",
    "MatchIndexStorage",
    "RecordKey",
    "ReferralRecord",
    "identifiers_of",
    "normalise_document_number",
]

#: Every bracket agencies type around a year, and the one it is compared as.
_BRACKETS = {"〔": "[", "〕": "]", "［": "[", "］": "]", "【": "[", "】": "]",
             "（": "[", "）": "]", "(": "[", ")": "]", "﹝": "[", "﹞": "]"}
#: The brackets that NFKC leaves as they are (it folds ［ to [ and ﹝ to 〔 itself).
#: Replaced one by one, not by ``str.translate``: that took 1.3 of a number's 2.1 µs
#: (its table path is slow on CJK text), and a matching-index rebuild normalises ~3.5
#: numbers per entry.
_BRACKETS_AFTER_NFKC = tuple((bracket, folded) for bracket, folded in _BRACKETS.items()
                             if unicodedata.normalize("NFKC", bracket) == bracket)


def normalise_document_number(number: str | None) -> str | None:
    """A document number as compared: full-width folded, brackets unified, no spaces.

    Agencies type 〔2025〕, [2025] or (2025) for the same 文号; one spelling per number.
    """
    if not number:
        return None
    text = unicodedata.normalize("NFKC", number)
    for bracket, folded in _BRACKETS_AFTER_NFKC:
        if bracket in text:
            text = text.replace(bracket, folded)
    # ``split()`` without a separator splits on what ``\s`` matches (str.isspace).
    return "".join(text.split()).upper() or None


def identifiers_of(parties: Iterable[Party]) -> frozenset[str]:
    """The parties' identifiers as compared (credit codes, ID numbers, a legal
    representative's ID number): :func:`hub.identity.identifier_key` (full-width folded,
    no spaces, upper case), no sole-trader placeholder. ASCII identifiers give the keys
    indexes stored before full-width folding, so no stored index needs rebuilding."""
    found: set[str] = set()
    for party in parties:
        for value in party.identifiers():
            normalised = identifier_key(value)
            if normalised and set(normalised) != {"0", "X"}:  # not the sole-trader placeholder
                found.add(normalised)
        if party.legal_representative_id_number:
            representative = identifier_key(party.legal_representative_id_number)
            if representative:
                found.add(representative)
    return frozenset(found)


@dataclass(frozen=True)
class ReferralRecord:
    """What the matcher remembers of a referral (or of a penalty decision of a case)."""

    case_id: str
    referring_unit_code: str
    referred_on: date
    referral_number: str | None = None
    receiving_unit_code: str | None = None
    decision_number: str | None = None
    agency_case_number: str | None = None
    offence: str | None = None
    identifiers: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_referral(cls, event: CaseReferred) -> ReferralRecord:
        """The record of a referral event."""
        return cls(
            case_id=event.case_id, referring_unit_code=event.source_unit,
            referred_on=china_date(event.occurred_at), referral_number=event.referral_number,
            receiving_unit_code=event.receiving_unit_code,
            decision_number=event.decision_number, agency_case_number=event.agency_case_number,
            offence=event.suspected_offence, identifiers=identifiers_of(event.parties),
        )

    @classmethod
    def from_penalty(cls, event: PenaltyCaseRecorded) -> ReferralRecord:
        """The record of a penalty decision: feedback may quote its decision number."""
        return cls(
            case_id=event.case_id, referring_unit_code=event.source_unit,
            referred_on=china_date(event.occurred_at), decision_number=event.decision_number,
            agency_case_number=event.agency_case_number, identifiers=identifiers_of(event.parties),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, for a processor's state table."""
        return {
            "case_id": self.case_id, "referring_unit_code": self.referring_unit_code,
            "referred_on": self.referred_on.isoformat(), "referral_number": self.referral_number,
            "receiving_unit_code": self.receiving_unit_code,
            "decision_number": self.decision_number,
            "agency_case_number": self.agency_case_number, "offence": self.offence,
            "identifiers": sorted(self.identifiers),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReferralRecord:
        """Inverse of :meth:`to_dict`."""
        return cls(
            case_id=data["case_id"], referring_unit_code=data["referring_unit_code"],
            referred_on=date.fromisoformat(data["referred_on"]),
            referral_number=data.get("referral_number"),
            receiving_unit_code=data.get("receiving_unit_code"),
            decision_number=data.get("decision_number"),
            agency_case_number=data.get("agency_case_number"), offence=data.get("offence"),
            identifiers=frozenset(data.get("identifiers", ())),
        )


#: A referral record's identity in the indexes: (case id, referral number, decision number).
RecordKey = tuple[str, str, str]


class MatchIndexStorage(Protocol):
    """Where the matcher's indexes live: a dict on the heap, or a local RocksDB store.

    The indexes grow with every referral the hub has seen; a worker keeps them in
    RocksDB (:class:`streams.engine.match_store.RocksMatchStorage`) so its memory does not
    grow with the province's history. Sets are small (the records sharing one document
    number or one party), so they are read and written whole.
    """

    def record(self, key: RecordKey) -> ReferralRecord | None:
        """The record stored under ``key``."""

    def put_record(self, key: RecordKey, record: ReferralRecord) -> None:
        """Store a new record (the caller checked it was absent)."""

    def knows_case(self, case_id: str) -> bool:
        """Whether any record of ``case_id`` is stored."""

    def referring_unit(self, case_id: str) -> str | None:
        """The referring unit of the case's first record that named one."""

    def note_case(self, case_id: str, referring_unit: str | None) -> None:
        """Remember the case (and its referring unit, unless one is known already)."""

    def keys(self, index: str, value: str) -> set[RecordKey]:
        """Record keys indexed under ``value`` in ``index``."""

    def add_key(self, index: str, value: str, key: RecordKey) -> None:
        """Add a record key under ``value`` in ``index``."""

    def police_case(self, police_key: str) -> str | None:
        """The case a police unit's case number is linked to."""

    def police_number_cases(self, number: str) -> set[str]:
        """Cases a police case number is linked to, whatever the police unit."""

    def link_police(self, police_key: str, number: str, case_id: str) -> None:
        """Link a police case number (per unit and across units) to a case."""

    def unlink_police(self, police_key: str, number: str, case_id: str) -> None:
        """Undo :meth:`link_police` for ``case_id`` (its match was withdrawn)."""

    def __len__(self) -> int:
        """Records stored."""


class InMemoryMatchStorage:
    """The indexes as dictionaries (unit tests, the offline harness, small tools)."""

    def __init__(self) -> None:
        self._records: dict[RecordKey, ReferralRecord] = {}
        self._referring_unit: dict[str, str | None] = {}
        self._indexes: dict[tuple[str, str], set[RecordKey]] = defaultdict(set)
        self._by_police_case: dict[str, str] = {}
        self._by_police_number: dict[str, set[str]] = defaultdict(set)

    def record(self, key: RecordKey) -> ReferralRecord | None:
        return self._records.get(key)

    def put_record(self, key: RecordKey, record: ReferralRecord) -> None:
        self._records[key] = record

    def knows_case(self, case_id: str) -> bool:
        return case_id in self._referring_unit

    def referring_unit(self, case_id: str) -> str | None:
        return self._referring_unit.get(case_id)

    def note_case(self, case_id: str, referring_unit: str | None) -> None:
        if self._referring_unit.get(case_id) is None:
            self._referring_unit[case_id] = referring_unit or None

    def keys(self, index: str, value: str) -> set[RecordKey]:
        return self._indexes.get((index, value), set())

    def add_key(self, index: str, value: str, key: RecordKey) -> None:
        self._indexes[(index, value)].add(key)

    def police_case(self, police_key: str) -> str | None:
        return self._by_police_case.get(police_key)

    def police_number_cases(self, number: str) -> set[str]:
        return self._by_police_number.get(number, set())

    def link_police(self, police_key: str, number: str, case_id: str) -> None:
        self._by_police_case[police_key] = case_id
        self._by_police_number[number].add(case_id)

    def unlink_police(self, police_key: str, number: str, case_id: str) -> None:
        if self._by_police_case.get(police_key) == case_id:
            del self._by_police_case[police_key]
        self._by_police_number.get(number, set()).discard(case_id)

    def __len__(self) -> int:
        return len(self._records)

"""Feedback matcher, pure part: police feedback keyed by the police's own case number → its case.

Police systems know their own case number, not the hub's ``case_id``. Their feedback
(receipt, filing decision, reconsideration…) usually quotes the referral letter number
(Decree 310 Art. 7–8 make the police answer the referral), sometimes only the agency's
decision number, sometimes only the parties. :class:`FeedbackMatcher` tries, in order:

1. the case id, when the feedback already carries the hub's, or a police case number
   linked to a case by an earlier match;
2. the referral letter number (移送书文号), O(1) by index;
3. the agency's penalty decision number (处罚决定书文号), then the agency case number,
   O(1) by index;
4. party identifiers (credit code, ID number) of referrals in the date window, scored up
   for the same referring/receiving unit and the same offence; only when that referral
   is the party's sole one in the window can the score reach the confident threshold —
   two referrals of one party always go to a person.

A confident match (score ≥ ``matching.yaml`` threshold, and no other candidate as good)
re-keys the feedback; otherwise the candidates go to a person (FeedbackUnmatched).

Court outcomes (judgment, judicial recommendation) are matched the same way: they are keyed
by the court case number under the court's code and quote the referral letter number (when
the case came from a referral) and the police case number; for them the referral number is
tried first, and a police case number linked by an earlier match counts whatever the police
unit (the court event's own unit is the court).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from hub.calendar import china_date
from hub.models import (
    CaseEvent,
    CaseReferred,
    CourtJudgment,
    FeedbackMatched,
    FeedbackMatchWithdrawn,
    FeedbackUnmatched,
    JudicialRecommendation,
    MatchCandidate,
    MatchMethod,
    Party,
    PenaltyCaseRecorded,
    ViewAction,
)
from hub.rules import MatchingParameters
from streams._alerts import SOURCE_SYSTEM, uuid_for
from streams.match_index import (
    InMemoryMatchStorage,
    MatchIndexStorage,
    RecordKey,
    ReferralRecord,
    identifiers_of,
    normalise_document_number,
)

__all__ = [
    "PROCESSOR",
    "Candidate",
    "FeedbackMatcher",
    "MatchResult",
    "feedback_identifiers",
    "manual_match_event",
    "matched_event",
    "rejoined_event",
    "unmatched_event",
    "withdrawn_event",
]

PROCESSOR = "matching"
_OFFENCE_NOISE = re.compile(r"[\s、，,（）()罪]")


def _normalise_offence(name: str | None) -> str | None:
    if not name:
        return None
    return _OFFENCE_NOISE.sub("", unicodedata.normalize("NFKC", name)) or None


@dataclass(frozen=True)
class Candidate:
    """A case the feedback may belong to, with the score and why."""

    case_id: str
    score: Decimal
    method: MatchMethod
    reason: str


@dataclass(frozen=True)
class MatchResult:
    """The matcher's answer: a confident case, or the candidates for a person."""

    feedback_event_id: str
    case_id: str | None
    method: MatchMethod | None
    confidence: Decimal
    candidates: tuple[Candidate, ...]

    @property
    def confident(self) -> bool:
        """True when the feedback can be re-keyed without a person."""
        return self.case_id is not None


def _text(event: object, name: str) -> str | None:
    value = getattr(event, name, None)
    return value if isinstance(value, str) and value.strip() else None


def feedback_identifiers(feedback: CaseEvent) -> frozenset[str]:
    """The party identifiers (credit codes, ID numbers) a feedback event names."""
    return identifiers_of(_feedback_parties(feedback))


def _feedback_parties(event: object) -> list[Party]:
    parties: list[Party] = []
    for name in ("parties", "defendants", "persons_concerned"):
        value = getattr(event, name, None)
        if isinstance(value, list):
            parties.extend(p for p in value if isinstance(p, Party))
    return parties

#: Names of the document-number indexes (what :meth:`FeedbackMatcher.match` looks up).
REFERRAL_NUMBER_INDEX = "referral"
DECISION_NUMBER_INDEX = "decision"
AGENCY_CASE_NUMBER_INDEX = "agency-case"
IDENTIFIER_INDEX = "identifier"


class FeedbackMatcher:
    """Indexes of referrals and penalty decisions; matches feedback against them.

    The indexes are keyed by normalised document numbers, so the first methods are O(1)
    per feedback. Adding the same referral twice changes nothing. Where the indexes live
    is the ``storage``'s business (the heap by default, RocksDB in a worker).
    """

    def __init__(self, parameters: MatchingParameters,
                 storage: MatchIndexStorage | None = None) -> None:
        self.parameters = parameters
        self.storage: MatchIndexStorage = storage if storage is not None else (
            InMemoryMatchStorage())

    def __len__(self) -> int:
        return len(self.storage)

    def add(self, record: ReferralRecord) -> None:
        """Index a referral or penalty record (idempotent)."""
        storage = self.storage
        decision = normalise_document_number(record.decision_number)
        key = (record.case_id, record.referral_number or "", decision or "")
        if storage.record(key) is not None:
            return
        storage.put_record(key, record)
        storage.note_case(record.case_id, record.referring_unit_code or None)
        for index, normalised in (
            (REFERRAL_NUMBER_INDEX, normalise_document_number(record.referral_number)),
            (DECISION_NUMBER_INDEX, decision),
            (AGENCY_CASE_NUMBER_INDEX, normalise_document_number(record.agency_case_number)),
        ):
            if normalised:
                storage.add_key(index, normalised, key)
        for identifier in record.identifiers:
            storage.add_key(IDENTIFIER_INDEX, identifier, key)

    def referring_unit_of(self, case_id: str) -> str | None:
        """The agency that referred ``case_id``: who a re-keyed police decision must reach."""
        # A lookup, not a scan of every record: the scan made each matched feedback cost
        # O(referrals indexed), so the worker slowed down as the index grew.
        return self.storage.referring_unit(case_id)

    def add_event(self, event: CaseEvent) -> bool:
        """Index a CaseReferred or PenaltyCaseRecorded; False for other event types."""
        if isinstance(event, CaseReferred):
            self.add(ReferralRecord.from_referral(event))
            return True
        if isinstance(event, PenaltyCaseRecorded):
            self.add(ReferralRecord.from_penalty(event))
            return True
        return False

    def link_police_case(self, police_unit_code: str, police_case_number: str,
                         case_id: str) -> None:
        """Remember a police case number's case (after a confident or manual match).

        Linked per police unit, and by the number alone too: court events quote the
        police case number but are sent under the court's code.
        """
        key = self._police_key(police_unit_code, police_case_number)
        normalised = normalise_document_number(police_case_number)
        if key and normalised:
            self.storage.link_police(key, normalised, case_id)

    def linked_case(self, police_unit_code: str, police_case_number: str | None
                    ) -> str | None:
        """The case a police unit's case number is linked to, if any."""
        key = self._police_key(police_unit_code, police_case_number)
        return self.storage.police_case(key) if key else None

    def unlink_police_case(self, police_unit_code: str, police_case_number: str,
                           case_id: str) -> None:
        """Forget a police case number's case (its match was withdrawn)."""
        key = self._police_key(police_unit_code, police_case_number)
        normalised = normalise_document_number(police_case_number)
        if key and normalised:
            self.storage.unlink_police(key, normalised, case_id)

    @staticmethod
    def _police_key(unit: str, number: str | None) -> str | None:
        normalised = normalise_document_number(number)
        return f"{unit.strip().upper()}|{normalised}" if normalised else None

    def _records(self, keys: Iterable[RecordKey]) -> list[ReferralRecord]:
        found = []
        for key in keys:
            record = self.storage.record(key)
            if record is not None:
                found.append(record)
        return found

    def _lookup(self, index: str, number: str | None, referring_unit: str | None) -> set[str]:
        normalised = normalise_document_number(number)
        if not normalised:
            return set()
        records = self._records(self.storage.keys(index, normalised))
        if referring_unit:
            # Feedback that names the agency it answers matches only that agency's
            # documents (or ones that name no agency): document numbers run in sequence
            # and are published, so another agency may index the same number first.
            records = [r for r in records
                       if r.referring_unit_code in (referring_unit, None, "")]
        return {record.case_id for record in records}

    def match(self, feedback: CaseEvent) -> MatchResult:
        """The case of one feedback event, or the candidates."""
        scores = self.parameters.scores
        threshold = self.parameters.confident_threshold
        referring_unit = _text(feedback, "referring_unit_code")

        def confident(case_id: str, method: MatchMethod, score: Decimal,
                      reason: str) -> MatchResult:
            candidate = Candidate(case_id, score, method, reason)
            if score >= threshold:
                return MatchResult(feedback.event_id, case_id, method, score, (candidate,))
            return MatchResult(feedback.event_id, None, None, score, (candidate,))

        if self.storage.knows_case(feedback.case_id):
            return confident(feedback.case_id, MatchMethod.CASE_ID, Decimal(1),
                             "the feedback carries the hub's case id")
        court = isinstance(feedback, CourtJudgment | JudicialRecommendation)
        if court:
            # A court quotes the referral letter number only when the case came from a
            # referral: the surest link, tried before the police case number.
            number = _text(feedback, "referral_number")
            cases = self._lookup(REFERRAL_NUMBER_INDEX, number, referring_unit)
            if len(cases) == 1:
                return confident(cases.pop(), MatchMethod.REFERRAL_NUMBER,
                                 scores.referral_number, f"same referral number {number}")
        police_number = _text(feedback, "police_case_number")
        police_key = self._police_key(feedback.source_unit, police_number)
        linked_case = self.storage.police_case(police_key) if police_key else None
        if linked_case is not None:
            return confident(linked_case, MatchMethod.CASE_ID, Decimal(1),
                             "police case number linked to the case by an earlier match")
        if court:
            # The police key is per police unit, and a court event comes under the court's
            # code: a police case number linked to exactly one case, by any unit, is it.
            linked = self.storage.police_number_cases(
                normalise_document_number(police_number) or "")
            if linked and len(linked) == 1:
                return confident(next(iter(linked)), MatchMethod.CASE_ID, Decimal(1),
                                 f"police case number {police_number} linked to the case "
                                 "by an earlier match of the police's feedback")

        ambiguous: list[Candidate] = []
        for method, index, number, score, label in (
            (MatchMethod.REFERRAL_NUMBER, REFERRAL_NUMBER_INDEX,
             _text(feedback, "referral_number"), scores.referral_number, "referral number"),
            (MatchMethod.AGENCY_DECISION_NUMBER, DECISION_NUMBER_INDEX,
             _text(feedback, "agency_decision_number") or _text(feedback, "decision_number"),
             scores.agency_decision_number, "agency decision number"),
            (MatchMethod.AGENCY_CASE_NUMBER, AGENCY_CASE_NUMBER_INDEX,
             _text(feedback, "agency_case_number"), scores.agency_case_number,
             "agency case number"),
        ):
            cases = self._lookup(index, number, referring_unit)
            if len(cases) == 1:
                return confident(cases.pop(), method, score, f"same {label} {number}")
            ambiguous.extend(
                Candidate(case_id, score / len(cases), method,
                          f"{label} {number} is shared by {len(cases)} cases")
                for case_id in sorted(cases)
            )
        candidates = self._identifier_candidates(feedback, referring_unit) + ambiguous
        return self._ranked(feedback, candidates)

    def reconsider(self, feedback: CaseEvent) -> MatchResult:
        """A party-identifier match judged again on the referrals indexed now.

        Such a match is confident only while the party has a single referral in the date
        window (the sole-candidate bonus), so it depends on what was read before it: a
        second referral of the party read later can make it ambiguous. Only the
        identifier ranking is run again: the police case number the first match linked
        points at the case under review and would confirm it by itself.
        """
        referring_unit = _text(feedback, "referring_unit_code")
        return self._ranked(feedback, self._identifier_candidates(feedback, referring_unit))

    def _ranked(self, feedback: CaseEvent, candidates: list[Candidate]) -> MatchResult:
        threshold = self.parameters.confident_threshold
        best: dict[str, Candidate] = {}
        for candidate in candidates:
            kept = best.get(candidate.case_id)
            if kept is None or candidate.score > kept.score:
                best[candidate.case_id] = candidate
        ranked = sorted(best.values(), key=lambda c: (-c.score, c.case_id))
        ranked = ranked[: self.parameters.max_candidates]
        top = ranked[0].score if ranked else Decimal(0)
        runner_up = ranked[1].score if len(ranked) > 1 else Decimal(0)
        if ranked and top >= threshold and top > runner_up:
            return MatchResult(feedback.event_id, ranked[0].case_id, ranked[0].method, top,
                               tuple(ranked))
        return MatchResult(feedback.event_id, None, None, top, tuple(ranked))

    def _identifier_candidates(self, feedback: CaseEvent,
                               referring_unit: str | None) -> list[Candidate]:
        identifiers = identifiers_of(_feedback_parties(feedback))
        if not identifiers:
            return []
        params = self.parameters
        bonus = params.party_identifier_bonus
        feedback_day = china_date(feedback.occurred_at)
        window = timedelta(days=params.date_window_days)
        offence = _normalise_offence(_text(feedback, "offence"))
        candidates: list[Candidate] = []
        keys: set[RecordKey] = set().union(
            *(self.storage.keys(IDENTIFIER_INDEX, i) for i in identifiers))
        for record in self._records(sorted(keys)):
            if not record.referred_on <= feedback_day <= record.referred_on + window:
                continue
            shared = sorted(identifiers & record.identifiers)
            score = params.scores.party_identifier
            reasons = [f"same party identifier {shared[0]}"]
            if feedback.source_unit == record.receiving_unit_code or (
                referring_unit and referring_unit == record.referring_unit_code
            ):
                score += bonus.same_referring_unit
                reasons.append("same unit")
            if offence and offence == _normalise_offence(record.offence):
                score += bonus.same_offence
                reasons.append("same offence")
            reasons.append(f"referred {record.referred_on.isoformat()}")
            candidates.append(Candidate(record.case_id, score, MatchMethod.PARTY_IDENTIFIER,
                                        ", ".join(reasons)))
        if len({c.case_id for c in candidates}) == 1 and bonus.sole_candidate:
            candidates = [Candidate(c.case_id, c.score + bonus.sole_candidate, c.method,
                                    c.reason + ", only referral of this party in the window")
                          for c in candidates]
        return [Candidate(c.case_id, min(c.score, bonus.identifier_max), c.method, c.reason)
                for c in candidates]


def _header(kind: str, feedback: CaseEvent, result: MatchResult, case_id: str,
            hub_unit_code: str, now: datetime) -> dict[str, Any]:
    return {
        "event_id": uuid_for(kind, feedback.event_id, case_id,
                             result.method.value if result.method else ""),
        "case_id": case_id,
        "source_unit": hub_unit_code,
        "occurred_at": feedback.occurred_at,
        "recorded_at": now,
        "source_system": SOURCE_SYSTEM,
        "source_record": f"{PROCESSOR}:{feedback.event_id}",
        "connector_id": f"streams.{PROCESSOR}",
    }


def matched_event(result: MatchResult, feedback: CaseEvent, *, hub_unit_code: str,
                  now: datetime) -> FeedbackMatched:
    """The FeedbackMatched event of a confident result (keyed by the matched case)."""
    if result.case_id is None or result.method is None:
        raise ValueError("not a confident match: emit unmatched_event instead")
    return FeedbackMatched(
        **_header("feedback-matched", feedback, result, result.case_id, hub_unit_code, now),
        feedback_event_id=feedback.event_id, feedback_type=feedback.avro_name,
        original_case_id=feedback.case_id, method=result.method,
        confidence=float(result.confidence),
        police_case_number=_text(feedback, "police_case_number"),
    )


def manual_match_event(feedback: CaseEvent, action: ViewAction, *, hub_unit_code: str,
                       now: datetime) -> FeedbackMatched:
    """The FeedbackMatched of a person's MANUAL_MATCH in the view (both engines emit it)."""
    case_id = str(action.payload.get("case_id") or action.case_id)
    return FeedbackMatched(
        event_id=uuid_for("feedback-matched", feedback.event_id, case_id, "MANUAL"),
        case_id=case_id, source_unit=hub_unit_code, occurred_at=action.occurred_at,
        recorded_at=now, source_system=SOURCE_SYSTEM,
        source_record=f"{PROCESSOR}:{action.action_id}", connector_id=f"streams.{PROCESSOR}",
        feedback_event_id=feedback.event_id, feedback_type=feedback.avro_name,
        original_case_id=feedback.case_id, method=MatchMethod.MANUAL, confidence=1.0,
        police_case_number=getattr(feedback, "police_case_number", None),
        matched_by=action.actor,
    )


def rejoined_event(matched: FeedbackMatched, *, now: datetime) -> FeedbackMatched:
    """The FeedbackMatched that puts back the match ``matched`` recorded, the case having
    taken the feedback after refusing it (a replay, its sender entitled since). Its own
    id, so readers that dropped the first one as settled take it: the view closes the
    queue item the withdrawal opened again."""
    return matched.model_copy(update={
        "event_id": uuid_for("feedback-rejoined", matched.feedback_event_id,
                             matched.case_id),
        "source_record": f"{PROCESSOR}:replay:{matched.feedback_event_id}",
        "recorded_at": now})


def withdrawal_id(feedback_event_id: str, case_id: str) -> str:
    """The id of every withdrawal of ``feedback_event_id`` from ``case_id``."""
    return uuid_for("feedback-match-withdrawn", feedback_event_id, case_id)


def withdrawn_event(feedback: CaseEvent, case_id: str, method: MatchMethod,
                    result: MatchResult | None, *, hub_unit_code: str,
                    now: datetime) -> FeedbackMatchWithdrawn:
    """The FeedbackMatchWithdrawn that takes ``feedback`` out of ``case_id`` (keyed by it).

    Its id depends on the feedback and the case only: judged again by any worker, any
    number of times, the same withdrawal is one event. ``result`` None: the match
    stands, but the case refused the feedback (its sender may not add it to the case).
    """
    others = [c.case_id for c in result.candidates] if result is not None else []
    if result is None:
        reason = (f"反馈单位无权向该案件添加反馈 / unit {feedback.source_unit}, which sent "
                  "it, may not add it to this case (entitlements)")
    elif result.case_id is not None:
        reason = (f"该当事人的移送现指向另一案件 / the party's referrals now point at "
                  f"another case ({result.case_id})")
    elif len(others) > 1:
        reason = (f"该当事人在期限窗口内已有{len(others)}件移送，需人工确认 / the party has "
                  f"{len(others)} referrals in the date window now: a person must choose")
    else:
        reason = ("匹配已不足置信阈值 / the match no longer reaches the confidence "
                  "threshold")
    return FeedbackMatchWithdrawn(
        event_id=withdrawal_id(feedback.event_id, case_id),
        case_id=case_id, source_unit=hub_unit_code, occurred_at=feedback.occurred_at,
        recorded_at=now, source_system=SOURCE_SYSTEM,
        source_record=f"{PROCESSOR}:{feedback.event_id}", connector_id=f"streams.{PROCESSOR}",
        feedback_event_id=feedback.event_id, feedback_type=feedback.avro_name, method=method,
        police_case_number=_text(feedback, "police_case_number"), reason=reason,
        candidate_case_ids=others,
    )


def unmatched_event(result: MatchResult, feedback: CaseEvent, *, hub_unit_code: str,
                    now: datetime) -> FeedbackUnmatched:
    """The FeedbackUnmatched event that parks the feedback with its candidates."""
    if result.case_id is not None:
        raise ValueError("a confident match: emit matched_event instead")
    return FeedbackUnmatched(
        **_header("feedback-unmatched", feedback, result, feedback.case_id, hub_unit_code,
                  now),
        feedback_event_id=feedback.event_id, feedback_type=feedback.avro_name,
        feedback_unit_code=feedback.source_unit,
        police_case_number=_text(feedback, "police_case_number"),
        referral_number=_text(feedback, "referral_number"),
        agency_decision_number=_text(feedback, "agency_decision_number"),
        feedback_json=json.dumps(feedback.model_dump(mode="json"), ensure_ascii=False,
                                 sort_keys=True),
        candidates=[
            MatchCandidate(case_id=c.case_id, score=float(c.score), method=c.method,
                           reason=c.reason)
            for c in result.candidates
        ],
    )

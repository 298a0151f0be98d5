"""Case aggregate, pure part: a case's events folded into its state (lf.case-state).

Stage machine (CaseStage): recorded → referred → received (→ forwarded) → filed / not
filed / returned → reconsideration → filing supervision → arrest review (the police's
request for arrest approval, or the procuratorate's decision) → prosecution (the police's
transfer for prosecution, or the prosecution decision) → judged (closed when not
prosecuted). The police's explanation of a non-filing keeps the case under filing
supervision: the procuratorate has yet to weigh it. The stage is that of the *latest* stage-setting
event in legal time (ties broken by lifecycle order), so events that arrive late or out of
order still give the right stage; a penalty decided after the referral does not send the
case back to "recorded". The stage each event sets, and its line on the timeline, are in
:mod:`streams.case_event_meaning`.

The aggregate also keeps the timeline, the units involved, the identifying numbers the
view searches by, the parties, the open alerts, and the 公示截止期 (last day of public
disclosure) of the case's latest penalty decision, past which the public case-state feed
withdraws the case (:mod:`streams.publication_logic`). Its state is plain data
(:meth:`CaseAggregate.to_dict`) for the agent's table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from hub.identity import content_hash, identifier_key
from hub.models import (
    STORED_CONTEXT,
    AgencyCaseOpened,
    Alert,
    AlertStatus,
    CaseEvent,
    CaseReferred,
    CaseStage,
    CaseState,
    FeedbackMatched,
    FeedbackMatchWithdrawn,
    Party,
    PenaltyCaseRecorded,
    TimelineEntry,
    ViewAction,
    ViewActionKind,
)
from streams._alerts import SOURCE_SYSTEM, uuid_for
from streams._facts import event_type_name
from streams.case_event_meaning import stage_of, stage_rank, summarise

__all__ = ["PROCESSOR", "CaseAggregate", "fold"]

PROCESSOR = "aggregate"

_ADDRESS_FIELDS = (
    "receiving_unit_code", "addressed_to_unit_code", "target_unit_code",
    "forwarded_to_unit_code", "invited_unit_code", "procuratorate_unit_code",
    "police_unit_code", "referring_unit_code", "requested_by_unit_code",
    "invited_by_unit_code", "deciding_authority_code",
)
_DERIVED = ("Alert", "CaseState", "UnitMonthlyStats", "FeedbackMatched",
            "FeedbackMatchWithdrawn", "FeedbackUnmatched", "ViewAction", "AuditRecorded")
_ALERT_RANK = {AlertStatus.RAISED: 0, AlertStatus.ACKNOWLEDGED: 1, AlertStatus.RESOLVED: 2}
#: The agency's own stages, latest first in precedence: the case's stage only while no
#: event of its criminal track has come (see :attr:`CaseAggregate.stage`).
_AGENCY_STAGES = (CaseStage.RECORDED, CaseStage.OPENED)
_OPENED_RANK = stage_rank(CaseStage.OPENED)
_OPENED_TYPE = AgencyCaseOpened.avro_name


@dataclass(frozen=True)
class _StageMark:
    occurred_at: datetime
    rank: int
    event_id: str
    stage: CaseStage


def _party_key(party: Party) -> str:
    """One party of a case once, whichever spelling of its identifiers an event used
    (:func:`hub.identity.identifier_key`; a well-formed identifier is its own key, so
    the keys of stored aggregates are unchanged)."""
    return "|".join([party.name.strip(), *sorted(map(identifier_key, party.identifiers()))])


def _stored_parties(stored: dict[str, Any]) -> dict[str, Party]:
    """A stored aggregate's parties under today's keys: one stored before identifier keys
    were folded holds ``…002x``, and the same person read again as ``…002X`` would be
    listed twice. A key whose identifiers are already folded (ASCII, upper case, no
    spaces: nearly all) is kept without recomputing it."""
    parties: dict[str, Party] = {}
    for key, raw in stored.items():
        party = Party.model_validate(raw, context=STORED_CONTEXT)
        _, _, identifiers = key.partition("|")
        if identifiers and not (identifiers.isascii() and identifiers == identifiers.upper()
                                and " " not in identifiers):
            key = _party_key(party)
        parties.setdefault(key, party)
    return parties


class CaseAggregate:
    """One case's state, built by applying its events in any order."""

    def __init__(self, case_id: str) -> None:
        self.case_id = case_id
        self._seen: set[str] = set()
        self._marks: list[_StageMark] = []
        self._timeline: dict[str, TimelineEntry] = {}
        self._owner: tuple[datetime, int, str] | None = None
        self._numbers: dict[str, str] = {}
        #: Which event put which police case number on the case (a FeedbackMatched under
        #: the id of the feedback it matched), in the order noted: when a withdrawal
        #: takes the case's number away, the next one an event still stands on replaces
        #: it. None for a case stored before it was kept (see :meth:`from_dict`).
        self._police_numbers: dict[str, str] | None = {}
        self._parties: dict[str, Party] = {}
        self._units: dict[str, datetime] = {}
        self._alerts: dict[str, AlertStatus] = {}
        self._last_event_at: datetime | None = None
        #: The latest penalty decision's (legal time, time recorded, event id, 公示截止期):
        #: the latest by legal time, then by when it was recorded (a corrected export of the
        #: same decision keeps its date), whatever the reading order.
        self._disclosure: tuple[datetime, datetime, str, date | None] | None = None
        self._disclosure_known = True

    def apply(self, event: CaseEvent) -> bool:
        """Fold one event in; False when it was already applied (same event id)."""
        if event.event_id in self._seen:
            return False
        if event.case_id != self.case_id:
            raise ValueError(f"event {event.event_id} belongs to case {event.case_id}, "
                             f"not {self.case_id}")
        self._seen.add(event.event_id)
        if isinstance(event, Alert):
            self._apply_alert(event.alert_id, event.status)
            return True
        if isinstance(event, ViewAction):
            if event.action_kind is ViewActionKind.RESOLVE_ALERT:
                self._apply_alert(event.target, AlertStatus.RESOLVED)
            elif event.action_kind is ViewActionKind.ACKNOWLEDGE_ALERT:
                self._apply_alert(event.target, AlertStatus.ACKNOWLEDGED)
            return True
        if isinstance(event, FeedbackMatchWithdrawn):
            self._withdraw(event)
            return True
        if isinstance(event, FeedbackMatched) and (event.police_case_number or "").strip():
            assert event.police_case_number is not None
            self._note_police_number(event.feedback_event_id, event.police_case_number)
        if event_type_name(event) in _DERIVED and not (
                isinstance(event, FeedbackMatched) and event.original_case_id != event.case_id):
            # A match that only confirms the case id the feedback carried (it waited for
            # its case's first events) says nothing about the case: read in another
            # order, there is no such match at all, and the case must look the same.
            return True
        self._apply_case_event(event)
        return True

    def _withdraw(self, event: FeedbackMatchWithdrawn) -> None:
        """The feedback leaves the case: its stage mark and timeline entry go (so the
        stage falls back), its police case number too; the withdrawal itself stays on
        the timeline, so the prosecutor sees why the stage moved back."""
        withdrawn = event.feedback_event_id
        self._seen.discard(withdrawn)
        self._marks = [mark for mark in self._marks if mark.event_id != withdrawn]
        self._timeline.pop(withdrawn, None)
        numbers = self._police_numbers
        if numbers is not None:
            numbers.pop(withdrawn, None)
        number = event.police_case_number
        if number and self._numbers.get("police_case_number") == number \
                and (numbers is None or number not in numbers.values()):
            remaining = next(iter(numbers.values()), None) if numbers else None
            if remaining is None:
                del self._numbers["police_case_number"]
            else:
                self._numbers["police_case_number"] = remaining
        self._timeline[event.event_id] = TimelineEntry(
            event_id=event.event_id, event_type=event.avro_name,
            occurred_at=event.occurred_at, unit_code=event.source_unit,
            summary=summarise(event))

    def _apply_alert(self, alert_id: str, status: AlertStatus) -> None:
        known = self._alerts.get(alert_id)
        if known is None or _ALERT_RANK.get(status, -1) > _ALERT_RANK.get(known, -1):
            self._alerts[alert_id] = status

    def _apply_case_event(self, event: CaseEvent) -> None:
        mark = stage_of(event)
        if mark is not None:
            self._marks.append(_StageMark(event.occurred_at, mark[1], event.event_id, mark[0]))
        self._timeline[event.event_id] = TimelineEntry(
            event_id=event.event_id, event_type=event.avro_name, occurred_at=event.occurred_at,
            unit_code=event.source_unit, summary=summarise(event),
        )
        if not isinstance(event, FeedbackMatched):
            priority = 0 if isinstance(event, PenaltyCaseRecorded | CaseReferred) else 1
            candidate = (event.occurred_at, priority, event.source_unit)
            if self._owner is None or (candidate[1], candidate[0]) < (self._owner[1],
                                                                      self._owner[0]):
                self._owner = candidate
            self._note_unit(event.source_unit, event.occurred_at)
            # Fields from the model's __dict__: most types lack most of these, and a
            # missing attribute read through pydantic's __getattr__ raises inside.
            fields = event.__dict__
            for field in _ADDRESS_FIELDS:
                value = fields.get(field)
                if isinstance(value, str) and value:
                    self._note_unit(value, event.occurred_at)
        if self._last_event_at is None or event.occurred_at > self._last_event_at:
            self._last_event_at = event.occurred_at
        self._note_numbers(event)
        if isinstance(event, PenaltyCaseRecorded):
            self.note_disclosure(event)
        for name in ("parties", "defendants", "persons_concerned"):
            value = event.__dict__.get(name)
            if isinstance(value, list):
                for party in value:
                    if isinstance(party, Party):
                        self._parties.setdefault(_party_key(party), party)

    def _note_unit(self, code: str, at: datetime) -> None:
        known = self._units.get(code)
        if known is None or at < known:
            self._units[code] = at

    def _note_numbers(self, event: CaseEvent) -> None:
        pairs: list[tuple[str, str | None]] = []
        if isinstance(event, PenaltyCaseRecorded):
            pairs += [("decision_number", event.decision_number),
                      ("agency_case_number", event.agency_case_number)]
        if isinstance(event, CaseReferred):
            pairs += [("referral_number", event.referral_number),
                      ("decision_number", event.decision_number),
                      ("agency_case_number", event.agency_case_number)]
        if isinstance(event, AgencyCaseOpened):
            pairs.append(("agency_case_number", event.agency_case_number))
        police_number = getattr(event, "police_case_number", None)
        if isinstance(police_number, str) and police_number.strip():
            # a match's number stands on the feedback it matched: withdrawn with it
            self._note_police_number(event.feedback_event_id
                                     if isinstance(event, FeedbackMatched)
                                     else event.event_id, police_number)
        for name, value in pairs:
            if isinstance(value, str) and value.strip():
                self._numbers.setdefault(name, value)

    def note_disclosure(self, penalty: PenaltyCaseRecorded) -> None:
        """Keep the penalty's 公示截止期 when it is the case's latest decision."""
        candidate = (penalty.occurred_at, penalty.recorded_at, penalty.event_id,
                     penalty.disclosure_deadline)
        if self._disclosure is None or candidate[:3] > self._disclosure[:3]:
            self._disclosure = candidate

    def recall_disclosure(self, penalties: Iterable[PenaltyCaseRecorded]) -> None:
        """Learn the 公示截止期 from the case's stored penalties: an aggregate stored
        before it was kept (:attr:`knows_disclosure`) never saw it."""
        for penalty in penalties:
            self.note_disclosure(penalty)
        self._disclosure_known = True

    @property
    def disclosure_deadline(self) -> date | None:
        """The 公示截止期 of the case's latest penalty decision (None: none, or not set)."""
        return self._disclosure[3] if self._disclosure else None

    @property
    def knows_disclosure(self) -> bool:
        """False for an aggregate stored before it kept the 公示截止期 (and with a penalty
        of its own it may have one: see ``CaseDocument.aggregate``)."""
        return self._disclosure_known

    def _note_police_number(self, event_id: str, number: str) -> None:
        if self._police_numbers is not None:
            self._police_numbers.setdefault(event_id, number)
        self._numbers.setdefault("police_case_number", number)

    @property
    def stage(self) -> CaseStage:
        """The current stage: the latest stage-setting event of the case's way through
        the police, the procuratorate and the court; else 已录入处罚 once a penalty is
        recorded, else 行政机关已立案 while the agency's case is only opened.

        The agency's own stages are background: a penalty decided after the referral
        (the agency may still fine what it referred) does not take the case back from
        the police, and a register exported again after the penalty does not reopen it.
        """
        marks = [m for m in self._marks if m.stage not in _AGENCY_STAGES]
        if marks:
            return max(marks, key=lambda m: (m.occurred_at, m.rank, m.event_id)).stage
        for stage in _AGENCY_STAGES:
            if any(m.stage is stage for m in self._marks):
                return stage
        return CaseStage.UNKNOWN

    @property
    def open_alerts(self) -> list[str]:
        """Alert ids raised or acknowledged and not resolved."""
        return sorted(a for a, status in self._alerts.items()
                      if status is not AlertStatus.RESOLVED)

    def timeline(self) -> list[TimelineEntry]:
        """The timeline in legal order."""
        return sorted(self._timeline.values(), key=lambda e: (e.occurred_at, e.event_id))

    def to_case_state(self, *, hub_unit_code: str, now: datetime) -> CaseState:
        """The CaseState event (deterministic event id: same state, same id)."""
        body: dict[str, Any] = {
            "stage": self.stage,
            "owning_unit_code": self._owner[2] if self._owner else hub_unit_code,
            "decision_number": self._numbers.get("decision_number"),
            "agency_case_number": self._numbers.get("agency_case_number"),
            "referral_number": self._numbers.get("referral_number"),
            "police_case_number": self._numbers.get("police_case_number"),
            "parties": [self._parties[k] for k in sorted(self._parties)],
            "timeline": self.timeline(),
            "units_involved": [code for code, _ in sorted(self._units.items(),
                                                          key=lambda kv: (kv[1], kv[0]))],
            "open_alerts": self.open_alerts,
            "last_event_at": self._last_event_at,
        }
        # Hashed only when set: the state (and id) of a case without one stays what it
        # was before the field existed.
        digest = content_hash({k: _jsonable(v) for k, v in body.items()}
                              | ({"disclosure_deadline": self.disclosure_deadline.isoformat()}
                                 if self.disclosure_deadline else {}))
        return CaseState(
            event_id=uuid_for("case-state", self.case_id, digest),
            case_id=self.case_id,
            source_unit=hub_unit_code,
            occurred_at=self._last_event_at or now,
            recorded_at=now,
            source_system=SOURCE_SYSTEM,
            source_record=f"{PROCESSOR}:{self.case_id}",
            connector_id=f"streams.{PROCESSOR}",
            disclosure_deadline=self.disclosure_deadline,
            **body,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state for the agent's table."""
        return {
            "case_id": self.case_id,
            "seen": sorted(self._seen),
            "marks": [[m.occurred_at.isoformat(), m.rank, m.event_id, m.stage.value]
                      for m in self._marks],
            "timeline": [e.model_dump(mode="json") for e in self.timeline()],
            "owner": ([self._owner[0].isoformat(), self._owner[1], self._owner[2]]
                      if self._owner else None),
            "numbers": dict(self._numbers),
            "police_numbers": (None if self._police_numbers is None else
                               [[event_id, number]
                                for event_id, number in self._police_numbers.items()]),
            "parties": {k: p.model_dump(mode="json") for k, p in self._parties.items()},
            "units": {code: at.isoformat() for code, at in self._units.items()},
            "alerts": {a: s.value for a, s in self._alerts.items()},
            "last_event_at": self._last_event_at.isoformat() if self._last_event_at else None,
            "disclosure": ([self._disclosure[0].isoformat(), self._disclosure[1].isoformat(),
                            self._disclosure[2],
                            self._disclosure[3].isoformat() if self._disclosure[3] else None]
                           if self._disclosure else None),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaseAggregate:
        """Inverse of :meth:`to_dict`."""
        aggregate = cls(data["case_id"])
        aggregate._seen = set(data["seen"])
        aggregate._marks = [_StageMark(datetime.fromisoformat(at), rank, event_id,
                                       CaseStage(stage))
                            for at, rank, event_id, stage in data["marks"]]
        # Trusted: written by to_dict from validated entries, so constructed, not
        # validated again (validation was the largest cost of reading a case back).
        aggregate._timeline = {e["event_id"]: _timeline_entry(e) for e in data["timeline"]}
        # Stored before an open case (立案登记) had a stage: its register entries lack a
        # mark, and get one now, so the case's next CaseState says 行政机关已立案, not 未知
        # (also once a later step's mark is withdrawn).
        opened = [entry for entry in aggregate._timeline.values()
                  if entry.event_type == _OPENED_TYPE]
        if opened:
            marked = {mark.event_id for mark in aggregate._marks}
            aggregate._marks += [
                _StageMark(entry.occurred_at, _OPENED_RANK, entry.event_id, CaseStage.OPENED)
                for entry in opened if entry.event_id not in marked]
        owner = data["owner"]
        aggregate._owner = ((datetime.fromisoformat(owner[0]), owner[1], owner[2])
                            if owner else None)
        aggregate._numbers = dict(data["numbers"])
        # Absent from documents written before the twenty-first pass, and then not kept
        # for the case (a record of only the later events would pick a later number over
        # an earlier one still standing): a withdrawal there takes the number away, as
        # before, until the case's events are folded again.
        police_numbers = data.get("police_numbers")
        aggregate._police_numbers = (None if police_numbers is None
                                     else dict(police_numbers))
        # Validated as stored data: a party's identifiers are kept as written (a rule
        # added since would make the whole case unreadable).
        aggregate._parties = _stored_parties(data["parties"])
        aggregate._units = {c: datetime.fromisoformat(at) for c, at in data["units"].items()}
        aggregate._alerts = {a: AlertStatus(s) for a, s in data["alerts"].items()}
        last = data["last_event_at"]
        aggregate._last_event_at = datetime.fromisoformat(last) if last else None
        # Absent from documents written before the twenty-fifth pass.
        aggregate._disclosure_known = "disclosure" in data
        disclosure = data.get("disclosure")
        aggregate._disclosure = ((datetime.fromisoformat(disclosure[0]),
                                  datetime.fromisoformat(disclosure[1]), disclosure[2],
                                  date.fromisoformat(disclosure[3]) if disclosure[3] else None)
                                 if disclosure else None)
        return aggregate


def _timeline_entry(data: dict[str, Any]) -> TimelineEntry:
    """A stored timeline entry back as a model, without re-running validation."""
    return TimelineEntry.model_construct(
        event_id=data["event_id"], event_type=data["event_type"],
        occurred_at=datetime.fromisoformat(data["occurred_at"]),
        unit_code=data["unit_code"], summary=data["summary"])


def _jsonable(value: Any) -> Any:
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, datetime):
        return value.isoformat()
    return getattr(value, "value", value)


def fold(events: Iterable[CaseEvent]) -> CaseAggregate:
    """The aggregate of a case's events (all must share one case id)."""
    aggregate: CaseAggregate | None = None
    for event in events:
        if aggregate is None:
            aggregate = CaseAggregate(event.case_id)
        aggregate.apply(event)
    if aggregate is None:
        raise ValueError("fold needs at least one event")
    return aggregate

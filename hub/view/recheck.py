"""The random re-check of penalty cases (随机抽案复查): a seeded, reproducible sample of each
unit's penalty cases of a year, worked through as a list.

Reproducible: each unit's population is its penalty cases decided in the year, ordered by
case id; ``random.Random("<seed>|<year>|<unit>")`` draws from it. The seed, the size and a
digest of every population are recorded with the sample, so anyone can draw again with
the same seed and check they get the same cases (and see whether the population changed
since). Audited: the draw is an audit record on ``lf.audit`` (seed, year, size, digest);
each case checked is a ``ViewAction`` (ADD_NOTE with ``recheck_sample``) on
``lf.view-actions``, shown in the list, and on the case's timeline, once it has come back
through the bus, like every other action of the view.

Samples are the view's own records (``LocalBase``, kept across a replay, like users): a
sample is an act of the procuratorate, not something the bus derived.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from hub.models import ViewActionKind
from hub.view.store import AppliedActionRow, AwareDateTime, CaseRow, LocalBase, utc_now

__all__ = [
    "RecheckItem",
    "RecheckSampleRow",
    "draw_sample",
    "population",
    "recheck_items",
    "sample_cases",
]

#: Payload keys of the ViewAction that records a re-check (ADD_NOTE).
SAMPLE_KEY = "recheck_sample"
RESULT_KEY = "recheck_result"
RESULTS = ("checked", "problem")


class RecheckSampleRow(LocalBase):
    """A drawn sample: who drew it, with which seed, and the cases drawn per unit."""

    __tablename__ = "view_recheck_samples"

    sample_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(BigInteger)
    cases_per_unit: Mapped[int] = mapped_column(Integer)
    drawn_by: Mapped[str] = mapped_column(String(100))
    drawn_at: Mapped[datetime] = mapped_column(AwareDateTime())
    population_size: Mapped[int] = mapped_column(Integer)
    population_digest: Mapped[str] = mapped_column(String(64))
    #: ``[{"unit_code": …, "case_id": …, "population": n}, …]`` in drawing order.
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)

    __table_args__ = (Index("ix_view_recheck_samples_drawn", "drawn_at"),)


def population(session: Session, year: int, unit_codes: list[str] | None = None
               ) -> dict[str, list[str]]:
    """Each unit's penalty cases decided in ``year`` (with a decision number), by case id.

    Cases of the unit's own decisions only (``view_cases.unit_code`` is the owning unit):
    a case referred to the police is re-checked at the agency that decided it.
    """
    query = select(CaseRow.unit_code, CaseRow.case_id).where(
        CaseRow.decided_on >= date(year, 1, 1), CaseRow.decided_on <= date(year, 12, 31),
        CaseRow.case_number != "",
    )
    if unit_codes is not None:
        query = query.where(CaseRow.unit_code.in_(unit_codes))
    found: dict[str, list[str]] = defaultdict(list)
    for unit_code, case_id in session.execute(query):
        found[unit_code].append(case_id)
    return {code: sorted(ids) for code, ids in sorted(found.items())}


def _digest(cases: dict[str, list[str]]) -> str:
    text = "\n".join(f"{code}:{','.join(ids)}" for code, ids in sorted(cases.items()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sample_cases(cases: dict[str, list[str]], *, seed: int, year: int, per_unit: int
                 ) -> list[dict[str, Any]]:
    """The draw itself, a pure function: the same population and seed give the same cases."""
    drawn: list[dict[str, Any]] = []
    for code in sorted(cases):
        ids = sorted(cases[code])
        rng = random.Random(f"{seed}|{year}|{code}")  # noqa: S311 (a sample, not a secret)
        for case_id in rng.sample(ids, min(per_unit, len(ids))):
            drawn.append({"unit_code": code, "case_id": case_id, "population": len(ids)})
    return drawn


def draw_sample(session: Session, *, year: int, seed: int, per_unit: int, drawn_by: str,
                unit_codes: list[str] | None) -> RecheckSampleRow:
    """Draw and record a sample of ``year``'s penalty cases of the given units."""
    cases = population(session, year, unit_codes)
    row = RecheckSampleRow(
        sample_id=str(uuid.uuid4()), year=year, seed=seed, cases_per_unit=per_unit,
        drawn_by=drawn_by, drawn_at=utc_now(),
        population_size=sum(len(ids) for ids in cases.values()),
        population_digest=_digest(cases),
        items=sample_cases(cases, seed=seed, year=year, per_unit=per_unit),
    )
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True, slots=True)
class RecheckItem:
    """A drawn case and what the re-check found so far (from the bus)."""

    unit_code: str
    case_id: str
    population: int
    result: str | None
    note: str
    checked_by: str | None
    checked_at: datetime | None
    decided_on: date | None


def recheck_items(session: Session, sample: RecheckSampleRow) -> list[RecheckItem]:
    """The sample's cases with the latest re-check recorded for each (this sample only)."""
    case_ids = [str(item["case_id"]) for item in sample.items]
    latest: dict[str, AppliedActionRow] = {}
    for applied in session.scalars(
        select(AppliedActionRow).where(
            AppliedActionRow.case_id.in_(case_ids),
            AppliedActionRow.action_type == ViewActionKind.ADD_NOTE.value,
        ).order_by(AppliedActionRow.occurred_at)
    ):
        if (applied.payload or {}).get(SAMPLE_KEY) == sample.sample_id and applied.case_id:
            latest[applied.case_id] = applied
    decided: dict[str, date] = {}
    for case_id, decided_on in session.execute(
        select(CaseRow.case_id, CaseRow.decided_on).where(CaseRow.case_id.in_(case_ids))
    ):
        decided[case_id] = decided_on
    items: list[RecheckItem] = []
    for item in sample.items:
        case_id = str(item["case_id"])
        action = latest.get(case_id)
        payload = action.payload if action else {}
        items.append(RecheckItem(
            unit_code=str(item["unit_code"]), case_id=case_id,
            population=int(item.get("population", 0)),
            result=str(payload.get(RESULT_KEY)) if action else None,
            note=str(payload.get("recheck_note", payload.get("note", ""))) if action else "",
            checked_by=action.actor if action else None,
            checked_at=action.occurred_at if action else None,
            decided_on=decided.get(case_id),
        ))
    return items

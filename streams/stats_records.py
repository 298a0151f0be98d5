"""The two records the statistics keep: a unit's month of counters, and what a case put in them.

They are what the accumulator (:mod:`streams.stats_logic`) writes to its store and its
snapshot, so their shapes outlive any one worker: a snapshot or a case record written by
an older worker must still read back, and each entry's layout is documented where it is
defined. The accumulator decides what an event counts for; these records only hold the
counts and say how they are stored (a count per figure, the days to each filing decision
as a histogram with its median). Kept apart, a change of the counting rules and a change
of the stored format are read, and reviewed, on their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Bucket", "CaseStats"]

_FIGURES = ("penalties", "late", "referrals", "referrals_decided", "receipts",
            "receipts_decided", "decisions", "alerts", "arrest_requests", "transfers",
            "explanations")


@dataclass
class Bucket:
    """One unit's month: counts, and the days to each filing decision as a histogram.

    Which items were counted lives with each case (:class:`CaseStats`): a count changes
    only when a case's items change, so counting an event again changes nothing.
    """

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_FIGURES, 0))
    #: days from referral to decision ("3.0") → decisions that took them
    days: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"counts": self.counts, "days": self.days}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Bucket:
        return cls({**dict.fromkeys(_FIGURES, 0), **data["counts"]}, dict(data["days"]))

    def add_days(self, days: float | None, sign: int) -> None:
        if days is None:
            return
        key = repr(days)
        left = self.days.get(key, 0) + sign
        if left:
            self.days[key] = left
        else:
            self.days.pop(key, None)

    def median_days(self) -> float | None:
        """:func:`statistics.median` of the days, from the histogram."""
        total = sum(self.days.values())
        if not total:
            return None
        values = sorted((float(key), count) for key, count in self.days.items())
        wanted = [total // 2] if total % 2 else [total // 2 - 1, total // 2]
        found: list[float] = []
        seen = 0
        for value, count in values:
            while wanted and wanted[0] < seen + count:
                found.append(value)
                wanted.pop(0)
            seen += count
        return found[0] if len(found) == 1 else (found[0] + found[1]) / 2


class CaseStats:
    """What one case put in the figures (JSON in the store under ``c|<case id>``)."""

    __slots__ = ("data",)

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        #: "p": [unit, month, first recorded at, late, its event id]; "i": referral/receipt items
        #: [unit, month, figure, item, occurred at, event id]; "rt"/"ct": referred / first
        #: receipt at; "d": has feedback; "x": decisions [unit, month, item, decided at,
        #: days, event id]; "a": alerts [unit, month, alert id, raised at, event id]; "s":
        #: police steps [unit, month, figure, item, occurred at, event id]. Entries written
        #: by older workers end at the item (or, a decision, at its days) and keep their
        #: count whatever copy comes later.
        self.data: dict[str, Any] = data if data is not None else {}

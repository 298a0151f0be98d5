"""One unit's decision-number series for one year, kept as two compact arrays.

The missing-entry tracker (:mod:`streams.missing_entry_logic`) must know every serial a
unit has used in a series (〔2025〕12号 and 14号 present, 13号 absent), with the date of
each decision, to judge gaps. Kept as a dict of ``serial → [date, spelling]`` that was
~300 bytes per penalty on the heap: at a million events, 73 MiB, the largest thing the
worker held. Two sorted ``array('i')`` (serial, decision day as an ordinal) hold the same
in 8 bytes per penalty; the spelling is stored once per series, with the serials spelled
otherwise (〔2025〕 against [2025]) kept apart.
"""

from __future__ import annotations

import bisect
from array import array
from datetime import date
from typing import Any

__all__ = ["DecisionSeries"]


class DecisionSeries:
    """The serials of a series in order, each with its decision day and spelling."""

    __slots__ = ("days", "serials", "spellings", "template")

    def __init__(self, template: str) -> None:
        #: the serials seen, ascending
        self.serials = array("i")
        #: the decision day of each serial (``date.toordinal``), in the same order
        self.days = array("i")
        #: how the series spells a number (``{n}`` where the serial goes)
        self.template = template
        #: serials spelled otherwise than :attr:`template`
        self.spellings: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self.serials)

    def add(self, number: int, day: date, template: str) -> int | None:
        """Note a serial; returns its position, or None when it was known already."""
        at = bisect.bisect_left(self.serials, number)
        if at < len(self.serials) and self.serials[at] == number:
            return None
        self.serials.insert(at, number)
        self.days.insert(at, day.toordinal())
        if template != self.template:
            self.spellings[number] = template
        return at

    def entry(self, number: int) -> tuple[str, str]:
        """The decision day (ISO) and spelling of a known serial."""
        at = bisect.bisect_left(self.serials, number)
        return (date.fromordinal(self.days[at]).isoformat(),
                self.spellings.get(number, self.template))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (the statistics snapshot)."""
        return {"template": self.template, "serials": self.serials.tolist(),
                "days": self.days.tolist(),
                "spellings": {str(number): text for number, text in self.spellings.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DecisionSeries:
        """Inverse of :meth:`to_dict`; also reads an older worker's snapshot, which kept
        ``{serial: [ISO date, spelling]}``."""
        if "serials" not in data:
            return cls._from_entries({int(number): (str(seen[0]), str(seen[1]))
                                      for number, seen in data.items()})
        series = cls(str(data["template"]))
        series.serials = array("i", data["serials"])
        series.days = array("i", data["days"])
        series.spellings = {int(number): str(text)
                            for number, text in data.get("spellings", {}).items()}
        return series

    @classmethod
    def _from_entries(cls, entries: dict[int, tuple[str, str]]) -> DecisionSeries:
        ordered = sorted(entries)
        series = cls(entries[ordered[0]][1] if ordered else "{n}")
        series.serials = array("i", ordered)
        series.days = array("i", (date.fromisoformat(entries[number][0]).toordinal()
                                  for number in ordered))
        series.spellings = {number: entries[number][1] for number in ordered
                            if entries[number][1] != series.template}
        return series

"""What a fishing penalty's own words establish: the method, the closed area, the season.

Some offences are met by circumstances, not figures (electric fishing in a closed
season): the penalty records them only in its text, and the day of the conduct is in the
facts, weeks before the decision. Reading them is text work with its own pitfalls (the
decision date is never the day of the fishing), kept apart from the threshold measure
(:mod:`streams.screening_assessment`) that weighs them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from hub.models import PenaltyCaseRecorded
from hub.rules.conduct import FishingCriteria

__all__ = ["FishingCircumstances", "conduct_date", "fishing_circumstances"]

_DATE = re.compile(r"(\d{4})\s*(?:年|-|/|\.)\s*(\d{1,2})\s*(?:月|-|/|\.)\s*(\d{1,2})")


def conduct_date(penalty: PenaltyCaseRecorded) -> tuple[date, bool]:
    """The day of the conduct: the first date in the facts not after the decision, else
    the decision date (``False``: not stated, the decision date stands in).

    A closed season is about when the party fished, which the facts state
    ("2025年4月12日夜，当事人在…使用电鱼器具捕捞"); the decision comes weeks later.
    """
    for match in _DATE.finditer(penalty.violation_facts):
        try:
            found = date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            continue
        if found <= penalty.decision_date:
            return found, True
    return penalty.decision_date, False


@dataclass(frozen=True)
class FishingCircumstances:
    """What a fishing penalty's record establishes: method, closed area, closed season."""

    banned_method: str | None
    closed_area: str | None
    closed_season: str | None
    conduct_day: date
    day_stated: bool

    def established(self) -> set[str]:
        """Names of the circumstances established (``conduct_criteria.yaml`` spelling)."""
        return {name for name, value in (("banned_method", self.banned_method),
                                         ("closed_area", self.closed_area),
                                         ("closed_season", self.closed_season)) if value}


def fishing_circumstances(penalty: PenaltyCaseRecorded,
                          criteria: FishingCriteria) -> FishingCircumstances:
    """Banned method, closed area and closed season as the penalty's own text shows them.

    The season is the named water body's (a keyword in the facts), else the default
    season an operator set for the county's own waters, on the day the facts state
    (:func:`conduct_date`); facts that state no day establish the season only in words
    (禁渔期内, 休渔期间). The decision date is never taken for the day of the fishing.
    """
    # The facts and the penalty content, not the violation type: a type is a category
    # ("在内陆水域禁渔区、禁渔期或者使用禁用工具、方法捕捞") and names every circumstance.
    text = " ".join(part for part in (penalty.violation_facts, penalty.penalty_content)
                    if part)
    method = next((m.name_zh for m in criteria.banned_methods
                   if any(word in text for word in m.keywords)), None)
    area = next((a.name_zh for a in criteria.closed_areas
                 if any(word in text for word in a.keywords)), None)
    day, stated = conduct_date(penalty)
    season: str | None = None
    if stated:
        named = [s for s in criteria.closed_seasons if any(word in text for word in s.keywords)]
        seasons = named or [s for s in criteria.closed_seasons if s.default]
        season = next((f"{s.name_zh}（{s.start}至{s.end}）" for s in seasons if s.covers(day)),
                      None)
    if season is None and any(word in text for word in criteria.closed_season_words):
        season = "违法事实载明在禁渔期内"
    return FishingCircumstances(method, area, season, day, stated)

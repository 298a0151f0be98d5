"""Which records the public feeds must not carry at all, whatever is masked in them.

Masking (:mod:`streams.masking_logic`) takes personal details out of a record; some
records must not be published even masked (``masking.yaml``, ``withhold_records``):

- a case of a child: a masked name beside the case, its unit and its dates identifies a
  minor, which the law forbids disclosing. The age is read from the resident ID number
  (its birth date) against the earliest date the record carries (the act, the
  decision): a person who was a minor at any of them is one for this case.
- a penalty past its 公示截止期 (last day of public disclosure): a credit platform
  reading the feed must not publish it again, nor a replay resurrect it.

Pure functions of a decoded record (a plain dict as the Avro reader gives it), so the
publisher, a backfill and the tests judge alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from hub.calendar import CHINA_TZ, china_date
from hub.rules.masking import MaskingRules

__all__ = ["LATEST_WINS", "MINOR", "PAST_DISCLOSURE", "birth_date", "disclosure_ends",
           "withheld_reason"]

#: Reasons (the ``reason`` label of ``liangfa_public_withheld_total``).
MINOR = "minor"
PAST_DISCLOSURE = "disclosure-ended"
#: Records that are a key's latest state (their topics are compacted): a withheld one is
#: published as a tombstone for its key, so a state published before goes too.
LATEST_WINS = frozenset({"CaseState", "UnitMonthlyStats"})

_RESIDENT_ID = re.compile(r"\d{17}[\dXx]|\d{15}")


def birth_date(id_number: str) -> date | None:
    """The birth date a resident ID number carries (GB 11643-1999: digits 7–14 of an
    18-character number; a 15-digit number of the first generation gives YYMMDD of
    19YY), or None for any other document or an impossible date."""
    number = id_number.strip()
    if not _RESIDENT_ID.fullmatch(number):
        return None
    text = number[6:14] if len(number) == 18 else "19" + number[6:12]
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def disclosure_ends(deadline: date) -> datetime | None:
    """The instant a record with this 公示截止期 stops being published: the start of the
    next China day (the deadline is the last day of disclosure, :func:`withheld_reason`
    withholds from the day after). None for 9999-12-31, which systems write for "no end"
    (长期): there is no next day to wait for."""
    if deadline >= date.max:
        return None
    return datetime.combine(deadline + timedelta(days=1), time(0), tzinfo=CHINA_TZ)


def _walk(value: Any) -> Iterator[Any]:
    """Every value inside a decoded record, nested records and lists included."""
    yield value
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def _age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def _earliest_day(record: Mapping[str, Any]) -> date | None:
    # A decoded timestamp is in UTC: its day is the day in China, where ages are counted
    # (a decision at 00:30 Beijing time is on the previous UTC day).
    days = [(china_date(value) if value.tzinfo else value.date())
            if isinstance(value, datetime) else value
            for value in _walk(record) if isinstance(value, date)]
    return min(days) if days else None


def withheld_reason(record: Mapping[str, Any], *, rules: MaskingRules, today: date
                    ) -> str | None:
    """Why ``record`` must not reach a public feed (:data:`MINOR`,
    :data:`PAST_DISCLOSURE`), or None when it may be published (masked)."""
    withheld = rules.withhold_records
    deadline = record.get(withheld.disclosure_ended.field)
    if isinstance(deadline, date) and deadline < today:
        return PAST_DISCLOSURE
    earliest = _earliest_day(record)
    if earliest is None:
        return None
    for party in _walk(record):
        if not (isinstance(party, Mapping) and isinstance(party.get("id_number"), str)):
            continue
        category = party.get("category")
        if category is not None and category not in rules.natural_person_categories:
            continue
        born = birth_date(party["id_number"])
        if born is not None and _age_on(born, earliest) < withheld.minors.below_age:
            return MINOR
    return None

"""The PRC working-day calendar that every legal clock in the hub counts on.

Which days are working days is decided each year by the State Council (国务院办公厅关于
某年部分节假日安排的通知): public holidays plus *adjusted workdays* (调休上班), weekend days
on which people work to bridge a holiday. A weekday/weekend rule gets those wrong around
every Spring Festival and National Day, so deadlines such as "enter the decision within
3 working days" would raise false alarms or miss real ones.

Sources, in order of precedence:

1. the operator override file ``hub/rules/calendar_overrides.yaml`` (replaceable through
   ``LIANGFA_CALENDAR_OVERRIDES`` or ``LIANGFA_RULES_DIR``): per-date holiday/workday with
   its source, and years whose whole schedule the file declares;
2. the maintained ``chinese_calendar`` library (the State Council schedules it ships);
3. for a year neither knows: Monday–Friday, with an :class:`UnknownCalendarYearWarning`,
   a logged warning and the year listed by :func:`unknown_years_seen` for the metrics
   layer. Never a silent guess.

Periods follow the rule of PRC procedural law that the starting day is not counted: day 1
of "3 working days after a decision" is the first working day after the decision day.
"""

from __future__ import annotations

import calendar as _gregorian
import logging
import os
import threading
import warnings
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import chinese_calendar
from pydantic import Field

from hub.rules._loader import RuleModel, load_yaml_model, resolve_rule_path

__all__ = [
    "CALENDAR_OVERRIDES_ENV",
    "CHINA_TZ",
    "OVERRIDE_TEMPLATE",
    "CalendarDateOverride",
    "CalendarOverrides",
    "CalendarYearDeclaration",
    "ClockUnit",
    "DayInfo",
    "UnknownCalendarYearWarning",
    "WorkingDayCalendar",
    "add_calendar_days",
    "add_months",
    "add_working_days",
    "china_date",
    "deadline_instant",
    "default_calendar",
    "due_date",
    "is_working_day",
    "load_calendar_overrides",
    "reset_default_calendar",
    "unknown_years_seen",
    "unscheduled_years",
    "use_calendar",
    "working_days_between",
]

logger = logging.getLogger(__name__)

#: Legal time in the hub: deadlines end at midnight China Standard Time.
CHINA_TZ = ZoneInfo("Asia/Shanghai")

#: Replace the shipped override file with an operator's own.
CALENDAR_OVERRIDES_ENV = "LIANGFA_CALENDAR_OVERRIDES"

ClockUnit = Literal["working_days", "days", "hours", "months"]

_LIBRARY_HOLIDAYS: dict[date, str] = dict(chinese_calendar.holidays)
_LIBRARY_WORKDAYS: dict[date, str] = dict(chinese_calendar.workdays)
_LIBRARY_MIN_YEAR = min(_LIBRARY_HOLIDAYS).year
_LIBRARY_MAX_YEAR = max(_LIBRARY_HOLIDAYS).year
_LIBRARY_SOURCE = f"chinese_calendar {chinese_calendar.__version__} (State Council schedules)"


class UnknownCalendarYearWarning(UserWarning):
    """A date fell in a year whose holiday schedule neither the library nor the operator knows.

    Deadlines in that year are counted Monday–Friday until an operator adds the State
    Council's schedule to the override file.
    """


class CalendarDateOverride(RuleModel):
    """One date the operator decides: a holiday (放假) or an adjusted workday (调休上班)."""

    date: date
    kind: Literal["holiday", "workday"]
    name: str = ""
    source: str = Field(min_length=1)
    verified: bool = True


class CalendarYearDeclaration(RuleModel):
    """A year whose complete schedule is listed in ``dates`` (so no unknown-year warning)."""

    year: int = Field(ge=1949, le=2200)
    source: str = Field(min_length=1)
    verified: bool = True


class CalendarOverrides(RuleModel):
    """The operator override file: wins over the library, date by date."""

    version: Literal[1] = 1
    complete_years: tuple[CalendarYearDeclaration, ...] = ()
    dates: tuple[CalendarDateOverride, ...] = ()

    def cross_check(self) -> list[str]:
        """Duplicate dates/years would make the winner depend on file order: reject them."""
        problems: list[str] = []
        seen_dates: dict[date, int] = {}
        for index, entry in enumerate(self.dates):
            if entry.date in seen_dates:
                problems.append(
                    f"dates[{index}].date: {entry.date.isoformat()} already listed at "
                    f"dates[{seen_dates[entry.date]}]"
                )
            else:
                seen_dates[entry.date] = index
        seen_years: dict[int, int] = {}
        for index, declaration in enumerate(self.complete_years):
            if declaration.year in seen_years:
                problems.append(
                    f"complete_years[{index}].year: {declaration.year} already declared at "
                    f"complete_years[{seen_years[declaration.year]}]"
                )
            else:
                seen_years[declaration.year] = index
        return problems


@dataclass(frozen=True)
class DayInfo:
    """Why a day is (not) a working day, for explanations in alerts and the view."""

    day: date
    working: bool
    basis: Literal["override", "library", "declared_year", "weekday_fallback"]
    name: str = ""
    source: str = ""


def load_calendar_overrides(path: str | os.PathLike[str] | None = None) -> CalendarOverrides:
    """Read and validate the override file (argument, env var, rules dir, shipped file)."""
    resolved = resolve_rule_path("calendar_overrides.yaml", CALENDAR_OVERRIDES_ENV, path)
    return load_yaml_model(resolved, CalendarOverrides)


def china_date(moment: datetime) -> date:
    """The calendar date of an aware instant in China; naive datetimes are refused.

    A decision taken at 23:30 China time must count from that China day even when the
    server runs on UTC.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r}: legal times must be timezone-aware")
    return moment.astimezone(CHINA_TZ).date()


def add_calendar_days(start: date, days: int) -> date:
    """The date ``days`` natural days (日) after ``start``; the start day is not counted."""
    return start + timedelta(days=days)


def add_months(start: date, months: int) -> date:
    """Same day ``months`` later, clamped to the month's last day (Jan 31 + 1 → Feb 28/29)."""
    month_index = start.month - 1 + months
    year = start.year + month_index // 12
    month = month_index % 12 + 1
    last_day = _gregorian.monthrange(year, month)[1]
    return date(year, month, min(start.day, last_day))


class WorkingDayCalendar:
    """A working-day calendar: overrides, then the library, then a warned weekday fallback.

    Instances are cheap; tests build their own so that warnings and the unknown-year
    record of one test never leak into another.
    """

    def __init__(self, overrides: CalendarOverrides | None = None) -> None:
        self._overrides = overrides or CalendarOverrides()
        self._by_date = {entry.date: entry for entry in self._overrides.dates}
        self._declared_years = {decl.year: decl for decl in self._overrides.complete_years}
        self._unknown_years: set[int] = set()
        self._lock = threading.Lock()
        #: Answers already worked out. The calendar does not change after it is built, and
        #: a stream worker asks the same questions for every clock of every case it
        #: evaluates (counting 15 working days walks ~21 dates): without them the
        #: calendar was half the cost of a deadline evaluation.
        self._working: dict[date, bool] = {}
        self._added: dict[tuple[date, int], date] = {}
        for declaration in self._overrides.complete_years:
            if not declaration.verified:
                logger.warning(
                    "calendar year %s comes from an unverified schedule (%s): check it "
                    "against the State Council notice",
                    declaration.year,
                    declaration.source,
                )

    @property
    def overrides(self) -> CalendarOverrides:
        """The override data in force (for display and audits)."""
        return self._overrides

    @staticmethod
    def library_years() -> range:
        """Years the installed ``chinese_calendar`` has State Council schedules for."""
        return range(_LIBRARY_MIN_YEAR, _LIBRARY_MAX_YEAR + 1)

    def is_known_year(self, year: int) -> bool:
        """True when the library or a complete-year declaration covers ``year``."""
        return year in self.library_years() or year in self._declared_years

    def unverified_years(self) -> tuple[int, ...]:
        """Years the override file declares complete from a schedule not yet checked
        (``verified: false``, as the shipped template is): still to be confirmed."""
        return tuple(sorted(year for year, declaration in self._declared_years.items()
                            if not declaration.verified))

    def unknown_years_seen(self) -> tuple[int, ...]:
        """Years looked up so far that fell back to Monday–Friday (for a metrics gauge)."""
        with self._lock:
            return tuple(sorted(self._unknown_years))

    def _note_unknown_year(self, year: int) -> None:
        with self._lock:
            first_time = year not in self._unknown_years
            self._unknown_years.add(year)
        if first_time:
            message = (
                f"no State Council holiday schedule known for {year}: counting working days "
                f"Monday-Friday for that year; add the schedule to calendar_overrides.yaml"
            )
            logger.warning("%s", message)
            warnings.warn(message, UnknownCalendarYearWarning, stacklevel=4)

    def day_info(self, day: date) -> DayInfo:
        """Whether ``day`` is a working day, and on what authority."""
        if isinstance(day, datetime):
            raise TypeError("pass a date; convert instants with china_date() first")
        override = self._by_date.get(day)
        if override is not None:
            return DayInfo(day, override.kind == "workday", "override", override.name,
                           override.source)
        if _LIBRARY_MIN_YEAR <= day.year <= _LIBRARY_MAX_YEAR:
            # The library's own is_workday() re-derives its year range on every call;
            # its tables answer the same question in a dictionary lookup.
            adjusted = _LIBRARY_WORKDAYS.get(day)
            holiday = _LIBRARY_HOLIDAYS.get(day)
            working = adjusted is not None or (day.weekday() < 5 and holiday is None)
            return DayInfo(day, working, "library", holiday or adjusted or "", _LIBRARY_SOURCE)
        declaration = self._declared_years.get(day.year)
        if declaration is not None:
            return DayInfo(day, day.weekday() < 5, "declared_year", "", declaration.source)
        self._note_unknown_year(day.year)
        return DayInfo(day, day.weekday() < 5, "weekday_fallback")

    def is_working_day(self, day: date) -> bool:
        """True when government offices work on ``day`` (adjusted weekend workdays included)."""
        working = self._working.get(day)
        if working is None:
            working = self._working[day] = self.day_info(day).working
        return working

    def add_working_days(self, start: date, days: int) -> date:
        """The date by which something due ``days`` working days after ``start`` must happen.

        Day 1 is the first working day after ``start``; ``days == 0`` gives ``start``.
        """
        if days < 0:
            raise ValueError(f"working days must be >= 0, got {days}")
        known = self._added.get((start, days))
        if known is not None:
            return known
        current = start
        remaining = days
        while remaining:
            current += timedelta(days=1)
            if self.is_working_day(current):
                remaining -= 1
        if len(self._added) >= _ANSWERS_KEPT:
            self._added.clear()
        self._added[(start, days)] = current
        return current

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after ``start`` up to and including ``end`` (0 when end <= start)."""
        count = 0
        current = start
        while current < end:
            current += timedelta(days=1)
            if self.is_working_day(current):
                count += 1
        return count

    def due_date(
        self, start: date | datetime, amount: int, unit: ClockUnit, *,
        rest_day_extends: bool = False,
    ) -> date | datetime:
        """When a clock of ``amount`` ``unit`` started at ``start`` runs out.

        Day-based units return the last day (the deadline is the end of that China day);
        ``hours`` returns the exact instant and needs an aware datetime start.
        ``rest_day_extends``: a last day of ``days`` or ``months`` that is a rest day
        (节假日: weekend or public holiday) moves to the first working day after it, as
        procedural law has it for a period's last day (the deadline file says which
        clocks, and on what source); a working-day clock always ends on a working day.
        """
        due = self._due_date(start, amount, unit)
        if rest_day_extends and unit in ("days", "months") and isinstance(due, date) \
                and not isinstance(due, datetime):
            while not self.is_working_day(due):
                due += timedelta(days=1)
        return due

    def _due_date(
        self, start: date | datetime, amount: int, unit: ClockUnit
    ) -> date | datetime:
        if amount < 0:
            raise ValueError(f"clock amount must be >= 0, got {amount}")
        if unit == "hours":
            if not isinstance(start, datetime):
                raise TypeError("an hour clock needs a datetime start, not a date")
            china_date(start)  # refuses naive datetimes
            return start + timedelta(hours=amount)
        day = china_date(start) if isinstance(start, datetime) else start
        if unit == "working_days":
            return self.add_working_days(day, amount)
        if unit == "days":
            return add_calendar_days(day, amount)
        if unit == "months":
            return add_months(day, amount)
        raise ValueError(f"unknown clock unit {unit!r}")

    def deadline_instant(self, start: datetime, amount: int, unit: ClockUnit, *,
                         rest_day_extends: bool = False) -> datetime:
        """The first instant at which the clock is overdue (aware, China time).

        For day-based units that is midnight China time after the last day, so an act
        at 23:59 on the last day is on time.
        """
        due = self.due_date(start, amount, unit, rest_day_extends=rest_day_extends)
        if isinstance(due, datetime):
            return due
        return datetime.combine(due + timedelta(days=1), time(0), tzinfo=CHINA_TZ)


#: Working-day sums kept (a few years of start dates × the clocks' lengths fit many times).
_ANSWERS_KEPT = 100_000

_default_lock = threading.Lock()
_default: WorkingDayCalendar | None = None


def default_calendar() -> WorkingDayCalendar:
    """The process-wide calendar, built once from the override file in force."""
    global _default
    with _default_lock:
        if _default is None:
            _default = WorkingDayCalendar(load_calendar_overrides())
        return _default


def use_calendar(calendar: WorkingDayCalendar) -> None:
    """Install ``calendar`` as the process-wide one (a service started with ``--calendar``)."""
    global _default
    with _default_lock:
        _default = calendar


def reset_default_calendar() -> None:
    """Forget the process-wide calendar; the next call re-reads the override file."""
    global _default
    with _default_lock:
        _default = None


def is_working_day(day: date) -> bool:
    """True when ``day`` is a PRC working day (process-wide calendar)."""
    return default_calendar().is_working_day(day)


def add_working_days(start: date, n: int) -> date:
    """Due date ``n`` working days after ``start``: day 1 is the first working day after it."""
    return default_calendar().add_working_days(start, n)


def working_days_between(start: date, end: date) -> int:
    """Working days after ``start`` up to and including ``end``; 0 if ``end <= start``."""
    return default_calendar().working_days_between(start, end)


def due_date(start: date | datetime, amount: int, unit: ClockUnit) -> date | datetime:
    """When a clock runs out (see :meth:`WorkingDayCalendar.due_date`)."""
    return default_calendar().due_date(start, amount, unit)


def deadline_instant(start: datetime, amount: int, unit: ClockUnit) -> datetime:
    """First overdue instant of a clock (see :meth:`WorkingDayCalendar.deadline_instant`)."""
    return default_calendar().deadline_instant(start, amount, unit)


def unknown_years_seen() -> tuple[int, ...]:
    """Years the process-wide calendar had to guess (Monday–Friday) so far."""
    return default_calendar().unknown_years_seen()


#: Where the template of next year's override entries lives (relative to the repository).
OVERRIDE_TEMPLATE = "deploy/calendar/calendar_overrides-2027.template.yaml"


def unscheduled_years(today: date | None = None,
                      calendar: WorkingDayCalendar | None = None) -> tuple[int, ...]:
    """Years the hub counts working days in, or soon will, that no checked schedule covers.

    A year the override file declares from an unverified schedule (the template's
    placeholders copied as they are) is one of them until ``verified: true``.

    This year and the next (a 3-working-day clock started in late December runs into
    January), and every year the calendar already had to guess. Shown by ``liangfa
    status`` and the view so an operator adds the State Council's notice *before* clocks
    count Monday–Friday over the Spring Festival.
    """
    cal = calendar or default_calendar()
    year = (today or datetime.now(CHINA_TZ).date()).year
    unverified = set(cal.unverified_years())
    years = {y for y in (year, year + 1) if not cal.is_known_year(y) or y in unverified}
    return tuple(sorted(years | set(cal.unknown_years_seen())))


"""The PRC working-day calendar: State Council schedules, overrides, unknown years."""

from __future__ import annotations

import logging
import warnings
from datetime import UTC, date, datetime, timedelta

import pytest

from hub import calendar as cal
from hub.calendar import (
    CHINA_TZ,
    CalendarDateOverride,
    CalendarOverrides,
    CalendarYearDeclaration,
    UnknownCalendarYearWarning,
    WorkingDayCalendar,
)
from hub.errors import ConfigError

# 国务院办公厅关于2025年部分节假日安排的通知 (国办发明电〔2024〕12号): Spring Festival.
SPRING_FESTIVAL_2025 = [
    (date(2025, 1, 25), False, "Saturday before the adjusted workday"),
    (date(2025, 1, 26), True, "Sunday adjusted workday 调休上班"),
    (date(2025, 1, 27), True, "ordinary Monday"),
    *[(date(2025, 1, 28) + timedelta(days=i), False, "Spring Festival holiday") for i in range(8)],
    (date(2025, 2, 5), True, "first working day after the holiday"),
    (date(2025, 2, 7), True, "Friday"),
    (date(2025, 2, 8), True, "Saturday adjusted workday 调休上班"),
    (date(2025, 2, 9), False, "ordinary Sunday"),
]

# 国务院办公厅关于2026年部分节假日安排的通知 (2025-11-04, Xinhua): the whole notice.
NOTICE_2026_HOLIDAYS = [
    *[date(2026, 1, d) for d in (1, 2, 3)],
    *[date(2026, 2, d) for d in range(15, 24)],
    *[date(2026, 4, d) for d in (4, 5, 6)],
    *[date(2026, 5, d) for d in range(1, 6)],
    *[date(2026, 6, d) for d in (19, 20, 21)],
    *[date(2026, 9, d) for d in (25, 26, 27)],
    *[date(2026, 10, d) for d in range(1, 8)],
]
NOTICE_2026_ADJUSTED_WORKDAYS = [
    date(2026, 1, 4),  # Sunday
    date(2026, 2, 14),  # Saturday
    date(2026, 2, 28),  # Saturday
    date(2026, 5, 9),  # Saturday
    date(2026, 9, 20),  # Sunday
    date(2026, 10, 10),  # Saturday
]


@pytest.fixture
def calendar() -> WorkingDayCalendar:
    """A fresh library-only calendar, so warnings and records never leak between tests."""
    return WorkingDayCalendar()


@pytest.mark.parametrize(("day", "working", "why"), SPRING_FESTIVAL_2025)
def test_spring_festival_2025(calendar: WorkingDayCalendar, day: date, working: bool,
                              why: str) -> None:
    assert calendar.is_working_day(day) is working, why


@pytest.mark.parametrize("day", NOTICE_2026_HOLIDAYS)
def test_2026_notice_holidays_are_days_off(calendar: WorkingDayCalendar, day: date) -> None:
    assert calendar.is_working_day(day) is False


@pytest.mark.parametrize("day", NOTICE_2026_ADJUSTED_WORKDAYS)
def test_2026_notice_adjusted_weekend_days_are_working(
    calendar: WorkingDayCalendar, day: date
) -> None:
    assert day.weekday() >= 5, "the notice's adjusted workdays are weekend days"
    assert calendar.is_working_day(day) is True
    assert calendar.day_info(day).basis == "library"


def test_2026_notice_has_nothing_else(calendar: WorkingDayCalendar) -> None:
    """Every other 2026 day follows the weekday rule: the library equals the notice."""
    special = set(NOTICE_2026_HOLIDAYS) | set(NOTICE_2026_ADJUSTED_WORKDAYS)
    day = date(2026, 1, 1)
    while day.year == 2026:
        if day not in special:
            assert calendar.is_working_day(day) is (day.weekday() < 5), day
        day += timedelta(days=1)


def test_library_covers_2025_and_2026() -> None:
    years = WorkingDayCalendar.library_years()
    assert 2025 in years
    assert 2026 in years


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (date(2025, 1, 24), 0, date(2025, 1, 24)),
        (date(2025, 1, 24), 1, date(2025, 1, 26)),  # Friday → Sunday adjusted workday
        (date(2025, 1, 24), 2, date(2025, 1, 27)),
        (date(2025, 1, 24), 3, date(2025, 2, 5)),  # across the whole Spring Festival
        (date(2025, 1, 27), 1, date(2025, 2, 5)),
        (date(2025, 2, 6), 2, date(2025, 2, 8)),  # Thursday → Saturday adjusted workday
        (date(2026, 2, 13), 1, date(2026, 2, 14)),  # Friday → Saturday adjusted workday
        (date(2026, 2, 13), 2, date(2026, 2, 24)),
        (date(2026, 2, 26), 2, date(2026, 2, 28)),  # Thursday → Saturday adjusted workday
        (date(2026, 2, 26), 3, date(2026, 3, 2)),
        (date(2025, 9, 30), 1, date(2025, 10, 9)),  # National Day + Mid-Autumn 2025
        (date(2025, 12, 31), 3, date(2026, 1, 6)),  # across the year: 1-3 Jan off, 4th works
    ],
)
def test_add_working_days(calendar: WorkingDayCalendar, start: date, days: int,
                          expected: date) -> None:
    assert calendar.add_working_days(start, days) == expected


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (date(2025, 1, 24), date(2025, 2, 5), 3),
        (date(2025, 1, 24), date(2025, 2, 4), 2),
        (date(2025, 2, 5), date(2025, 2, 5), 0),
        (date(2025, 2, 5), date(2025, 1, 1), 0),
        (date(2026, 2, 13), date(2026, 2, 28), 6),  # 14th, 24th-27th, 28th
    ],
)
def test_working_days_between(calendar: WorkingDayCalendar, start: date, end: date,
                              expected: int) -> None:
    assert calendar.working_days_between(start, end) == expected


def test_between_and_add_agree(calendar: WorkingDayCalendar) -> None:
    start = date(2025, 1, 20)
    for days in range(15):
        end = calendar.add_working_days(start, days)
        assert calendar.working_days_between(start, end) == days


def test_negative_working_days_are_refused(calendar: WorkingDayCalendar) -> None:
    with pytest.raises(ValueError, match=">= 0"):
        calendar.add_working_days(date(2025, 1, 1), -1)


@pytest.mark.parametrize(
    ("start", "amount", "unit", "expected"),
    [
        (date(2025, 1, 24), 3, "working_days", date(2025, 2, 5)),
        (date(2025, 1, 24), 3, "days", date(2025, 1, 27)),
        (date(2025, 1, 31), 1, "months", date(2025, 2, 28)),
        (date(2024, 1, 31), 1, "months", date(2024, 2, 29)),
        (date(2025, 3, 15), 6, "months", date(2025, 9, 15)),
        (date(2025, 8, 31), 6, "months", date(2026, 2, 28)),
        (date(2025, 3, 15), 12, "months", date(2026, 3, 15)),
        (
            datetime(2025, 1, 24, 10, 0, tzinfo=CHINA_TZ),
            24,
            "hours",
            datetime(2025, 1, 25, 10, 0, tzinfo=CHINA_TZ),
        ),
        # 16:30 UTC on the 24th is 00:30 on the 25th in China: the clock counts from the 25th.
        (datetime(2025, 1, 24, 16, 30, tzinfo=UTC), 1, "days", date(2025, 1, 26)),
        (datetime(2025, 1, 24, 16, 30, tzinfo=UTC), 1, "working_days", date(2025, 1, 26)),
        (datetime(2025, 1, 25, 16, 30, tzinfo=UTC), 1, "working_days", date(2025, 1, 27)),
    ],
)
def test_due_date(calendar: WorkingDayCalendar, start: date | datetime, amount: int, unit: str,
                  expected: date | datetime) -> None:
    assert calendar.due_date(start, amount, unit) == expected  # type: ignore[arg-type]


def test_deadline_instant_is_midnight_china_after_the_last_day(
    calendar: WorkingDayCalendar,
) -> None:
    start = datetime(2025, 1, 24, 9, 0, tzinfo=CHINA_TZ)
    instant = calendar.deadline_instant(start, 3, "working_days")
    assert instant == datetime(2025, 2, 6, 0, 0, tzinfo=CHINA_TZ)
    assert calendar.deadline_instant(start, 24, "hours") == start + timedelta(hours=24)


def test_hour_clock_needs_a_datetime(calendar: WorkingDayCalendar) -> None:
    with pytest.raises(TypeError, match="datetime start"):
        calendar.due_date(date(2025, 1, 1), 24, "hours")


def test_naive_datetimes_are_refused(calendar: WorkingDayCalendar) -> None:
    with pytest.raises(ValueError, match="naive"):
        calendar.due_date(datetime(2025, 1, 1, 9, 0), 3, "days")


def test_unknown_year_warns_once_logs_and_is_recorded(
    calendar: WorkingDayCalendar, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="hub.calendar")
    with pytest.warns(UnknownCalendarYearWarning, match="2031"):
        assert calendar.is_working_day(date(2031, 1, 1)) is True  # a Wednesday
    assert calendar.unknown_years_seen() == (2031,)
    assert any("2031" in record.getMessage() for record in caplog.records)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert calendar.is_working_day(date(2031, 1, 4)) is False  # Saturday, no new warning
    assert calendar.day_info(date(2031, 1, 6)).basis == "weekday_fallback"


def test_unknown_years_are_listed_in_order(calendar: WorkingDayCalendar) -> None:
    with pytest.warns(UnknownCalendarYearWarning):
        calendar.is_working_day(date(2040, 6, 1))
    with pytest.warns(UnknownCalendarYearWarning):
        calendar.is_working_day(date(2003, 6, 2))
    assert calendar.unknown_years_seen() == (2003, 2040)


def test_overrides_win_over_the_library() -> None:
    overrides = CalendarOverrides(
        dates=(
            CalendarDateOverride(date=date(2025, 2, 5), kind="holiday", name="local",
                                 source="county notice"),
            CalendarDateOverride(date=date(2025, 2, 9), kind="workday", source="county notice"),
        )
    )
    calendar = WorkingDayCalendar(overrides)
    assert calendar.is_working_day(date(2025, 2, 5)) is False
    assert calendar.is_working_day(date(2025, 2, 9)) is True
    assert calendar.day_info(date(2025, 2, 5)).basis == "override"
    assert calendar.add_working_days(date(2025, 1, 27), 1) == date(2025, 2, 6)


def test_a_declared_year_is_known_and_uses_its_dates() -> None:
    overrides = CalendarOverrides(
        complete_years=(CalendarYearDeclaration(year=2031, source="notice for 2031"),),
        dates=(
            CalendarDateOverride(date=date(2031, 1, 1), kind="holiday", source="notice"),
            CalendarDateOverride(date=date(2031, 1, 4), kind="workday", source="notice"),
        ),
    )
    calendar = WorkingDayCalendar(overrides)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert calendar.is_working_day(date(2031, 1, 1)) is False
        assert calendar.is_working_day(date(2031, 1, 4)) is True
        assert calendar.is_working_day(date(2031, 1, 5)) is False
        assert calendar.is_working_day(date(2031, 1, 6)) is True
    assert calendar.is_known_year(2031)
    assert calendar.unknown_years_seen() == ()


def test_an_override_date_in_an_unknown_year_does_not_warn_for_itself() -> None:
    overrides = CalendarOverrides(
        dates=(CalendarDateOverride(date=date(2032, 1, 1), kind="holiday", source="notice"),)
    )
    calendar = WorkingDayCalendar(overrides)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert calendar.is_working_day(date(2032, 1, 1)) is False
    with pytest.warns(UnknownCalendarYearWarning):
        calendar.is_working_day(date(2032, 1, 2))


def test_shipped_override_file_is_valid() -> None:
    overrides = cal.load_calendar_overrides()
    assert overrides.version == 1


def test_bad_override_file_lists_every_problem(tmp_path) -> None:
    path = tmp_path / "calendar_overrides.yaml"
    path.write_text(
        "version: 1\n"
        "dates:\n"
        "  - {date: 2027-02-06, kind: holiday, source: notice}\n"
        "  - {date: 2027-02-06, kind: workday, source: notice}\n"
        "  - {date: 2027-02-07, kind: vacation, source: notice}\n"
        "  - {date: 2027-02-08, kind: holiday}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        cal.load_calendar_overrides(path)
    problems = caught.value.problems
    assert any(p.startswith("dates[2].kind") for p in problems), problems
    assert any(p.startswith("dates[3].source") for p in problems), problems
    # Field problems come first; the duplicate is reported once the fields are valid.
    path.write_text(
        "version: 1\n"
        "dates:\n"
        "  - {date: 2027-02-06, kind: holiday, source: notice}\n"
        "  - {date: 2027-02-06, kind: workday, source: notice}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        cal.load_calendar_overrides(path)
    assert caught.value.problems == [
        "dates[1].date: 2027-02-06 already listed at dates[0]"
    ]


def test_operator_file_replaces_the_shipped_one(tmp_path, monkeypatch) -> None:
    path = tmp_path / "overrides.yaml"
    path.write_text(
        "version: 1\n"
        "dates:\n"
        "  - {date: 2025-02-05, kind: holiday, source: county notice, verified: false}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv(cal.CALENDAR_OVERRIDES_ENV, str(path))
    cal.reset_default_calendar()
    try:
        assert cal.is_working_day(date(2025, 2, 5)) is False
        assert cal.add_working_days(date(2025, 1, 27), 1) == date(2025, 2, 6)
        assert cal.working_days_between(date(2025, 1, 27), date(2025, 2, 6)) == 1
    finally:
        monkeypatch.delenv(cal.CALENDAR_OVERRIDES_ENV)
        cal.reset_default_calendar()
    assert cal.is_working_day(date(2025, 2, 5)) is True


def test_process_wide_functions_use_the_installed_calendar() -> None:
    custom = WorkingDayCalendar(
        CalendarOverrides(
            dates=(CalendarDateOverride(date=date(2026, 3, 2), kind="holiday", source="x"),)
        )
    )
    cal.use_calendar(custom)
    try:
        assert cal.is_working_day(date(2026, 3, 2)) is False
        assert cal.due_date(date(2026, 2, 27), 1, "working_days") == date(2026, 2, 28)
        assert cal.deadline_instant(
            datetime(2026, 2, 27, 9, tzinfo=CHINA_TZ), 2, "working_days"
        ) == datetime(2026, 3, 4, tzinfo=CHINA_TZ)
        assert cal.unknown_years_seen() == ()
    finally:
        cal.reset_default_calendar()


def test_agrees_with_the_library_on_every_day_it_covers(calendar: WorkingDayCalendar) -> None:
    import chinese_calendar

    day = date(WorkingDayCalendar.library_years().start, 1, 1)
    while day.year in WorkingDayCalendar.library_years():
        assert calendar.is_working_day(day) is chinese_calendar.is_workday(day), day
        day += timedelta(days=1)
    assert calendar.unknown_years_seen() == ()


def test_day_info_names_the_holiday(calendar: WorkingDayCalendar) -> None:
    info = calendar.day_info(date(2025, 1, 29))
    assert (info.working, info.basis, info.name) == (False, "library", "Spring Festival")
    assert info.source.startswith("chinese_calendar 1.11")
    with pytest.raises(TypeError, match="pass a date"):
        calendar.day_info(datetime(2025, 1, 29, tzinfo=CHINA_TZ))

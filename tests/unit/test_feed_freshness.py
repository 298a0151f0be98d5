"""Feed freshness per unit: working hours since a unit's last ingest event
(``streams.metrics``), counted on the PRC working-day calendar."""

from __future__ import annotations

from datetime import datetime

from prometheus_client import REGISTRY

from hub.calendar import CHINA_TZ
from streams.metrics import unit_event_seen, working_hours_between


def _at(day: str, hour: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=CHINA_TZ)


def test_a_weekend_is_not_silence() -> None:
    # Friday 2025-03-07 18:00 to Monday 2025-03-10 09:00: 6 h on Friday, 9 h on Monday.
    assert working_hours_between(_at("2025-03-07", 18), _at("2025-03-10", 9)) == 15


def test_the_national_day_holiday_is_not_silence_but_its_adjusted_workday_is() -> None:
    # 国务院办公厅关于2025年部分节假日安排的通知 (国办发明电〔2024〕12号, 2024-11-12):
    # 1-8 October off, Saturday 11 October an adjusted workday (调休上班).
    assert working_hours_between(_at("2025-09-30", 12), _at("2025-10-09")) == 12
    assert working_hours_between(_at("2025-10-11"), _at("2025-10-13")) == 24
    assert working_hours_between(_at("2025-10-18"), _at("2025-10-20")) == 0  # a weekend


def test_no_silence_backwards_and_within_one_day() -> None:
    assert working_hours_between(_at("2025-03-10", 9), _at("2025-03-10", 8)) == 0
    assert working_hours_between(_at("2025-03-10", 9), _at("2025-03-10", 11)) == 2


def test_the_gauges_follow_the_newest_event_of_each_unit() -> None:
    # A unit no other test's events name: the gauges are the process's, and an event
    # normalized by another test would be newer than this one.
    unit = "freshness-test-unit"
    recent = datetime.now(CHINA_TZ).timestamp() - 60
    unit_event_seen(unit, recent)
    unit_event_seen(unit, recent - 3600)  # an older event (a backlog) changes nothing
    assert REGISTRY.get_sample_value("liangfa_streams_unit_last_event_timestamp_seconds",
                                     {"unit": unit}) == recent
    last = datetime.fromtimestamp(recent, tz=CHINA_TZ)
    before = datetime.now(CHINA_TZ)
    silent = REGISTRY.get_sample_value("liangfa_streams_unit_silent_working_hours",
                                       {"unit": unit})
    after = datetime.now(CHINA_TZ)
    # Computed at scrape time: between the working hours up to just before and just after.
    assert silent is not None
    assert working_hours_between(last, before) <= silent <= working_hours_between(last, after)

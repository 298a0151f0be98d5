"""A unit's decision-number series as compact arrays (streams/decision_series.py)."""

from __future__ import annotations

import base64
import json
import random
from datetime import date, timedelta

from streams.decision_series import DecisionSeries

SPELLING = "演市监罚〔2025〕{n}号"
OTHER = "演市监罚[2025]{n}号"


def test_serials_arrive_in_any_order_and_are_kept_once_with_their_day_and_spelling() -> None:
    rng = random.Random(7)
    numbers = rng.sample(range(1, 500), 120)
    series = DecisionSeries(SPELLING)
    days = {number: date(2025, 1, 1) + timedelta(days=number % 300) for number in numbers}
    for number in numbers:
        spelling = OTHER if number % 11 == 0 else SPELLING
        assert series.add(number, days[number], spelling) is not None
    assert series.add(numbers[0], date(2025, 12, 31), OTHER) is None  # known: unchanged
    assert list(series.serials) == sorted(numbers)
    for number in numbers:
        spelling = OTHER if number % 11 == 0 else SPELLING
        assert series.entry(number) == (days[number].isoformat(), spelling)


def test_the_snapshot_form_and_an_older_workers_form_give_the_same_series() -> None:
    series = DecisionSeries(SPELLING)
    series.add(14, date(2025, 3, 5), SPELLING)
    series.add(12, date(2025, 3, 3), OTHER)
    series.add(15, date(2025, 3, 6), SPELLING)
    again = DecisionSeries.from_dict(json.loads(json.dumps(series.to_dict())))
    older = DecisionSeries.from_dict({"14": ["2025-03-05", SPELLING],
                                      "12": ["2025-03-03", OTHER],
                                      "15": ["2025-03-06", SPELLING]})
    for restored in (again, older):
        assert list(restored.serials) == [12, 14, 15]
        assert [restored.entry(n) for n in (12, 14, 15)] == [
            series.entry(n) for n in (12, 14, 15)]
        assert restored.entry(12) == ("2025-03-03", OTHER)


def test_the_arrays_are_written_as_bytes_and_the_list_form_is_still_read() -> None:
    series = DecisionSeries(SPELLING)
    for number in (3, 1, 9_999_999, 2):
        series.add(number, date(2025, 1, 1) + timedelta(days=number % 97), SPELLING)
    written = series.to_dict()
    assert isinstance(written["serials"], str) and isinstance(written["days"], str)
    # 4 little-endian bytes a number: the first serial, 1, begins the serials' bytes
    assert base64.b64decode(written["serials"])[:4] == (1).to_bytes(4, "little")
    listed = {**written, "serials": list(series.serials), "days": list(series.days)}
    del listed["encoding"]  # what the eleventh pass's workers wrote
    for data in (json.loads(json.dumps(written)), listed):
        restored = DecisionSeries.from_dict(data)
        assert list(restored.serials) == [1, 2, 3, 9_999_999]
        assert [restored.entry(n) for n in (1, 2, 3, 9_999_999)] == [
            series.entry(n) for n in (1, 2, 3, 9_999_999)]


def test_a_damaged_snapshot_series_is_refused() -> None:
    series = DecisionSeries(SPELLING)
    series.add(5, date(2025, 2, 1), SPELLING)
    written = series.to_dict()
    for damaged in ({**written, "days": ""}, {**written, "serials": "not base64!"}):
        try:
            DecisionSeries.from_dict(damaged)
        except ValueError:
            continue
        raise AssertionError(f"accepted {damaged}")

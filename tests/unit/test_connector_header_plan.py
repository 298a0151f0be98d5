"""The hot path's shortcuts (issue #12, throughput) give exactly what the general path
gives: the per-header-set plan of a mapper the same payload and case-key values, or the
same refusal, whatever the export's spelling of its headers (synonyms, full-width
brackets, descriptions in brackets, missing columns); the plain-record CSV split the
csv module's cells."""

from __future__ import annotations

import csv
import functools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.config import parse_config
from connectors.kinds.file import split_record
from connectors.mapping import Mapper
from connectors.samples import DEMO_MARKET_UNIT, PENALTY_HEADER, penalty_row
from hub.errors import RecordRejected

#: Spellings an export may use for a preset column (synonyms and bracket forms).
SPELLINGS: dict[str, list[str]] = {
    "行政处罚决定书文号": ["处罚决定书文号", "决定书文号", " 行政处罚决定书文号 "],
    "行政相对人名称": ["当事人名称"],
    "行政相对人代码_1": ["行政相对人代码_1（统一社会信用代码）", "统一社会信用代码",
                      "行政相对人代码_1 (统一社会信用代码)"],
    "行政相对人代码_2": ["行政相对人代码_2（工商注册号）"],
}


@functools.cache
def _mapper() -> Mapper:
    config = parse_config({"id": "plan-test", "unit": DEMO_MARKET_UNIT, "kind": "file",
                           "source": {"path": "/tmp"}, "preset": "penalty-disclosure"})
    return Mapper(config.mapping, unit=config.unit, connector_id=config.id)


def _outcome(apply: Any, row: dict[str, Any]) -> tuple[Any, ...]:
    payload: dict[str, Any] = {}
    flat: dict[str, Any] = {}
    try:
        apply(row, payload, flat)
    except RecordRejected as exc:
        return ("refused", exc.error_type, exc.field, exc.reason)
    return ("mapped", payload, flat)


def _both(row: dict[str, Any]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    mapper = _mapper()
    mapper._plans.clear()  # every example a new header set: stay under the plan limit
    plan = mapper._plan(tuple(row))
    assert plan is not None
    general = _outcome(lambda r, p, f: mapper._apply(mapper.matcher.resolve(r), p, f), row)
    return _outcome(plan, row), general


@settings(deadline=None, max_examples=150)  # no wall-clock limits: the machine is shared
@given(number=st.integers(1, 10_000), natural=st.booleans(),
       spelling=st.fixed_dictionaries({column: st.sampled_from([column, *others])
                                        for column, others in SPELLINGS.items()}),
       dropped=st.sets(st.sampled_from(PENALTY_HEADER), max_size=6),
       blanked=st.sets(st.sampled_from(PENALTY_HEADER), max_size=6))
def test_the_plan_maps_every_spelling_and_gap_as_the_general_path(
        number: int, natural: bool, spelling: dict[str, str], dropped: set[str],
        blanked: set[str]) -> None:
    row: dict[str, Any] = {}
    for header, cell in zip(PENALTY_HEADER, penalty_row(number, natural_person=natural),
                            strict=True):
        if header in dropped:
            continue
        row[spelling.get(header, header)] = "" if header in blanked else cell
    planned, general = _both(row)
    assert planned == general


@pytest.mark.parametrize("header", ["行政相对人代码_1（统一社会信用代码）", "统一社会信用代码"])
def test_a_column_under_another_spelling_is_read_by_the_plan(header: str) -> None:
    row = dict(zip(PENALTY_HEADER, penalty_row(3), strict=True))
    code = row.pop("行政相对人代码_1")
    row[header] = code
    planned, general = _both(row)
    assert planned == general
    assert planned[0] == "mapped"
    assert planned[1]["parties"][0]["credit_code"] == code
    event = _mapper().map(row, "plan#1")
    assert event.record["parties"][0]["credit_code"] == code


@settings(deadline=None, max_examples=400)
@given(text=st.text(alphabet=[",", ";", '"', "\r", "\n", "\x00", "a", " ", "中", "𠮷"],
                    max_size=12),
       delimiter=st.sampled_from([",", ";", "\t"]))
def test_the_plain_record_split_is_what_the_csv_module_reads(text: str,
                                                             delimiter: str) -> None:
    def read(split: Any) -> Any:
        try:
            return split()
        except csv.Error as exc:
            return ("error", str(exc))

    assert read(lambda: split_record(text, delimiter)) == read(
        lambda: next(csv.reader([text], delimiter=delimiter), []))

"""The generated field rules give what calling each rule's getter gives, cell by cell.

``connectors.mapping.rules._compile_rules`` reads plain text cells, code-table and remembered
conversions, and empty or absent cells inline instead of calling the rule's getter
(issue #12). Whatever the cell (text with spaces, empty, absent, a known or unknown code,
a bad date, a typed XLSX/SQL cell), the payload, the key values and any refusal (type,
field, reason) must be those of the plain loop over the getters.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.config import parse_config
from connectors.mapping import Mapper
from connectors.samples import DEMO_MARKET_UNIT, PENALTY_HEADER, penalty_row
from hub.errors import RecordRejected
from hub.models import CHINA_TZ


def _mapper() -> Mapper:
    config = parse_config({"id": "m-inline", "unit": DEMO_MARKET_UNIT, "kind": "file",
                           "source": {"path": "/tmp"}, "preset": "penalty-disclosure"})
    return Mapper(config.mapping, unit=config.unit, connector_id=config.id)


_MAPPER = _mapper()
_CELLS = st.one_of(
    st.just(""), st.just("   "), st.just(None), st.integers(-5, 10**7), st.just(2.5),
    st.just(date(2024, 3, 1)), st.just(datetime(2024, 3, 1, 8, tzinfo=CHINA_TZ)),
    st.sampled_from(["法人及非法人组织", "自然人", "个体工商户", "未知类别", "身份证", "护照",
                     " 身份证 ", "罚款;没收违法所得", "2024-03-15", "2024-02-30", "1.5",
                     "0.000001", "一万", "1990-01-01", "1980-01-01"]),
    st.text(max_size=6))


def _reference(mapper: Mapper, row: dict[str, Any]) -> Any:
    """The rules as a plain loop over their getters and setters."""
    payload: dict[str, Any] = {}
    flat: dict[str, Any] = {}
    try:
        for name, setter, getter, in_event, _column in mapper._rules:
            value = getter(row)
            if name in mapper._keys:
                flat[name] = value
            if in_event and value is not None:
                setter(payload, value)
    except RecordRejected as exc:
        return ("refused", exc.error_type, exc.field, str(exc))
    return payload, flat


def _generated(mapper: Mapper, row: dict[str, Any]) -> Any:
    payload: dict[str, Any] = {}
    flat: dict[str, Any] = {}
    try:
        mapper._apply(row, payload, flat)
    except RecordRejected as exc:
        return ("refused", exc.error_type, exc.field, str(exc))
    return payload, flat


@settings(deadline=None, max_examples=400)
@given(st.integers(1, 10**6), st.booleans(),
       st.dictionaries(st.sampled_from(PENALTY_HEADER), _CELLS, max_size=12))
def test_generated_rules_equal_the_getter_loop(number: int, natural: bool,
                                               changes: dict[str, Any]) -> None:
    row: dict[str, Any] = dict(zip(PENALTY_HEADER,
                                   penalty_row(number, natural_person=natural), strict=True))
    for column, cell in changes.items():
        if cell is None:
            row.pop(column)
        else:
            row[column] = cell
    # Twice: the second time conversions come from the remembered values.
    for mapper in (_mapper(), _MAPPER, _MAPPER):
        assert _generated(mapper, row) == _reference(mapper, row)

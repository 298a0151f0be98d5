"""The native row path (``connectors.rowpath``) gives the Python path's bytes or doubts.

``scripts/build-native.sh`` (run by the bootstrap) builds the core; these tests need it
and say so when it is missing. Beside them, every test that runs ``map_rows`` on CSV
rows runs the native path too: ``test_connector_chunk_stages.py`` holds it to the
row-by-row reference on hypothesis-made chunks of hostile cells, and
``test_connector_pinned_output.py`` to the pinned bytes of every connector kind.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors import rowpath
from connectors.chunks import EventHeaders, RowItem, _map_python, map_rows
from connectors.config import parse_config
from connectors.delivery import DeadLetter
from connectors.kinds.file import CsvRowParser
from connectors.mapping import Mapper, build_mapper
from connectors.mapping.rules import _known_codes
from connectors.mapping.spec import FieldRule
from connectors.samples import DEMO_MARKET_UNIT, PENALTY_HEADER, penalty_row
from hub.identity import credit_code_check_char, resident_id_check_char
from hub.models import CHINA_TZ
from hub.serde import LocalSerde

_RECORDED_AT = datetime(2024, 7, 1, 9, 30, tzinfo=CHINA_TZ)
_COLUMN = {name: index for index, name in enumerate(PENALTY_HEADER)}
_FINE = "罚款金额（万元）"


def _edit(number: int, natural: bool = False, **cells: str) -> list[str]:
    row = penalty_row(number, natural_person=natural)
    for name, value in cells.items():
        row[_COLUMN[name]] = value
    return row


def _resident_id(first17: str) -> str:
    return first17 + resident_id_check_char(first17)


def _credit_code(first17: str) -> str:
    return first17 + credit_code_check_char(first17)


#: First 17 digits of a resident ID whose check character is X.
_REPRESENTATIVE_X = "42990119810100005"
#: Identifiers with a right check character that are no identifier (GB 11643-1999,
#: GB 32100-2015): Python refuses them, so the core must never write them.
_IMPOSSIBLE: list[tuple[str, list[str]]] = [
    ("resident id born on 29 February 1999", _edit(9060, natural=True, 证件号码=_resident_id(
        "42990119990229001"))),
    ("resident id born in 2099", _edit(9061, natural=True, 证件号码=_resident_id(
        "42990120990101001"))),
    ("resident id of month 13", _edit(9062, natural=True, 证件号码=_resident_id(
        "42990119811301001"))),
    ("resident id of no province", _edit(9063, natural=True, 证件号码=_resident_id(
        "99990119810101001"))),
    ("representative's id born in 1799", _edit(9064, 法定代表人证件号码=_resident_id(
        "42990117990101001"))),
    ("party credit code with letters for the division", _edit(
        9065, 行政相对人代码_1=_credit_code("91ABCDEFMA4K00010"))),
    ("party credit code of registration department 0", _edit(
        9066, 行政相对人代码_1=_credit_code("01429900MA4K00010"))),
    ("authority code with letters for the division", _edit(
        9067, 处罚机关统一社会信用代码=_credit_code("1142ABCD030089405"))),
]


#: What exporters get wrong, cell by cell: the core may doubt each, never differ.
_HOSTILE: list[tuple[str, list[str]]] = [
    ("lower party credit code", _edit(9001, 行政相对人代码_1=penalty_row(9001)[2].lower())),
    ("lower authority code", _edit(9002, 处罚机关统一社会信用代码=DEMO_MARKET_UNIT.lower())),
    ("space padding", _edit(9003, 行政相对人名称="  某公司  ", 违法事实=" 事实 ")),
    ("ideographic space padding", _edit(9004, 行政相对人名称="\u3000某公司\u3000")),
    ("fine 1,000", _edit(9005, **{_FINE: "1,000"})),
    ("fine 0.0000001", _edit(9006, **{_FINE: "0.0000001"})),
    ("fine -1", _edit(9007, **{_FINE: "-1"})),
    ("fine 1e2", _edit(9008, **{_FINE: "1e2"})),
    ("fine 100", _edit(9009, **{_FINE: "100"})),
    ("fine 0.000001", _edit(9010, **{_FINE: "0.000001"})),
    ("fine 0.10000000", _edit(9011, **{_FINE: "0.10000000"})),
    ("fine .5", _edit(9012, **{_FINE: ".5"})),
    ("fine 5.", _edit(9013, **{_FINE: "5."})),
    ("fine 0", _edit(9014, **{_FINE: "0"})),
    ("fine 99999999", _edit(9015, **{_FINE: "99999999"})),
    ("fine over the ceiling", _edit(9016, **{_FINE: "100000001"})),
    ("fine padded", _edit(9017, **{_FINE: " 2.01 "})),
    ("fine in full-width digits", _edit(9018, **{_FINE: "２"})),
    ("date with slashes", _edit(9019, 处罚决定日期="2024/03/15")),
    ("date with one digit", _edit(9020, 处罚决定日期="2024-3-5")),
    ("date in 1991 (summer time)", _edit(9021, 处罚决定日期="1991-06-01")),
    ("date in the future", _edit(9022, 处罚决定日期="2099-01-01")),
    ("date before the earliest", _edit(9023, 处罚决定日期="1989-12-31")),
    ("date that does not exist", _edit(9024, 处罚决定日期="2024-02-30")),
    ("validity date with one digit", _edit(9025, 处罚有效期="2024-3-15")),
    ("validity empty", _edit(9026, 处罚有效期="", 公示截止期="")),
    ("category unknown", _edit(9027, 处罚类别="罚款;其它处罚")),
    ("categories empty", _edit(9028, 处罚类别=";;")),
    ("categories padded", _edit(9029, 处罚类别=" 罚款 ; 警告 ;")),
    ("party kind unknown", _edit(9030, 行政相对人类别="其它")),
    ("passport", _edit(9031, natural=True, 证件类型="护照", 证件号码="E1234567")),
    ("other document", _edit(9032, natural=True, 证件类型="军官证", 证件号码="123")),
    ("resident id with a bad check", _edit(9033, natural=True, 证件号码="429901198101010011")),
    ("resident id with x", _edit(9034, natural=True,
                                 证件号码=_resident_id("42990119810101001").lower())),
    ("decision number with spaces", _edit(9035, 行政处罚决定书文号="演示 处罚 9035号")),
    ("quote in a cell", _edit(9036, 备注='他说"好"')),
    ("comma in a cell", _edit(9037, 备注="甲,乙")),
    ("required cell empty", _edit(9038, 违法行为类型="")),
    ("remarks empty", _edit(9039, 备注="")),
    ("backslash", _edit(9040, 行政相对人名称="某\\公司")),
    ("tab in a cell", _edit(9041, 违法事实="甲\t乙")),
    ("outside GBK", _edit(9042, 行政相对人名称="𠮷野家")),
    ("euro sign", _edit(9043, 备注="€")),
    ("private use character", _edit(9044, 备注="\ue5e5")),
    ("no-break space", _edit(9045, 行政相对人名称="\u00a0某公司")),
    ("ideographic space alone", _edit(9046, 备注="\u3000")),
    ("authority code padded", _edit(9047, 处罚机关统一社会信用代码=f" {DEMO_MARKET_UNIT} ")),
    ("a cell too many", [*penalty_row(9048), "x"]),
    ("a cell too few", penalty_row(9049)[:-1]),
    ("representative's id bad", _edit(9050, 法定代表人证件号码="429901198101010011")),
    ("representative's id without type", _edit(9051, 法定代表人证件类型="",
                                                法定代表人证件号码="abc")),
    ("name of spaces", _edit(9052, 行政相对人名称="   ")),
    ("JSON in a cell", _edit(9053, 违法事实='{"a":1}')),
    ("control character", _edit(9054, 备注="a\x01b")),
    ("line break in a cell", _edit(9055, 备注="a\r\nb")),
    ("case number padded", _edit(9056, 行政处罚决定书文号=" 号9056 ")),
    ("authority code with a bad check", _edit(9057,
                                               处罚机关统一社会信用代码="11429901030089405M")),
    ("sole trader placeholder", _edit(9058, 行政相对人代码_1="00000000000000000X",
                                      行政相对人类别="个体工商户")),
    *_IMPOSSIBLE,
    ("representative's id with x", _edit(9070, 法定代表人证件号码=_resident_id(
        _REPRESENTATIVE_X).lower())),
]


#: The exports' encodings the core plans (a declared GBK is read as GB18030; a UTF-8
#: file's BOM is in its header line only).
_ENCODINGS = ["gb18030", "utf-8"]


def _csv_bytes(cells: list[str], encoding: str = "gb18030") -> bytes:
    text = io.StringIO()
    csv.writer(text).writerow(cells)
    return text.getvalue().rstrip("\r\n").encode(encoding)


def _penalty_mapper() -> tuple[Mapper, LocalSerde]:
    config = parse_config({"id": "rowpath-csv", "unit": DEMO_MARKET_UNIT, "kind": "file",
                           "source": {"path": "/nonexistent"}, "preset": "penalty-disclosure",
                           "mapping": {"stream": "rowpath-csv"}})
    mapper = build_mapper(config.mapping, unit=config.unit, connector_id=config.id)
    assert isinstance(mapper, Mapper)
    local = LocalSerde()
    for number, name in enumerate(sorted(mapper.avro_names()), start=101):
        local.bind_writer(name, number)
    return mapper, local


def _items(rows: list[list[str]], encoding: str = "gb18030") -> list[RowItem]:
    parser = CsvRowParser(tuple(PENALTY_HEADER), encoding, ",", 131_072)
    return [(_csv_bytes(row, encoding), f"penalties.csv:{line}", parser)
            for line, row in enumerate(rows, start=2)]


@pytest.fixture(autouse=True)
def _built() -> None:
    assert rowpath.available(), (
        "the native row path is not built: run scripts/build-native.sh (needs Rust's cargo)")


@pytest.mark.parametrize("encoding", _ENCODINGS)
def test_generated_rows_go_through_the_core_with_the_python_bytes(encoding: str) -> None:
    mapper, local = _penalty_mapper()
    items = _items([penalty_row(number, natural_person=number % 5 == 0)
                    for number in range(1, 2001)], encoding)
    native = rowpath.map_native(mapper, local, items, _RECORDED_AT)
    assert native is not None
    assert sum(outcome is None for outcome in native) == 0  # none doubted
    python = _map_python(mapper, local, EventHeaders(), items, _RECORDED_AT)
    assert not any(isinstance(outcome, DeadLetter) for outcome in python)
    assert [tuple(outcome) for outcome in native] == [tuple(outcome) for outcome in python]
    assert map_rows(mapper, local, EventHeaders(), items, _RECORDED_AT) == native


@pytest.mark.parametrize("encoding", _ENCODINGS)
def test_hostile_rows_are_doubted_or_the_same_and_map_rows_equals_python(encoding: str
                                                                         ) -> None:
    mapper, local = _penalty_mapper()
    rows = [row for _, row in _HOSTILE]
    items = _items(rows, encoding)
    native = rowpath.map_native(mapper, local, items, _RECORDED_AT)
    assert native is not None
    python = _map_python(mapper, local, EventHeaders(), items, _RECORDED_AT)
    differing = [name for (name, _), mine, theirs in zip(_HOSTILE, native, python, strict=True)
                 if mine is not None and (isinstance(theirs, DeadLetter)
                                          or tuple(mine) != tuple(theirs))]
    assert differing == []
    doubted = [name for (name, _), mine in zip(_HOSTILE, native, strict=True) if mine is None]
    # Both sides of the path run: rows the core is sure of, and rows it hands back.
    assert 0 < len(doubted) < len(_HOSTILE), doubted
    # Every row a clerk must see in the dead letters is doubted, never mapped.
    refused = {name for (name, _), theirs in zip(_HOSTILE, python, strict=True)
               if isinstance(theirs, DeadLetter)}
    assert refused and refused <= set(doubted)
    assert map_rows(mapper, local, EventHeaders(), items, _RECORDED_AT) == python


def test_identifiers_that_exist_in_no_standard_are_dead_letters_never_core_output() -> None:
    mapper, local = _penalty_mapper()
    items = _items([row for _, row in _IMPOSSIBLE])
    native = rowpath.map_native(mapper, local, items, _RECORDED_AT)
    assert native is not None
    python = _map_python(mapper, local, EventHeaders(), items, _RECORDED_AT)
    accepted = [name for (name, _), theirs in zip(_IMPOSSIBLE, python, strict=True)
                if not isinstance(theirs, DeadLetter)]
    assert accepted == []
    assert native == [None] * len(_IMPOSSIBLE)


def test_switched_off_every_row_maps_in_python(monkeypatch: pytest.MonkeyPatch) -> None:
    mapper, local = _penalty_mapper()
    items = _items([penalty_row(1)])
    monkeypatch.setenv(rowpath.ENVIRONMENT_SWITCH, "off")
    assert not rowpath.enabled()
    assert rowpath.map_native(mapper, local, items, _RECORDED_AT) is None


def test_rows_parsed_already_and_dispatching_mappers_map_in_python() -> None:
    mapper, local = _penalty_mapper()
    parsed: list[tuple[Any, str, Any]] = [
        (dict(zip(PENALTY_HEADER, penalty_row(1), strict=True)), "row 1", None)]
    assert rowpath.map_native(mapper, local, parsed, _RECORDED_AT) is None


def test_a_utf8_row_whose_bytes_are_valid_gb18030_maps_as_utf8() -> None:
    """The trap a review found: every non-ASCII run of this UTF-8 row decodes as GB18030
    too, to other text. The plan carries the file's encoding, so the core reads it as
    Python does."""
    mapper, local = _penalty_mapper()
    row = penalty_row(7)
    for index, text in ((0, "演示县虚构商贸有限公司甲"), (9, "身份证甲"), (13, "决定书号AB7"),
                        (14, "违法经营"), (15, "违法事实"),
                        (16, "中华人民共和国产品质量法第四十九条甲"), (17, "罚款"),
                        (18, "罚款万元")):
        row[index] = text
    raw = _csv_bytes(row, "utf-8")
    raw.decode("gb18030")  # the trap: the UTF-8 bytes are valid GB18030 too
    items: list[RowItem] = [(raw, "export.csv:2",
                             CsvRowParser(tuple(PENALTY_HEADER), "utf-8", ",", 131_072))]
    assert rowpath.covers(mapper, local, items)
    native = rowpath.map_native(mapper, local, items, _RECORDED_AT)
    python = _map_python(mapper, local, EventHeaders(), items, _RECORDED_AT)
    assert native is not None and native[0] is not None
    assert tuple(native[0]) == tuple(python[0])
    assert "演示县虚构商贸有限公司甲".encode() in native[0][1]  # the Avro value's text


#: What a UTF-8 file holds that a GB18030 one cannot: bytes that are not UTF-8, and
#: characters outside the two-byte GB18030 set the core is held to. Doubted or the same.
_UTF8_HOSTILE: list[tuple[str, bytes]] = [
    ("invalid byte", b"\xff"),
    ("truncated sequence", b"\xe6\xbc"),
    ("overlong slash", b"\xc0\xaf"),
    ("encoded surrogate", b"\xed\xa0\x80"),
    ("byte order mark", "\ufeff".encode()),
    ("next line", "\u0085".encode()),
    ("line separator", "\u2028".encode()),
    ("paragraph separator", "\u2029".encode()),
    ("zero-width space", "\u200b".encode()),
    ("Mongolian vowel separator", "\u180e".encode()),
    ("en space", "\u2002".encode()),
    ("Ogham space", "\u1680".encode()),
    ("combining accent", "e\u0301".encode()),
    ("emoji", "\U0001f600".encode()),
    ("supplementary ideograph", "𠮷".encode()),
    ("full-width digit", "２".encode()),
    ("Arabic-Indic digit", "\u0663".encode()),
    ("no-break space", "\u00a0".encode()),
    ("ideographic space", "\u3000".encode()),
    ("private use", "\ue5e5".encode()),
    ("euro sign", "€".encode()),
]


def test_utf8_rows_the_core_cannot_be_sure_of_are_doubted_or_the_same() -> None:
    mapper, local = _penalty_mapper()
    parser = CsvRowParser(tuple(PENALTY_HEADER), "utf-8", ",", 131_072)
    items: list[RowItem] = []
    for number, (_, insert) in enumerate(_UTF8_HOSTILE, start=9100):
        for column in ("行政相对人名称", _FINE, "处罚决定日期", "行政处罚决定书文号"):
            cells = penalty_row(number)
            marker = f"MARK{column}"
            cells[_COLUMN[column]] = cells[_COLUMN[column]] + marker
            raw = _csv_bytes(cells, "utf-8").replace(marker.encode(), insert)
            items.append((raw, f"penalties.csv:{number}:{column}", parser))
        # at the start of the row too (a BOM there is not the file's)
        items.append((insert + _csv_bytes(penalty_row(number), "utf-8"),
                      f"penalties.csv:{number}:start", parser))
    native = rowpath.map_native(mapper, local, items, _RECORDED_AT)
    assert native is not None
    python = _map_python(mapper, local, EventHeaders(), items, _RECORDED_AT)
    differing = [reference for (_, reference, _), mine, theirs in zip(items, native, python,
                                                                      strict=True)
                 if mine is not None and (isinstance(theirs, DeadLetter)
                                          or tuple(mine) != tuple(theirs))]
    assert differing == []
    refused = [reference for (_, reference, _), theirs in zip(items, python, strict=True)
               if isinstance(theirs, DeadLetter)]
    assert refused  # the invalid bytes at least
    assert any(theirs.error_type == "bad_encoding" for theirs in python
               if isinstance(theirs, DeadLetter))
    mapped = [mine for mine in native if mine is not None]
    assert mapped  # the no-break and ideographic spaces, the euro sign
    assert map_rows(mapper, local, EventHeaders(), items, _RECORDED_AT) == python


def test_a_rule_on_a_field_the_event_lacks_maps_in_python() -> None:
    """Python's model refuses the row (a dead letter naming the field); the core would
    have dropped the field from the Avro value and kept it in the content hash."""
    config = parse_config({"id": "rowpath-typo", "unit": DEMO_MARKET_UNIT, "kind": "file",
                           "source": {"path": "/nonexistent"}, "preset": "penalty-disclosure",
                           "mapping": {"stream": "rowpath-typo",
                                       "fields": {"parties.0.bogus": {"column": "备注"}}}})
    mapper = build_mapper(config.mapping, unit=config.unit, connector_id=config.id)
    local = LocalSerde()
    for number, name in enumerate(sorted(mapper.avro_names()), start=101):
        local.bind_writer(name, number)
    items = _items([penalty_row(1)])
    assert rowpath.map_native(mapper, local, items, _RECORDED_AT) is None
    [outcome] = map_rows(mapper, local, EventHeaders(), items, _RECORDED_AT)
    assert isinstance(outcome, DeadLetter)
    assert outcome.field == "parties.0.bogus"


def test_an_export_the_core_mostly_doubts_goes_back_to_the_mapping_processes() -> None:
    """Escaped quotes in a cell are doubted: an export with one on every row would map all
    of it in Python in the connector's own process, slower than in the mapping processes."""
    mapper, local = _penalty_mapper()
    parser = CsvRowParser(tuple(PENALTY_HEADER), "gb18030", ",", 131_072)
    quoted = [(_csv_bytes(_edit(number, 备注='他说"好"')), f"e.csv:{number}", parser)
              for number in range(1, 601)]
    assert rowpath.covers(mapper, local, quoted)  # nothing known of it yet
    native = rowpath.map_native(mapper, local, quoted, _RECORDED_AT)
    assert native is not None and all(outcome is None for outcome in native)
    assert not rowpath.covers(mapper, local, quoted)
    assert map_rows(mapper, local, EventHeaders(), quoted, _RECORDED_AT) == \
        _map_python(mapper, local, EventHeaders(), quoted, _RECORDED_AT)


#: The demo county's 双公示 export (deploy/demo/generate.py): the national columns, then
#: the agencies' additions (offence code, procedure, domain, division, turnover and gains,
#: the quantity triple, enforcement, entry date).
_QUANTITIES = (("卷烟", "1200", "支"), ("危险废物", "3.500", "吨"), ("林木", "12.30", "立方米"),
               ("耕地", "0.50", "亩"), ("", "", ""), ("", "", ""))


def _demo_row(number: int, **cells: str) -> dict[str, str]:
    values = dict(zip(PENALTY_HEADER, penalty_row(number, natural_person=number % 3 == 0),
                      strict=True))
    known = sorted(_known_codes("violation_types"))
    code = "ZZ-RETIRED-0421" if number % 29 == 0 else known[number % len(known)]
    item, amount, unit = _QUANTITIES[number % len(_QUANTITIES)]
    # the decision is 2024-03-15: entered the same day, later, with a time, or (a typing
    # error Python refuses: a dead letter) the day before
    entry = "2024-03-14" if number % 13 == 0 else (
        "2024-03-15", "2024-03-18", "2024-03-19 10:15:00", "2024-03-15 08:00:00",
        "2024-03-20 23:59:59", "")[number % 6]
    status = ("", "未执行", "执行到位")[number % 3]
    values.update({
        "违法行为类型代码": code if number % 7 else "",
        "程序类型": "简易" if number % 4 == 0 else "普通",
        "执法领域": "市场监管",
        "行政区划代码": "421181",
        "违法经营额（万元）": f"{number % 50}.{number % 7}" if number % 2 else "",
        "违法所得（万元）": "0.35" if number % 5 == 1 else "",
        "涉案物品": item, "涉案数量": amount, "数量单位": unit,
        "执行情况": status,
        "执行到位日期": "2024-04-20" if status == "执行到位" else "",
        "录入日期": entry,
        # a thousands separator: the cell is quoted in the CSV
        "处罚内容": f"罚款人民币{number % 90 + 10},{number % 10}00元" if number % 2 else "警告",
        **cells,
    })
    return values


#: Cells the core leaves to Python, or takes only when sure (Python maps or refuses them).
_DEMO_ODD: list[dict[str, str]] = [
    *({"涉案物品": "危险废物", "涉案数量": value, "数量单位": "吨"} for value in (
        "1,200", "3.5e2", "-1", "１２", " 7 ", "0.0000000000000000000001", "0", "0.000",
        "100.0", "000.500", "+5", ".5", "5.", "12345678901234567890", "1_000", "NaN")),
    {"涉案物品": "危险废物", "涉案数量": "", "数量单位": "吨"},
    {"涉案物品": "", "涉案数量": "3", "数量单位": "吨"},
    {"涉案物品": "危险废物", "涉案数量": "3", "数量单位": ""},
    *({"录入日期": value} for value in (
        "2024/03/18", "2024-03-18T10:15:00", "2024-3-18", "20240318", "2024-03-18 10:15",
        "2024-03-18 24:00:00", "2024-03-18 10:60:00", "2024-03-18 10:15:60", "1991-06-01",
        "1989-12-31", "2024-02-30", "2024-03-18 10:15:00.5", "2024-03-18 10:15:00+08:00",
        "2024-03-14 23:59:59", "2024-03-15 00:00:00", "2024-03-15 07:59:59",
        "2099-12-31 23:59:59",
        "2024年03月18日", " 2024-03-18 ", "2024/03/18", "2024/03/18 10:15:00", "2024/3/18",
        "2024/03/14", "2024/02/30", "2024/03/18T10:15:00", "2024-03/18")),
    # the tobacco and forestry bureaus' dates: 2024/03/15
    {"处罚决定日期": "2024/03/15", "处罚有效期": "2025/03/15", "公示截止期": "2027/03/15"},
    {"处罚决定日期": "2024/03/15", "录入日期": "2024/03/15"},
    {"处罚决定日期": "2024/03/19", "录入日期": "2024/03/18"},
    {"处罚决定日期": "2024/3/15"},
    # division codes of no province, or not in ASCII digits: refused by Python
    {"行政区划代码": "990000"}, {"行政区划代码": "100000"}, {"行政区划代码": "４２１１８１"},
    {"行政区划代码": "710000"},
    *({"违法行为类型代码": value} for value in (
        "env-hazardous-waste", " ENV-HAZARDOUS-WASTE ", "MR", "ENV-HAZARDOUS-WASTE;")),
]


@pytest.mark.parametrize("encoding", _ENCODINGS)
@pytest.mark.parametrize("variant", ["domain", "template-2021"])
def test_the_demo_export_goes_through_the_core_with_the_python_bytes(variant: str,
                                                                     encoding: str) -> None:
    """The demo county's export shape: entry date (a date-time, held after the decision
    date), offence codes from the code list, quantities (a second list of records, an
    exact decimal) and the agencies' other columns are planned, not left to Python."""
    from deploy.demo.generate import PENALTY_COLUMNS, PENALTY_COLUMNS_TEMPLATE_2021

    mapper, local = _penalty_mapper()
    rows = [_demo_row(number) for number in range(1, 1201)]
    # each odd cell in a row that is otherwise mapped (entered later, a known code)
    rows += [_demo_row(5000 + number, **{"录入日期": "2024-03-18",
                                         "违法行为类型代码": "ENV-HAZARDOUS-WASTE", **cells})
             for number, cells in enumerate(_DEMO_ODD)]
    header = PENALTY_COLUMNS if variant == "domain" else PENALTY_COLUMNS_TEMPLATE_2021
    parser = CsvRowParser(tuple(header), encoding, ",", 131_072)
    items: list[RowItem] = [
        (_csv_bytes([row[name] for name in PENALTY_COLUMNS], encoding),
         f"penalties_202403.csv:{line}", parser) for line, row in enumerate(rows, start=2)]
    # quoting as exporters write it, well and badly (the remarks cell is 虚构数据)
    plain = _csv_bytes([_demo_row(6000, 录入日期="2024-03-18")[name]
                        for name in PENALTY_COLUMNS], encoding)
    assert ",虚构数据,".encode(encoding) in plain
    for number, quoted in enumerate(('"虚构,数据"', '"虚构""数据"', '"虚构"数据', ' "虚构"',
                                     '虚构"数据', '""', '"虚构数据', '"', '"虚构数据" ',
                                     '"a""', '"""'), start=2):
        raw = plain.replace(",虚构数据,".encode(encoding), f",{quoted},".encode(encoding))
        items.append((raw, f"penalties_202403.csv:quoted {number}", parser))
    items.append((plain.replace(b",2024-03-18", b',"2024-03-18"'), "quoted last", parser))
    items.append((plain.replace(b",2024-03-18", b',"2024-03-18"\r\n'), "quoted, CRLF", parser))
    native = rowpath.map_native(mapper, local, items, _RECORDED_AT)
    assert native is not None  # the export is planned
    python = _map_python(mapper, local, EventHeaders(), items, _RECORDED_AT)
    refused = [index for index, theirs in enumerate(python) if isinstance(theirs, DeadLetter)]
    reasons = {python[index].error_type for index in refused}  # type: ignore[union-attr]
    assert {"implausible_order", "unknown_code"} <= reasons
    differing = [index for index, (mine, theirs) in enumerate(zip(native, python, strict=True))
                 if mine is not None and (isinstance(theirs, DeadLetter)
                                          or tuple(mine) != tuple(theirs))]
    assert differing == []
    doubted = [index for index, mine in enumerate(native) if mine is None]
    assert set(refused) <= set(doubted)
    # the generated rows: only those Python refuses are doubted
    assert [index for index in doubted if index < 1200] == [
        index for index in refused if index < 1200]
    assert len(doubted) < 0.15 * len(items), (len(doubted), len(refused))
    assert map_rows(mapper, local, EventHeaders(), items, _RECORDED_AT) == python


_DEMO_HOSTILE = st.sampled_from([
    "", " ", "　", "无", "-1", "0", "00.10", "1,5", "1e3", "１２", "0.000001", "2024-02-29",
    "2024-03-14", "2024-03-15", "2024-03-16 00:00:00", "2024-03-15 07:59:59",
    "2024-03-14 23:59:59", "2024-03-15T08:00:00", "2024-03-15 08:00", "1991-12-31 23:59:59",
    "1992-01-01 00:00:00", "2024-13-01", "2099-12-31", "ENV-HAZARDOUS-WASTE",
    "env-hazardous-waste", "TOB-UNLICENSED-RETAIL;", "执行到位", "部分执行", "简易", "429901",
    "001234", "危险废物", "吨", "x" * 40, "甲,乙", "2024/03/16", "2024/03/14 08:00:00",
    '他说"好"', '"', ",", '"甲,乙"',
])


@settings(deadline=None, max_examples=80, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(1, 10**6),
                          st.lists(st.tuples(st.integers(0, 47), _DEMO_HOSTILE), max_size=3)),
                min_size=1, max_size=12), st.sampled_from(_ENCODINGS))
def test_hostile_cells_of_the_demo_export_are_doubted_or_the_same(
        rows: list[tuple[int, list[tuple[int, str]]]], encoding: str) -> None:
    from deploy.demo.generate import PENALTY_COLUMNS

    mapper, local = _penalty_mapper()
    parser = CsvRowParser(tuple(PENALTY_COLUMNS), encoding, ",", 131_072)
    items: list[RowItem] = []
    for line, (number, mutations) in enumerate(rows, start=2):
        cells = [_demo_row(number)[name] for name in PENALTY_COLUMNS]
        for column, value in mutations:
            cells[column % len(cells)] = value
        items.append((_csv_bytes(cells, encoding), f"penalties.csv:{line}", parser))
    native = rowpath.map_native(mapper, local, items, _RECORDED_AT)
    assert native is not None
    python = _map_python(mapper, local, EventHeaders(), items, _RECORDED_AT)
    for mine, theirs in zip(native, python, strict=True):
        if mine is not None:
            assert not isinstance(theirs, DeadLetter)
            assert tuple(mine) == tuple(theirs)
    assert map_rows(mapper, local, EventHeaders(), items, _RECORDED_AT) == python


def test_a_first_party_check_on_another_list_is_not_planned() -> None:
    """The core checks the first party's name on the field named ``parties``: a model
    whose check names another list maps in Python, never checked on the wrong field."""
    from pydantic import BaseModel, field_validator

    from connectors.rowpath.plan import Unsupported, _fields

    class Listed(BaseModel):
        parties: list[str] = []
        witnesses: list[str] = []

        @field_validator("witnesses")
        @classmethod
        def _first_party_is_named(cls, value: list[str]) -> list[str]:
            return value

    with pytest.raises(Unsupported, match="witnesses"):
        _fields({"fields": []}, Listed, {})
    mapper, _ = _penalty_mapper()
    assert _fields({"fields": []}, mapper.model, {}) == []  # the real models: planned


_AMOUNTS = ["违法经营额（万元）", "货值金额（万元）"]


@pytest.mark.parametrize(("turnover", "goods"), [
    ("", "14"), ("3.5", "14"), ("3.5", ""), ("", ""),
])
def test_rows_read_before_goods_value_had_its_own_field_keep_their_event_ids(
        turnover: str, goods: str) -> None:
    """货值金额 used to fill illegal_turnover_fen; split off into goods_value_fen, it is
    hashed as before (``hash_as``): a cumulative export read again after the upgrade is
    no correction of every row with a goods value. Both paths, same ids."""
    config = parse_config({"id": "rowpath-csv", "unit": DEMO_MARKET_UNIT, "kind": "file",
                           "source": {"path": "/nonexistent"}, "preset": "penalty-disclosure",
                           "mapping": {"stream": "rowpath-csv"}})
    spec = config.mapping
    legacy_fields = {name: rule for name, rule in spec.fields.items()
                     if name != "goods_value_fen"}
    legacy_fields["illegal_turnover_fen"] = FieldRule(columns=tuple(_AMOUNTS),
                                                      convert="wan_yuan_to_fen")
    mappers = {version: build_mapper(mapping, unit=config.unit, connector_id=config.id)
               for version, mapping in [("now", spec), ("before", spec.model_copy(
                   update={"fields": legacy_fields}))]}
    header = (*PENALTY_HEADER, *_AMOUNTS)
    parser = CsvRowParser(header, "gb18030", ",", 131_072)
    items: list[RowItem] = [(_csv_bytes([*penalty_row(7001), turnover, goods]),
                             "penalties.csv:2", parser)]
    ids = {}
    for version, mapper in mappers.items():
        assert isinstance(mapper, Mapper)
        local = LocalSerde()
        for number, name in enumerate(sorted(mapper.avro_names()), start=101):
            local.bind_writer(name, number)
        [python] = _map_python(mapper, local, EventHeaders(), items, _RECORDED_AT)
        assert not isinstance(python, DeadLetter)
        ids[version] = python[3]  # (key, value, headers, event id, partition hash)
        if version == "now":
            native = rowpath.map_native(mapper, local, items, _RECORDED_AT)
            assert native is not None and native[0] is not None  # not doubted
            assert tuple(native[0]) == tuple(python)
            event = mapper.event(parser.parse(items[0][0]), "penalties.csv:2", _RECORDED_AT)
            assert event.goods_value_fen == (14_000_000 if goods else None)  # 14 万元
            assert event.illegal_turnover_fen == (3_500_000 if turnover else None)
    assert ids["now"] == ids["before"]

"""Where a CSV export's records end (``connectors.kinds.file.iter_csv_records``): as the
csv module reads the file, so that a quote inside an unquoted cell (an inch mark) does not
join the rows after it into one refused record, while a quoted cell may still hold line
breaks."""

from __future__ import annotations

import csv
import io

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.kinds.file import iter_csv_records


def _records(data: bytes, delimiter: bytes = b",", encoding: str = "utf-8") -> list[bytes]:
    return [raw for raw, _ in iter_csv_records(io.BytesIO(data), 0, None, delimiter,
                                               encoding)]


def _rows(text: str, delimiter: str = ",") -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def test_an_inch_mark_in_an_unquoted_cell_ends_with_its_row() -> None:
    text = '甲,没收27"显示器一台,丙\r\n乙,二,三\r\n丁,四,五\r\n'
    records = _records(text.encode("gb18030"))
    assert len(records) == 3
    assert [_rows(raw.decode("gb18030"))[0] for raw in records] == _rows(text)


def test_a_quoted_cell_holds_line_breaks_and_doubled_quotes() -> None:
    text = '1,"第一行\r\n第二行",x\r\n2,"他说""好""\n再见",y\r\n3,"",z\r\n'
    records = _records(text.encode("utf-8"))
    assert len(records) == 3
    assert [_rows(raw.decode())[0] for raw in records] == _rows(text)


def test_a_quote_after_a_closing_quote_or_a_space_opens_nothing() -> None:
    text = '1,"a"b"c,x\r\n2, "d,y\r\n3,e,z\r\n'
    records = _records(text.encode())
    assert len(records) == 3
    assert [_rows(raw.decode())[0] for raw in records] == _rows(text)


def test_another_delimiter() -> None:
    text = 'a\t"b\nc"\td\r\ne\tf"g\th\r\n'
    records = _records(text.encode(), b"\t")
    assert [_rows(raw.decode(), "\t")[0] for raw in records] == _rows(text, "\t")


def test_a_gbk_character_ending_in_the_delimiters_byte_opens_no_quoted_cell() -> None:
    """亅 is 0x81 0x7C in GBK: its second byte is ``|``. Followed by an inch mark it is
    not a delimiter and a quote."""
    text = 'a|b\n1|型亅"27寸\n2|x\n3|y\n'
    data = text.encode("gb18030")
    assert b'|"' in data
    records = _records(data, b"|", "gb18030")
    assert [_rows(raw.decode("gb18030"), "|")[0] for raw in records] == _rows(text, "|")
    quoted = 'a|"第一行\n第二行"|c\nd|e|f\n'  # a quoted cell still holds line breaks
    assert len(_records(quoted.encode("gb18030"), b"|", "gb18030")) == 2


_CELL = st.text(alphabet=['a', '中', ',', '"', '\n', ' ', '\r'], max_size=8)
#: Cells exporters write unquoted: a quote may stand inside, never first.
_RAW_CELL = st.text(alphabet=['b', '文', '"', ' '], max_size=6).filter(
    lambda cell: not cell.startswith('"'))


@settings(max_examples=300)
@given(st.lists(st.lists(st.one_of(st.tuples(st.just("quoted"), _CELL),
                                   st.tuples(st.just("raw"), _RAW_CELL)),
                         min_size=1, max_size=5), min_size=1, max_size=6))
def test_records_are_the_csv_modules_rows(rows: list[list[tuple[str, str]]]) -> None:
    """Rows written by the csv module (quoting as needed) mixed with cells written as
    they are: each record the splitter finds parses to the row the csv module reads
    from the whole file at that place."""
    out = io.StringIO()
    for row in rows:
        cells = []
        for kind, value in row:
            if kind == "quoted":
                buffer = io.StringIO()
                csv.writer(buffer).writerow([value])  # quoted when it holds \r or \n
                cells.append(buffer.getvalue().removesuffix("\r\n"))
            else:
                cells.append(value)
        out.write(",".join(cells) + "\r\n")
    text = out.getvalue()
    expected = _rows(text)
    records = _records(text.encode("utf-8"))
    assert [_rows(raw.decode("utf-8")) for raw in records] == [[row] for row in expected]

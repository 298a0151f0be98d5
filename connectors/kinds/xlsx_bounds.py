"""A bound on what openpyxl holds while it parses a sheet.

openpyxl's read-only mode streams a sheet row by row, but the XML parser builds each
``<row>`` whole before openpyxl sees it: a 5.8 MB file holding one row of a million
cells took 750 MB and a 23 MB one ~3 GB, past a container's memory limit. Killed, the
connector starts again on the same file and the unit's feed stops for good. Elements
that are no row's (between rows, or after the sheet data) stay in the tree until the
sheet ends, so they are bounded too.

The parser openpyxl's sheet reader uses is wrapped to see where each element starts:

- in a row: at most :data:`MAX_ELEMENTS_PER_ROW` (a real row has at most 16,384 cells,
  column XFD, each a few elements), counted as they start, so a wide row is refused
  before it is built;
- outside the rows, before the sheet data ends: :data:`MAX_ELEMENTS_OUTSIDE_ROWS` in
  all (a sheet's views and up to 16,384 column widths; nothing between rows);
- after the sheet data (merged ranges, hyperlinks, conditional formats):
  :data:`MAX_ELEMENTS_AFTER_DATA` in all, one per row of a full sheet.

openpyxl asks for end events only; the wrapper reads start events too and hands it only
what it asked for. It costs a comparison or two per element, against the ~5 µs openpyxl
spends per cell.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from connectors.kinds.dropfolder import FileRejected

__all__ = ["MAX_ELEMENTS_AFTER_DATA", "MAX_ELEMENTS_OUTSIDE_ROWS", "MAX_ELEMENTS_PER_ROW",
           "bound_openpyxl_rows"]

#: Excel's columns per row (16,384) times the elements a cell can take, with room.
MAX_ELEMENTS_PER_ROW = 16_384 * 8
#: Elements outside rows before the sheet data ends, in all.
MAX_ELEMENTS_OUTSIDE_ROWS = 16_384 * 8
#: Elements after the sheet data, in all: one per row of a full sheet (1,048,576).
MAX_ELEMENTS_AFTER_DATA = 1_048_576

_Parse = Callable[..., Iterator[tuple[str, Any]]]


def _refused(reason: str) -> FileRejected:
    return FileRejected(f"{reason}: not a sheet any spreadsheet program writes",
                        error_type="row_too_wide")


def _bounded(parse: _Parse, row_tag: str, data_tag: str) -> _Parse:
    def bounded_iterparse(source: Any, events: Any = None, *args: Any, **kwargs: Any
                          ) -> Iterator[tuple[str, Any]]:
        wanted = frozenset(events or ("end",))
        in_row = after_data = False
        row_elements = outside = trailing = 0
        for event, element in parse(source, ("start", "end"), *args, **kwargs):
            tag = element.tag
            if event == "start":
                if in_row:
                    row_elements += 1
                    if row_elements > MAX_ELEMENTS_PER_ROW:
                        raise _refused(f"more than {MAX_ELEMENTS_PER_ROW:,} XML elements in "
                                       "one row (a sheet row has at most 16,384 cells)")
                elif tag == row_tag:
                    in_row, row_elements = True, 0
                elif after_data:
                    trailing += 1
                    if trailing > MAX_ELEMENTS_AFTER_DATA:
                        raise _refused(f"more than {MAX_ELEMENTS_AFTER_DATA:,} XML elements "
                                       "after the sheet's rows")
                else:
                    outside += 1
                    if outside > MAX_ELEMENTS_OUTSIDE_ROWS:
                        raise _refused(f"more than {MAX_ELEMENTS_OUTSIDE_ROWS:,} XML "
                                       "elements outside the sheet's rows")
            elif tag == row_tag:
                in_row = False
            elif tag == data_tag:
                after_data = True
            if event in wanted:
                yield event, element

    bounded_iterparse.liangfa_bounded = True  # type: ignore[attr-defined]
    return bounded_iterparse


def bound_openpyxl_rows() -> None:
    """Wrap the parser openpyxl's sheet reader uses (once per process; idempotent).

    openpyxl binds ``iterparse`` in its reader module at import, so that name is the one
    to replace. ``tests/unit/test_connector_hostile_files.py`` holds the seam: a wide row
    is refused on the openpyxl the project installs, a sheet of many merged ranges is
    read."""
    from openpyxl.worksheet import _reader
    from openpyxl.xml.constants import SHEET_MAIN_NS

    if not getattr(_reader.iterparse, "liangfa_bounded", False):
        _reader.iterparse = _bounded(_reader.iterparse, f"{{{SHEET_MAIN_NS}}}row",
                                     f"{{{SHEET_MAIN_NS}}}sheetData")

"""A bound on what openpyxl holds while it parses one row of a sheet.

openpyxl's read-only mode streams a sheet row by row, but the XML parser builds each
``<row>`` whole before openpyxl sees it: a 5.8 MB file holding one row of a million
cells took 750 MB and a 23 MB one ~3 GB, past a container's memory limit. Killed, the
connector starts again on the same file and the unit's feed stops for good. A row of a
real sheet has at most 16,384 cells (column XFD, the format's limit), each a few
elements (``<c>``, ``<v>``, ``<is>``, ``<t>``, ``<f>``), so the parser is wrapped to
refuse a file once more elements than that end without a row ending; that also bounds
elements piled up between rows or after the sheet data. The check costs one comparison
per element, against the ~5 µs openpyxl spends per cell.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from connectors.kinds.dropfolder import FileRejected

__all__ = ["MAX_ELEMENTS_PER_ROW", "bound_openpyxl_rows"]

#: Excel's columns per row (16,384) times the elements a cell can take, with room.
MAX_ELEMENTS_PER_ROW = 16_384 * 8
_ROW_TAG = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}row"

_Parse = Callable[..., Iterator[tuple[str, Any]]]


def _bounded(parse: _Parse) -> _Parse:
    def bounded_iterparse(source: Any, *args: Any, **kwargs: Any
                          ) -> Iterator[tuple[str, Any]]:
        ended = 0
        for event, element in parse(source, *args, **kwargs):
            if element.tag == _ROW_TAG:
                ended = 0
            else:
                ended += 1
                if ended > MAX_ELEMENTS_PER_ROW:
                    raise FileRejected(
                        f"more than {MAX_ELEMENTS_PER_ROW:,} XML elements in one row or "
                        "between two rows (a sheet row has at most 16,384 cells): not a "
                        "sheet any spreadsheet program writes", error_type="row_too_wide")
            yield event, element

    bounded_iterparse.liangfa_bounded = True  # type: ignore[attr-defined]
    return bounded_iterparse


def bound_openpyxl_rows() -> None:
    """Wrap the parser openpyxl's sheet reader uses (once per process; idempotent).

    openpyxl binds ``iterparse`` in its reader module at import, so that name is the one
    to replace. ``tests/unit/test_connector_hostile_xlsx.py`` holds the seam: a wide row
    is refused on the openpyxl the project installs."""
    from openpyxl.worksheet import _reader

    if not getattr(_reader.iterparse, "liangfa_bounded", False):
        _reader.iterparse = _bounded(_reader.iterparse)

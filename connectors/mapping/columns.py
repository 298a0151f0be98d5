"""Header matching: an export's headers, as people write them, become the mapping's columns.

Apart from the rules because it is decided once per distinct header set, not per row:
the mapper asks :class:`ColumnMatcher` for the renames of an export's headers when it
first sees them and compiles its rules for those headers (a header plan), or renames
each row with the remembered answer when there are too many header sets to compile.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

__all__ = ["ColumnMatcher", "normalize_header"]

_BRACKETED = re.compile(r"\(([^()]*)\)$")
_SPACE = re.compile(r"\s+")
_MISSING: Any = object()
_MATCH_CACHE_LIMIT = 1024


def normalize_header(header: str) -> str:
    """A header as people write it, reduced to one spelling: NFKC (full-width brackets,
    letters, digits and spaces become half-width), whitespace removed, lower case."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", header)).casefold()


def _without_description(normalized: str) -> str | None:
    """``行政相对人代码_1(统一社会信用代码)`` → ``行政相对人代码_1``; ``None`` when there is no
    bracketed tail, or when the bracket holds a unit of money (``罚款金额(元)`` must never
    match ``罚款金额`` read in 万元: a factor of 10,000)."""
    match = _BRACKETED.search(normalized)
    if match is None or "元" in match.group(1):
        return None
    return normalized[:match.start()] or None


class ColumnMatcher:
    """Finds the mapping's columns in a source's headers as people write them.

    An export's header may differ from the preset's spelling by full- or half-width
    brackets, spaces, or a description in brackets (``行政相对人代码_1（统一社会信用代码）``
    for ``行政相对人代码_1``). A header that is not one of the wanted columns is renamed to
    the one wanted column it matches after :func:`normalize_header`, or, failing that,
    without its bracketed description; a header matching none or several is left as it
    is (and listed as unused by the dry run). Synonyms are data: more ``columns`` in the
    preset. Decided once per distinct header set, so a row costs one dictionary look-up.
    """

    def __init__(self, wanted: set[str]) -> None:
        self.wanted = frozenset(wanted)
        self._by_form: dict[str, set[str]] = {}
        for column in wanted:
            normalized = normalize_header(column)
            for form in (normalized, _without_description(normalized)):
                if form:
                    self._by_form.setdefault(form, set()).add(column)
        self._rows: dict[tuple[str, ...], dict[str, str] | None] = {}

    def renames(self, headers: tuple[str, ...]) -> dict[str, str]:
        """Header → wanted column, for the headers that need renaming."""
        present = {h for h in headers if h in self.wanted}
        renames: dict[str, str] = {}
        for header in headers:
            if header in self.wanted or not isinstance(header, str):
                continue
            normalized = normalize_header(header)
            for form in (normalized, _without_description(normalized)):
                candidates = self._by_form.get(form or "", set()) - present
                if len(candidates) == 1:
                    target = next(iter(candidates))
                    if target not in renames.values():
                        renames[header] = target
                    break
        return renames

    def resolve(self, row: Mapping[str, Any]) -> Mapping[str, Any]:
        """The row under the mapping's column names (the same row when nothing differs)."""
        headers = tuple(row)
        renames = self._rows.get(headers, _MISSING)
        if renames is _MISSING:
            renames = self.renames(headers) or None
            if len(self._rows) < _MATCH_CACHE_LIMIT:
                self._rows[headers] = renames
        if renames is None:
            return row
        return {renames.get(key, key): value for key, value in row.items()}

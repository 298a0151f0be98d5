"""Case search (案件查询) and the case finder of manual feedback matching.

A prosecutor searches by what the paper in front of them says, rarely all of it: part
of a document number ("2024 第123号", "123号"), written with whichever brackets the
agency used (〔2024〕, [2024], （2024）, (2024)) and full- or half-width digits, or part
of a company's name. So a number matches when its search key
(:func:`hub.view.keys.number_key`, stored beside it) contains the typed text's key, a
name when it contains the typed text; an identifier (credit code, resident ID) is still
matched whole, through its index, since part of one names nobody.

Cost: a whole number or name, or its beginning, is a range of its (key, case) index and
costs what the exact match did (under 1 ms at 200,000 cases on SQLite). Text inside one
has no B-tree range: when nothing begins with it, its cases are looked up in a trigram
index (:mod:`hub.view.trigrams`: pg_trgm on PostgreSQL, an FTS5 table on SQLite), and
only text shorter than three characters, or a store where that index could not be made,
reads the whole (key, case) index (:class:`_Match`; hub/view/README.md, "Case search by
part of a number or name").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, or_, select, union, union_all
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session, aliased

from hub.identity import identifier_key
from hub.view.keys import contains_pattern, name_key, number_key
from hub.view.queries import Scope
from hub.view.schemas import CasePage, CaseSummary
from hub.view.store import CaseNumberRow, CasePartyRow, CaseRow, CaseUnitRow
from hub.view.trigrams import NUMBER_KEYS, PARTY_NAMES

__all__ = ["CaseFilters", "find_cases", "plan_cursors_for_every_row", "search_cases"]


@dataclass(frozen=True, slots=True)
class CaseFilters:
    """The filters of a case search (案件查询). Empty fields do not filter.

    ``party``: part of a party's name, or a whole credit code or resident ID.
    ``case_number``: part of any document or case number of the case, in any bracket
    style and width."""

    unit_code: str | None = None
    stage: str | None = None
    decided_from: date | None = None
    decided_to: date | None = None
    violation_type: str | None = None
    amount_min_fen: int | None = None
    amount_max_fen: int | None = None
    party: str | None = None
    case_number: str | None = None


#: At most this many case ids found by a number or name are handed to the page and
#: count queries as a list (SQLite takes 32,766 parameters a statement).
_MAX_LISTED = 10_000


#: Above every character: ``text`` + this bounds the B-tree range of the texts that
#: begin with ``text``.
_LAST_CHARACTER = "\U0010ffff"


def _beginning_with(column: Any, text: str) -> Any:
    """``column`` begins with ``text``: a range of its index (a seek and a short walk),
    the LIKE keeping the range to true prefixes whatever the collation."""
    return (column >= text) & (column < text + _LAST_CHARACTER) & column.like(
        contains_pattern(text)[1:], escape="\\")


@dataclass(frozen=True, slots=True)
class _Finder:
    """How the cases a number or name names are found in one tier: ``listing``, read
    until more than the listed limit are seen; and when they are more, ``holds``, the
    condition that a case the page walks is among them, tested case by case (an EXISTS
    on the case's own numbers or parties, through their ``case_id`` index), and
    ``complete``, the whole set gathered once (a scan of the (key, case) index: cheaper
    than every posting of a common text in the trigram index)."""

    listing: Select[str]
    holds: Callable[[Any], ColumnElement[bool]]
    complete: Select[str]


def _tiers(beginning: Select[str], anywhere: Select[str], trigram: Select[str] | None,
           holds: tuple[Callable[[Any], ColumnElement[bool]],
                        Callable[[Any], ColumnElement[bool]]]) -> tuple[_Finder, _Finder]:
    """The two tiers' finders: the range, and the trigram lookup (or the scan) listing
    with the scan for the set; each with its case-by-case condition."""
    return (_Finder(beginning, holds[0], beginning),
            _Finder(trigram if trigram is not None else anywhere, holds[1], anywhere))


def _cases_by_number(session: Session, text: str) -> tuple[_Finder, _Finder] | None:
    """The finders of the cases with a number whose key begins with ``text``'s (the
    whole number, or its first part: a range of the (key, case) index) and of those with
    one containing it (the trigram index, :mod:`hub.view.trigrams`, or a scan); None:
    nothing to look for, as when only brackets or spaces were typed.

    Not DISTINCT, nor is the party query a UNION: SQLite would then read the numbers in
    case order, a table lookup each, or gather every match before the first one is
    returned; a case named twice is listed twice and :func:`_resolve` drops the copy."""
    key = number_key(text)
    if not key:
        return None
    beginning = _beginning_with(CaseNumberRow.number_key, key)
    anywhere = CaseNumberRow.number_key.like(contains_pattern(key), escape="\\")
    return _tiers(
        select(CaseNumberRow.case_id).where(beginning),
        select(CaseNumberRow.case_id).where(anywhere),
        NUMBER_KEYS.containing(session, key),
        (_holding(CaseNumberRow.case_id, beginning), _holding(CaseNumberRow.case_id, anywhere)))


def _cases_by_party(session: Session, text: str) -> tuple[_Finder, _Finder]:
    """The finders of the cases with a party whose name begins with ``text`` or whose
    identifier is ``text`` (keyed as the store keys identifiers), each from its index by
    a range or a seek; and of those with a party whose name contains ``text``, by the
    trigram index or a scan of the (name key, case) index. Names are compared by their
    key (:func:`hub.view.keys.name_key`: （集团） and (集团) are one spelling)."""
    key = name_key(text)
    beginning = _beginning_with(CasePartyRow.name_key, key)
    identifier = CasePartyRow.identifier == identifier_key(text)
    anywhere = CasePartyRow.name_key.like(contains_pattern(key), escape="\\")
    return _tiers(union_all(
        select(CasePartyRow.case_id).where(beginning),
        select(CasePartyRow.case_id).where(identifier),
    ).subquery().select(),
        select(CasePartyRow.case_id).where(anywhere),
        PARTY_NAMES.containing(session, key),
        (_holding(CasePartyRow.case_id, or_(beginning, identifier)),
         _holding(CasePartyRow.case_id, anywhere)))


def _holding(case_column: Any, condition: ColumnElement[bool]
             ) -> Callable[[Any], ColumnElement[bool]]:
    """The condition that a driving row's case has a row of ``case_column``'s table
    meeting ``condition``: an EXISTS correlated on the case, which SQLite answers through
    that table's ``case_id`` index for each case the page walks."""
    def holds(case_id: Any) -> ColumnElement[bool]:
        return exists().where(case_column == case_id, condition)
    return holds


@dataclass(frozen=True, slots=True)
class _Match:
    """The cases a number or party filter names, as the page and count queries use it.

    Finding them may read a whole index (part of a text has no range) or long posting
    lists of a trigram index, so when they are few (``ids``: at most :data:`_MAX_LISTED`)
    that is done once and the page and the count look them up by primary key. When they
    are more, looking each up and sorting them all costs more than walking the page's
    driving index in result order, which stops at the page's end. On SQLite the page
    walks first the newest :data:`_WINDOW` cases (under every other filter) testing each
    with ``holds``: a text in half the cases fills its page within a few dozen probes,
    where gathering its set first cost 0.2 s at 200,000 cases and grows with the table
    (PostgreSQL gathers the set at once, faster there: :func:`_in_window`). When
    the window does not fill the page (a year typed, 〔2024〕, while the newest cases are
    of 2025), and for the count, the walk keeps the cases of the set ``cases`` gathers
    once (``case_id || ''`` is an expression no index serves, or SQLite would look each
    match up), testing each in memory."""

    ids: Sequence[str] | None
    holds: Callable[[Any], ColumnElement[bool]]
    cases: Select[str]

    def condition(self, case_id: Any, *, probed: bool = False) -> Any:
        """The WHERE condition on the driving table's ``case_id`` column; ``probed``: each
        case tested by its own rows (the page's window) rather than against the set."""
        if self.ids is not None:
            return case_id.in_(self.ids)
        if probed:
            return self.holds(case_id)
        return case_id.concat("").in_(self.cases)


#: The newest cases a page walks testing each for a common text, before it gathers the
#: text's whole set (:class:`_Match`): at most ~10 ms of probes on SQLite.
_WINDOW = 500


#: The two tiers of a number or name match: what begins with the text (a range of an
#: index), and what holds it anywhere (a scan of it).
_BEGINNING, _ANYWHERE = 0, 1


def _matches(session: Session, filters: CaseFilters, listed: int, tier: int) -> list[_Match]:
    """The number and party filters of ``filters`` in one tier, each resolved by one
    range of an index (``_BEGINNING``), or a trigram lookup or one scan (``_ANYWHERE``)."""
    found = [_cases_by_number(session, filters.case_number or "")]
    party = (filters.party or "").strip()
    if party:
        found.append(_cases_by_party(session, party))
    return [_resolve(session, pair[tier], listed) for pair in found if pair is not None]


def plan_cursors_for_every_row(session: Session) -> None:
    """On PostgreSQL, plan this transaction's cursors for reading every row they find.

    A streamed read (``yield_per``) is a server-side cursor, which PostgreSQL plans for
    its first tenth of rows by default (``cursor_tuple_fraction``): a sequential scan,
    whose first rows come at once, then beats the trigram index, and a search for text
    inside a number read the whole table (200,000 numbers in a test). The finder reads its
    cursor to the end, or to 10,001 cases, so it is planned for that."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sql_text("SET LOCAL cursor_tuple_fraction = 1.0"))


def _resolve(session: Session, finder: _Finder, listed: int) -> _Match:
    """The cases ``finder`` lists, listed when at most ``listed`` distinct ones (a case
    named by several numbers comes once per number: the read goes on until ``listed``
    distinct cases are passed, so three numbers a case do not make "more than")."""
    distinct: dict[str, None] = {}
    plan_cursors_for_every_row(session)
    result = session.scalars(finder.listing.execution_options(yield_per=2_000))
    try:
        for case_id in result:
            distinct[case_id] = None
            if len(distinct) > listed:
                return _Match(None, finder.holds, finder.complete)
    finally:
        result.close()
    return _Match(list(distinct), finder.holds, finder.complete)


def _conditions(filters: CaseFilters, units: list[str], matches: list[_Match], *,
                probed: bool = False) -> tuple[list[Any], bool]:
    """WHERE conditions of a search, and whether any needs a column of ``view_cases``.

    With a unit filter the search is driven from ``view_case_units`` (decision date and
    stage are copied there), otherwise from ``view_cases``.
    """
    driver: Any = CaseUnitRow if units else CaseRow
    conditions: list[Any] = []
    if units:
        conditions.append(CaseUnitRow.unit_code == units[0])
        for other in units[1:]:
            if other != units[0]:
                also = aliased(CaseUnitRow)
                conditions.append(
                    exists().where(also.case_id == CaseUnitRow.case_id, also.unit_code == other)
                )
    if filters.stage:
        conditions.append(driver.stage == filters.stage)
    if filters.decided_from:
        conditions.append(driver.decided_on >= filters.decided_from)
    if filters.decided_to:
        conditions.append(driver.decided_on <= filters.decided_to)
    conditions += [match.condition(driver.case_id, probed=probed) for match in matches]
    needs_cases = False
    if filters.violation_type:
        conditions.append(CaseRow.violation_type == filters.violation_type)
        needs_cases = True
    if filters.amount_min_fen is not None:
        conditions.append(CaseRow.amount_fen >= filters.amount_min_fen)
        needs_cases = True
    if filters.amount_max_fen is not None:
        conditions.append(CaseRow.amount_fen <= filters.amount_max_fen)
        needs_cases = True
    return conditions, needs_cases


def _units(filters: CaseFilters, scope: Scope) -> list[str]:
    return [code for code in (scope.unit_code, filters.unit_code) if code]


def _case_query(filters: CaseFilters, scope: Scope, matches: list[_Match], *,
                probed: bool = False) -> Select[CaseRow]:
    """The page query: one SELECT whose order (newest decision first) an index provides."""
    units = _units(filters, scope)
    conditions, _ = _conditions(filters, units, matches, probed=probed)
    if units:
        return (
            select(CaseRow)
            .join(CaseUnitRow, CaseUnitRow.case_id == CaseRow.case_id)
            .where(*conditions)
            .order_by(CaseUnitRow.decided_on.desc(), CaseUnitRow.case_id.desc())
        )
    return (
        select(CaseRow)
        .where(*conditions)
        .order_by(CaseRow.decided_on.desc(), CaseRow.case_id.desc())
    )


def _count_query(filters: CaseFilters, scope: Scope, matches: list[_Match],
                 limit: int) -> Select[int]:
    """Matches counted up to ``limit``, from the driving table's index when it suffices."""
    units = _units(filters, scope)
    conditions, needs_cases = _conditions(filters, units, matches)
    if units:
        matched = select(CaseUnitRow.case_id)
        if needs_cases:
            matched = matched.join(CaseRow, CaseRow.case_id == CaseUnitRow.case_id)
    else:
        matched = select(CaseRow.case_id)
    return select(func.count()).select_from(matched.where(*conditions).limit(limit).subquery())


def _in_window(session: Session, probed: Select[CaseRow], others: Select[CaseRow],
               driver: type[CaseRow] | type[CaseUnitRow], *, offset: int, size: int
               ) -> Sequence[CaseRow] | None:
    """The page of ``probed`` (each case tested by its own rows) among the newest
    :data:`_WINDOW` cases of ``others`` (every filter but the walked ones); None when the
    window does not fill the page, which then walks against the gathered set.

    SQLite only. PostgreSQL gathers a common text's set by a hash of the trigram index's
    matches faster than its subplans probe the window (a million cases, medians: 商贸有限
    38 against 60 ms, a year 1.7 against 2.2 s, ``tests/bench/bench_search.py
    --postgres``); SQLite's scan of the (key, case) index is what the window spares (商贸
    有限 1,877 against 42 ms)."""
    if session.get_bind().dialect.name != "sqlite":
        return None
    window = others.with_only_columns(driver.case_id).limit(_WINDOW)
    rows = session.scalars(probed.where(driver.case_id.in_(window))
                           .limit(size).offset(offset)).all()
    return rows if len(rows) == size else None


def search_cases(
    session: Session,
    filters: CaseFilters,
    scope: Scope,
    *,
    page: int = 1,
    page_size: int = 50,
    count_limit: int = 10_000,
) -> CasePage:
    """One page of matching cases, newest decision first, and a bounded count.

    A number or name is first matched by what begins with it, a range of its index; the
    search reads that index whole for what holds the text anywhere only when no case
    *the caller may see, under every other filter* begins with it (so another unit's
    cases neither hide the caller's nor tell that they exist). A whole number or name,
    the common case, so costs what the exact match did. A number or party found in more
    cases than the count reports, with nothing else to narrow it, is counted as "more
    than" without a second scan."""
    listed = min(count_limit, _MAX_LISTED)
    for tier in (_BEGINNING, _ANYWHERE):
        matches = _matches(session, filters, listed, tier)
        conditions, _ = _conditions(filters, _units(filters, scope), matches)
        if (listed == count_limit and len(conditions) == 1 and matches
                and matches[0].ids is None):
            total = count_limit + 1
        else:
            total = int(session.scalar(
                _count_query(filters, scope, matches, count_limit + 1)) or 0)
        if total or not matches:
            break
    offset = (page - 1) * page_size
    rows: Sequence[CaseRow] | None = None
    if any(match.ids is None for match in matches):
        rows = _in_window(session, _case_query(filters, scope, matches, probed=True),
                          _case_query(filters, scope, [m for m in matches if m.ids is not None]),
                          CaseUnitRow if _units(filters, scope) else CaseRow,
                          offset=offset, size=page_size)
    if rows is None:
        rows = session.scalars(_case_query(filters, scope, matches)
                               .limit(page_size).offset(offset)).all()
    return CasePage(
        items=[CaseSummary.model_validate(row) for row in rows],
        page=page,
        page_size=page_size,
        total=min(total, count_limit),
        total_is_lower_bound=total > count_limit,
    )


#: Cases the finder lists by id; beyond, it walks the newest cases as the search's page
#: does (:class:`_Match`; 200,000 cases on SQLite: a selective text ~1 ms either way; 商贸
#: 有限, in half of them, 0.45 s as a list, 16 ms walked through the newest, 0.3 s
#: walked against its set).
_FINDER_LISTED = 2_000


def find_cases(
    session: Session, text: str, *, unit_code: str | None = None, limit: int = 20
) -> list[CaseSummary]:
    """Cases a person may mean by ``text``: a document or case number, a party's name or
    identifier (whole or part), optionally within one unit; newest decision first.

    Matching feedback by hand used to need the case's UUID, which nobody quoting a
    referral letter has; people search by what the paper says. Numbers and names match
    as in :func:`search_cases`, so a number found on one screen is found on the other.
    """
    text = text.strip()[:100]
    if not text and not unit_code:
        return []
    query = select(CaseRow).order_by(CaseRow.decided_on.desc(), CaseRow.case_id.desc())
    if unit_code:
        query = query.where(
            CaseRow.case_id.in_(
                select(CaseUnitRow.case_id).where(CaseUnitRow.unit_code == unit_code)
            )
        )
    rows: Sequence[CaseRow] | None = None
    if text:
        # a finder lists what the text may mean: every part match, and the identifier
        by_number = _cases_by_number(session, text)
        finders = [*_cases_by_party(session, text), *([by_number[1]] if by_number else [])]
        matches = [_resolve(session, finder, _FINDER_LISTED) for finder in finders]
        if all(match.ids is not None for match in matches):
            query = query.where(CaseRow.case_id.in_(
                sorted({case_id for match in matches for case_id in match.ids or ()})))
        else:  # common text: the newest cases holding it, as _Match explains
            rows = _in_window(session, query.where(or_(*[
                match.holds(CaseRow.case_id) for match in matches])), query, CaseRow,
                offset=0, size=limit)
            query = query.where(CaseRow.case_id.concat("").in_(
                union(*[match.cases for match in matches]).subquery().select()))
    if rows is None:
        rows = session.scalars(query.limit(limit)).all()
    return [CaseSummary.model_validate(row) for row in rows]

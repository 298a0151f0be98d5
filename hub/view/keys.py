"""How the view's case search compares what a person types with what the store holds.

Kept apart from the store and the queries because both need it: the store keys every
document number when the row is written (:class:`hub.view.store.CaseNumberRow`), the
search keys what was typed the same way, and a key computed two ways would miss.
"""

from __future__ import annotations

import unicodedata

from streams.match_index import normalise_document_number

__all__ = ["contains_pattern", "name_key", "number_key"]

#: ``normalise_document_number`` unifies every bracket to ``[`` ``]``; the search key
#: drops them.
_NO_BRACKETS = str.maketrans("", "", "[]")


def number_key(number: str | None) -> str:
    """A document or case number as searched: the matcher's normal form (full-width
    folded, brackets unified, no spaces, upper case) without its brackets.

    The matcher's form alone tells 〔2024〕, [2024] and (2024) apart from nothing, but a
    prosecutor often types the year without brackets ("2024 第123号", the space then
    dropped): only a key without brackets finds 青罚〔2024〕第123号 from that. One
    normaliser for the whole hub (the matcher's), so the view and the matcher agree on
    what the same number is.
    """
    # at most the column's 200 characters: NFKC and upper case can lengthen a text
    # (№ → NO), and PostgreSQL refuses a longer value
    return (normalise_document_number(number) or "").translate(_NO_BRACKETS)[:200]


def name_key(name: str | None) -> str:
    """A party's name as searched: full-width forms folded (NFKC: （集团） is (集团),
    ＡＢＣ is ABC), spaces dropped, upper case.

    Agencies write a company's brackets and Latin letters either way, and a prosecutor
    types them the way the keyboard gives: compared as typed, 演示（集团）有限公司 was not
    found by 演示(集团). Kept to the column's 300 characters, as :func:`number_key` is."""
    folded = unicodedata.normalize("NFKC", name or "")
    return "".join(folded.split()).upper()[:300]


def contains_pattern(text: str) -> str:
    """A LIKE pattern (escape character ``\\``) matching ``text`` anywhere, with the
    ``%`` and ``_`` a person typed taken literally: 扣押_1 or "100%" are text, not
    wildcards that would match other cases."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"

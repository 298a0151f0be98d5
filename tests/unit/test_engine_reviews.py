"""The matches kept for review, found by party and by police case number
(``streams.engine.reviews``), on the heap and in the index's real RocksDB store alike."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.rules import load_rule_set
from streams.engine.global_index import REVIEW_PREFIX, GlobalIndex
from streams.engine.match_store import RocksMatchStorage, open_index_store
from streams.engine.reviews import HeapRawStore, RawStore, ReviewEntries

PENDING = "engine-pending"


@pytest.fixture(params=["heap", "rocksdb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RawStore]:
    if request.param == "heap":
        yield HeapRawStore()
        return
    db = open_index_store(tmp_path / "index")
    try:
        yield RocksMatchStorage(db)
    finally:
        db.close()


def _identifier(case_id: str | None, *identifiers: str, number: str | None = "A1"
                ) -> dict[str, Any]:
    return {"feedback": ["stored"], "resolved": case_id, "review": "identifier",
            "identifiers": list(identifiers), "police_unit": "P", "police_number": number}


def _link(case_id: str, number: str = "A1") -> dict[str, Any]:
    return {"feedback": ["stored"], "resolved": case_id, "review": "link",
            "identifiers": [], "police_unit": "P", "police_number": number}


WITHDRAWN = {"feedback": None, "resolved": None, "withdrawn": "c1"}


def test_matches_are_found_by_party_until_withdrawn(store: RawStore) -> None:
    reviews = ReviewEntries(lambda: store)
    reviews.put("review|f1", _identifier("c1", "id-a", "id-b"))
    reviews.put("review|f2", _identifier("c2", "id-b"))
    reviews.put("review|f3", _link("c1"))
    assert [key for key, _ in reviews.identifier_matches({"id-a"})] == ["review|f1"]
    assert [key for key, _ in reviews.identifier_matches({"id-b", "id-x"})] == [
        "review|f1", "review|f2"]
    assert reviews.identifier_matches({"id-x"}) == []
    reviews.put("review|f1", WITHDRAWN)
    assert [key for key, _ in reviews.identifier_matches({"id-a", "id-b"})] == ["review|f2"]
    assert reviews.get("review|f1") == WITHDRAWN
    # Matched afresh (the same feedback's key), to another case and party.
    reviews.put("review|f1", _identifier("c3", "id-c"))
    assert [key for key, _ in reviews.identifier_matches({"id-a"})] == []
    assert [key for key, _ in reviews.identifier_matches({"id-c"})] == ["review|f1"]


def test_reviews_are_found_by_police_number_case_and_kind(store: RawStore) -> None:
    reviews = ReviewEntries(lambda: store)
    reviews.put("review|f1", _identifier("c1", "id-a"))
    reviews.put("review|f2", _link("c1"))
    reviews.put("review|f3", _link("c2"))
    reviews.put("review|f4", _link("c1", number="A2"))
    assert [key for key, _ in reviews.naming("A1", "c1", "link")] == ["review|f2"]
    assert [key for key, _ in reviews.naming("A1", "c1", "identifier")] == ["review|f1"]
    assert reviews.naming("A2", "c2", "link") == []
    reviews.put("review|f2", WITHDRAWN)
    assert reviews.naming("A1", "c1", "link") == []


_ENTRIES = st.one_of(
    st.builds(_identifier, st.sampled_from(["c1", "c2", None]),
              st.sampled_from(["id-a", "id-b", "id-c"]),
              number=st.sampled_from(["A1", "A2", None])),
    st.builds(_link, st.sampled_from(["c1", "c2"]), st.sampled_from(["A1", "A2"])),
    st.just(WITHDRAWN))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([f"review|f{n}" for n in range(5)]), _ENTRIES),
                max_size=30))
def test_postings_agree_with_a_scan_of_the_latest_entries(
        writes: list[tuple[str, dict[str, Any]]]) -> None:
    """Whatever the order of updates, the lookups answer what scanning every entry's
    latest value answers (the code before the postings)."""
    reviews = ReviewEntries(_fresh())
    latest: dict[str, dict[str, Any]] = {}
    for key, entry in writes:
        reviews.put(key, entry)
        latest[key] = entry
    for identifier in ("id-a", "id-b", "id-c"):
        expected = sorted(key for key, entry in latest.items()
                          if entry.get("review") == "identifier" and entry.get("resolved")
                          and identifier in entry["identifiers"])
        assert [key for key, _ in reviews.identifier_matches({identifier})] == expected
    for number in ("A1", "A2"):
        for case_id in ("c1", "c2"):
            for kind in ("identifier", "link"):
                expected = sorted(
                    key for key, entry in latest.items() if entry.get("review") == kind
                    and entry.get("resolved") == case_id
                    and entry.get("police_number") == number)
                assert [key for key, _ in reviews.naming(number, case_id, kind)] == expected


def _fresh() -> Callable[[], RawStore]:
    store = HeapRawStore()
    return lambda: store


def test_the_index_keeps_reviews_in_its_store_across_a_restart(tmp_path: Path) -> None:
    """With a directory the entries are in RocksDB, not on the heap: reopened, the store
    still answers (the topic is re-read at start all the same)."""
    parameters = load_rule_set().matching
    index = GlobalIndex("engine-referrals", PENDING, parameters, directory=tmp_path / "ix")
    index.apply(PENDING, f"{REVIEW_PREFIX}f1", _identifier("c1", "id-a"))
    index.stop()  # flushes what is staged and closes the store
    reopened = GlobalIndex("engine-referrals", PENDING, parameters, directory=tmp_path / "ix")
    try:
        assert [key for key, _ in reopened.reviews.identifier_matches({"id-a"})] == [
            f"{REVIEW_PREFIX}f1"]
    finally:
        reopened.stop()

"""The automatic matches kept for review, in the matching index's store, not on the heap.

A match by party identifier holds only while the party has one referral in the date
window (:mod:`streams.engine.matching`): each such match, and each made later through the
police case number it linked, is kept with its feedback so a later referral naming the
party can judge it again. There is one per such match for ever (a backfill may read the
other referral years later), each carrying its feedback: on the heap of every worker
they grew with the history, and finding the ones a referral concerns scanned them all.

Here they live in the local RocksDB index store beside the referral records (on the
heap only when there is no store: tests, the offline harness), under ``v<key>``, and are
found through two postings: the party identifiers an identifier match rests on, and the
(police case number, case) pair every review names. A referral's batch then finds its
reviews in a few lookups, which is what lets every batch judge them again
(:meth:`streams.engine.matching.MatchingProcessor.reconsider`).

Like the rest of the store, this is a cache of a topic, but one rebuilt at every start:
the worker forgets these keys and re-reads the parked-feedback topic from its beginning
(:meth:`~streams.engine.global_index.GlobalIndex.start`). A worker's own writes are
staged here before the topic has acknowledged them; one whose write never reached the
topic (the batch failed, and its replay may decide otherwise) must not outlive it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

import orjson

__all__ = ["KEY_RANGE", "HeapRawStore", "RawStore", "ReviewEntries"]

_ENTRY = b"v"
_POSTING = b"w"
#: The store keys of this module (entries and postings): ``[start, end)``.
KEY_RANGE = (b"v", b"x")


class RawStore(Protocol):
    """Byte keys to byte values, written through (what the index's store offers)."""

    def get_raw(self, key: bytes) -> bytes | None: ...

    def put_raw(self, key: bytes, value: bytes) -> None: ...


class HeapRawStore:
    """:class:`RawStore` on the heap, for an index without a local store."""

    def __init__(self) -> None:
        self._values: dict[bytes, bytes] = {}

    def get_raw(self, key: bytes) -> bytes | None:
        return self._values.get(key)

    def put_raw(self, key: bytes, value: bytes) -> None:
        self._values[key] = value


def _postings(entry: dict[str, Any]) -> list[bytes]:
    """The posting keys an entry is found under."""
    keys = []
    if entry.get("review") == "identifier":
        keys += [_POSTING + orjson.dumps(["i", identifier])
                 for identifier in entry.get("identifiers") or ()]
    number, case_id = entry.get("police_number"), entry.get("resolved")
    if number and case_id:
        keys.append(_POSTING + orjson.dumps(["n", number, case_id]))
    return keys


class ReviewEntries:
    """The review entries by key (``review|<feedback id>``), with their two postings.

    ``store`` is called at each use: the index replaces its store when it rebuilds it.
    """

    def __init__(self, store: Callable[[], RawStore]) -> None:
        self._store = store

    def get(self, key: str) -> dict[str, Any] | None:
        value = self._store().get_raw(_ENTRY + key.encode("utf-8"))
        return orjson.loads(value) if value is not None else None

    def put(self, key: str, entry: dict[str, Any]) -> None:
        """Store ``entry`` (read from the topic or written now); postings follow it."""
        store = self._store()
        previous = self.get(key)
        if previous == entry:
            return
        old = set(_postings(previous)) if previous is not None else set()
        new = set(_postings(entry))
        for posting in old - new:
            self._post(store, posting, key, add=False)
        for posting in new - old:
            self._post(store, posting, key, add=True)
        store.put_raw(_ENTRY + key.encode("utf-8"), orjson.dumps(entry))

    @staticmethod
    def _post(store: RawStore, posting: bytes, key: str, *, add: bool) -> None:
        stored = store.get_raw(posting)
        keys: list[str] = orjson.loads(stored) if stored else []
        if add == (key in keys):
            return
        if add:
            keys.append(key)
        else:
            keys.remove(key)
        store.put_raw(posting, orjson.dumps(keys))

    def _found(self, posting: bytes) -> Iterator[tuple[str, dict[str, Any]]]:
        stored = self._store().get_raw(posting)
        for key in orjson.loads(stored) if stored else ():
            entry = self.get(key)
            if entry is not None:
                yield key, entry

    def identifier_matches(self, identifiers: Iterable[str]
                           ) -> list[tuple[str, dict[str, Any]]]:
        """The standing identifier matches resting on any of ``identifiers``, by key."""
        found: dict[str, dict[str, Any]] = {}
        for identifier in identifiers:
            for key, entry in self._found(_POSTING + orjson.dumps(["i", identifier])):
                if entry.get("review") == "identifier" and entry.get("resolved"):
                    found[key] = entry
        return sorted(found.items())

    def naming(self, police_number: str, case_id: str, kind: str
               ) -> list[tuple[str, dict[str, Any]]]:
        """The standing reviews of ``kind`` that tie ``police_number`` to ``case_id``."""
        return [(key, entry) for key, entry in sorted(self._found(
            _POSTING + orjson.dumps(["n", police_number, case_id])))
            if entry.get("review") == kind and entry.get("resolved") == case_id
            and entry.get("police_number") == police_number]

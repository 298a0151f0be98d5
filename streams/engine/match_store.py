"""The matcher's indexes in a worker's local RocksDB, not on its heap.

Every referral and penalty decision the hub has seen is indexed for matching (by
referral number, decision number, agency case number and party identifier), and every
worker needs all of them: at a province's scale that is millions of records, which as
Python objects cost ~2.5 KiB each and made the worker's memory grow with the history. In
RocksDB they cost disk and page cache; a lookup is one ``get`` of a small JSON value.

The store is a cache of the ``engine-referrals`` topic (the source of truth, see
:mod:`streams.engine.global_index`): it remembers the offset it has read of each
partition, so a restart with the data directory kept reads only the tail.
"""

from __future__ import annotations

import logging
import shutil
from itertools import islice
from pathlib import Path

import orjson
from rocksdict import Rdict, WriteBatch, WriteOptions

from streams.engine.state import store_options
from streams.match_index import RecordKey, ReferralRecord

__all__ = ["RocksMatchStorage", "open_index_store"]

log = logging.getLogger(__name__)

#: Bumped when the layout below changes: an older store is rebuilt from the topic.
_LAYOUT = b"1"
_LAYOUT_KEY = b"\x00layout"
_COUNT_KEY = b"\x00count"
_RECORD = b"r"
_CASE = b"c"
_INDEX = b"i"
_POLICE = b"p"
_POLICE_NUMBER = b"n"
#: Slots of the filter of keys written to a store that began empty (8 MiB of bits).
_WRITTEN_SLOTS = 1 << 26


def open_index_store(directory: Path) -> Rdict:
    """Open (or create) the index store; a store of another layout is wiped first."""
    options = store_options(index_blocks_cached=False)
    directory.parent.mkdir(parents=True, exist_ok=True)
    try:
        db = Rdict(str(directory), options)
    except Exception:  # noqa: BLE001 - a corrupt cache is rebuilt from the topic
        log.warning("index store %s unreadable; rebuilding from the topic", directory)
        shutil.rmtree(directory, ignore_errors=True)
        db = Rdict(str(directory), options)
    if db.get(_LAYOUT_KEY) != _LAYOUT:
        db.close()
        shutil.rmtree(directory, ignore_errors=True)
        db = Rdict(str(directory), options)
        db[_LAYOUT_KEY] = _LAYOUT
    return db


def _holds_nothing(db: Rdict) -> bool:
    """Whether the store holds no key but its layout's (new, or wiped for a rebuild)."""
    return all(key == _LAYOUT_KEY for key in islice(db.keys(), 2))


def _key(prefix: bytes, *parts: str) -> bytes:
    # JSON, not a separator: document numbers are free text from agency systems.
    return prefix + orjson.dumps(parts)


class RocksMatchStorage:
    """:class:`~streams.match_index.MatchIndexStorage` over a RocksDB store.

    Writes are staged in a dictionary (read through by every lookup) and written as one
    batch by :meth:`flush`, with the offsets they cover: one RocksDB write per read of
    the topic instead of ~15 per referral (each ``put`` cost ~4 µs). The write-ahead log
    is off: the store is a cache of the topic, and a crash loses whole memtables, with
    the offsets they hold, so the store never claims more than it has.
    """

    def __init__(self, db: Rdict) -> None:
        self._db = db
        self._staged: dict[bytes, bytes] = {}
        count = db.get(_COUNT_KEY)
        self._count = int(count) if isinstance(count, bytes) else 0
        self._write_options = WriteOptions()
        self._write_options.disable_wal = True  # type: ignore[assignment,method-assign]
        #: For a store that began empty (a rebuild from the topic), one bit per hash of
        #: every key flushed: an unset bit means the key was never written, and the
        #: lookup needs no RocksDB ``get``. Most of a rebuild's lookups are of absent
        #: keys (each new number, party and digest), ~8 per entry at ~1.2 µs each.
        self._written = bytearray(_WRITTEN_SLOTS // 8) if _holds_nothing(db) else None

    def _get(self, key: bytes) -> bytes | None:
        value = self._staged.get(key)
        if value is not None:
            return value
        written = self._written
        if written is not None:
            slot = hash(key) & (_WRITTEN_SLOTS - 1)
            if not written[slot >> 3] & (1 << (slot & 7)):
                return None
        value = self._db.get(key)
        return value if isinstance(value, bytes) else None

    def get_raw(self, key: bytes) -> bytes | None:
        """A value stored by :meth:`put_raw` (the index's own bookkeeping)."""
        return self._get(key)

    def put_raw(self, key: bytes, value: bytes) -> None:
        """Stage a value of the index's bookkeeping (digests, offsets) with the indexes."""
        self._staged[key] = value

    def flush(self) -> None:
        """Write the staged values in one batch."""
        if not self._staged:
            return
        # Staged like any key, so the filter below marks it too.
        self._staged[_COUNT_KEY] = str(self._count).encode("ascii")
        batch = WriteBatch(raw_mode=True)
        written = self._written
        for key, value in self._staged.items():
            batch.put(key, value)
            if written is not None:
                slot = hash(key) & (_WRITTEN_SLOTS - 1)
                written[slot >> 3] |= 1 << (slot & 7)
        self._db.write(batch, self._write_options)
        self._staged = {}

    def record(self, key: RecordKey) -> ReferralRecord | None:
        value = self._get(_key(_RECORD, *key))
        return ReferralRecord.from_dict(orjson.loads(value)) if value is not None else None

    def put_record(self, key: RecordKey, record: ReferralRecord) -> None:
        self._staged[_key(_RECORD, *key)] = orjson.dumps(record.to_dict())
        self._count += 1

    def knows_case(self, case_id: str) -> bool:
        return self._get(_CASE + case_id.encode("utf-8")) is not None

    def referring_unit(self, case_id: str) -> str | None:
        value = self._get(_CASE + case_id.encode("utf-8"))
        return value.decode("utf-8") if value else None

    def note_case(self, case_id: str, referring_unit: str | None) -> None:
        key = _CASE + case_id.encode("utf-8")
        if not self._get(key):
            self._staged[key] = (referring_unit or "").encode("utf-8")

    def keys(self, index: str, value: str) -> set[RecordKey]:
        stored = self._get(_key(_INDEX, index, value))
        if stored is None:
            return set()
        return {(case_id, referral, decision)
                for case_id, referral, decision in orjson.loads(stored)}

    def add_key(self, index: str, value: str, key: RecordKey) -> None:
        stored_key = _key(_INDEX, index, value)
        stored = self._get(stored_key)
        keys = orjson.loads(stored) if stored is not None else []
        if list(key) not in keys:
            keys.append(list(key))
            self._staged[stored_key] = orjson.dumps(keys)

    def police_case(self, police_key: str) -> str | None:
        value = self._get(_POLICE + police_key.encode("utf-8"))
        return value.decode("utf-8") if value else None

    def police_number_cases(self, number: str) -> set[str]:
        stored = self._get(_POLICE_NUMBER + number.encode("utf-8"))
        return set(orjson.loads(stored)) if stored is not None else set()

    def link_police(self, police_key: str, number: str, case_id: str) -> None:
        self._staged[_POLICE + police_key.encode("utf-8")] = case_id.encode("utf-8")
        key = _POLICE_NUMBER + number.encode("utf-8")
        stored = self._get(key)
        cases = orjson.loads(stored) if stored is not None else []
        if case_id not in cases:
            cases.append(case_id)
            self._staged[key] = orjson.dumps(cases)

    def unlink_police(self, police_key: str, number: str, case_id: str) -> None:
        key = _POLICE + police_key.encode("utf-8")
        if self._get(key) == case_id.encode("utf-8"):
            self._staged[key] = b""  # an empty value reads as no link
        number_key = _POLICE_NUMBER + number.encode("utf-8")
        stored = self._get(number_key)
        cases = orjson.loads(stored) if stored is not None else []
        if case_id in cases:
            cases.remove(case_id)
            self._staged[number_key] = orjson.dumps(cases)

    def __len__(self) -> int:
        return self._count

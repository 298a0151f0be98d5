"""Per-partition state of the native engine: a RocksDB store backed by a changelog topic.

One store per (store name, partition) lives in ``<data dir>/<store>-<partition>``; every
write of a batch goes to the compacted topic ``<app id>-<store>-changelog`` (same
partition) first and to RocksDB only after the broker acknowledged it, in one atomic
``WriteBatch`` together with the changelog offset it covers. Recovery on assignment
therefore replays the changelog from that offset to its end: whatever another worker
wrote while it owned the partition is applied, and a fresh data dir rebuilds everything.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Producer, TopicPartition
from rocksdict import BlockBasedOptions, Cache, Options, Rdict, WriteBatch, WriteOptions

from hub.config import KafkaSecurity
from hub.kafka import consume_available, end_offset, make_engine_consumer
from streams.engine.delivery import Acknowledgements, produce
from streams.engine.tuning import EngineTuning

__all__ = ["OFFSET_KEY", "PartitionStore", "decode_value", "encode_value", "store_options"]

log = logging.getLogger(__name__)

#: Key of the changelog offset the local store covers (never in the changelog itself).
OFFSET_KEY = b"\x00changelog-offset"
_WRITE_BUFFER_BYTES = 8 * 1024 * 1024
#: The memtable of a store while it replays its changelog (RocksDB's own default), back
#: to the small one after. With 8 MiB, a replay of 640,000 case records (a partition at
#: 1,000,000 bench events) made ~80 level-0 files and recompacted the store's growing
#: levels again and again: the five stores took 27 s and 36 s of CPU against 12.8 s and
#: 22.6 s with 64 MiB (32 MiB: 14–15 s). Stores replay one after another, so the extra
#: memory is one store's, for the replay only.
_REPLAY_WRITE_BUFFER_BYTES = 64 * 1024 * 1024
#: Empty one-second fetches in a row after which a restore whose consumer has not reached
#: the changelog's end takes it as read (records compacted away at the tail leave the
#: position short of the end for good); long enough that a broker's failover or a slow
#: fetch during a rebalance is waited out, not taken for the end.
_IDLE_FETCHES = 30


_SHARED_CACHE: Cache | None = None


def store_options(*, index_blocks_cached: bool = True) -> Options:
    """The options of every RocksDB store of the worker (partition stores, the index).

    RocksDB's default memtable (64 MiB, two of them) per store made the worker's RSS grow
    with the events written until ~128 MiB per partition store; state is read back from
    RocksDB or the OS page cache, so small memtables cost little. Each store also had
    its own 32 MiB block cache: five stores written half a million times held 199 MB
    against 104 MB with one block cache for the process
    (``LIANGFA_ENGINE_BLOCK_CACHE_MB``, default 64). A partition store keeps its index
    and filter blocks in that cache too (outside it they grow with the data: ~200 MiB
    more ten minutes into a 1,000,000-event run); the matching index keeps them with each table
    (``index_blocks_cached=False``): its many lookups of absent keys evicted them and
    read them again on every lookup (its ``get`` took 76% of a 1,000,000-event run).
    """
    global _SHARED_CACHE
    if _SHARED_CACHE is None:
        megabytes = EngineTuning.from_environment().block_cache_mb
        _SHARED_CACHE = Cache(megabytes << 20)
    options = Options(raw_mode=True)
    options.set_write_buffer_size(_WRITE_BUFFER_BYTES)
    options.set_max_write_buffer_number(2)
    table = BlockBasedOptions()
    table.set_block_cache(_SHARED_CACHE)
    table.set_cache_index_and_filter_blocks(index_blocks_cached)
    # Most lookups of the matching index (and a new case's first) are of absent keys:
    # a whole-key bloom filter answers them without reading a table's blocks. Loading a
    # 50,000-referral index took 3.4 s of CPU with it, 4.1 s without (alternated runs).
    table.set_bloom_filter(10, False)
    options.set_block_based_table_factory(table)
    return options


def encode_value(value: Any) -> bytes:
    """Compact UTF-8 JSON: state values are plain dicts and lists.

    orjson, not :mod:`json`: a case document is encoded and decoded once per batch that
    touches the case, and the standard library spent ~10% of the worker's CPU on it. The
    bytes are the same compact JSON as before (documents written by older workers read
    back unchanged).
    """
    return orjson.dumps(value)


def decode_value(data: bytes) -> Any:
    """The inverse of :func:`encode_value`."""
    return orjson.loads(data)


class PartitionStore:
    """RocksDB for one partition plus its changelog partition; writes staged per batch."""

    def __init__(self, directory: Path, changelog: str, partition: int) -> None:
        self.directory = directory
        self.changelog = changelog
        self.partition = partition
        self._options = store_options()
        directory.parent.mkdir(parents=True, exist_ok=True)
        self._db = self._open()
        #: Writes of the batch in progress: key → value (None deletes), in the order
        #: they were last staged (see :meth:`put`).
        self.staged: dict[bytes, bytes | None] = {}
        #: The staged keys whose changelog records go after all others (see :meth:`put`).
        self._late: set[bytes] = set()

    def _open(self) -> Rdict:
        try:
            return Rdict(str(self.directory), self._options)
        except Exception:  # noqa: BLE001 - a corrupt local store is rebuilt from the changelog
            log.warning("store %s unreadable; rebuilding from the changelog", self.directory)
            shutil.rmtree(self.directory, ignore_errors=True)
            return Rdict(str(self.directory), self._options)

    def get(self, key: bytes) -> bytes | None:
        """The staged value if this batch wrote one, else the stored one."""
        if key in self.staged:
            return self.staged[key]
        value = self._db.get(key)
        return value if isinstance(value, bytes) else None

    def put(self, key: bytes, value: bytes | None, *, late: bool = False) -> None:
        """Stage a write (sent to the changelog and RocksDB by :meth:`flush`).

        The changelog gets a batch's writes in the order they were last staged, ``late``
        ones after all others. A batch's changelog records are several produce requests,
        and a worker killed between two leaves only the first part for a restore: so a
        write that says work is done (an event's normalize mark, the removal of a clock's
        due time) is late, after the case documents and the due times that carry the
        work on; a restore of a part then redoes work, never skips it.
        """
        staged = self.staged
        if key in staged:
            del staged[key]  # staged again: sent in its new place
        staged[key] = value
        if late:
            self._late.add(key)
        elif self._late:
            self._late.discard(key)

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """Every stored key and value (recovery-time scans; staged writes not included)."""
        for key, value in self._db.items():
            if isinstance(key, bytes) and key != OFFSET_KEY:
                yield key, value

    def prefixed(self, prefix: bytes, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        """Every stored key starting with ``prefix`` (from ``prefix + start`` on), and its
        value (staged writes not included): a seek, not a scan of the store."""
        for key, value in self._db.items(from_key=prefix + start):
            if not isinstance(key, bytes) or not key.startswith(prefix):
                return
            yield key, value

    @property
    def offset(self) -> int:
        """The last changelog offset applied locally (-1 when none)."""
        value = self._db.get(OFFSET_KEY)
        return int(value) if isinstance(value, bytes) else -1

    def send_changelog(self, producer: Producer) -> Acknowledgements:
        """Hand this batch's writes to the producer; their acks arrive on ``flush``."""
        acknowledgements = Acknowledgements()
        topic, partition = self.changelog, self.partition
        for key, value in self.changelog_records():
            produce(producer, topic, key, value, acknowledgements, partition=partition)
        return acknowledgements

    def changelog_records(self) -> Iterator[tuple[bytes, bytes | None]]:
        """The batch's writes in the order the changelog gets them (see :meth:`put`)."""
        late = self._late
        if not late:
            yield from self.staged.items()
            return
        for key, value in self.staged.items():
            if key not in late:
                yield key, value
        for key, value in self.staged.items():
            if key in late:
                yield key, value

    def commit_local(self, last_offset: int | None) -> None:
        """Apply the staged writes to RocksDB (after the changelog acknowledged them)."""
        if not self.staged:
            return
        batch = WriteBatch(raw_mode=True)
        for key, value in self.staged.items():
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        if last_offset is not None:
            batch.put(OFFSET_KEY, str(last_offset).encode("ascii"))
        self._db.write(batch)
        self.staged = {}
        self._late = set()

    def recover(self, bootstrap: str, security: KafkaSecurity | None,
                group_id: str | None = None) -> int:
        """Replay the changelog from the local offset to its end; returns records applied.

        Synchronous: it runs inside the consumer's rebalance callback, and no record of
        the partition may be processed before its store holds the changelog's end.
        """
        consumer = make_engine_consumer(bootstrap, group_id=group_id, security=security,
                                        client_id=f"restore-{self.directory.name}",
                                        **{"isolation.level": "read_uncommitted"})
        applied = 0
        # Replayed batches skip the write-ahead log and the memtables are flushed at the
        # end: a crash in between loses whole memtables with the offsets they carry, so
        # the store never claims more than it holds (as the matching index does). The
        # log cost ~20% of a restore's CPU (0.47 → 0.37 s for 34,000 records).
        unlogged = WriteOptions()
        unlogged.disable_wal = True  # type: ignore[assignment,method-assign]
        try:
            end = end_offset(consumer, self.changelog, self.partition)
            start = self.offset + 1
            if start >= end:
                return 0
            self._db.set_options({"write_buffer_size": str(_REPLAY_WRITE_BUFFER_BYTES)})
            consumer.assign([TopicPartition(self.changelog, self.partition, start)])
            last = start - 1
            idle = 0
            while last < end - 1:
                # What has arrived, waiting only while nothing has: librdkafka's
                # ``consume(n)`` waits for the whole count (or the timeout).
                records = consume_available(consumer, min(10_000, end - 1 - last), 1.0)
                if not records:
                    # Read to the end when the fetch position got there (past records
                    # compacted away); compaction may also have removed the tail (an
                    # expired tombstone): after many empty fetches the store holds
                    # whatever the log still has.
                    [position] = consumer.position(
                        [TopicPartition(self.changelog, self.partition)])
                    if position.offset >= end:
                        break
                    idle += 1
                    if idle >= _IDLE_FETCHES:
                        log.warning("restore of %s stopped at %d of %d (nothing more to "
                                    "read)", self.directory.name, last, end - 1)
                        break
                    continue
                idle = 0
                batch = WriteBatch(raw_mode=True)
                for record in records:
                    if record.error() is not None:
                        log.warning("restore of %s: %s", self.directory.name, record.error())
                        continue
                    offset = record.offset()
                    if offset is not None:
                        last = offset
                    key = record.key()
                    if key is None:
                        continue
                    value = record.value()
                    if value is None:
                        batch.delete(key)
                    else:
                        batch.put(key, value)
                    applied += 1
                batch.put(OFFSET_KEY, str(last).encode("ascii"))
                self._db.write(batch, unlogged)
        finally:
            consumer.close()
            # Before any logged write of the worker (whose replay after a crash would
            # otherwise sit on top of lost unlogged ones), even when the restore failed.
            self._db.flush()
            self._db.set_options({"write_buffer_size": str(_WRITE_BUFFER_BYTES)})
        log.info("store %s: %d changelog records replayed", self.directory.name, applied)
        return applied

    def close(self) -> None:
        """Close the RocksDB handle (the partition moved away or the worker stops)."""
        self._db.close()


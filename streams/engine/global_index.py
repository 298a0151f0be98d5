"""The matching indexes every worker needs in full, replicated from two compacted topics.

Police feedback quotes the police's own case number and the referral letter's number,
not the hub's case id, so it arrives on another case's partition than its referral. The
indexes of referrals (``engine-referrals``: ``r|…`` referral records, ``p|…`` police case
numbers already linked) and of feedback parked for a person (``engine-pending``, by event
id) are therefore global: whoever indexes a referral writes it to the topic (awaited
before its offsets are committed) and applies it locally at once; every worker tails
both topics from the beginning into memory (the worker's loop reads what is new before
each batch, see :meth:`GlobalIndex.poll`). A worker waits until it has read both to their
end before it processes anything, so a restart never matches against a partial index.
As with Kafka Streams' global tables, feedback handled on one worker a moment after its
referral was indexed on another may not see it yet: it is held, and judged only once
every worker's input up to the end of its grace has been processed and this index has
read what they wrote (:mod:`streams.engine.frontier`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import pickle
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaError,
    Message,
    TopicPartition,
)
from rocksdict import Rdict

from hub.config import KafkaSecurity
from hub.kafka import end_offset, make_engine_consumer, topic_partition_numbers
from hub.rules import MatchingParameters
from streams.engine.frontier import checked_offsets
from streams.engine.match_store import RocksMatchStorage, open_index_store
from streams.engine.reviews import KEY_RANGE as REVIEW_KEYS
from streams.engine.reviews import HeapRawStore, RawStore, ReviewEntries
from streams.engine.tuning import EngineTuning
from streams.match_index import ReferralRecord
from streams.matching_logic import FeedbackMatcher
from streams.metrics import INDEX_LOAD_SECONDS

__all__ = ["REVIEW_PREFIX", "GlobalIndex", "IndexLoad", "build_index"]

log = logging.getLogger(__name__)

#: Store keys: the digest of each referral entry read from the topic, and the last offset
#: read of each partition of the referrals topic (see :mod:`streams.engine.match_store`).
_DIGEST = b"d"
_OFFSET = b"\x00offset"
#: Store key prefix of parked-feedback entries once settled (:meth:`GlobalIndex.parked`).
_SETTLED = b"q"
_SETTLED_END = b"r"
#: Key prefix of the automatic matches kept for review (:attr:`GlobalIndex.reviews`).
REVIEW_PREFIX = "review|"
#: Index records applied per read (recovery reads until the topics' ends).
_READ_AT_ONCE = 10_000


#: The index consumer reads uncommitted records (a worker's entries are acknowledged, not
#: transactional) and is told where each partition ends, so an end past the last record
#: (compacted away) still counts as read (:meth:`GlobalIndex.has_read`).
_INDEX_CONSUMER: dict[str, Any] = {"isolation.level": "read_uncommitted",
                                   "enable.partition.eof": True}


class GlobalIndex:
    """The referral matcher and the parked-feedback entries, fed by their topics.

    With a ``directory`` the referral indexes live in a local RocksDB store
    (:mod:`streams.engine.match_store`) that remembers how far it has read each partition
    of the referrals topic; without one (tests, the offline harness) on the heap. Parked
    feedback is re-read from its topic on every start: what still waits for a person or a
    referral onto the heap, what was settled (one entry per feedback ever parked) and the
    matches kept for review (:mod:`streams.engine.reviews`) into the store.
    """

    def __init__(self, referrals_topic: str, pending_topic: str,
                 parameters: MatchingParameters, directory: Path | None = None) -> None:
        self.referrals_topic = referrals_topic
        self.pending_topic = pending_topic
        self.directory = directory
        self._db: Rdict | None = open_index_store(directory) if directory else None
        self._storage = RocksMatchStorage(self._db) if self._db is not None else None
        self.matcher = FeedbackMatcher(parameters, self._storage)
        #: The parked-feedback entries still open (what the passes try again); settled
        #: ones are in the store (:meth:`parked`).
        self.pending: dict[str, dict[str, Any]] = {}
        #: What the index keeps besides the matcher's records (digests, offsets, reviews):
        #: in the local store, or here when there is none.
        self._heap_store = HeapRawStore()
        #: Automatic matches that a later referral may overturn, by ``review|<feedback
        #: id>`` (see :meth:`streams.engine.matching.MatchingProcessor.reconsider`). Read
        #: from the same topic as ``pending``, kept apart (and off the heap, see
        #: :mod:`streams.engine.reviews`) so the parked-feedback passes never see them.
        self.reviews = ReviewEntries(self._raw_store)
        #: Keys of the parked-feedback entries still open, by the referral number their
        #: feedback quotes: the
        #: batch that indexes a referral matches them at once
        #: (:meth:`~streams.engine.matching.MatchingProcessor.rematch_quoting`).
        self.pending_by_referral: dict[str, set[str]] = {}
        #: Digests of entries this worker wrote and has not read back from the topic yet.
        #: Not persisted: after a crash the entry counts as unknown and is written again
        #: (its batch is replayed), so an entry never lives only in the local store.
        self._sent: dict[str, bytes] = {}
        self._consumer: Consumer | None = None
        #: The next offset to apply of each partition read (what :meth:`has_read` asks;
        #: librdkafka's position is unknown until a partition returns a record).
        self._read_to: dict[tuple[str, int], int] = {}
        #: True when this start's store was built by a child process (see _prebuild).
        self.prebuilt = False

    def _raw_store(self) -> RawStore:
        return self._storage if self._storage is not None else self._heap_store

    def _stored_digest(self, key: str) -> bytes | None:
        """The digest of the referral entry read under ``key`` (what :meth:`knows`
        compares; the matcher holds the records themselves)."""
        return self._raw_store().get_raw(_DIGEST + key.encode("utf-8"))

    def _store_digest(self, key: str, digest: bytes) -> None:
        self._raw_store().put_raw(_DIGEST + key.encode("utf-8"), digest)

    def apply(self, topic: str, key: str, value: dict[str, Any] | None) -> None:
        """Apply one index entry read from its topic."""
        if value is None:
            return
        if topic == self.pending_topic:
            self._apply_pending(key, value)
            return
        digest = _digest(value)
        if self._sent.get(key) == digest:
            del self._sent[key]
        if self._stored_digest(key) == digest:
            return
        self._store_digest(key, digest)
        self._apply_referral(key, value)

    def apply_local(self, topic: str, key: str, value: dict[str, Any]) -> None:
        """Apply an entry this worker is writing to the topic now (visible at once)."""
        if topic == self.pending_topic:
            self._apply_pending(key, value)
            return
        self._sent[key] = _digest(value)
        self._apply_referral(key, value)

    def parked(self, key: str) -> dict[str, Any] | None:
        """The parked-feedback entry under ``key``, open or settled (None: never parked)."""
        entry = self.pending.get(key)
        if entry is not None:
            return entry
        stored = self._raw_store().get_raw(_SETTLED + key.encode("utf-8"))
        return orjson.loads(stored) if stored is not None else None

    def _apply_pending(self, key: str, value: dict[str, Any]) -> None:
        # Read back from the topic, an entry this worker wrote (one dict under the
        # feedback's and the unmatched event's ids) stays one object, not two copies.
        if key.startswith(REVIEW_PREFIX):
            self.reviews.put(key, value)
            return
        previous = self.pending.get(key)
        if previous == value:
            return
        if previous is not None:
            self._quoted(key, previous, add=False)
        if value.get("resolved") or not value.get("feedback"):
            # Settled: only that it was, kept with the store (one per feedback ever
            # parked), not on the heap. An entry parked again goes back on the heap.
            self.pending.pop(key, None)
            self._raw_store().put_raw(_SETTLED + key.encode("utf-8"), orjson.dumps(value))
            return
        self.pending[key] = value
        self._quoted(key, value, add=True)

    def _quoted(self, key: str, entry: dict[str, Any], *, add: bool) -> None:
        """Keep :attr:`pending_by_referral` in step with one parked-feedback entry."""
        feedback = entry.get("feedback")
        if not feedback:
            return
        number = feedback[2].get("referral_number")
        if not number:
            return
        waiting = self.pending_by_referral.setdefault(number, set())
        if add:
            waiting.add(key)
            return
        waiting.discard(key)
        if not waiting:
            del self.pending_by_referral[number]

    def _apply_referral(self, key: str, value: dict[str, Any]) -> None:
        if key.startswith("r|"):
            self.matcher.add(ReferralRecord.from_dict(value))
        elif key.startswith("p|") and value.get("unlinked"):
            self.matcher.unlink_police_case(value["unit"], value["number"], value["case_id"])
        elif key.startswith("p|"):
            self.matcher.link_police_case(value["unit"], value["number"], value["case_id"])

    def knows(self, key: str, value: dict[str, Any]) -> bool:
        """True when the referral index already holds exactly this entry."""
        digest = _digest(value)
        return self._sent.get(key) == digest or self._stored_digest(key) == digest

    def _resume_offsets(self, consumer: Consumer) -> dict[tuple[str, int], int]:
        """Where each referral partition's reading resumes (the store's offsets + 1)."""
        if self._db is None:
            return {}
        resume: dict[tuple[str, int], int] = {}
        for key, value in self._db.items(from_key=_OFFSET):
            if not isinstance(key, bytes) or not key.startswith(_OFFSET):
                break
            topic, number = orjson.loads(key[len(_OFFSET):])
            resume[(topic, number)] = int(value) + 1
        for (topic, number), offset in resume.items():
            end = end_offset(consumer, topic, number)
            if offset > end:  # the topic was recreated: the store describes another log
                log.warning("index store ahead of %s[%d] (%d > %d): rebuilding", topic,
                            number, offset, end)
                self._rebuild()
                return {}
        return resume

    def _prebuild(self, bootstrap: str, security: KafkaSecurity | None, client_id: str,
                  group_id: str | None) -> None:
        """Build the empty local store in a child process, then reopen it here.

        Why a process: deriving the index from a whole topic is Python work (~60 µs a
        referral: 32 s for 500,000), and the worker meanwhile replays its case stores and
        joins its group. A thread shares the interpreter lock with both; a process runs on
        the machine's other core. Only one process has the store open at a time. If the
        child fails, this process builds what is missing itself (the store's offsets say
        how far the child got).
        """
        assert self._db is not None and self.directory is not None
        self._db.close()
        # It holds nothing of the topic; built anew it also loads faster than reopened
        # (100,000 referrals: 5.3 against 7.9 s, the one-key table left by the reopened
        # store's close slowed every later lookup).
        shutil.rmtree(self.directory, ignore_errors=True)
        # A new interpreter, not multiprocessing's spawn: that re-imports the caller's
        # main module, which not every program that embeds a worker guards.
        arguments = {
            "referrals_topic": self.referrals_topic, "pending_topic": self.pending_topic,
            "parameters": self.matcher.parameters, "directory": self.directory,
            "bootstrap": bootstrap, "security": security, "client_id": client_id,
            "group_id": group_id, "log_level": logging.getLogger().getEffectiveLevel()}
        child = subprocess.run([sys.executable, "-m", "streams.engine.index_build"],
                               input=pickle.dumps(arguments), check=False)
        self.prebuilt = child.returncode == 0
        if not self.prebuilt:
            log.warning("index build in a child process failed (exit %s); building here",
                        child.returncode)
        self._db = open_index_store(self.directory)
        self._storage = RocksMatchStorage(self._db)
        self.matcher.storage = self._storage

    def _forget_parked_cache(self) -> None:
        """Drop the review and settled entries kept in the store: the parked-feedback
        topic is read again from its beginning now, and an entry this worker wrote
        before a failure may never have reached it (see :mod:`streams.engine.reviews`)."""
        if self._db is None:
            return
        assert self._storage is not None
        self._storage.flush()
        for start, end in (REVIEW_KEYS, (_SETTLED, _SETTLED_END)):
            self._db.delete_range(start, end)

    def _rebuild(self) -> None:
        assert self._db is not None and self.directory is not None
        self._db.close()
        shutil.rmtree(self.directory, ignore_errors=True)
        self._db = open_index_store(self.directory)
        self._storage = RocksMatchStorage(self._db)
        self.matcher.storage = self._storage

    def _remember_offsets(self, records: list[Message]) -> None:
        """Stage the offsets read with the entries they brought, and write both at once."""
        storage = self._storage
        if storage is None:
            return
        last: dict[tuple[str, int], int] = {}
        for record in records:
            if record.error() is not None:  # the end of a partition is not a record
                continue
            topic, number, offset = record.topic(), record.partition(), record.offset()
            if topic == self.referrals_topic and number is not None and offset is not None:
                last[(topic, number)] = offset
        for (topic, number), offset in last.items():
            storage.put_raw(_OFFSET + orjson.dumps([topic, number]),
                            str(offset).encode("ascii"))
        storage.flush()

    def start(self, bootstrap: str, security: KafkaSecurity | None,
              client_id: str = "liangfa", group_id: str | None = None,
              prebuild: bool = False) -> None:
        """Read both topics to their current end; :meth:`poll` then keeps up with them.

        ``group_id`` only names the consumer (it assigns, never joins or commits): under
        the engine's application id, the one group prefix its principal may use. With
        ``prebuild`` an empty local store is first built by a child process (see
        :meth:`_prebuild`); this process then reads only what came after.
        """
        consumer = make_engine_consumer(bootstrap, group_id=group_id, security=security,
                                        client_id=f"{client_id}-index",
                                        **_INDEX_CONSUMER)
        self._consumer = consumer
        partitions: list[TopicPartition] = []
        for topic in (self.referrals_topic, self.pending_topic):
            partitions += [TopicPartition(topic, number, OFFSET_BEGINNING)
                           for number in topic_partition_numbers(consumer, topic)]
        resume = self._resume_offsets(consumer)
        if prebuild and self._db is not None and not resume and sum(
                end_offset(consumer, tp.topic, tp.partition) for tp in partitions
                if tp.topic == self.referrals_topic
        ) >= EngineTuning.from_environment().index_prebuild_minimum:
            self._prebuild(bootstrap, security, client_id, group_id)
            resume = self._resume_offsets(consumer)
        self._forget_parked_cache()
        remaining: dict[tuple[str, int], int] = {}
        for tp in partitions:
            tp.offset = resume.get((tp.topic, tp.partition), OFFSET_BEGINNING)
            self._read_to[(tp.topic, tp.partition)] = max(tp.offset, 0)
            end = end_offset(consumer, tp.topic, tp.partition)
            if end > max(tp.offset, 0):
                remaining[(tp.topic, tp.partition)] = end
        consumer.assign(partitions)
        position = {place: max(resume.get(place, 0), 0) for place in remaining}
        while remaining:
            # No more than what is left (librdkafka waits for the whole count).
            wanted = sum(remaining[place] - position[place] for place in remaining)
            for record in self._read(consumer, timeout_s=0.5,
                                     count=max(1, min(wanted, _READ_AT_ONCE))):
                name, number, offset = record.topic(), record.partition(), record.offset()
                if name is None or number is None or offset is None:
                    continue
                last = remaining.get((name, number))
                if last is None:
                    continue
                position[(name, number)] = offset + 1
                if offset >= last - 1:
                    del remaining[(name, number)]
        log.info("matching index loaded: %d referrals, %d parked feedback",
                 len(self.matcher), len(self.pending))

    def load_in_background(self, bootstrap: str, security: KafkaSecurity | None,
                           client_id: str = "liangfa",
                           group_id: str | None = None) -> IndexLoad:
        """:meth:`start` on a thread of its own; the caller awaits :meth:`IndexLoad.ready`.

        Why: on an empty data directory the worker rebuilds the index (a Python-bound
        derivation) and replays its case stores (mostly waiting on the broker's fetches
        and RocksDB writes); one after the other they added up, side by side they
        overlap. Nothing reads the index before it is ready: the worker awaits it before
        its first batch, sweep or rematch.
        """
        return IndexLoad(self, bootstrap, security, client_id, group_id)

    def poll(self) -> None:
        """Apply what other workers (and this one) wrote since the last call; no waiting."""
        if self._consumer is not None:
            while len(self._read(self._consumer, timeout_s=0.0)) >= _READ_AT_ONCE:
                pass

    def end_offsets(self) -> list[TopicPartition]:
        """The current end offset of every partition the index reads (one request)."""
        consumer = self._consumer
        if consumer is None:
            return []
        partitions = [TopicPartition(tp.topic, tp.partition, OFFSET_END)
                      for tp in consumer.assignment()]
        if not partitions:
            return []
        return checked_offsets(consumer.offsets_for_times(partitions, timeout=1))

    def has_read(self, ends: Sequence[TopicPartition]) -> bool:
        """Whether every record below ``ends`` has been applied (see
        :mod:`streams.engine.frontier`); reads what has come in first."""
        if self._consumer is None:
            return True
        self.poll()
        read_to = self._read_to
        return all(read_to.get((end.topic, end.partition), 0) >= end.offset
                   for end in ends if end.offset > 0)

    def _read(self, consumer: Consumer, timeout_s: float,
              count: int = _READ_AT_ONCE) -> list[Message]:
        records = consumer.consume(num_messages=count, timeout=timeout_s)
        read_to = self._read_to
        for record in records:
            topic, number, offset = record.topic(), record.partition(), record.offset()
            error = record.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("matching index: %s", error)
                elif topic is not None and number is not None and offset is not None:
                    read_to[(topic, number)] = max(read_to.get((topic, number), 0), offset)
                continue
            if topic is None:
                continue
            if number is not None and offset is not None:
                read_to[(topic, number)] = offset + 1
            key, value = record.key(), record.value()
            if key is None or value is None:
                continue
            self.apply(topic, key.decode("utf-8"), orjson.loads(value))
        self._remember_offsets(records)
        return records

    def stop(self) -> None:
        """Stop reading the topics; close the store."""
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
        if self._db is not None:
            if self._storage is not None:
                self._storage.flush()
            self._db.close()
            self._db = None


def build_index(referrals_topic: str, pending_topic: str, parameters: MatchingParameters,
                directory: Path, bootstrap: str, security: KafkaSecurity | None,
                client_id: str, group_id: str | None, log_level: int) -> None:
    """What the child process of :meth:`GlobalIndex._prebuild` runs
    (:mod:`streams.engine.index_build`): read the topics into the store, close it."""
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(message)s")
    index = GlobalIndex(referrals_topic, pending_topic, parameters, directory=directory)
    try:
        index.start(bootstrap, security, client_id=f"{client_id}-build", group_id=group_id)
    finally:
        index.stop()


def _digest(value: dict[str, Any]) -> bytes:
    """16 bytes that differ when the entries differ (canonical JSON, sorted keys)."""
    return hashlib.blake2b(orjson.dumps(value, option=orjson.OPT_SORT_KEYS),
                           digest_size=16).digest()


class IndexLoad:
    """A :meth:`GlobalIndex.start` running on its own thread (see ``load_in_background``)."""

    def __init__(self, index: GlobalIndex, bootstrap: str, security: KafkaSecurity | None,
                 client_id: str, group_id: str | None) -> None:
        self._error: BaseException | None = None
        self._started = time.monotonic()
        self._thread = threading.Thread(
            target=self._run, args=(index, bootstrap, security, client_id, group_id),
            name=f"{client_id}-index-load", daemon=True)
        self._thread.start()

    def _run(self, index: GlobalIndex, bootstrap: str, security: KafkaSecurity | None,
             client_id: str, group_id: str | None) -> None:
        try:
            index.start(bootstrap, security, client_id=client_id, group_id=group_id,
                        prebuild=True)
            # Beside the stores' restore time: whichever is longer is the start's
            # critical path (on an empty data directory, this one so far).
            INDEX_LOAD_SECONDS.set(time.monotonic() - self._started)
        except BaseException as error:  # noqa: BLE001 - re-raised on the caller's side
            self._error = error

    def done(self) -> bool:
        """True once the load has finished (or failed)."""
        return not self._thread.is_alive()

    def wait(self) -> None:
        """Block until the index is loaded; raise what the load raised."""
        self._thread.join()
        if self._error is not None:
            raise self._error

    async def ready(self) -> None:
        """Await the load without blocking the event loop; raise what it raised."""
        await asyncio.to_thread(self._thread.join)
        self.wait()

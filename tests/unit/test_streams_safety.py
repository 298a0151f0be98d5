"""The guard that keeps agent loops alive, and the dead-letter headers it writes."""

from __future__ import annotations

import asyncio

import pytest

from hub.errors import ConfigError, RecordRejected, RetriableError
from streams.metrics import DEAD_LETTERED, PROCESSED
from streams.safety import (
    ERROR_HEADERS,
    Guard,
    RawRecord,
    dead_letter_headers,
    describe_error,
    headers_dict,
)

RECORD = RawRecord(
    topic="lf.ingest.11421181MB00000013.penalties",
    partition=2,
    offset=41,
    key=b"case-1",
    value=b"\x00\x00\x00\x00\x01payload",
    headers=(("ce_id", b"event-1"), ("error.type", b"stale")),
)


class Sent:
    """Collects what the guard produced (the callable a worker passes in)."""

    def __init__(self, failures: int = 0) -> None:
        self.records: list[tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]] = []
        self.failures = failures

    async def __call__(self, topic: str, key: bytes | None, value: bytes | None,
                       headers: list[tuple[str, bytes]]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("broker away")
        self.records.append((topic, key, value, headers))


def test_dead_letter_headers_keep_originals_and_replace_old_error_headers() -> None:
    headers = dead_letter_headers(RECORD, processor="normalize", error_type="bad-magic",
                                  reason="first byte 7")
    names = [name for name, _ in headers]
    assert names == ["ce_id", *ERROR_HEADERS]
    values = headers_dict(headers)
    assert values["error.type"] == b"bad-magic"
    assert values["error.reason"] == b"first byte 7"
    assert values["source.topic"] == RECORD.topic.encode()
    assert values["source.partition"] == b"2"
    assert values["source.offset"] == b"41"
    assert values["processor"] == b"normalize"


def test_long_reasons_are_cut_on_a_character_boundary() -> None:
    headers = headers_dict(dead_letter_headers(
        RECORD, processor="p", error_type="t", reason="案" * 5000))
    reason = headers["error.reason"]
    assert reason.endswith(b"...")
    assert len(reason) <= 2003
    reason[:-3].decode("utf-8")  # still valid UTF-8


def test_describe_error_names_rejections_hub_errors_and_surprises() -> None:
    rejected = RecordRejected("unit mismatch", field="source_unit", value="X",
                              error_type="source-mismatch")
    assert describe_error(rejected) == (
        "source-mismatch", "unit mismatch (field source_unit='X')")
    assert describe_error(ConfigError("bad rules")) == ("ConfigError", "bad rules")
    assert describe_error(KeyError("k")) == ("unexpected:KeyError", "'k'")


async def test_guard_passes_success_through_and_counts_it() -> None:
    sent = Sent()
    guard = Guard("unit-test-ok", "dlq", sent)
    before = PROCESSED.labels("unit-test-ok")._value.get()
    handled: list[int] = []

    async def handler() -> None:
        handled.append(1)

    assert await guard.run(RECORD, handler) is True
    assert handled == [1]
    assert sent.records == []
    assert PROCESSED.labels("unit-test-ok")._value.get() == before + 1


async def test_guard_dead_letters_a_failure_with_the_original_bytes() -> None:
    sent = Sent()
    guard = Guard("unit-test-fail", "lf.dlq.streams", sent)

    async def handler() -> None:
        raise ValueError("boom")

    assert await guard.run(RECORD, handler) is False
    [(topic, key, value, headers)] = sent.records
    assert (topic, key, value) == ("lf.dlq.streams", RECORD.key, RECORD.value)
    assert headers_dict(headers)["error.type"] == b"unexpected:ValueError"
    assert DEAD_LETTERED.labels("unit-test-fail", "unexpected:ValueError")._value.get() == 1


async def test_guard_retries_retriable_errors_then_succeeds() -> None:
    sent = Sent()
    guard = Guard("unit-test-retry", "dlq", sent, retries=3, retry_backoff_s=0.0)
    attempts: list[int] = []

    async def handler() -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise RetriableError("registry blip")

    assert await guard.run(RECORD, handler) is True
    assert len(attempts) == 3
    assert sent.records == []


async def test_guard_dead_letters_when_retries_run_out() -> None:
    sent = Sent()
    guard = Guard("unit-test-exhausted", "dlq", sent, retries=2, retry_backoff_s=0.0)
    attempts: list[int] = []

    async def handler() -> None:
        attempts.append(1)
        raise RetriableError("registry down")

    assert await guard.run(RECORD, handler) is False
    assert len(attempts) == 3
    assert headers_dict(sent.records[0][3])["error.type"] == b"RetriableError"


async def test_guard_waits_for_the_dead_letter_topic_rather_than_lose_the_record() -> None:
    sent = Sent(failures=2)
    guard = Guard("unit-test-dlq-retry", "dlq", sent, retry_backoff_s=0.0)

    async def handler() -> None:
        raise RecordRejected("bad", error_type="undecodable")

    assert await guard.run(RECORD, handler) is False
    assert len(sent.records) == 1


async def test_guard_never_swallows_cancellation() -> None:
    guard = Guard("unit-test-cancel", "dlq", Sent())

    async def handler() -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await guard.run(RECORD, handler)


async def test_context_manager_form_dead_letters_and_continues() -> None:
    sent = Sent()
    guard = Guard("unit-test-context", "dlq", sent)
    async with guard.record(RECORD):
        raise RecordRejected("no", error_type="tombstone")
    assert headers_dict(sent.records[0][3])["error.type"] == b"tombstone"


def test_raw_record_header_lookup() -> None:
    assert RECORD.header("ce_id") == b"event-1"
    assert RECORD.header("missing") is None

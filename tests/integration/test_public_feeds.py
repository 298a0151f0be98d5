"""The public feeds on the real broker and registry: masked copies, nothing lost or doubled.

A natural person's name and ID number never reach ``lf.public.*``; an organisation's
name does; the copy keeps the event id, key and CloudEvents headers; a record that cannot
be decoded goes to the dead-letter topic and the feed carries on; a restarted publisher
resumes after what it committed, writing nothing twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hub.calendar import china_date
from hub.config import HubSettings
from hub.identity import resident_id_check_char
from hub.kafka import make_consumer, make_producer
from hub.models import (
    CaseEvent,
    CaseReferred,
    CaseState,
    IdDocumentType,
    Party,
    PartyCategory,
    PenaltyCaseRecorded,
)
from hub.models.examples import example_events
from hub.registry import SchemaRegistryClient
from hub.rules.masking import load_masking
from hub.serde import AvroSerde
from streams.masking_logic import public_id
from streams.public import PublicFeedPublisher
from streams.safety import headers_dict

#: A fictional key of the event ids' pseudonyms (the publisher's LIANGFA_PUBLIC_ID_KEY).
ID_KEY = b"fictional-public-id-key-0123456789"
pytestmark = pytest.mark.integration


async def _produce(bootstrap: str, registry_url: str, topic: str,
                   records: list[CaseEvent | bytes | None], key: bytes = b"case") -> None:
    async with SchemaRegistryClient(registry_url) as registry:
        serde = AvroSerde(registry)
        producer = make_producer(bootstrap, client_id="public-tests")
        await producer.start()
        try:
            for record in records:
                if isinstance(record, CaseEvent):
                    serialized = await serde.serialize(record)
                    await producer.send(topic, serialized.value, key=serialized.key,
                                        headers=serialized.headers)
                else:
                    await producer.send(topic, record, key=key)
            await producer.flush()
        finally:
            await producer.stop()


async def _read_all(bootstrap: str, topic: str, *, expect: int,
                    settle_s: float = 0.0) -> list[Any]:
    """Every record of ``topic`` once ``expect`` arrived (then ``settle_s`` more, so that
    a duplicate written late would be seen too)."""
    consumer = make_consumer(bootstrap, topic, group_id=None)
    await consumer.start()
    try:
        records: list[Any] = []
        deadline = time.monotonic() + 60
        settle_until: float | None = None
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for messages in batch.values():
                records.extend(messages)
            if len(records) >= expect and settle_until is None:
                settle_until = time.monotonic() + settle_s
            if settle_until is not None and time.monotonic() >= settle_until:
                break
        return records
    finally:
        await consumer.stop()


async def _publish_until(publisher: PublicFeedPublisher, done: Callable[[], bool]) -> None:
    task = asyncio.create_task(publisher.run())
    deadline = time.monotonic() + 60
    while not done() and time.monotonic() < deadline and not task.done():
        await asyncio.sleep(0.1)
    publisher.stopping.set()
    await task


async def test_public_copies_are_masked_and_a_restart_writes_nothing_twice(
    bootstrap: str, registry_url: str, topic_factory: Callable[..., str], group_id: str
) -> None:
    internal_events = topic_factory("public.in.events", partitions=2)
    internal_state = topic_factory("public.in.state", compacted=True)
    public_events = topic_factory("public.out.events", partitions=2)
    public_state = topic_factory("public.out.state", compacted=True)
    dead_letters = topic_factory("public.dlq")
    examples = example_events()
    referral = examples["cn.liangfa.events.CaseReferred"]
    assert isinstance(referral, CaseReferred)
    person = next(p for p in referral.parties if p.category is PartyCategory.NATURAL_PERSON)
    company = next(p for p in referral.parties if p.category is PartyCategory.LEGAL_PERSON)
    assert person.id_number and company.legal_representative
    state = examples["cn.liangfa.events.CaseState"]

    await _produce(bootstrap, registry_url, internal_events,
                   [referral, b"\x00\x00\x00\x00\x07not avro at all"])
    await _produce(bootstrap, registry_url, internal_state, [state, None], key=b"gone")

    settings = HubSettings(bootstrap=bootstrap, registry_url=registry_url)
    topics = {internal_events: public_events, internal_state: public_state}
    publisher = PublicFeedPublisher(settings, load_masking(), id_key=ID_KEY,
                                    group_id=group_id, dead_letter_topic=dead_letters,
                                    topics=topics)
    await _publish_until(publisher, lambda: publisher.counts.dead_lettered == 1
                         and sum(publisher.counts.published.values()) == 3)
    assert publisher.counts.published == {public_events: 1, public_state: 2}
    assert publisher.counts.masked_values >= 4

    async with SchemaRegistryClient(registry_url) as registry:
        serde = AvroSerde(registry)
        (copy,) = await _read_all(bootstrap, public_events, expect=1)
        masked = await serde.decode(copy.value)
    assert isinstance(masked, CaseReferred)
    # The event id is a hash of the unmasked event: published, it would confirm guesses
    # of the masked ID number. Its keyed pseudonym is published instead, in the record
    # and its header alike.
    assert masked.event_id == public_id(ID_KEY, referral.event_id) != referral.event_id
    assert copy.key == referral.kafka_key()
    assert headers_dict(copy.headers)["ce_id"] == masked.event_id.encode()
    assert referral.event_id.encode() not in copy.value
    parties = {p.category: p for p in masked.parties}
    masked_person = parties[PartyCategory.NATURAL_PERSON]
    assert masked_person.name == person.name[0] + "某"
    assert masked_person.id_number == person.id_number[:6] + "*" * 12
    masked_company = parties[PartyCategory.LEGAL_PERSON]
    assert masked_company.name == company.name
    assert masked_company.credit_code == company.credit_code
    assert masked_company.legal_representative == company.legal_representative[0] + "某"
    serialized_copy = copy.value.decode("latin-1")
    assert person.id_number not in serialized_copy
    assert person.name not in copy.value.decode("utf-8", errors="replace")

    state_copies = await _read_all(bootstrap, public_state, expect=2)
    assert [r.value is None for r in state_copies] == [False, True]  # tombstone kept

    (dead,) = await _read_all(bootstrap, dead_letters, expect=1)
    dead_headers = headers_dict(dead.headers)
    assert dead_headers["processor"] == b"public"
    assert dead_headers["source.topic"] == internal_events.encode()
    assert dead.value == b"\x00\x00\x00\x00\x07not avro at all"

    # Restart: the new publisher starts after what was committed and adds only the new.
    later = examples["cn.liangfa.events.FilingDecided"]
    await _produce(bootstrap, registry_url, internal_events, [later])
    again = PublicFeedPublisher(settings, load_masking(), id_key=ID_KEY, group_id=group_id,
                                dead_letter_topic=dead_letters, topics=topics)
    await _publish_until(again, lambda: sum(again.counts.published.values()) >= 1)
    assert again.counts.published == {public_events: 1}
    assert again.counts.dead_lettered == 0
    copies = await _read_all(bootstrap, public_events, expect=2, settle_s=1.0)
    async with SchemaRegistryClient(registry_url) as registry:
        serde = AvroSerde(registry)
        ids = [(await serde.decode(r.value)).event_id for r in copies]
    assert sorted(ids) == sorted(public_id(ID_KEY, e.event_id) for e in (referral, later))


async def test_a_childs_case_and_a_penalty_past_its_disclosure_are_withheld_whole(
    bootstrap: str, registry_url: str, topic_factory: Callable[..., str], group_id: str
) -> None:
    """Masking a child's name leaves the case, its unit and dates, which identify the
    child: such records are not published at all, and the child's case state published
    before is removed (a tombstone on the compacted feed). A penalty past its 公示截止期
    is not published again either. An adult's penalty in its period still is."""
    internal_events = topic_factory("withheld.in.events")
    internal_state = topic_factory("withheld.in.state", compacted=True)
    public_events = topic_factory("withheld.out.events")
    public_state = topic_factory("withheld.out.state", compacted=True)
    dead_letters = topic_factory("withheld.dlq")
    examples = example_events()
    penalty = examples["cn.liangfa.events.PenaltyCaseRecorded"]
    state = examples["cn.liangfa.events.CaseState"]
    assert isinstance(penalty, PenaltyCaseRecorded) and isinstance(state, CaseState)
    today = china_date(datetime.now(UTC))
    # Sixteen on the decision day, and the penalty still in its disclosure period.
    born = penalty.decision_date.replace(year=penalty.decision_date.year - 16)
    first17 = "429901" + born.strftime("%Y%m%d") + "031"
    child = Party(name="童示例", category=PartyCategory.NATURAL_PERSON,
                  id_type=IdDocumentType.RESIDENT_ID,
                  id_number=first17 + resident_id_check_char(first17))
    in_period = today + timedelta(days=365)
    adults = penalty.model_copy(update={"disclosure_deadline": in_period})
    childs = penalty.model_copy(update={
        "event_id": "withheld-child", "parties": [*penalty.parties, child],
        "disclosure_deadline": in_period})
    expired = penalty.model_copy(update={
        "event_id": "withheld-expired", "disclosure_deadline": today - timedelta(days=30)})
    childs_state = state.model_copy(update={"parties": [*state.parties, child]})
    await _produce(bootstrap, registry_url, internal_events, [childs, expired, adults])
    await _produce(bootstrap, registry_url, internal_state, [state, childs_state],
                   key=state.kafka_key())

    settings = HubSettings(bootstrap=bootstrap, registry_url=registry_url)
    publisher = PublicFeedPublisher(
        settings, load_masking(), id_key=ID_KEY, group_id=group_id,
        dead_letter_topic=dead_letters,
        topics={internal_events: public_events, internal_state: public_state})
    await _publish_until(publisher, lambda: sum(publisher.counts.withheld.values()) == 3)
    assert publisher.counts.withheld == {"minor": 2, "disclosure-ended": 1}
    assert publisher.counts.dead_lettered == 0

    (published,) = await _read_all(bootstrap, public_events, expect=1, settle_s=1.0)
    async with SchemaRegistryClient(registry_url) as registry:
        copy = await AvroSerde(registry).decode(published.value)
    assert copy.event_id == public_id(ID_KEY, adults.event_id)
    assert b"429901" + born.strftime("%Y%m%d").encode() not in published.value
    # The adult's state was published, then removed when the child joined the case.
    states = await _read_all(bootstrap, public_state, expect=2, settle_s=1.0)
    assert [(r.key, r.value is None) for r in states] == [
        (state.kafka_key(), False), (state.kafka_key(), True)]


async def test_a_case_state_past_its_disclosure_deadline_is_withdrawn(
    bootstrap: str, registry_url: str, topic_factory: Callable[..., str], group_id: str
) -> None:
    """The case state carries its latest penalty's 公示截止期. In the period it is
    published; read again after it (the engine emits it again when the period ends) the
    case is withdrawn: a tombstone on the compacted feed."""
    internal_state = topic_factory("disclosure.in.state", compacted=True)
    public_state = topic_factory("disclosure.out.state", compacted=True)
    state = example_events()["cn.liangfa.events.CaseState"]
    assert isinstance(state, CaseState)
    today = china_date(datetime.now(UTC))
    in_period = state.model_copy(update={"disclosure_deadline": today})
    ended = state.model_copy(update={"disclosure_deadline": today - timedelta(days=1)})
    await _produce(bootstrap, registry_url, internal_state, [in_period, ended],
                   key=state.kafka_key())

    settings = HubSettings(bootstrap=bootstrap, registry_url=registry_url)
    publisher = PublicFeedPublisher(
        settings, load_masking(), id_key=ID_KEY, group_id=group_id,
        dead_letter_topic=topic_factory("disclosure.dlq"),
        topics={internal_state: public_state})
    await _publish_until(publisher, lambda: sum(publisher.counts.withheld.values()) == 1)
    assert publisher.counts.withheld == {"disclosure-ended": 1}

    states = await _read_all(bootstrap, public_state, expect=2, settle_s=1.0)
    assert [(r.key, r.value is None) for r in states] == [
        (state.kafka_key(), False), (state.kafka_key(), True)]
    async with SchemaRegistryClient(registry_url) as registry:
        published = await AvroSerde(registry).decode(states[0].value)
    assert isinstance(published, CaseState)
    assert published.disclosure_deadline == today

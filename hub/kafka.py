"""The hub's only way to build Kafka clients, so every producer is idempotent with acks=all.

Two clients, each where it was measured to fit (docs/decisions.md): aiokafka for the
asyncio edges (connectors, the view's bus, tests), confluent-kafka (librdkafka) for the
stream engine's hot loop, where its C fetch and produce paths cost a quarter of aiokafka's
CPU per record. aiokafka's producer is not idempotent by default and its admin client does
not raise per-topic errors; these wrappers fix both once for every caller, and build the
librdkafka settings from the same :class:`~hub.config.KafkaSecurity`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import re
import ssl
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient
from prometheus_client import Counter

from hub.config import KafkaSecurity

__all__ = [
    "BROKER_ERRORS",
    "ENGINE_MAX_MESSAGE_BYTES",
    "admin_client",
    "broker_answers",
    "client_options",
    "component_of",
    "consume_available",
    "end_offset",
    "librdkafka_config",
    "make_consumer",
    "make_engine_admin",
    "make_engine_consumer",
    "make_engine_producer",
    "make_producer",
    "topic_partition_numbers",
]

log = logging.getLogger(__name__)

#: The largest record the stream engine's producer sends (a case document of up to
#: 3.5 MiB, ``streams.engine.case_document.MAX_DOCUMENT_BYTES``, and its framing); the
#: engine's changelog topics take records of this size.
ENGINE_MAX_MESSAGE_BYTES = 4 * 1024 * 1024 + 64 * 1024

#: Errors the broker clients report, in every process built on these wrappers: a failed
#: send of an aiokafka producer (connectors, sinks, the view's outbox, the DLQ tools, the
#: audit sealer, the public feeds) and every error librdkafka reports to its error callback
#: (the stream workers' consumers and producers: transport failures, all brokers down,
#: authentication). ``component`` is the kind of process, never an instance or a unit, so
#: the label set stays small and stable.
BROKER_ERRORS = Counter(
    "liangfa_broker_errors_total",
    "Kafka client errors (failed sends, librdkafka error callbacks), by component and kind.",
    ["component", "kind"],
)


def component_of(client_id: str) -> str:
    """The process kind a client id names: ``connector-<id>`` is ``connector``,
    ``liangfa-view`` is ``view``, ``liangfa-dlq-replay`` is ``dlq``."""
    first = client_id.removeprefix("liangfa-").split("-", 1)[0]
    return first or "liangfa"


def _snake(name: str) -> str:
    """``NotLeaderForPartitionError`` and ``_ALL_BROKERS_DOWN`` as ``not_leader_for_partition``
    and ``all_brokers_down``: one spelling for both clients' error names."""
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name.removesuffix("Error"))
    return name.strip("_").lower() or "unknown"


def _librdkafka_error_counter(component: str) -> Any:
    """An ``error_cb`` for librdkafka that counts each reported error."""
    def count(error: KafkaError) -> None:
        BROKER_ERRORS.labels(component, _snake(error.name())).inc()
        log.warning("%s: Kafka client error %s", component, error)
    return count


def client_options(security: KafkaSecurity | None = None) -> dict[str, Any]:
    """aiokafka keyword arguments for TLS / SASL from the hub's security settings."""
    security = security or KafkaSecurity()
    options: dict[str, Any] = {"security_protocol": security.security_protocol}
    if security.security_protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(
            cafile=str(security.ssl_cafile) if security.ssl_cafile else None)
        if security.ssl_certfile:
            context.load_cert_chain(
                str(security.ssl_certfile),
                str(security.ssl_keyfile) if security.ssl_keyfile else None)
        options["ssl_context"] = context
    if security.sasl_mechanism:
        options["sasl_mechanism"] = security.sasl_mechanism
        options["sasl_plain_username"] = security.sasl_username
        options["sasl_plain_password"] = (
            security.sasl_password.get_secret_value() if security.sasl_password else None)
    return options


def librdkafka_config(bootstrap: str, security: KafkaSecurity | None = None
                      ) -> dict[str, Any]:
    """librdkafka settings equivalent to :func:`client_options` (TLS, SASL)."""
    security = security or KafkaSecurity()
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "security.protocol": security.security_protocol,
        "socket.timeout.ms": 15_000,
    }
    if security.ssl_cafile:
        config["ssl.ca.location"] = str(security.ssl_cafile)
    if security.ssl_certfile:
        config["ssl.certificate.location"] = str(security.ssl_certfile)
    if security.ssl_keyfile:
        config["ssl.key.location"] = str(security.ssl_keyfile)
    if security.sasl_mechanism:
        config["sasl.mechanism"] = security.sasl_mechanism
        config["sasl.username"] = security.sasl_username or ""
        config["sasl.password"] = (security.sasl_password.get_secret_value()
                                   if security.sasl_password else "")
    return config


def make_engine_producer(bootstrap: str, *, security: KafkaSecurity | None = None,
                         client_id: str = "liangfa", component: str = "streams",
                         **overrides: Any) -> Producer:
    """The engine's librdkafka producer: idempotent, acks=all, Java's key partitioner.

    ``murmur2_random`` places a keyed record where the Java client and aiokafka would
    (librdkafka's own default hashes with CRC32), so every producer of a topic agrees on
    the partition of a case.
    """
    config: dict[str, Any] = {
        **librdkafka_config(bootstrap, security),
        "client.id": client_id,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 10,
        "partitioner": "murmur2_random",
        "compression.type": "none",
        "message.max.bytes": ENGINE_MAX_MESSAGE_BYTES,
        "queue.buffering.max.messages": 500_000,
        "retry.backoff.ms": 200,
        "request.timeout.ms": 30_000,
        "error_cb": _librdkafka_error_counter(component),
    }
    config.update(overrides)
    return Producer(config)


def make_engine_admin(bootstrap: str, *, security: KafkaSecurity | None = None,
                      client_id: str = "liangfa", component: str = "streams") -> AdminClient:
    """The engine's librdkafka admin client, its errors counted like the producer's."""
    return AdminClient({**librdkafka_config(bootstrap, security), "client.id": client_id,
                        "error_cb": _librdkafka_error_counter(component)})


def make_engine_consumer(bootstrap: str, *, group_id: str | None,
                         security: KafkaSecurity | None = None, client_id: str = "liangfa",
                         component: str = "streams", **overrides: Any) -> Consumer:
    """The engine's librdkafka consumer: commits only when told to, reads committed data."""
    config: dict[str, Any] = {
        **librdkafka_config(bootstrap, security),
        "client.id": client_id,
        # librdkafka requires a group id even for a consumer that only assigns.
        "group.id": group_id or f"{client_id}-unused",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "enable.partition.eof": False,
        # librdkafka prefetches per partition (by default up to 64 MiB each): over the
        # engine's dozens of partitions that alone made a worker's RSS grow by ~400 MiB
        # during a backlog. 8 MiB per partition still holds several batches ahead.
        "queued.max.messages.kbytes": 8192,
        "queued.min.messages": 20_000,
        # When that queue is full librdkafka stops fetching the partition for
        # ``fetch.queue.backoff.ms`` (1,000 ms by default): a changelog restore of 2 KB
        # records filled it every few thousand records and sat idle for a second each
        # time (34,000 records in 3-4 s; 0.2 s with 10 ms).
        "fetch.queue.backoff.ms": 10,
        "error_cb": _librdkafka_error_counter(component),
    }
    config.update(overrides)
    return Consumer(config)


def consume_available(consumer: Consumer, most: int, timeout_s: float) -> list[Message]:
    """What the consumer has fetched, up to ``most`` records, waiting only while it has none.

    librdkafka's ``consume(n, timeout)`` returns after ``n`` records or the timeout, so a
    trickle of records waited the whole timeout per call (a 200 ms delay per batch at low
    rates); this returns as soon as anything is there, as aiokafka's ``getmany`` does.
    """
    records = consumer.consume(num_messages=most, timeout=0)
    if records:
        return records
    records = consumer.consume(num_messages=1, timeout=timeout_s)
    if records and most > 1:
        records += consumer.consume(num_messages=most - 1, timeout=0)
    return records


#: How long a new topic's metadata may take to reach a client after it was created.
_METADATA_WAIT_S = 60.0


def topic_partition_numbers(client: Consumer | Producer, topic: str,
                            wait_s: float = _METADATA_WAIT_S) -> list[int]:
    """The partition numbers of ``topic``, waiting while its metadata is not known yet.

    A topic created a moment ago (``prepare_topics``) is known to the controller before
    every broker's metadata cache has it: asked at once, a client sees no partitions.
    """
    deadline = time.monotonic() + wait_s
    while True:
        try:
            known = client.list_topics(topic, timeout=10).topics.get(topic)
            if known is not None and known.error is None and known.partitions:
                return sorted(known.partitions)
        except KafkaException as exc:
            if time.monotonic() >= deadline:
                raise
            log.info("metadata of %s not available yet (%s)", topic, exc)
        if time.monotonic() >= deadline:
            raise KafkaException(KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART,
                                            f"{topic}: no partitions after {wait_s} s"))
        time.sleep(0.5)


def end_offset(consumer: Consumer, topic: str, partition: int,
               wait_s: float = _METADATA_WAIT_S) -> int:
    """The high watermark of one partition, waiting while the partition is not known yet
    (see :func:`topic_partition_numbers`)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            _, end = consumer.get_watermark_offsets(TopicPartition(topic, partition),
                                                    timeout=10)
            return int(end)
        except KafkaException as exc:
            if time.monotonic() >= deadline:
                raise
            log.info("end offset of %s[%d] not available yet (%s)", topic, partition, exc)
            time.sleep(0.5)


class _CountingProducer(AIOKafkaProducer):  # type: ignore[misc]
    """aiokafka's producer, counting each failed send in :data:`BROKER_ERRORS`
    (``send_and_wait`` goes through ``send``)."""

    def __init__(self, *, component: str, **options: Any) -> None:
        super().__init__(**options)
        self._component = component

    def _count(self, exc: BaseException) -> None:
        BROKER_ERRORS.labels(self._component, _snake(type(exc).__name__)).inc()

    async def send(self, *args: Any, **kwargs: Any) -> Any:
        try:
            future = await super().send(*args, **kwargs)
        except Exception as exc:
            self._count(exc)
            raise

        def done(sent: asyncio.Future[Any]) -> None:
            if not sent.cancelled() and sent.exception() is not None:
                self._count(sent.exception())  # type: ignore[arg-type]

        future.add_done_callback(done)
        return future


def make_producer(bootstrap: str, *, security: KafkaSecurity | None = None,
                  client_id: str = "liangfa", linger_ms: int = 5,
                  **overrides: Any) -> AIOKafkaProducer:
    """An idempotent producer with acks=all: a retried send is never written twice."""
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "client_id": client_id,
        "enable_idempotence": True,
        "acks": "all",
        "linger_ms": linger_ms,
        "max_batch_size": 512 * 1024,
        "compression_type": None,
        "request_timeout_ms": 30_000,
        "retry_backoff_ms": 200,
        **client_options(security),
    }
    options.update(overrides)
    return _CountingProducer(component=component_of(client_id), **options)


def make_consumer(bootstrap: str, *topics: str, group_id: str | None,
                  security: KafkaSecurity | None = None, **overrides: Any) -> AIOKafkaConsumer:
    """A consumer that commits only when told to (callers commit after their side effects)."""
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "isolation_level": "read_committed",
        **client_options(security),
    }
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **options)


def admin_client(bootstrap: str, *, security: KafkaSecurity | None = None,
                 timeout_ms: int = 15_000) -> AIOKafkaAdminClient:
    """An admin client; remember to read per-topic errors from its responses."""
    return AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=timeout_ms,
                               **client_options(security))


async def _probe(bootstrap: str, timeout_s: float) -> bool:
    admin = admin_client(bootstrap, timeout_ms=int(timeout_s * 1000))
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        await asyncio.wait_for(admin.list_topics(), timeout_s)
    except Exception:  # noqa: BLE001 - any failure means "not answering yet"
        return False
    finally:
        await admin.close()
    return True


def broker_answers(bootstrap: str, *, timeout_s: float = 5.0) -> bool:
    """True when the broker answers a metadata request; callable from sync or async code."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _probe(bootstrap, timeout_s)).result()

"""The security model on a real secured broker: SCRAM users, generated ACLs, refusals.

A private broker (SASL_PLAINTEXT + SCRAM-SHA-512 + StandardAuthorizer) starts under its
own home on free ports; the session's PLAINTEXT stack is not touched.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka.admin import NewTopic
from aiokafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError
from pydantic import SecretStr

from hub.config import KafkaSecurity
from hub.kafka import admin_client, make_consumer, make_producer
from hub.local.processes import find_stack_processes, free_port
from hub.local.stack import LocalStack, StackPorts
from hub.security import (
    AclBinding,
    ServicePrincipals,
    acl_bindings,
    apply_acls,
    apply_scram_credentials,
    current_acls,
    ensure_passwords,
    unit_user,
)
from hub.security.admin import AclReport
from hub.units import UnitRegistry, load_unit_registry
from tests.conftest import run_sync

pytestmark = pytest.mark.integration

UNITS_FILE = Path(__file__).parents[1] / "unit" / "data" / "units.yaml"
UNIT_A = "11420999MB00000114"  # 青山县市场监督管理局 (fictional)
UNIT_B = "11420999MB0000029X"  # 青山县烟草专卖局 (fictional)
PROCURATORATE = "11420999MB0000096U"  # 青山县人民检察院 (fictional)
CONNECTOR_A = "qingshan-amr-penalties"


@dataclass
class SecuredBroker:
    stack: LocalStack
    admin: KafkaSecurity
    passwords: dict[str, SecretStr]
    wanted: list[AclBinding]
    first_apply: AclReport

    @property
    def bootstrap(self) -> str:
        return self.stack.bootstrap

    def as_user(self, user: str) -> KafkaSecurity:
        return KafkaSecurity(security_protocol="SASL_PLAINTEXT",
                             sasl_mechanism="SCRAM-SHA-512", sasl_username=user,
                             sasl_password=self.passwords[user])


def _ingest(unit: str) -> str:
    return f"lf.ingest.{unit}.penalties"


TOPICS = [_ingest(UNIT_A), _ingest(UNIT_B), f"lf.inbox.{UNIT_A}", f"lf.inbox.{UNIT_B}",
          "lf.case-events", f"lf.dlq.{CONNECTOR_A}"]


async def _create_topics(bootstrap: str, security: KafkaSecurity) -> None:
    admin = admin_client(bootstrap, security=security)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1) for name in TOPICS])
    finally:
        await admin.close()


async def _produce(bootstrap: str, security: KafkaSecurity, topic: str, value: bytes) -> None:
    producer = make_producer(bootstrap, security=security, request_timeout_ms=10_000)
    try:
        await producer.start()
        await producer.send_and_wait(topic, value, key=b"case")
    finally:
        await producer.stop()


async def _consume_one(bootstrap: str, security: KafkaSecurity, topic: str,
                       group: str) -> bytes | None:
    consumer = make_consumer(bootstrap, topic, group_id=group, security=security)
    try:
        await consumer.start()
        message = await consumer.getone()
        await consumer.commit()
        return message.value
    finally:
        await consumer.stop()


def _registry() -> UnitRegistry:
    return load_unit_registry(UNITS_FILE)


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredBroker]:
    home = tmp_path_factory.mktemp("secured")
    stack = LocalStack(home, StackPorts(kafka=free_port(), controller=free_port(),
                                        registry=free_port()), secured=True)
    try:
        stack.up(broker_only=True)
        admin = stack.admin_security
        assert admin is not None
        users = [unit_user(UNIT_A), unit_user(UNIT_B), unit_user(PROCURATORATE),
                 "liangfa-streams"]
        passwords = ensure_passwords(stack.secrets_file, users)
        written = apply_scram_credentials(stack.bootstrap, admin,
                                          {user: passwords[user] for user in users})
        assert sorted(written) == sorted(users)
        run_sync(_create_topics(stack.bootstrap, admin))
        wanted = acl_bindings(_registry(), ServicePrincipals(),
                              connectors={CONNECTOR_A: UNIT_A})
        first = apply_acls(stack.bootstrap, admin, wanted)
        # The authorizer answers DescribeAcls from the same metadata it authorizes with.
        while not set(wanted) <= set(current_acls(stack.bootstrap, admin)):
            pass
        run_sync(_produce(stack.bootstrap, admin, f"lf.inbox.{UNIT_A}", b"for A"))
        run_sync(_produce(stack.bootstrap, admin, f"lf.inbox.{UNIT_B}", b"for B"))
        run_sync(_produce(stack.bootstrap, admin, "lf.case-events", b"event"))
        yield SecuredBroker(stack, admin, passwords, wanted, first)
    finally:
        stack.down()


def test_secured_broker_refuses_unauthenticated_clients(secured: SecuredBroker):
    plaintext = KafkaSecurity(security_protocol="PLAINTEXT")
    with pytest.raises(Exception):  # noqa: B017 - any failure: the SASL listener drops it
        run_sync(_produce(secured.bootstrap, plaintext, _ingest(UNIT_A), b"x"))
    assert secured.first_apply.created == secured.wanted
    assert secured.first_apply.drift == []


async def test_unit_writes_its_own_ingest_prefix_with_an_idempotent_producer(
        secured: SecuredBroker):
    """Write on a topic is enough for an idempotent producer (no IdempotentWrite ACL)."""
    await _produce(secured.bootstrap, secured.as_user(unit_user(UNIT_A)), _ingest(UNIT_A),
                   b"penalty")
    await _produce(secured.bootstrap, secured.as_user(unit_user(UNIT_A)),
                   f"lf.dlq.{CONNECTOR_A}", b"dead letter")


@pytest.mark.parametrize("topic", [_ingest(UNIT_B), "lf.case-events", f"lf.inbox.{UNIT_A}"])
async def test_unit_cannot_write_outside_its_prefix(secured: SecuredBroker, topic: str):
    with pytest.raises(TopicAuthorizationFailedError):
        await _produce(secured.bootstrap, secured.as_user(unit_user(UNIT_A)), topic, b"forged")


async def test_unit_reads_its_inbox_only(secured: SecuredBroker):
    unit_a = secured.as_user(unit_user(UNIT_A))
    group = f"{UNIT_A}.inbox.{uuid.uuid4().hex[:6]}"
    assert await _consume_one(secured.bootstrap, unit_a, f"lf.inbox.{UNIT_A}", group) == b"for A"
    with pytest.raises(TopicAuthorizationFailedError):
        await _consume_one(secured.bootstrap, unit_a, f"lf.inbox.{UNIT_B}", group)


async def test_unit_consumer_group_must_carry_its_code(secured: SecuredBroker):
    with pytest.raises(GroupAuthorizationFailedError):
        await _consume_one(secured.bootstrap, secured.as_user(unit_user(UNIT_A)),
                           f"lf.inbox.{UNIT_A}", f"{UNIT_B}.borrowed")


async def test_procuratorate_reads_case_events_and_every_inbox(secured: SecuredBroker):
    procuratorate = secured.as_user(unit_user(PROCURATORATE))
    for topic, expected in [("lf.case-events", b"event"), (f"lf.inbox.{UNIT_A}", b"for A"),
                            (f"lf.inbox.{UNIT_B}", b"for B")]:
        group = f"{PROCURATORATE}.{uuid.uuid4().hex[:6]}"
        assert await _consume_one(secured.bootstrap, procuratorate, topic, group) == expected
    with pytest.raises(TopicAuthorizationFailedError):
        await _produce(secured.bootstrap, procuratorate, "lf.case-events", b"forged")


async def test_streams_reads_ingest_and_writes_case_events(secured: SecuredBroker):
    streams = secured.as_user("liangfa-streams")
    await _produce(secured.bootstrap, secured.as_user(unit_user(UNIT_B)), _ingest(UNIT_B),
                   b"from B")
    group = f"liangfa-streams.{uuid.uuid4().hex[:6]}"
    assert await _consume_one(secured.bootstrap, streams, _ingest(UNIT_B), group) == b"from B"
    await _produce(secured.bootstrap, streams, "lf.case-events", b"normalized")


def test_second_apply_is_a_no_op_and_drift_is_reported_not_deleted(secured: SecuredBroker):
    again = apply_acls(secured.bootstrap, secured.admin, secured.wanted)
    assert again.created == [] and again.drift == []
    assert again.present == secured.wanted

    by_hand = AclBinding(f"User:{unit_user(UNIT_B)}", "TOPIC", "LITERAL", "lf.hand-made",
                         "READ")
    apply_acls(secured.bootstrap, secured.admin, [*secured.wanted, by_hand])
    report = apply_acls(secured.bootstrap, secured.admin, secured.wanted)
    assert report.created == [] and report.drift == [by_hand]
    assert by_hand in current_acls(secured.bootstrap, secured.admin)


def test_scram_credentials_are_not_rotated_by_a_rerun(secured: SecuredBroker):
    user = unit_user(UNIT_A)
    written = apply_scram_credentials(secured.bootstrap, secured.admin,
                                      {user: SecretStr("a-different-password")})
    assert written == []
    assert find_stack_processes(secured.stack.home, "registry") == []

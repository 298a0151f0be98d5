"""``liangfa up --mtls`` on a real broker: certificates are the identities, ACLs unchanged.

A private stack (``LocalStack(secured=True, mtls=True)``) under its own home on free
ports: the client listener is ``SSL`` with ``ssl.client.auth=required``, every principal
gets a certificate from the home's CA whose CN the broker maps to the principal the
generated ACLs already name, and the registry keeps its journal through the same
listener with its own certificate.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from aiokafka.errors import ClusterAuthorizationFailedError, TopicAuthorizationFailedError

from hub.config import KafkaSecurity
from hub.local.access import HubAccess, read_env_file, security_env
from hub.local.processes import free_port
from hub.local.stack import LocalStack, StackPorts
from hub.registry import SyncSchemaRegistryClient
from hub.security import acl_bindings, current_acls, unit_user
from hub.security.acl import ServicePrincipals
from hub.security.certificates import ensure_ca, ensure_certificate
from hub.units import load_unit_registry
from tests.conftest import run_sync
from tests.integration.test_security import (
    CONNECTOR_A,
    UNIT_A,
    UNIT_B,
    UNITS_FILE,
    _consume_one,
    _create_topics,
    _ingest,
    _produce,
)

pytestmark = pytest.mark.integration



@dataclass
class MutualStack:
    stack: LocalStack
    admin: KafkaSecurity

    @property
    def bootstrap(self) -> str:
        return self.stack.bootstrap

    @property
    def ca_file(self) -> Path:
        return self.stack.tls_folder / "ca.pem"

    def as_user(self, user: str) -> KafkaSecurity:
        security = self.stack.client_security(user)
        assert security is not None
        return security


@pytest.fixture(scope="module")
def mutual(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MutualStack]:
    home = tmp_path_factory.mktemp("mtls")
    stack = LocalStack(home, StackPorts(kafka=free_port(), controller=free_port(),
                                        registry=free_port()), secured=True, mtls=True)
    access = HubAccess(load_unit_registry(UNITS_FILE), {CONNECTOR_A: UNIT_A})
    try:
        stack.up(access=access)  # the registry too: its journal goes through mTLS
        admin = stack.admin_security
        assert admin is not None
        run_sync(_create_topics(stack.bootstrap, admin))
        yield MutualStack(stack, admin)
    finally:
        stack.down()


def test_every_principal_authenticates_with_its_certificate(mutual: MutualStack):
    """No password anywhere: the SSL protocol, the home's CA, the principal's own files."""
    security = mutual.as_user(unit_user(UNIT_A))
    assert security.security_protocol == "SSL"
    assert security.sasl_mechanism is None and security.sasl_password is None
    assert security.ssl_cafile == mutual.ca_file
    env = security_env(security)
    assert env["LIANGFA_KAFKA_SSL_CERTFILE"].endswith(f"unit-{UNIT_A}.pem")
    assert "LIANGFA_KAFKA_SASL_PASSWORD" not in env
    state = json.loads((mutual.stack.home / "stack.json").read_text(encoding="utf-8"))
    assert state["tls"] == "mtls"
    props = (mutual.stack.home / "kafka" / "server.properties").read_text(encoding="utf-8")
    assert "listener.name.ssl.ssl.client.auth=required" in props


def test_generated_acls_apply_unchanged(mutual: MutualStack):
    wanted = acl_bindings(load_unit_registry(UNITS_FILE), ServicePrincipals(),
                          connectors={CONNECTOR_A: UNIT_A})
    assert set(wanted) <= set(current_acls(mutual.bootstrap, mutual.admin))


async def test_unit_certificate_writes_its_own_ingest_prefix_only(mutual: MutualStack):
    unit_a = mutual.as_user(unit_user(UNIT_A))
    await _produce(mutual.bootstrap, unit_a, _ingest(UNIT_A), b"penalty")
    with pytest.raises(TopicAuthorizationFailedError):
        await _produce(mutual.bootstrap, unit_a, _ingest(UNIT_B), b"forged")
    with pytest.raises(TopicAuthorizationFailedError):
        await _produce(mutual.bootstrap, unit_a, "lf.case-events", b"forged")


async def test_service_certificate_reads_what_its_acls_allow(mutual: MutualStack):
    await _produce(mutual.bootstrap, mutual.as_user(unit_user(UNIT_B)), _ingest(UNIT_B),
                   b"from B")
    streams = mutual.as_user("liangfa-streams")
    group = f"liangfa-streams-mtls-{uuid.uuid4().hex[:6]}"
    assert await _consume_one(mutual.bootstrap, streams, _ingest(UNIT_B), group) == b"from B"


def test_client_without_a_certificate_is_refused(mutual: MutualStack):
    no_cert = KafkaSecurity(security_protocol="SSL", ssl_cafile=mutual.ca_file)
    with pytest.raises(Exception):  # noqa: B017 - the handshake fails: no client certificate
        run_sync(_produce(mutual.bootstrap, no_cert, _ingest(UNIT_A), b"anonymous"))
    plaintext = KafkaSecurity(security_protocol="PLAINTEXT")
    with pytest.raises(Exception):  # noqa: B017 - not even TLS
        run_sync(_produce(mutual.bootstrap, plaintext, _ingest(UNIT_A), b"anonymous"))


def test_certificate_from_another_ca_is_refused(mutual: MutualStack, tmp_path: Path):
    """A unit's name in a certificate the home's CA did not sign opens nothing."""
    rogue_ca = ensure_ca(tmp_path / "rogue", "rogue")
    forged = ensure_certificate(rogue_ca, tmp_path / "rogue", "forged", common_name=UNIT_A)
    security = KafkaSecurity(security_protocol="SSL", ssl_cafile=mutual.ca_file,
                             ssl_certfile=forged.cert, ssl_keyfile=forged.key)
    with pytest.raises(Exception):  # noqa: B017 - the broker refuses the chain
        run_sync(_produce(mutual.bootstrap, security, _ingest(UNIT_A), b"forged"))


def test_certificate_no_rule_maps_gets_no_rights(mutual: MutualStack):
    """Signed by the home's CA but with a CN no rule maps: principal ``User:CN=…,O=…``
    (DEFAULT), which no ACL names."""
    from hub.security.certificates import ensure_ca as home_ca

    ca = home_ca(mutual.stack.tls_folder)
    stray = ensure_certificate(ca, mutual.stack.tls_folder, "stray", common_name="stray")
    security = KafkaSecurity(security_protocol="SSL", ssl_cafile=mutual.ca_file,
                             ssl_certfile=stray.cert, ssl_keyfile=stray.key)
    # No grant at all, so the idempotent producer is refused its producer id already.
    with pytest.raises((ClusterAuthorizationFailedError, TopicAuthorizationFailedError)):
        run_sync(_produce(mutual.bootstrap, security, _ingest(UNIT_A), b"stray"))


def test_registry_keeps_its_journal_over_mtls(mutual: MutualStack):
    """The registry reached the broker with its certificate: it answers and stores."""
    schema = {"type": "record", "name": "Mtls", "namespace": "cn.liangfa.tests",
              "fields": [{"name": "case_id", "type": "string"}]}
    auth = mutual.stack.registry_auth
    assert auth is not None
    with SyncSchemaRegistryClient(mutual.stack.registry_url, auth=auth) as registry:
        schema_id = registry.register("cn.liangfa.tests.Mtls", schema)
    answer = httpx.get(f"{mutual.stack.registry_url}/schemas/ids/{schema_id}", timeout=10)
    assert answer.status_code == 200
    properties = read_env_file(mutual.stack.home / "secrets" / "registry.properties")
    assert properties["apicurio.kafka.common.security.protocol"] == "SSL"
    assert "apicurio.kafka.common.sasl.jaas.config" not in properties


def test_a_home_keeps_its_tls_mode(mutual: MutualStack):
    from hub.errors import StackError

    with pytest.raises(StackError, match="--mtls"):
        LocalStack(mutual.stack.home, secured=True, mtls=False)
    assert LocalStack(mutual.stack.home).tls_mode == "mtls"
    with pytest.raises(StackError, match="--insecure"):
        LocalStack(Path(mutual.stack.home.parent / "fresh-insecure"), secured=False, mtls=True)

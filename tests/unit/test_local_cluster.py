"""``liangfa up --brokers 3``: each node's server.properties, ports and certificate, without
starting a JVM (the failover test in tests/integration/test_cluster_failover.py runs them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509

from hub.errors import StackError
from hub.local.broker import BrokerConfig
from hub.local.stack import LocalStack, StackPorts


def _properties(config: BrokerConfig) -> dict[str, str]:
    return dict(line.split("=", 1) for line in config.properties().splitlines())


def test_the_default_stack_is_one_node_as_before(tmp_path: Path) -> None:
    stack = LocalStack(tmp_path, StackPorts(kafka=29092, controller=29093, registry=28081))
    assert stack.brokers == 1
    assert stack.bootstrap == "127.0.0.1:29092"
    (config,) = stack.broker_configs
    props = _properties(config)
    assert config.component == "kafka" and config.folder == tmp_path.resolve() / "kafka"
    assert props["node.id"] == "1"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:29093"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["min.insync.replicas"] == "1"


def test_three_nodes_each_their_own_id_folder_and_ports_all_voters(tmp_path: Path) -> None:
    stack = LocalStack(tmp_path, StackPorts(kafka=29092, controller=29093, registry=28081),
                       brokers=3)
    configs = stack.broker_configs
    assert [c.component for c in configs] == ["kafka", "kafka-2", "kafka-3"]
    assert len({c.folder for c in configs}) == 3
    assert len({c.cluster_id_file for c in configs}) == 1  # one cluster id for all
    ports = [p for c in configs for p in (c.port, c.controller_port)] + [28081]
    assert len(set(ports)) == len(ports)
    assert stack.bootstrap == ",".join(f"127.0.0.1:{c.port}" for c in configs)
    voters = ",".join(f"{c.node_id}@127.0.0.1:{c.controller_port}" for c in configs)
    for config in configs:
        props = _properties(config)
        assert props["node.id"] == str(config.node_id)
        assert props["controller.quorum.voters"] == voters
        assert props["log.dirs"] == str(config.folder / "data")
        assert props["advertised.listeners"] == f"PLAINTEXT://127.0.0.1:{config.port}"
        for key in ("offsets.topic.replication.factor", "default.replication.factor",
                    "transaction.state.log.replication.factor"):
            assert props[key] == "3", key
        assert props["min.insync.replicas"] == props["transaction.state.log.min.isr"] == "2"


@pytest.mark.parametrize(("mtls", "listener"), [(False, "SASL_SSL"), (True, "SSL")])
def test_secured_nodes_use_tls_each_with_its_own_certificate(tmp_path: Path, mtls: bool,
                                                             listener: str) -> None:
    stack = LocalStack(tmp_path, StackPorts(kafka=29092, controller=29093, registry=28081),
                       secured=True, mtls=mtls, brokers=3)
    keystores = set()
    for config in stack.broker_configs:
        props = _properties(config)
        assert props["listeners"] == (f"{listener}://127.0.0.1:{config.port},"
                                      f"CONTROLLER://127.0.0.1:{config.controller_port}")
        assert props["inter.broker.listener.name"] == listener
        assert props["listener.security.protocol.map"] == \
            f"{listener}:{listener},CONTROLLER:SASL_PLAINTEXT"
        if mtls:
            assert props["listener.name.ssl.ssl.client.auth"] == "required"
            assert "User:liangfa-broker" in props["super.users"].split(";")
        assert props["allow.everyone.if.no.acl.found"] == "false"
        keystore = Path(props["ssl.keystore.location"])
        keystores.add(keystore)
        cert = x509.load_pem_x509_certificate(keystore.read_bytes())
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert "localhost" in names.get_values_for_type(x509.DNSName)
        assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
        assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value \
            == "liangfa-broker"
    assert len(keystores) == 3


def test_a_home_keeps_its_broker_count(tmp_path: Path) -> None:
    stack = LocalStack(tmp_path, StackPorts(kafka=29092, controller=29093, registry=28081),
                       brokers=3)
    stack._save_state()
    state = json.loads((tmp_path / "stack.json").read_text(encoding="utf-8"))
    assert state["brokers"] == 3 and len(state["ports"]["extra_nodes"]) == 2
    again = LocalStack(tmp_path)
    assert again.brokers == 3
    assert again.bootstrap == stack.bootstrap
    with pytest.raises(StackError, match="3-broker stack"):
        LocalStack(tmp_path, brokers=1)
    with pytest.raises(StackError, match="at least 1"):
        LocalStack(tmp_path / "other", brokers=0)

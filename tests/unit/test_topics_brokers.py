"""The topic manifest adapts its replication to the broker count (issue #15 item 4)."""

import pytest

from hub.errors import ConfigError
from hub.topics import TopicSpec, load_manifest, replication_for_brokers, sized_for_cluster


@pytest.mark.parametrize(("brokers", "rf", "isr"), [(1, 1, 1), (2, 2, 1), (3, 3, 2), (5, 3, 2)])
def test_replication_follows_broker_count(brokers: int, rf: int, isr: int) -> None:
    specs = load_manifest().for_brokers(brokers).expand(units=["U1"], connectors=["c1"])
    assert specs
    for spec in specs:
        assert spec.replication_factor == rf
        assert spec.topic_configs()["min.insync.replicas"] == str(isr)


def test_ad_hoc_topic_gets_cluster_replication() -> None:
    spec = load_manifest().for_brokers(3).spec_for("lf.ingest.U1.penalties")
    assert (spec.replication_factor, spec.min_insync_replicas) == (3, 2)


def test_shipped_manifest_is_single_broker_by_default() -> None:
    spec = load_manifest().spec_for("lf.case-events")
    assert (spec.replication_factor, spec.min_insync_replicas) == (1, 1)


def test_zero_brokers_is_refused() -> None:
    with pytest.raises(ConfigError, match="broker count"):
        load_manifest().for_brokers(0)


@pytest.mark.parametrize(("brokers", "rf", "isr"), [(1, 1, 1), (2, 2, 1), (3, 3, 2), (4, 3, 2)])
def test_a_process_own_topic_is_sized_for_the_cluster(brokers: int, rf: int, isr: int) -> None:
    # A worker's changelog or a connector's DLQ, created from the single-broker manifest.
    spec = sized_for_cluster(load_manifest().spec_for("lf.dlq.c1"), brokers)
    assert (spec.replication_factor, spec.min_insync_replicas) == (rf, isr)
    assert spec.topic_configs()["min.insync.replicas"] == str(isr)
    assert spec.retention_ms == load_manifest().spec_for("lf.dlq.c1").retention_ms


def test_a_spec_asking_for_more_replication_is_kept() -> None:
    spec = TopicSpec(name="t", replication_factor=3, min_insync_replicas=2)
    assert sized_for_cluster(spec, 1) is spec
    assert replication_for_brokers(3) == (3, 2)

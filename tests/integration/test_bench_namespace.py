"""The benchmarks clean up after themselves (``hub.topics.delete_namespace``).

A benchmark brings its own topic namespace so it never writes into a running hub's
topics; left behind, those namespaces filled the broker's disk (~1 GB per 1,000,000-event
streams run). Real broker and registry.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from connectors.bench import run_ingest_benchmark
from hub.config import HubSettings
from hub.errors import ConfigError
from hub.kafka import admin_client
from hub.topics import TopicSpec, apply_topics, delete_namespace
from streams.bench import bench_namespace
from streams.settings import StreamSettings, prepare_topics
from streams.topics import TopicNames

pytestmark = pytest.mark.integration


async def _topics(bootstrap: str) -> set[str]:
    admin = admin_client(bootstrap)
    try:
        await admin.start()
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def _gone(bootstrap: str, names: set[str]) -> set[str]:
    """The names still listed after a deletion settles (the broker deletes asynchronously
    from the metadata it serves)."""
    for _ in range(50):
        left = names & await _topics(bootstrap)
        if not left:
            return left
        await asyncio.sleep(0.2)
    return left


def test_only_the_namespace_is_deleted(bootstrap: str) -> None:
    run = uuid.uuid4().hex[:8]
    inside = {f"lf-test-ns-{run}.a", f"lf-test-ns-{run}.b.c"}
    beside = f"lf-test-ns-{run}x.a"  # shares the letters, not the namespace

    async def scenario() -> tuple[list[str], set[str]]:
        await apply_topics(bootstrap, [TopicSpec(name=name, partitions=1)
                                       for name in sorted({*inside, beside})])
        deleted = await delete_namespace(bootstrap, [f"lf-test-ns-{run}."])
        return deleted, await _gone(bootstrap, inside)

    deleted, left = asyncio.run(scenario())
    assert sorted(deleted) == sorted(inside)
    assert left == set()
    assert beside in asyncio.run(_topics(bootstrap))


@pytest.mark.parametrize("prefix", ["", "l", "lf", "lf.", "lf.case-events", "lf.ingest."])
def test_a_prefix_reaching_the_hubs_topics_is_refused(bootstrap: str, prefix: str) -> None:
    with pytest.raises(ConfigError, match="hub's own"):
        asyncio.run(delete_namespace(bootstrap, ["lf-bench-ok.", prefix]))


def test_the_streams_namespace_covers_every_topic_a_worker_needs(bootstrap: str,
                                                                  registry_url: str) -> None:
    """Inputs, outputs, inboxes and the engine's changelogs all go with the run."""
    app_id = f"lf-bench-{uuid.uuid4().hex[:8]}"
    settings = StreamSettings(hub=HubSettings(bootstrap=bootstrap, registry_url=registry_url),
                              topics=TopicNames(prefix=f"{app_id}."), app_id=app_id)

    async def scenario() -> tuple[set[str], set[str]]:
        before = await _topics(bootstrap)
        await prepare_topics(settings)
        created = await _topics(bootstrap) - before
        await delete_namespace(bootstrap, bench_namespace(app_id))
        return created, await _gone(bootstrap, created)

    created, left = asyncio.run(scenario())
    assert any(name.endswith("-changelog") for name in created)
    assert any(name.startswith(f"{app_id}.") for name in created)
    assert left == set()


def test_the_ingest_benchmark_leaves_no_topics(bootstrap: str, registry_url: str) -> None:
    before = asyncio.run(_topics(bootstrap))
    result = run_ingest_benchmark(300, bootstrap, registry_url, workers=1)
    assert result["produced"] == 300
    assert result["records_per_s"] > 0 and result["baseline_records_per_s"] > 0

    async def added() -> set[str]:
        for _ in range(50):
            new = {name for name in await _topics(bootstrap) - before
                   if name.startswith("lf-bench-")}
            if not new:
                return new
            await asyncio.sleep(0.2)
        return new

    assert asyncio.run(added()) == set()

"""The hub's one stream engine: the processors' pure logic run per batch on Kafka.

Built the way Kafka Streams is built, on Kafka's own primitives: partition *p* of every
co-partitioned topic belongs to one worker (range assignment in one consumer group), its
state lives in a RocksDB store backed by a compacted changelog, timers are driven by a
due-time index, and a batch is checkpointed in a fixed order (outputs acknowledged →
changelog acknowledged → local write → offsets committed). Why not faust-streaming or
Quix Streams: ``docs/decisions.md``. Modules, one job each:

- :mod:`~streams.engine.worker`: the loop, the checkpoint order;
- :mod:`~streams.engine.assignment`: rebalances, the assigned partitions' stores opened
  and replayed, saved and closed;
- :mod:`~streams.engine.commits`: the group's offsets, committed after each batch;
- :mod:`~streams.engine.processors`: the case processors (normalize, routing, clocks,
  screening, aggregate) bound to a batch, in the modules of their steps:
- :mod:`~streams.engine.intake`: decoding and normalize, a record's first step;
- :mod:`~streams.engine.case_records`: routing, matching, history per record;
- :mod:`~streams.engine.case_entitlement`: may a record's unit add it to its case
  (refused, waiting, kept to be checked again, admitted);
- :mod:`~streams.engine.evaluation`: deadline clocks, screening, CaseState per case;
- :mod:`~streams.engine.sweeps`: due clocks, held feedback and waiting events on a timer;
- :mod:`~streams.engine.document_store`: case documents read, kept and staged to write;
- :mod:`~streams.engine.matching`: feedback matching, held and parked feedback;
- :mod:`~streams.engine.statistics`: the per unit-month figures;
- :mod:`~streams.engine.case_document`: one case's state document;
- :mod:`~streams.engine.waiting_room`: the records a case keeps until their unit may
  add them (or keeps to check again);
- :mod:`~streams.engine.stored_events`: stored events read back, tolerating old ones;
- :mod:`~streams.engine.outputs`: what a batch produces, handed to the producer;
- :mod:`~streams.engine.delivery`: the producer's delivery reports, checked before commits;
- :mod:`~streams.engine.state`: RocksDB per partition plus its changelog (recovery);
- :mod:`~streams.engine.global_index`: the matching indexes replicated to every worker;
- :mod:`~streams.engine.timers`: when each owned case's clocks are next due;
- :mod:`~streams.engine.inputs`: the subscription, and the frontier put together;
- :mod:`~streams.engine.frontier`: up to when the group has read its input, the instant
  timed work is judged at;
- :mod:`~streams.engine.sources`: up to when the connectors have read their sources
  (their progress marks), which bounds that instant too;
- :mod:`~streams.engine.batch`: what one batch touched, between the loop and the steps;
- :mod:`~streams.engine.late_addressees`: addressees earlier events name once a case's
  relations change;
- :mod:`~streams.engine.match_store`, :mod:`~streams.engine.reviews` and
  :mod:`~streams.engine.index_build`: the matcher's indexes and kept reviews in RocksDB,
  and an empty index store built ahead;
- :mod:`~streams.engine.party_history`: a party's penalties across units (screening);
- :mod:`~streams.engine.purge`: the repartition topics emptied of what was consumed;
- :mod:`~streams.engine.heap`: the C heap's free pages handed back between batches;
- :mod:`~streams.engine.tuning`: the ``LIANGFA_ENGINE_*`` knobs.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streams.settings import StreamSettings

__all__ = ["run_worker"]

log = logging.getLogger(__name__)


def run_worker(settings: StreamSettings, worker_id: str, data_dir: Path, web_port: int
               ) -> None:
    """Run one worker until SIGTERM/SIGINT (topics created first, idempotently)."""
    from prometheus_client import start_http_server

    from streams.engine.worker import StreamWorker
    from streams.settings import prepare_topics

    async def main() -> None:
        ingest_topics = await prepare_topics(settings)
        if not ingest_topics:
            log.warning("no ingest topic matches %s yet: it is subscribed when created "
                        "(metadata refresh)", settings.topics.ingest_pattern.pattern)
        data_dir.mkdir(parents=True, exist_ok=True)
        await StreamWorker(settings, worker_id, data_dir, ingest_topics).run()

    start_http_server(web_port, addr=settings.hub.metrics_host)
    asyncio.run(main())

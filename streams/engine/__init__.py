"""The native batch engine: the processors' pure logic on aiokafka, without faust.

faust's per-record costs (iteration, per-write changelog records, per-send bookkeeping)
exceeded the whole per-event budget (see ``streams/PERFORMANCE.md``). This engine runs the
same rules per batch: decode once, fold in memory, write each touched case once, produce
with a pipelined idempotent producer, commit after every ack. Modules, one job each:

- :mod:`~streams.engine.consumer_loop`: the loop, rebalances, flush order, commits;
- :mod:`~streams.engine.processors`: the processors' logic bound to a batch;
- :mod:`~streams.engine.state`: RocksDB per partition plus its changelog (recovery);
- :mod:`~streams.engine.global_index`: the matching indexes replicated to every worker;
- :mod:`~streams.engine.timers`: when each owned case's clocks are next due.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streams.app import StreamSettings

__all__ = ["run_native"]

log = logging.getLogger(__name__)


def run_native(settings: StreamSettings, worker_id: str, data_dir: Path, web_port: int
               ) -> None:
    """Run one native worker until SIGTERM/SIGINT (topics created first, idempotently)."""
    from prometheus_client import start_http_server

    from streams.app import prepare_topics
    from streams.engine.consumer_loop import NativeWorker

    async def main() -> None:
        ingest_topics = await prepare_topics(settings)
        if not ingest_topics:
            log.warning("no ingest topic matches %s yet: it is subscribed when created "
                        "(metadata refresh)", settings.topics.ingest_pattern.pattern)
        data_dir.mkdir(parents=True, exist_ok=True)
        await NativeWorker(settings, worker_id, data_dir, ingest_topics).run()

    start_http_server(web_port, addr="127.0.0.1")
    asyncio.run(main())

"""Prometheus metrics of one connector process (one registry per connector instance).

A registry per instance keeps tests and in-process benchmarks from colliding on the
global registry; the process exposes it on ``metrics_port``.

Every series carries ``connector`` (the config's id) and ``unit`` (the config's unit,
统一社会信用代码), so the dashboards and rules can group a province's connectors by the
unit whose data they carry; one connector feeds one unit, so the extra label adds no
series.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

__all__ = ["ConnectorMetrics"]


class ConnectorMetrics:
    """The counters and gauges operations staff alert on (lag, rejects, staleness)."""

    def __init__(self, connector_id: str, registry: CollectorRegistry | None = None, *,
                 unit: str = "") -> None:
        self.registry = registry or CollectorRegistry()
        labels = ["connector", "unit"]
        ids = (connector_id, unit)
        self.read = Counter("liangfa_connector_records_read_total",
                            "Records read from the source", labels,
                            registry=self.registry).labels(*ids)
        self.produced = Counter("liangfa_connector_records_produced_total",
                                "Events acknowledged by the broker", labels,
                                registry=self.registry).labels(*ids)
        self._rejected = Counter("liangfa_connector_records_rejected_total",
                                 "Records dead-lettered (acknowledged on the DLQ topic)",
                                 [*labels, "reason"], registry=self.registry)
        self.checkpoint_age = Gauge("liangfa_connector_checkpoint_age_seconds",
                                    "Seconds since the last durable checkpoint", labels,
                                    registry=self.registry).labels(*ids)
        self.source_lag = Gauge("liangfa_connector_source_lag",
                                "How far the connector is behind its source", labels,
                                registry=self.registry).labels(*ids)
        self.last_success = Gauge("liangfa_connector_last_success_timestamp",
                                  "Unix time of the last successful poll", labels,
                                  registry=self.registry).labels(*ids)
        self._quarantined = Counter("liangfa_connector_files_quarantined_total",
                                    "Files refused as a whole and moved to quarantine",
                                    [*labels, "reason"], registry=self.registry)
        self.files_without_rows = Counter(
            "liangfa_connector_files_without_rows_total",
            "Files read to the end without a single data row (empty, header only)", labels,
            registry=self.registry).labels(*ids)
        self.connector_id = connector_id
        self.unit = unit
        self._checkpoint_at = time.time()
        self.checkpoint_age.set_function(lambda: time.time() - self._checkpoint_at)

    def rejected(self, reason: str, count: int = 1) -> None:
        self._rejected.labels(self.connector_id, self.unit, reason).inc(count)

    def quarantined(self, reason: str) -> None:
        self._quarantined.labels(self.connector_id, self.unit, reason).inc()

    def quarantined_total(self) -> float:
        """Files quarantined, summed over reasons (for reports and tests)."""
        return sum(sample.value for metric in self._quarantined.collect()
                   for sample in metric.samples if sample.name.endswith("_total"))

    def rejected_total(self) -> float:
        """Sum over reasons (for reports and tests)."""
        total = 0.0
        for metric in self._rejected.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total"):
                    total += sample.value
        return total

    def checkpointed(self) -> None:
        self._checkpoint_at = time.time()

    def serve(self, port: int) -> None:
        """Expose ``/metrics`` on ``port`` (0 picks a free one) in a daemon thread."""
        start_http_server(port, registry=self.registry)

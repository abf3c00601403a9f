"""Prometheus metrics of the services: one typed bundle per process, on an explicit registry.

Label values are fixed vocabularies (service, outcome, reason codes, queue, entity type, table),
never user data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

SERVICE_PORTS = {"privacy_gate": 9101, "escalation": 9102, "review": 9103, "dataset_sink": 9104}

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass
class Metrics:
    """Every metric a Flagstream service exports."""

    service: str
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.events = Counter(
            "flagstream_events_total",
            "Events handled, by outcome (kept, dropped, dead_lettered, routed, not_escalated, "
            "resolved, written, ...) and a reason code.",
            ["service", "outcome", "reason"],
            registry=r,
        )
        self.routed = Counter(
            "flagstream_routed_total", "Review tasks created, by queue.", ["queue"], registry=r
        )
        self.entities = Counter(
            "flagstream_pii_entities_redacted_total",
            "PII entities redacted, by type.",
            ["entity_type"],
            registry=r,
        )
        self.latency = Histogram(
            "flagstream_processing_seconds",
            "Time to process one input record, decode to send.",
            ["service"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.rows = Counter(
            "flagstream_dataset_rows_written_total",
            "Rows committed to a dataset table.",
            ["table"],
            registry=r,
        )
        self.table_version = Gauge(
            "flagstream_dataset_table_version",
            "Latest committed Delta version of a table.",
            ["table"],
            registry=r,
        )
        self.commit_seconds = Histogram(
            "flagstream_dataset_commit_seconds", "Time of one Delta commit.", ["table"], registry=r
        )

    def outcome(self, outcome: str, reason: str = "", n: int = 1) -> None:
        """Count n events with an outcome and a reason code."""
        self.events.labels(self.service, outcome, reason).inc(n)

    def serve(self, port: int | None) -> int:
        """Serve /metrics over HTTP on the given port (None: the service's default); returns it."""
        chosen = SERVICE_PORTS.get(self.service, 0) if port is None else port
        server, _thread = start_http_server(chosen, addr="127.0.0.1", registry=self.registry)
        return int(server.server_port)

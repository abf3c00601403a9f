"""Prometheus metrics of the services: one typed bundle per process, on an explicit registry.

Label values are fixed vocabularies (service, outcome, reason codes, queue, entity type, table) or
reviewer pseudonyms (bounded by the reviewer workforce), never user data.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app

from services.runtime.health import Health

PIPELINE = ("privacy_gate", "escalation", "review", "dataset_sink")
"""The pipeline's stages in order: what `flagstream run` starts and an operator expects to be running."""
CONNECTORS = ("label_studio",)
"""Optional workers a deployment adds beside the pipeline (a labeling-tool connector)."""

SERVICE_PORTS = {
    "privacy_gate": 9101,
    "escalation": 9102,
    "review": 9103,
    "dataset_sink": 9104,
    "label_studio": 9105,
}

DEAD_LETTER_REASONS = frozenset(
    {
        # the codec's decode failures
        "empty",
        "unknown_magic",
        "truncated",
        "unknown_fingerprint",
        "unknown_schema_id",
        "schema_mismatch",
        "malformed_body",
        "trailing_bytes",
        "invalid_record",
        "undecodable",
        # contract and domain rules
        "invalid",
        "unprocessable",
        "unencodable",
        "unknown_queue",
        "unknown_task",
        "wrong_queue",
        "wrong_interaction",
        "too_many_waiting",
        # the stage's own
        "too_large",
        "crash_loop",
        "unexpected",
    }
)
"""Reason codes of dead letters as metric labels; anything else is counted as `other`."""

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass
class Metrics:
    """Every metric a Flagstream service exports."""

    service: str
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    health: Health = field(default_factory=Health)

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
        # Review. `reviewer` is a reviewer pseudonym (HMAC, never the tool's id): its cardinality is the
        # size of the reviewer workforce, bounded and slow-moving (docs/datasets.md argues the choice).
        self.gold_judgments = Counter(
            "flagstream_review_gold_judgments_total",
            "Judgments of gold tasks, by queue, reviewer pseudonym and result (correct, incorrect).",
            ["queue", "reviewer", "result"],
            registry=r,
        )
        self.agreement = Gauge(
            "flagstream_review_agreement_alpha",
            "Krippendorff's alpha (nominal verdicts) over the last settled multi-reviewer tasks of a queue.",
            ["queue"],
            registry=r,
        )
        self.open_tasks = Gauge(
            "flagstream_review_open_tasks",
            "Review tasks waiting for judgments, by queue.",
            ["queue"],
            registry=r,
        )
        self.oldest_open_seconds = Gauge(
            "flagstream_review_oldest_open_task_seconds",
            "Age of the oldest open review task of a queue (0 when none is open).",
            ["queue"],
            registry=r,
        )
        self.overdue_tasks = Gauge(
            "flagstream_review_overdue_open_tasks",
            "Open review tasks past their deadline (SLA breached, still open), by queue.",
            ["queue"],
            registry=r,
        )
        self.queue_sla = Gauge(
            "flagstream_review_queue_sla_seconds",
            "A review queue's SLA (task creation to deadline), from the escalation and review policies.",
            ["queue"],
            registry=r,
        )
        self.sla_breaches = Counter(
            "flagstream_review_sla_breaches_total",
            "Review tasks settled after their deadline, by queue.",
            ["queue"],
            registry=r,
        )
        # Dataset sink: erasures.
        self.rows_erased = Counter(
            "flagstream_dataset_rows_erased_total", "Rows deleted by erasure requests.", ["table"], registry=r
        )

        # Escalation. `queue` is a queue name from the policy, `priority` a small integer.
        self.escalation_tasks = Counter(
            "flagstream_escalation_tasks_total",
            "Review tasks created, by queue and priority.",
            ["queue", "priority"],
            registry=r,
        )
        self.escalation_deferred = Counter(
            "flagstream_escalation_deferred_total",
            "Escalated items deferred because their queue's hourly budget was spent.",
            ["queue"],
            registry=r,
        )
        self.escalation_budget_remaining = Gauge(
            "flagstream_escalation_budget_remaining",
            "Tasks a budgeted queue may still create this UTC hour (on this worker's partitions).",
            ["queue"],
            registry=r,
        )
        self.escalation_duplicates = Counter(
            "flagstream_escalation_duplicates_suppressed_total",
            "Near-duplicates not reviewed again (their cluster reached its task quota).",
            ["queue"],
            registry=r,
        )
        self.escalation_calibration = Counter(
            "flagstream_escalation_calibration_samples_total",
            "Unescalated items drawn into the calibration sample.",
            registry=r,
        )
        self.escalation_window = Gauge(
            "flagstream_escalation_window_items",
            "Items waiting in a budgeted queue's ranking window.",
            ["queue"],
            registry=r,
        )

        # Dead letters and self-restarts (services/runtime/exits.py).
        self.dead_letters = Counter(
            "flagstream_dead_letters_total",
            "Records sent to a dead-letter topic, by origin topic (registry name) and reason code.",
            ["service", "topic", "reason"],
            registry=r,
        )
        self.restarts = Counter(
            "flagstream_worker_restarts_total",
            "Times a worker of this service stopped itself to be restarted (exit 70), by cause; kept "
            "across the restarts in the worker's state directory.",
            ["service", "cause"],
            registry=r,
        )

        self.refetches = Counter(
            "flagstream_consumer_refetches_total",
            "Partitions a worker fetched again without stopping: a hole in the offsets its consumer "
            "handed over, or commits stalled with nothing in the handler; by source topic.",
            ["service", "topic"],
            registry=r,
        )

        # Consumer progress of every stage (services/runtime/progress.py): `service` is the stage
        # watched, not the process reporting it (every process reports every stage).
        progress_labels = ["service", "topic", "partition"]
        self.consumer_lag = Gauge(
            "flagstream_consumer_lag_records",
            "Records of a source partition the stage's consumer group has not committed yet.",
            progress_labels,
            registry=r,
        )
        self.consumer_lag_seconds = Gauge(
            "flagstream_consumer_lag_seconds",
            "Age of the oldest record the stage has not committed on a partition (0 without lag).",
            progress_labels,
            registry=r,
        )
        self.consumer_committed_offset = Gauge(
            "flagstream_consumer_committed_offset",
            "The stage's committed offset on a source partition.",
            progress_labels,
            registry=r,
        )
        self.consumer_status = Gauge(
            "flagstream_consumer_status",
            "Commit-progress state of a source partition (1 for the current one of ok, stall, stop, "
            "rewind; Burrow's rules, see services/runtime/progress.py).",
            [*progress_labels, "status"],
            registry=r,
        )
        self.progress_checked = Gauge(
            "flagstream_progress_last_check_timestamp_seconds",
            "When the progress monitor of this process last read the broker.",
            registry=r,
        )
        self.progress_errors = Counter(
            "flagstream_progress_check_errors_total",
            "Rounds of the progress monitor that failed (broker away or slow).",
            registry=r,
        )

    def dead_lettered(self, topic: str, reason: str) -> None:
        """Count one dead letter of a registry topic (and the event outcome `dead_lettered`)."""
        code = reason.split(":", 1)[0]
        self.outcome("dead_lettered", code)
        self.dead_letters.labels(self.service, topic, code if code in DEAD_LETTER_REASONS else "other").inc()

    def outcome(self, outcome: str, reason: str = "", n: int = 1) -> None:
        """Count n events with an outcome and a reason code."""
        self.events.labels(self.service, outcome, reason).inc(n)

    def serve(
        self, port: int | None, host: str = "127.0.0.1", routes: Mapping[str, _App] | None = None
    ) -> int:
        """Serve /metrics, /healthz and /readyz (and a service's own `routes`, path -> WSGI app) over
        HTTP on the given port (None: the service's default) in a daemon thread; returns the port."""
        chosen = SERVICE_PORTS.get(self.service, 0) if port is None else port
        server = make_server(
            host,
            chosen,
            _routes(make_wsgi_app(self.registry), self.health, routes or {}),
            _Server,
            _QuietHandler,
        )
        threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
        return int(server.server_port)


_App = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _routes(metrics_app: _App, health: Health, extra: Mapping[str, _App]) -> _App:
    """/healthz (liveness) and /readyz (readiness): 200 or 503 with a one-word body; the service's own
    paths; the rest is /metrics."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path in extra:
            return extra[path](environ, start_response)
        if path in ("/healthz", "/readyz"):
            ok = health.live() if path == "/healthz" else health.ready()
            body = b"ok\n" if ok else (b"stalled\n" if path == "/healthz" else b"not ready\n")
            start_response(
                "200 OK" if ok else "503 Service Unavailable",
                [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))],
            )
            return [body]
        return metrics_app(environ, start_response)

    return app


class _Server(ThreadingMixIn, WSGIServer):
    """One thread per request, so a slow scrape never holds a probe."""

    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    """No access log line per scrape or probe."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

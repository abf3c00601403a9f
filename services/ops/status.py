"""`flagstream status`: one screen for on-call, from the broker, the services' /metrics and the datasets.

- stages: input and output rate (two scrapes of /metrics `interval` seconds apart), lag in records
  and seconds (read from the broker now, so a dead stage shows too), the commit-progress states of
  its partitions (as the services' progress monitors judged them), and whether it answers /metrics;
- dead letters per origin topic and reason (read from the dead-letter topics: what waits there);
- review queues: open tasks, oldest open task against the queue's SLA, overdue tasks, budget left;
- datasets: latest Delta version and rows of each table.
"""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from services.local import Samples, by_label, scrape, total
from services.ops.dlq import read_dead_letters, summarize
from services.runtime.metrics import PIPELINE
from services.runtime.progress import SOURCES, STATUSES, BrokerReader
from services.runtime.settings import Settings

SEVERITY = {status: rank for rank, status in enumerate(STATUSES)}
"""ok < stall < stop < rewind: when reporters disagree, the worst state is shown."""

OUTPUTS: Mapping[str, tuple[str, dict[str, str]]] = {
    "privacy_gate": ("flagstream_events_total", {"outcome": "keep"}),
    "escalation": ("flagstream_routed_total", {}),
    "review": ("flagstream_events_total", {"outcome": "resolved"}),
    "dataset_sink": ("flagstream_dataset_rows_written_total", {"table": "safety_labels"}),
}
"""The counter of what each stage passes on (the gate's keep_no_training is added below)."""


@dataclass
class StageStatus:
    service: str
    up: bool
    rate_in: float
    rate_out: float
    lag_records: int
    lag_seconds: float
    states: dict[str, int] = field(default_factory=dict)
    """Partitions per commit-progress state."""


@dataclass
class QueueStatus:
    queue: str
    open_tasks: float
    oldest_seconds: float
    sla_seconds: float | None
    overdue: float
    budget_left: float | None


@dataclass
class Status:
    taken_at: datetime
    stages: list[StageStatus]
    dead_letters: list[dict[str, Any]]
    queues: list[QueueStatus]
    datasets: list[dict[str, Any]]
    problems: list[str]
    """What could not be read (a service down, the broker away, no datasets yet)."""


def _scrape_all(ports: Mapping[str, int]) -> dict[str, Samples]:
    scraped: dict[str, Samples] = {}
    for service, port in ports.items():
        with contextlib.suppress(OSError):  # down: reported as not up
            scraped[service] = scrape(port)
    return scraped


def _out(service: str, samples: Samples) -> float:
    name, labels = OUTPUTS[service]
    out = total(samples, name, **labels)
    if service == "privacy_gate":
        out += total(samples, name, outcome="keep_no_training")
    return out


def collect(settings: Settings, ports: Mapping[str, int], interval: float = 2.0) -> Status:
    """Read everything once (rates over `interval` seconds)."""
    problems: list[str] = []
    first, started = _scrape_all(ports), time.monotonic()
    time.sleep(interval)
    second, elapsed = _scrape_all(ports), max(time.monotonic() - started, 1e-9)
    for service in PIPELINE:  # optional processes (a labeling-tool connector) are not required to run
        if service in ports and service not in second:
            problems.append(f"{service}: no answer on http://127.0.0.1:{ports[service]}/metrics")

    lag: dict[str, list[tuple[int, float]]] = defaultdict(list)
    try:
        snapshot = BrokerReader(settings).read(SOURCES)
        now = time.time()
        for key, committed in snapshot.committed.items():
            records = max(0, snapshot.ends[key] - committed)
            stamp = snapshot.oldest_timestamps.get(key)
            lag[key[0]].append((records, max(0.0, now - stamp) if records and stamp else 0.0))
    except Exception as exc:  # the broker away: say so, show the rest
        problems.append(f"Kafka at {settings.kafka_bootstrap_servers}: {exc}")

    states: dict[tuple[str, str, str], str] = {}
    for samples in second.values():
        for (name, labels), value in samples.items():
            if name != "flagstream_consumer_status" or value != 1.0:
                continue
            found = dict(labels)
            where = (found["service"], found["topic"], found["partition"])
            status = found["status"]
            if SEVERITY.get(status, 0) >= SEVERITY.get(states.get(where, "ok"), 0):
                states[where] = status

    stages = []
    for service in PIPELINE:
        before, after = first.get(service, {}), second.get(service, {})
        count = "flagstream_processing_seconds_count"
        per_state: dict[str, int] = defaultdict(int)
        for (watched, _topic, _partition), status in states.items():
            if watched == service:
                per_state[status] += 1
        stages.append(
            StageStatus(
                service=service,
                up=service in second,
                rate_in=max(0.0, total(after, count) - total(before, count)) / elapsed if after else 0.0,
                rate_out=max(0.0, _out(service, after) - _out(service, before)) / elapsed if after else 0.0,
                lag_records=sum(records for records, _ in lag[service]),
                lag_seconds=max((seconds for _, seconds in lag[service]), default=0.0),
                states=dict(per_state),
            )
        )

    review, escalation = second.get("review", {}), second.get("escalation", {})
    open_tasks = by_label(review, "flagstream_review_open_tasks", "queue")
    oldest = by_label(review, "flagstream_review_oldest_open_task_seconds", "queue")
    overdue = by_label(review, "flagstream_review_overdue_open_tasks", "queue")
    sla = {**by_label(escalation, "flagstream_review_queue_sla_seconds", "queue")}
    sla.update(by_label(review, "flagstream_review_queue_sla_seconds", "queue"))
    budget = by_label(escalation, "flagstream_escalation_budget_remaining", "queue")
    queues = [
        QueueStatus(
            q, open_tasks.get(q, 0.0), oldest.get(q, 0.0), sla.get(q), overdue.get(q, 0.0), budget.get(q)
        )
        for q in sorted(set(open_tasks) | set(sla))
    ]

    try:
        dead = summarize(read_dead_letters(settings))
    except Exception as exc:
        dead = []
        problems.append(f"dead letters not read: {exc}")
    try:
        from services.dataset_sink.offline import list_datasets

        datasets = list_datasets(settings.datasets_root)
    except Exception as exc:
        datasets = []
        problems.append(f"datasets not read from {settings.datasets_root}: {exc}")
    return Status(datetime.now(UTC), stages, dead, queues, datasets, problems)


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def render(status: Status) -> str:
    """The status as one screen of text."""
    lines = [f"Flagstream status at {status.taken_at:%Y-%m-%d %H:%M:%S} UTC", ""]
    lines.append(f"{'stage':14} {'up':3} {'in/s':>8} {'out/s':>8} {'lag':>8} {'lag age':>8}  partitions")
    for s in status.stages:
        states = ", ".join(f"{n} {state}" for state, n in sorted(s.states.items())) or "unknown"
        lines.append(
            f"{s.service:14} {'yes' if s.up else 'NO':3} {s.rate_in:>8.1f} {s.rate_out:>8.1f} "
            f"{s.lag_records:>8} {_age(s.lag_seconds):>8}  {states}"
        )
    lines += ["", "dead letters (waiting in the dead-letter topics)"]
    if not status.dead_letters:
        lines.append("  none")
    for d in status.dead_letters:
        lines.append(f"  {d['topic']:34} {d['reason']:24} {d['count']:>6}  last {d['last'][:19]}")
    lines += [
        "",
        f"{'review queue':14} {'open':>6} {'oldest':>8} {'SLA':>8} {'overdue':>8} {'budget left':>12}",
    ]
    for q in status.queues:
        lines.append(
            f"{q.queue:14} {q.open_tasks:>6.0f} {_age(q.oldest_seconds):>8} "
            f"{_age(q.sla_seconds) if q.sla_seconds else '-':>8} {q.overdue:>8.0f} "
            f"{'-' if q.budget_left is None else f'{q.budget_left:.0f}':>12}"
        )
    lines += ["", f"{'dataset':16} {'version':>8} {'rows':>8}  last commit"]
    for d in status.datasets:
        lines.append(f"{d['name']:16} {d['version']:>8} {d['rows']:>8}  {str(d['updated_at'])[:19]}")
    if status.problems:
        lines += ["", "problems:"] + [f"  {p}" for p in status.problems]
    return "\n".join(lines)

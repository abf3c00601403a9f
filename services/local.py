"""The local default: every service as a subprocess, demo traffic, simulated reviewers, live progress.

`flagstream run` (and `make run`) use it. Progress and the final summary come from the services'
own /metrics endpoints, scraped over HTTP like Prometheus would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from services.runtime.errors import FatalError
from services.runtime.metrics import PIPELINE, SERVICE_PORTS
from services.runtime.settings import REPO_ROOT, Settings

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int, timeout: float = 2.0) -> Samples:
    """Every sample of one /metrics endpoint, keyed by (name, sorted labels)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as response:
        text = response.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples of a metric whose labels include the given ones."""
    return sum(
        value
        for (sample_name, sample_labels), value in samples.items()
        if sample_name == name and all((k, v) in sample_labels for k, v in labels.items())
    )


def by_label(samples: Samples, name: str, label: str, **labels: str) -> dict[str, float]:
    """Sum of a metric's samples grouped by one label."""
    grouped: dict[str, float] = defaultdict(float)
    for (sample_name, sample_labels), value in samples.items():
        found = dict(sample_labels)
        if sample_name == name and all(found.get(k) == v for k, v in labels.items()):
            grouped[found.get(label, "")] += value
    return dict(grouped)


@dataclass
class Progress:
    """What the services report, stage by stage."""

    gate: dict[str, float] = field(default_factory=dict)
    entities: dict[str, float] = field(default_factory=dict)
    escalation: dict[str, float] = field(default_factory=dict)
    routed: dict[str, float] = field(default_factory=dict)
    deferred: dict[str, float] = field(default_factory=dict)
    """Escalated items a queue's hourly budget turned away, by queue."""
    duplicates: dict[str, float] = field(default_factory=dict)
    """Near-duplicates over their cluster's quota, by queue."""
    review: dict[str, float] = field(default_factory=dict)
    sink: dict[str, float] = field(default_factory=dict)
    rows: float = 0.0
    table_version: float = -1.0
    drop_reasons: dict[str, float] = field(default_factory=dict)

    @classmethod
    def read(cls, ports: Mapping[str, int]) -> Progress:
        """Scrape every service; a service not up yet reads as zeros."""
        scraped: dict[str, Samples] = {}
        for service, port in ports.items():
            try:
                scraped[service] = scrape(port)
            except OSError:
                scraped[service] = {}
        events = "flagstream_events_total"
        sink = scraped["dataset_sink"]
        return cls(
            gate=by_label(scraped["privacy_gate"], events, "outcome"),
            entities=by_label(
                scraped["privacy_gate"], "flagstream_pii_entities_redacted_total", "entity_type"
            ),
            escalation=by_label(scraped["escalation"], events, "outcome"),
            routed=by_label(scraped["escalation"], "flagstream_routed_total", "queue"),
            deferred=by_label(scraped["escalation"], "flagstream_escalation_deferred_total", "queue"),
            duplicates=by_label(
                scraped["escalation"], "flagstream_escalation_duplicates_suppressed_total", "queue"
            ),
            review=by_label(scraped["review"], events, "outcome"),
            sink=by_label(sink, events, "outcome"),
            # one safety_labels row per written judgment; the other tables hold subsets of them
            rows=total(sink, "flagstream_dataset_rows_written_total", table="safety_labels"),
            table_version=max(
                by_label(sink, "flagstream_dataset_table_version", "table").values(), default=-1.0
            ),
            drop_reasons=by_label(scraped["privacy_gate"], events, "reason", outcome="dropped"),
        )

    def only(self, service: str) -> Progress:
        """The part of this progress one service reported (the rest zero)."""
        mine = Progress()
        if service == "privacy_gate":
            mine.gate, mine.entities, mine.drop_reasons = (
                dict(self.gate),
                dict(self.entities),
                dict(self.drop_reasons),
            )
        elif service == "escalation":
            mine.escalation, mine.routed = dict(self.escalation), dict(self.routed)
            mine.deferred, mine.duplicates = dict(self.deferred), dict(self.duplicates)
        elif service == "review":
            mine.review = dict(self.review)
        elif service == "dataset_sink":
            mine.sink, mine.rows, mine.table_version = dict(self.sink), self.rows, self.table_version
        return mine

    def plus(self, other: Progress) -> Progress:
        """Counts of both added (the latest table version kept): carries a restarted worker's counts,
        which its replacement's /metrics start again from zero."""

        def add(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
            return {k: a.get(k, 0.0) + b.get(k, 0.0) for k in a.keys() | b.keys()}

        return Progress(
            gate=add(self.gate, other.gate),
            entities=add(self.entities, other.entities),
            escalation=add(self.escalation, other.escalation),
            routed=add(self.routed, other.routed),
            deferred=add(self.deferred, other.deferred),
            duplicates=add(self.duplicates, other.duplicates),
            review=add(self.review, other.review),
            sink=add(self.sink, other.sink),
            rows=self.rows + other.rows,
            table_version=max(self.table_version, other.table_version),
            drop_reasons=add(self.drop_reasons, other.drop_reasons),
        )

    @property
    def gated(self) -> float:
        return sum(self.gate.values())

    @property
    def passed_gate(self) -> float:
        return self.gate.get("keep", 0) + self.gate.get("keep_no_training", 0)

    def line(self, produced: int) -> str:
        """One progress line."""
        return (
            f"in {produced:>6} | gate {self.gated:>6.0f} (kept {self.passed_gate:.0f}, dropped "
            f"{self.gate.get('dropped', 0):.0f}, dlq {self.gate.get('dead_lettered', 0):.0f}) | routed "
            f"{sum(self.routed.values()):>5.0f} | resolved {self.review.get('resolved', 0):>5.0f} | rows "
            f"{self.rows:>5.0f} (v{self.table_version:.0f})"
        )

    def drained(self, produced: int) -> bool:
        """Every produced event has reached its final stage."""
        # Each record escalation takes ends in one of these; "replayed" is a candidate seen again (a
        # record handled twice around a rebalance or restart, counted again by the gate too).
        escalated = (
            self.escalation.get("routed", 0)
            + self.escalation.get("not_escalated", 0)
            + self.escalation.get("dead_lettered", 0)
            + self.escalation.get("replayed", 0)
        )
        tasks = sum(self.routed.values())
        sunk = (
            self.sink.get("written", 0) + self.sink.get("not_written", 0) + self.sink.get("dead_lettered", 0)
        )
        resolved = self.review.get("resolved", 0)
        replayed = self.review.get("duplicate_task", 0)
        return (
            produced > 0
            and self.gated >= produced
            and escalated >= self.passed_gate
            and resolved + replayed >= tasks
            and sunk >= resolved
        )


@dataclass
class LocalStack:
    """The services (and simulated reviewers) as child processes of this one."""

    settings: Settings
    log_dir: Path = REPO_ROOT / "var" / "log"
    env: Mapping[str, str] = field(default_factory=dict)
    ports: Mapping[str, int] = field(default_factory=lambda: dict(SERVICE_PORTS))
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    restart_codes: frozenset[int] = frozenset()
    """Exit codes after which `check` starts the process again, as a supervisor would (a worker that
    stops itself exits 70: "restart me"). Empty: every exit is an error (the tests' default)."""
    restarts: dict[str, int] = field(default_factory=dict)
    commands: dict[str, list[str]] = field(default_factory=dict)

    def start(self, *extra: tuple[str, list[str]]) -> None:
        """Start every service, plus extra (name, flagstream arguments) processes."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        commands = [(name, ["worker", name]) for name in PIPELINE] + list(extra)
        for name, args in commands:
            self.commands[name] = [sys.executable, "-m", "services.cli", *args]
            self._spawn(name, "wb")

    def _spawn(self, name: str, mode: str) -> None:
        env = {**os.environ, **self.env}
        if name in self.ports:
            env["FLAGSTREAM_METRICS_PORT"] = str(self.ports[name])
        with (self.log_dir / f"{name}.log").open(mode) as log:
            self.processes[name] = subprocess.Popen(
                self.commands[name], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT
            )

    def check(self) -> list[str]:
        """Restart children that exited with a restart code; returns their names. Raise
        `ServiceExited` (with the last line the child printed) if one exited otherwise."""
        restarted = []
        for name, process in list(self.processes.items()):
            if process.poll() is None:
                continue
            if process.returncode in self.restart_codes and name in self.commands:
                self.restarts[name] = self.restarts.get(name, 0) + 1
                self._spawn(name, "ab")
                restarted.append(name)
                continue
            log = self.log_dir / f"{name}.log"
            raise ServiceExited(f"{name} exited with {process.returncode} ({_last_line(log)}); see {log}")
        return restarted

    def restart(self, name: str, timeout: float = 60.0) -> None:
        """Stop one child as a deploy would (SIGTERM, SIGKILL after the timeout) and start it again."""
        process = self.processes[name]
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._spawn(name, "ab")

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM every child, SIGKILL what is still up after the timeout."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in self.processes.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class ServiceExited(FatalError):
    """A child of the local stack exited on its own (and not to be restarted)."""


def _last_line(log: Path) -> str:
    """The last non-empty line a child wrote (its one-line error, when it stopped on one)."""
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    return lines[-1][:300] if lines else "no output"


def wait_until(
    predicate: Callable[[], bool],
    timeout: float,
    interval: float = 0.5,
    on_tick: Callable[[], None] | None = None,
) -> bool:
    """Poll until predicate() holds or the timeout passes; returns whether it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if on_tick is not None:
            on_tick()
        if predicate():
            return True
        time.sleep(interval)
    return False


def default_ports() -> dict[str, int]:
    """The services' metrics ports in the local default."""
    return dict(SERVICE_PORTS)


def interrupted() -> threading.Event:
    """An event set on SIGINT/SIGTERM (Ctrl-C stops the run cleanly)."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop

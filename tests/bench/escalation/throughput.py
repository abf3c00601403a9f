"""The escalation worker through the real broker: events/s flat out, and decision latency when paced."""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient

from escalation.simulation import generate
from services.contracts import AuditEvent, default_codec
from services.local import by_label, scrape, wait_until
from services.runtime.kafka import make_producer, read_topic
from services.runtime.settings import REPO_ROOT, Settings
from services.runtime.topics import AUDIT, REDACTED
from services.runtime.worker import provision
from tests.support.deployment import free_port

FINAL = ("routed", "not_escalated")
CEILING = Path(__file__).parents[1] / "faust_ceiling.py"


class _Deployment:
    """A throwaway deployment (own topic prefix) with escalation workers as child processes."""

    def __init__(self, workers: int, policy: Path, command: list[str] | None = None) -> None:
        command = command or [sys.executable, "-m", "services.cli", "worker", "escalation"]
        self.settings = Settings(topic_prefix=f"bench-esc-{uuid.uuid4().hex[:8]}-")
        provision(self.settings)
        self.ports = [free_port() for _ in range(workers)]
        self.logs = Path(tempfile.mkdtemp(prefix="bench-escalation-"))
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.settings.kafka_bootstrap_servers,
            "FLAGSTREAM_TOPIC_PREFIX": self.settings.topic_prefix,
            "FLAGSTREAM_ESCALATION_POLICY": str(policy),
            "FLAGSTREAM_LOG_LEVEL": "WARNING",
        }
        self.processes = []
        for n, port in enumerate(self.ports):
            with (self.logs / f"worker-{n}.log").open("wb") as log:
                self.processes.append(
                    subprocess.Popen(
                        command,
                        env={**env, "FLAGSTREAM_METRICS_PORT": str(port)},
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        cwd=REPO_ROOT,
                    )
                )

    def outcomes(self) -> dict[str, float]:
        total: dict[str, float] = {}
        for port, process in zip(self.ports, self.processes, strict=True):
            if process.poll() is not None:
                raise RuntimeError(f"escalation worker exited; see {self.logs}")
            try:
                for outcome, n in by_label(scrape(port), "flagstream_events_total", "outcome").items():
                    total[outcome] = total.get(outcome, 0.0) + n
            except OSError:
                pass
        return total

    def assessed(self) -> float:
        o = self.outcomes()
        return o.get("not_escalated", 0.0) + o.get("candidate", 0.0)

    def decided(self) -> float:
        o = self.outcomes()
        return sum(o.get(k, 0.0) for k in FINAL)

    def produce(self, values: list[tuple[bytes, bytes]], rate: float = 0.0) -> dict[str, float]:
        """Produce (key, value) records (rate 0: flat out); returns interaction id -> send time (epoch s)."""
        producer = make_producer(self.settings)
        topic = self.settings.topic(REDACTED)
        sent: dict[str, float] = {}
        started = time.monotonic()
        for n, (key, value) in enumerate(values):
            if rate > 0:
                delay = started + n / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            while True:
                try:
                    producer.produce(topic, key=key, value=value)
                    break
                except BufferError:
                    producer.poll(0.05)
            sent[key.decode()] = time.time()
            producer.poll(0)
        producer.flush(60)
        return sent

    def close(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        admin = AdminClient({"bootstrap.servers": self.settings.kafka_bootstrap_servers})
        mine = [t for t in admin.list_topics(timeout=10).topics if t.startswith(self.settings.topic_prefix)]
        if mine:
            for future in admin.delete_topics(mine, operation_timeout=30).values():
                with contextlib.suppress(Exception):  # a bench cleans up best-effort
                    future.result()


def _records(count: int, seed: int) -> list[tuple[bytes, bytes]]:
    """Simulated redacted interactions, Avro-encoded, keyed by interaction id (fresh ids per call)."""
    codec = default_codec()
    run = uuid.uuid4().hex[:6]
    out = []
    for item in generate(count, hours=1.0, seed=seed):
        interaction = item.interaction.model_copy(
            update={
                "interaction_id": f"{run}-{item.interaction.interaction_id}",
                "gated_at": datetime.now(UTC),
            }
        )
        out.append((interaction.interaction_id.encode(), codec.encode(interaction)))
    return out


def measure(events: int, repeats: int, workers: int, policy: Path) -> dict[str, Any]:
    """Median events/s of the worker(s) over `repeats` flat-out runs, and paced decision latency."""
    rates: list[float] = []
    decided_rates: list[float] = []
    latency: dict[str, float] = {}
    for repeat in range(repeats):
        deployment = _Deployment(workers, policy)
        try:
            assessed, decided = _run_once(deployment, events, seed=100 + repeat)
            rates.append(assessed)
            decided_rates.append(decided)
            print(
                f"  run {repeat + 1}: {events} events assessed at {assessed:,.0f}/s, "
                f"all decided (incl. ranking windows) at {decided:,.0f}/s"
            )
            if repeat == repeats - 1:
                latency = _latency(deployment)
        finally:
            deployment.close()
    # The same runs with a Faust stage that does nothing (tests/bench/faust_ceiling.py):
    # what one Faust worker process can consume here at all, alternating with nothing else running.
    ceiling: list[float] = []
    for repeat in range(repeats):
        deployment = _Deployment(workers, policy, command=[sys.executable, str(CEILING), "escalation"])
        try:
            consumed, _ = _run_once(deployment, events, seed=200 + repeat)
            ceiling.append(consumed)
            print(f"  ceiling run {repeat + 1}: a do-nothing Faust stage consumed {consumed:,.0f}/s")
        finally:
            deployment.close()
    return {
        "workers": workers,
        "events": events,
        "throughput_eps": rates,
        "throughput_median_eps": statistics.median(rates),
        "faust_ceiling_eps": ceiling,
        "faust_ceiling_median_eps": statistics.median(ceiling),
        "decided_eps": decided_rates,
        "latency_ms": latency,
    }


def _run_once(deployment: _Deployment, events: int, seed: int) -> tuple[float, float]:
    """Warm up, then produce `events` flat out; returns (assessed/s, decided/s) from first send."""
    records = _records(events, seed=seed)
    warmup = _records(300, seed=7)
    deployment.produce(warmup)
    if not wait_until(lambda: deployment.decided() >= len(warmup), timeout=180, interval=0.5):
        raise RuntimeError(f"workers did not start; see {deployment.logs}")
    base_assessed, base_decided = deployment.assessed(), deployment.decided()
    started = time.monotonic()
    deployment.produce(records)
    wait_until(lambda: deployment.assessed() >= base_assessed + events, timeout=600, interval=0.25)
    assessed_at = time.monotonic()
    wait_until(lambda: deployment.decided() >= base_decided + events, timeout=600, interval=0.25)
    decided_at = time.monotonic()
    return events / (assessed_at - started), events / (decided_at - started)


def _latency(deployment: _Deployment, count: int = 1500, rate: float = 50.0) -> dict[str, float]:
    """Produce paced traffic; decision time of unbudgeted decisions = audit occurred_at - send time."""
    records = _records(count, seed=99)
    before = deployment.decided()
    sent = deployment.produce(records, rate=rate)
    wait_until(lambda: deployment.decided() >= before + count, timeout=300, interval=0.5)
    codec = default_codec()
    samples: list[float] = []
    windowed: list[float] = []
    for record in read_topic(deployment.settings, deployment.settings.topic(AUDIT)):
        event = codec.decode(record.value() or b"", AuditEvent)
        if event.interaction_id not in sent or event.decision not in FINAL:
            continue
        ms = (event.occurred_at.timestamp() - sent[event.interaction_id]) * 1000.0
        budgeted = "budget_remaining" in event.details or event.reason in ("over_budget", "duplicate")
        (windowed if budgeted else samples).append(ms)
    samples.sort()
    windowed.sort()

    def pct(values: list[float], q: float) -> float:
        return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")

    out = {
        "paced_rate_eps": rate,
        "unbudgeted_decisions": len(samples),
        "p50": pct(samples, 0.5),
        "p99": pct(samples, 0.99),
        "windowed_decisions": len(windowed),
        "windowed_p50": pct(windowed, 0.5),
        "windowed_p99": pct(windowed, 0.99),
    }
    print(
        f"  latency at {rate:.0f} events/s: unbudgeted decisions p50 {out['p50']:.1f} ms "
        f"p99 {out['p99']:.1f} ms "
        f"(n={len(samples)}); budget-window decisions p50 {out['windowed_p50']:.0f} ms "
        f"p99 {out['windowed_p99']:.0f} ms (n={len(windowed)})"
    )
    return out

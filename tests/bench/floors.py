"""The floor of the privacy gate's and escalation's CPU per event, measured beside `make bench`'s run.

A stage's floor is what it cannot do without on this machine: Faust taking its records through the
stage loop (a worker of tests/bench/faust_ceiling.py over the same kind of records, its CPU per
record consumed, idle time included as in the pipeline's own figure), plus its domain work and Avro
in this process without Kafka. `bench_pipeline.py` prints each stage's CPU per input event beside
it, with the records the stage consumes per input event (the gate one, escalation the redacted
interaction and its candidate), so the ratio says how much of a stage is overhead of its own.

- gate: the ceiling's `gate` mode forwards each record's bytes and a small audit record (the gate's
  two outputs) with no decoding; the domain is decode + consent and redaction + encode of both
  outputs (`privacy/gate_throughput.py`'s `domain_costs`).
- escalation: the ceiling's `escalation` mode only counts; the domain is the service's own
  `handle_interaction` (decode, `assess`, the candidate or audit event it sends, encoded) over the
  escalation bench's simulated redacted interactions (tests/bench/escalation), tables as dicts.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psutil
from escalation.throughput import CEILING, _Deployment, _records
from privacy.gate_throughput import best, domain_costs, run_once

from services.contracts import Record, default_codec
from services.escalation.app import EscalationService, Tables
from services.escalation.domain import load_escalation_policy
from services.local import wait_until
from services.runtime.metrics import Metrics
from services.runtime.settings import REPO_ROOT
from services.runtime.stage import Inbound, Outbound
from services.runtime.topics import AUDIT, REDACTED
from tests.support.deployment import tree_cpu_seconds

POLICY = REPO_ROOT / "deploy" / "policies" / "escalation.yaml"


@dataclass(frozen=True)
class Floor:
    """A stage's floor: CPU microseconds per record the stage loop takes, and per event of domain."""

    loop_us: float
    domain_us: float

    def per_input(self, records_per_input: float) -> float:
        """CPU milliseconds per input event when the stage consumes `records_per_input` records each."""
        return (self.loop_us * records_per_input + self.domain_us) / 1000

    def to_json(self) -> dict[str, float]:
        return {"loop_us": self.loop_us, "domain_us": self.domain_us}


def gate_floor(bootstrap: str, events: int, seed: int = 11) -> Floor:
    forward = run_once(events, bootstrap, seed, mode="stage-forward")
    return Floor(1e6 / forward["events_per_cpu_second"], domain_costs(events, seed)["domain_total_us"])


class _Outputs:
    """The part of the stage `EscalationService` sends through; keeps nothing."""

    def __init__(self) -> None:
        self.codec = default_codec()

    def audit(self, event: Record) -> Outbound:
        return Outbound(AUDIT, self.codec.encode(event), key=None)

    async def deliver_after_tables(self, outputs: Sequence[Outbound]) -> None:
        return None


def escalation_domain_us(events: int, seed: int = 13) -> float:
    """The service's own `handle_interaction` (decode, assess, encode what it sends), per event, in
    this process, over plain dicts as tables."""
    policy = load_escalation_policy(POLICY)
    tables = Tables(spent={}, clusters={}, cluster_tasks={}, pending={}, decided={})
    service = EscalationService(policy, tables, _Outputs(), Metrics("escalation"), assigned=lambda: {0})
    records = _records(events, seed)
    inbound = [Inbound(REDACTED, 0, n, key, value, {}) for n, (key, value) in enumerate(records)]

    async def handle_all() -> None:
        for record in inbound:
            await service.handle_interaction(record)

    return best(lambda: asyncio.run(handle_all())) * 1e6 / events


def escalation_loop_us(events: int, seed: int = 17) -> float:
    """CPU microseconds per record of a stage loop that only counts, over redacted interactions."""
    deployment = _Deployment(1, POLICY, command=[sys.executable, str(CEILING), "escalation"])
    try:
        warmup = _records(300, seed=7)
        deployment.produce(warmup)
        if not wait_until(lambda: deployment.assessed() >= len(warmup), timeout=180, interval=0.5):
            raise RuntimeError(f"the escalation ceiling did not start; see {deployment.logs}")
        worker = psutil.Process(deployment.processes[0].pid)
        records = _records(events, seed=seed)
        base, cpu_before = deployment.assessed(), tree_cpu_seconds(worker)
        deployment.produce(records)
        if not wait_until(lambda: deployment.assessed() >= base + events, timeout=600, interval=0.25):
            raise RuntimeError(f"the escalation ceiling did not consume its records; see {deployment.logs}")
        return (tree_cpu_seconds(worker) - cpu_before) * 1e6 / events
    finally:
        deployment.close()


def measure(bootstrap: str, events: int) -> dict[str, Any]:
    """Both floors, as JSON; prints what it does, as the bench's other phases do."""
    print(f"floors: {events} events through a do-nothing stage loop of each kind", flush=True)
    started = datetime.now(UTC)
    gate = gate_floor(bootstrap, events)
    escalation = Floor(escalation_loop_us(events), escalation_domain_us(events))
    return {
        "started": started.isoformat(),
        "events": events,
        "privacy_gate": gate.to_json(),
        "escalation": escalation.to_json(),
    }

"""Escalation service: assess every redacted interaction, then spend each queue's label budget on the best.

Two agents, one consumer group, both handled by `EscalationService`:
- `assess` (`handle_interaction`) reads interactions.redacted.v1 (any partitioning): routes each
  interaction, draws the calibration sample, scores its label value and fingerprints its text.
  Unescalated items end here (audit `not_escalated`), and so do items of a queue without budget or
  dedup (urgent), which need no state to allocate: their task and audit `routed` go out at once.
  The other escalated ones go to escalation.candidates.v1 as finished ReviewTasks, keyed by queue,
  with what allocation needs in headers (`CandidateMeta`).
- `allocate` (`handle_candidate`) reads the candidates. Keyed by queue, all of a queue's candidates
  land in one partition, so its budget, dedup index and ranking window (Faust tables) are only ever
  written while that partition's events are processed: Faust writes a table update to the changelog
  partition of the event being processed, so each queue's state sits in one changelog partition,
  and whichever worker owns the partition (after a restart or a rebalance) recovers exactly that
  state.

Unbudgeted queues are decided on arrival: by `assess` when they do not dedup either (urgent), by
`allocate` otherwise. Budgeted queues wait in a ranking window (at most `window.seconds` or
`window.max_items`), which is ranked by label value before budget is spent. The window is persisted
in a table as items arrive (`WaitingCandidate`): Faust commits the offsets of events the agent has
consumed, so an in-memory-only window would lose its items when a worker stops. Tick records, sent
by a timer to each budgeted queue's own partition, close windows when traffic stops.

A decision is written ahead of its outputs (`Decision`, in the `decided` table, then
`Stage.deliver_after_tables`), so a worker that stops in between leaves a record its successor
replays with the same outcome; `EscalationService.decide` says why the order is what it is.

The service reads and writes its tables through plain mappings (`Tables`) and sends through a
small port (`Outputs`, which `Stage` implements), so its handlers run without a broker.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

import faust

from services.contracts import AvroCodec, Record, RedactedInteraction, ReviewTask, utcnow
from services.escalation.domain import (
    Allocation,
    Allocator,
    Candidate,
    EscalationPolicy,
    Outcome,
    Window,
    assess,
    load_escalation_policy,
    make_task,
)
from services.runtime.audit import audit_event, policy_versions
from services.runtime.errors import DeadLetterError
from services.runtime.faust_app import create_app
from services.runtime.metrics import Metrics
from services.runtime.packed import pack, unpack
from services.runtime.settings import Settings
from services.runtime.stage import Inbound, Outbound, Stage
from services.runtime.topics import ESCALATION_CANDIDATES, REDACTED, task_topic

SERVICE = "escalation"

log = logging.getLogger(__name__)

KIND = "escalation.kind"
TASK_ID = "escalation.task_id"
VALUE = "escalation.value"
FINGERPRINT = "escalation.fingerprint"
META = "escalation.meta"
CANDIDATE = b"candidate"
TICK = b"tick"

DECIDED_RETENTION_SECONDS = 2 * 3600.0
"""How long a decided task id is remembered, so a replayed candidate is not charged twice."""


@dataclass(frozen=True, slots=True)
class CandidateMeta:
    """What allocation needs of a candidate besides its task bytes, so that deferred and duplicate
    candidates (most of them) are decided and audited without decoding the task again.

    Travels as JSON in the candidate's `escalation.meta` header and inside its window entry.
    """

    interaction_id: str
    subject_pseudonym: str
    rule: str
    priority: int
    risk_score: float
    versions: Mapping[str, str]
    """Policy versions for the audit events: escalation, redaction, guardrail."""

    def to_json(self) -> dict[str, Any]:
        return {
            "interaction_id": self.interaction_id,
            "subject_pseudonym": self.subject_pseudonym,
            "rule": self.rule,
            "priority": self.priority,
            "risk_score": self.risk_score,
            "versions": dict(self.versions),
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> CandidateMeta:
        """Inverse of `to_json`."""
        return cls(
            interaction_id=str(value["interaction_id"]),
            subject_pseudonym=str(value["subject_pseudonym"]),
            rule=str(value["rule"]),
            priority=int(value["priority"]),
            risk_score=float(value["risk_score"]),
            versions={str(k): str(v) for k, v in value["versions"].items()},
        )


@dataclass(frozen=True, slots=True)
class WaitingCandidate:
    """A candidate in a ranking window, as the `window_pending` table keeps it (keyed by task id).

    Packed (runtime/packed.py): a JSON header of every field but the task, then the task's Avro
    bytes, so an update is the task plus a few hundred bytes.
    """

    candidate: Candidate
    partition: int
    """The candidates partition it arrived on: after a rebalance only its owner restores it."""
    meta: CandidateMeta
    task: bytes

    def pack(self) -> bytes:
        candidate = self.candidate
        header = {
            "queue": candidate.queue,
            "value": candidate.value,
            "fingerprint": None if candidate.fingerprint is None else list(candidate.fingerprint),
            "arrived": candidate.arrived,
            "partition": self.partition,
            "meta": self.meta.to_json(),
        }
        return pack(header, [self.task])

    @classmethod
    def unpack(cls, task_id: str, value: bytes) -> WaitingCandidate:
        """Inverse of `pack`, for the entry of `task_id`."""
        header, blobs, _ = unpack(value)
        (task,) = blobs
        fingerprint = header["fingerprint"]
        candidate = Candidate(
            task_id=task_id,
            queue=str(header["queue"]),
            value=float(header["value"]),
            fingerprint=None if fingerprint is None else tuple(fingerprint),
            arrived=float(header["arrived"]),
        )
        return cls(candidate, int(header["partition"]), CandidateMeta.from_json(header["meta"]), task)


@dataclass(frozen=True, slots=True)
class Decision:
    """The allocation recorded for a candidate (the `decided` table, keyed by task id), and whether
    its outputs are known to be on the broker. A replay of an unsent decision sends the same outcome.

    A decision of a window (`windowed`) is sent once its candidate's `window_pending` entry is gone:
    that entry is removed only after the broker has the outputs, so its removal is the mark, and the
    decision is written once. Any other decision is marked by writing it again with `sent`.
    Stored as a JSON object of these fields, by name; `decided_at` is epoch seconds.
    """

    queue: str
    outcome: Outcome
    decided_at: float
    hour: str
    """The UTC hour whose budget it was charged to (`hour_bucket`)."""
    cluster: str | None
    remaining: int | None
    """Budget left in the hour after it; None for an unbudgeted queue."""
    sent: bool = False
    windowed: bool = False

    @classmethod
    def of(cls, allocation: Allocation, now: float, *, windowed: bool) -> Decision:
        return cls(
            queue=allocation.candidate.queue,
            outcome=allocation.outcome,
            decided_at=now,
            hour=allocation.hour,
            cluster=allocation.cluster_id,
            remaining=allocation.remaining,
            windowed=windowed,
        )

    def allocation(self, candidate: Candidate) -> Allocation:
        """The allocation this decision made, to send its outputs again unchanged."""
        return Allocation(candidate, self.outcome, self.cluster, self.hour, self.remaining)

    def to_json(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "outcome": self.outcome.value,
            "decided_at": self.decided_at,
            "hour": self.hour,
            "cluster": self.cluster,
            "remaining": self.remaining,
            "sent": self.sent,
            "windowed": self.windowed,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Decision:
        """Inverse of `to_json`."""
        remaining = value["remaining"]
        return cls(
            queue=str(value["queue"]),
            outcome=Outcome(value["outcome"]),
            decided_at=float(value["decided_at"]),
            hour=str(value["hour"]),
            cluster=value["cluster"],
            remaining=None if remaining is None else int(remaining),
            sent=bool(value["sent"]),
            windowed=bool(value.get("windowed", False)),  # rows written before the field: marked by `sent`
        )


class Payload(NamedTuple):
    """What a candidate's outputs are made of: its task's Avro bytes and its meta."""

    task: bytes
    meta: CandidateMeta


@dataclass(frozen=True)
class Tables:
    """The service's state: Faust tables in the worker, any mappings (plain dicts) in a unit test."""

    spent: MutableMapping[str, int]
    """"<queue>|<UTC hour>" -> tasks created."""
    clusters: MutableMapping[str, list[str]]
    """"<queue>|<cluster id>" -> the band keys the cluster claimed (`ClusterIndex`)."""
    cluster_tasks: MutableMapping[str, Any]
    """"<queue>|<cluster id>" -> [tasks, window opened]."""
    pending: MutableMapping[str, bytes]
    """task id -> `WaitingCandidate.pack()`."""
    decided: MutableMapping[str, dict[str, Any]]
    """task id -> `Decision.to_json()`."""


class Outputs(Protocol):
    """How the service sends: the part of `Stage` it uses."""

    codec: AvroCodec

    def audit(self, event: Record) -> Outbound: ...

    async def deliver_after_tables(self, outputs: Sequence[Outbound]) -> None: ...


class EscalationService:
    """The handlers of both agents, over the service's tables and output port."""

    def __init__(
        self,
        policy: EscalationPolicy,
        tables: Tables,
        out: Outputs,
        metrics: Metrics,
        *,
        assigned: Callable[[], set[int]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`assigned` gives the candidates partitions this worker owns; `clock` epoch seconds."""
        self.policy = policy
        self.tables = tables
        self.out = out
        self.codec = out.codec
        self.metrics = metrics
        self.assigned = assigned
        self.clock = clock
        self.allocator = Allocator(policy, tables.spent, tables.clusters, tables.cluster_tasks)
        self.windows = WindowMirror(policy)
        for name, queue in policy.queues.items():  # every queue exported from the start, zeros too
            metrics.queue_sla.labels(name).set(queue.sla_minutes * 60)
            metrics.escalation_deferred.labels(name)
            metrics.escalation_duplicates.labels(name)

    async def handle_interaction(self, inbound: Inbound) -> Sequence[Outbound]:
        """Assess one redacted interaction: an audit event if it is not escalated, the task and its
        audit event if it is decided on arrival (`decided_on_arrival`), else a candidate."""
        interaction = self.codec.decode(inbound.value, RedactedInteraction)
        assessment = assess(interaction, self.policy)
        decision = assessment.decision
        versions = policy_versions({"escalation": self.policy.version}, interaction)
        if decision.queue is None:
            self.metrics.outcome("not_escalated", decision.reason)
            event = audit_event(
                SERVICE,
                "not_escalated",
                decision.reason,
                interaction_id=interaction.interaction_id,
                subject_pseudonym=interaction.subject_pseudonym,
                policy_versions=versions,
                details={"risk_score": f"{decision.risk_score:.4f}", "rule": decision.reason},
            )
            return [self.out.audit(event)]
        if assessment.calibration:
            self.metrics.escalation_calibration.inc()
        task = make_task(interaction, decision, self.policy, utcnow())
        self.metrics.outcome("candidate", decision.reason)
        meta = CandidateMeta(
            interaction_id=interaction.interaction_id,
            subject_pseudonym=interaction.subject_pseudonym,
            rule=task.rule,
            priority=task.priority,
            risk_score=task.risk_score,
            versions=versions,
        )
        if self.decided_on_arrival(task.queue, assessment.fingerprint):
            # Urgent: no budget, no dedup, so allocation reads and writes no state and needs no
            # partition of the queue's. Deciding it here spares the item the candidates topic and
            # the allocate agent's queue, where it would wait behind window decisions.
            now = self.clock()
            candidate = Candidate(
                task_id=task.task_id, queue=task.queue, value=assessment.value, fingerprint=None, arrived=now
            )
            (allocation,) = self.allocator.allocate([candidate], datetime.fromtimestamp(now, UTC))
            return self.outputs(allocation, Payload(self.codec.encode(task), meta))
        return [self.candidate(task, assessment.value, assessment.fingerprint, meta)]

    def candidate(
        self, task: ReviewTask, value: float, fingerprint: Sequence[str] | None, meta: CandidateMeta
    ) -> Outbound:
        """The escalation.candidates.v1 record of an escalated task, keyed by its queue."""
        fp = b"" if fingerprint is None else ",".join(fingerprint).encode()
        headers = [
            (KIND, CANDIDATE),
            (TASK_ID, task.task_id.encode()),
            (VALUE, repr(value).encode()),
            (FINGERPRINT, fp),
            (META, json.dumps(meta.to_json(), separators=(",", ":")).encode()),
        ]
        return Outbound(
            ESCALATION_CANDIDATES, self.codec.encode(task), key=task.queue.encode(), headers=headers
        )

    async def handle_candidate(self, inbound: Inbound) -> Sequence[Outbound]:
        """Allocate one candidate (or close a window on a tick): outputs of items decided on arrival are
        returned, decisions of windows are delivered before they are marked sent (`decide`)."""
        queue = (inbound.key or b"").decode()
        if queue not in self.policy.queues:
            raise DeadLetterError(
                f"candidate for a queue not in {self.policy.version}", reason="unknown_queue"
            )
        if not self.windows.ready:
            self.windows.rebuild(self.tables.pending, self.assigned())
        now = self.clock()
        if inbound.headers.get(KIND) == TICK:
            if self.windows.window(queue).due(now):
                await self.close_window(queue, now)
            return []
        task_id = inbound.headers[TASK_ID].decode()
        fp = inbound.headers.get(FINGERPRINT) or b""
        candidate = Candidate(
            task_id=task_id,
            queue=queue,
            value=float(inbound.headers[VALUE]),
            fingerprint=tuple(fp.decode().split(",")) if fp else None,
            arrived=now,
        )
        payload = Payload(inbound.value, CandidateMeta.from_json(json.loads(inbound.headers[META])))
        if self.decided_on_arrival(queue, candidate.fingerprint):
            # `assess` decides these itself; one can still arrive here from a worker of an earlier
            # version, mid-upgrade. Same outcome, no record (see `decided_on_arrival`).
            (allocation,) = self.allocator.allocate([candidate], datetime.fromtimestamp(now, UTC))
            return self.outputs(allocation, payload)
        recorded = self.recorded(task_id)
        if recorded is not None:  # a replay of a candidate already allocated
            self.metrics.outcome("replayed", queue)
            if not self.sent(task_id, recorded):  # ... whose outputs may not be on the broker: send again
                await self.send(queue, [recorded.allocation(candidate)], {task_id: payload}, now)
            return []
        if not self.policy.budgeted(queue):
            await self.decide(queue, [candidate], {task_id: payload}, now, windowed=False)
            return []
        window = self.windows.window(queue)
        if window.add(candidate):
            waiting = WaitingCandidate(candidate, inbound.partition, payload.meta, payload.task)
            self.tables.pending[task_id] = waiting.pack()
            self.metrics.escalation_window.labels(queue).set(len(window.items))
        if window.due(now):
            await self.close_window(queue, now)
        return []

    def decided_on_arrival(self, queue: str, fingerprint: Sequence[str] | None) -> bool:
        """Whether an item is allocated where it is assessed: a queue without budget, and an item
        without near-duplicate bands (its queue does not dedup), so the allocation is always
        `routed` and touches no table. Deciding it again gives the same outcome, so it needs no
        record: the stage's commit order keeps it at least once, and a replay sends a duplicate
        task, which review drops by task id."""
        return not self.policy.budgeted(queue) and fingerprint is None

    def windows_moved(self) -> None:
        """Partitions were assigned or revoked: rebuild the windows and the near-duplicate index from
        their tables at their next use."""
        self.windows.ready = False
        self.allocator.clusters.reload()

    async def close_window(self, queue: str, now: float) -> None:
        """Decide every candidate of a queue's window; replay decisions a stopped worker left unsent."""
        payloads: dict[str, Payload] = {}
        fresh: list[Candidate] = []
        unsent: list[Allocation] = []
        missing: list[str] = []
        for candidate in self.windows.window(queue).drain():
            task_id = candidate.task_id
            recorded = self.recorded(task_id)
            if recorded is not None and self.sent(task_id, recorded):  # a worker stopped before tidying up
                self.tables.pending.pop(task_id, None)
                continue
            entry = self.tables.pending.get(task_id)
            if entry is None:
                missing.append(task_id)
                continue
            waiting = WaitingCandidate.unpack(task_id, entry)
            payloads[task_id] = Payload(waiting.task, waiting.meta)
            if recorded is None:
                fresh.append(candidate)
            else:  # decided by a worker that stopped before its outputs were delivered
                unsent.append(recorded.allocation(candidate))
        if missing:  # the mirror is rebuilt from the table, so this would be a bug: say so loudly
            log.error(
                "escalation: %d window items had no table entry, e.g. task %s", len(missing), missing[0]
            )
        self.metrics.escalation_window.labels(queue).set(0)
        if unsent:
            await self.send(queue, unsent, payloads, now)
        await self.decide(queue, fresh, payloads, now, windowed=True)

    async def decide(
        self,
        queue: str,
        candidates: list[Candidate],
        payloads: Mapping[str, Payload],
        now: float,
        *,
        windowed: bool,
    ) -> None:
        """Allocate candidates, record the decisions, deliver their outputs, then mark them sent.

        Decisions and outputs go through two producers (Faust's for the tables, librdkafka for tasks
        and audits) and cannot be atomic, so the order makes a crash safe. Each decision is durable
        (its table update acknowledged by the broker) before any of its outputs is sent, and is marked
        sent (and leaves `window_pending`) only after the broker has every output. A worker that dies
        in between finds the decision unsent after restart and sends the same outputs again: the same
        outcome (a replay never re-allocates, so it cannot turn a deferral into a task), duplicates
        that review drops by task id. A crash before the decision is durable leaves nothing sent, and
        the candidates are decided afresh (their budget may be charged twice: fewer labels, none
        lost).
        """
        allocations = self.allocator.allocate(candidates, datetime.fromtimestamp(now, UTC))
        for allocation in allocations:
            decision = Decision.of(allocation, now, windowed=windowed)
            self.tables.decided[allocation.candidate.task_id] = decision.to_json()
        await self.send(queue, allocations, payloads, now)
        remaining = self.allocator.remaining(queue, datetime.fromtimestamp(now, UTC))
        if remaining is not None:
            self.metrics.escalation_budget_remaining.labels(queue).set(remaining)
        for task_id in self.windows.expired(queue, now - DECIDED_RETENTION_SECONDS):
            self.tables.decided.pop(task_id, None)

    async def send(
        self, queue: str, allocations: Iterable[Allocation], payloads: Mapping[str, Payload], now: float
    ) -> None:
        """Deliver the outputs of recorded decisions, then mark them sent and out of the window.

        The one place outputs of recorded decisions leave: `deliver_after_tables` has the decisions
        on the broker before their outputs are sent (the write-ahead `decide` relies on).
        """
        allocations = list(allocations)
        out: list[Outbound] = []
        for allocation in allocations:
            out += self.outputs(allocation, payloads[allocation.candidate.task_id])
        await self.out.deliver_after_tables(out)
        for allocation in allocations:
            task_id = allocation.candidate.task_id
            recorded = Decision.from_json(self.tables.decided[task_id])
            if not recorded.windowed:  # a window's decision is marked sent by its entry's removal
                self.tables.decided[task_id] = replace(recorded, sent=True).to_json()
            self.windows.remember(queue, task_id, now)
            self.tables.pending.pop(task_id, None)

    def sent(self, task_id: str, decision: Decision) -> bool:
        """Whether a recorded decision's outputs are on the broker (see `Decision`)."""
        return decision.sent or (decision.windowed and task_id not in self.tables.pending)

    def recorded(self, task_id: str) -> Decision | None:
        """The decision recorded for a task id, if any."""
        value = self.tables.decided.get(task_id)
        return None if value is None else Decision.from_json(value)

    def outputs(self, allocation: Allocation, payload: Payload) -> list[Outbound]:
        """The task and/or audit event of one allocated candidate, and its metrics."""
        candidate, outcome, meta = allocation.candidate, allocation.outcome, payload.meta
        queue, task_id = candidate.queue, candidate.task_id
        details = {
            "queue": queue,
            "task_id": task_id,
            "rule": meta.rule,
            "priority": str(meta.priority),
            "risk_score": f"{meta.risk_score:.4f}",
            "value": f"{candidate.value:.4f}",
            "budget_hour": allocation.hour,
        }
        if allocation.cluster_id is not None:
            details["cluster_id"] = allocation.cluster_id
        if allocation.remaining is not None:
            details["budget_remaining"] = str(allocation.remaining)
        if outcome is Outcome.routed:
            raw = payload.task
            if allocation.cluster_id is not None:
                task = self.codec.decode(raw, ReviewTask).model_copy(
                    update={"cluster_id": allocation.cluster_id}
                )
                raw = self.codec.encode(task)
            self.metrics.outcome("routed", meta.rule)
            self.metrics.routed.labels(queue).inc()
            self.metrics.escalation_tasks.labels(queue, str(meta.priority)).inc()
            decision, reason = "routed", meta.rule
            sent = [Outbound(task_topic(queue), raw, key=task_id.encode())]
        else:
            if outcome is Outcome.duplicate:
                self.metrics.escalation_duplicates.labels(queue).inc()
            else:
                self.metrics.escalation_deferred.labels(queue).inc()
                details["deferred"] = "budget"
            # not_escalated is the terminal escalation outcome; the reason says why.
            self.metrics.outcome("not_escalated", outcome.value)
            decision, reason, sent = "not_escalated", outcome.value, []
        event = audit_event(
            SERVICE,
            decision,
            reason,
            interaction_id=meta.interaction_id,
            subject_pseudonym=meta.subject_pseudonym,
            policy_versions=meta.versions,
            details=details,
        )
        return [*sent, self.out.audit(event)]


class WindowMirror:
    """The in-memory mirror of the window table, and the decided ids this worker may forget."""

    def __init__(self, policy: EscalationPolicy) -> None:
        self.policy = policy
        self.windows: dict[str, Window] = {}
        self.recent: dict[str, list[tuple[float, str]]] = {}
        self.ready = False

    def window(self, queue: str) -> Window:
        if queue not in self.windows:
            self.windows[queue] = Window(self.policy.window.max_items, self.policy.window.seconds)
        return self.windows[queue]

    def rebuild(self, pending: Mapping[str, bytes], partitions: set[int]) -> None:
        """Reload waiting candidates from the (recovered) table, for the partitions this worker owns."""
        self.windows = {}
        restored = 0
        for task_id, value in list(pending.items()):
            waiting = WaitingCandidate.unpack(task_id, value)
            if waiting.partition not in partitions or waiting.candidate.queue not in self.policy.queues:
                continue
            self.window(waiting.candidate.queue).add(waiting.candidate)
            restored += 1
        if restored:
            log.info("escalation: %d candidates restored into ranking windows", restored)
        self.ready = True

    def remember(self, queue: str, task_id: str, now: float) -> None:
        self.recent.setdefault(queue, []).append((now, task_id))

    def expired(self, queue: str, before: float) -> list[str]:
        """Decided ids of a queue older than `before`, forgotten here and to be deleted from the table."""
        recent = self.recent.get(queue, [])
        cut = 0
        while cut < len(recent) and recent[cut][0] < before:
            cut += 1
        expired = [task_id for _, task_id in recent[:cut]]
        del recent[:cut]
        return expired


def build(settings: Settings, policy: EscalationPolicy | None = None) -> tuple[faust.App, Metrics]:
    """The escalation app with its agents and tables; the policy is validated here, before anything runs."""
    policy = policy or load_escalation_policy(settings.escalation_policy)
    app = create_app(SERVICE, settings)
    metrics = Metrics(SERVICE)
    stage = Stage(app, SERVICE, settings, metrics, policy_versions={"escalation": policy.version})

    def table(name: str, raw_values: bool = False) -> Any:
        # JSON keys: a raw-bytes key would come back as bytes after a changelog recovery. Recovery
        # decodes values with the serializer of the table's value_type, not the schema's: both say raw.
        return app.Table(
            name,
            partitions=settings.partitions,
            schema=faust.Schema(key_serializer="json", value_serializer="raw" if raw_values else "json"),
            value_type=bytes if raw_values else None,
        )

    tables = Tables(
        spent=table("budget_spent"),
        clusters=table("dedup_clusters"),
        cluster_tasks=table("dedup_cluster_tasks"),
        pending=table("window_pending", raw_values=True),
        decided=table("decided"),
    )
    candidates_topic = settings.topic(ESCALATION_CANDIDATES)

    def assigned() -> set[int]:
        """Partitions of the candidates topic this worker owns right now."""
        return {tp.partition for tp in app.consumer.assignment() if tp.topic == candidates_topic}

    service = EscalationService(policy, tables, stage, metrics, assigned=assigned)

    @app.agent(stage.topic(REDACTED), name="assess")
    async def assess_agent(stream: faust.StreamT[bytes]) -> None:
        await stage.run(stream, service.handle_interaction)

    @app.agent(stage.topic(ESCALATION_CANDIDATES), name="allocate")
    async def allocate_agent(stream: faust.StreamT[bytes]) -> None:
        await stage.run(stream, service.handle_candidate)

    budgeted = [queue for queue in policy.queues if policy.budgeted(queue)]

    @app.timer(interval=max(0.1, policy.window.seconds / 2))  # type: ignore[untyped-decorator]
    async def tick() -> None:
        # Ticks go to each queue's own partition, so its window is closed where its state lives.
        for queue in budgeted:
            await stage.topic(ESCALATION_CANDIDATES).send(
                key=queue.encode(), value=b"", headers=[(KIND, TICK)]
            )

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        service.windows_moved()

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        service.windows_moved()

    return app, metrics

"""Escalation service: assess every redacted interaction, then spend each queue's label budget on the best.

Two agents, one consumer group:
- `assess` reads interactions.redacted.v1 (any partitioning): routes each interaction, draws the
  calibration sample, scores its label value and fingerprints its text. Unescalated items end here
  (audit `not_escalated`); escalated ones go to escalation.candidates.v1 as finished ReviewTasks,
  keyed by queue.
- `allocate` reads the candidates. Keyed by queue, all of a queue's candidates land in one partition,
  so its budget, dedup index and ranking window (Faust tables) are only ever written while that
  partition's events are processed: Faust writes a table update to the changelog partition of the
  event being processed, so each queue's state sits in one changelog partition, and whichever
  worker owns the partition (after a restart or a rebalance) recovers exactly that state.

Unbudgeted queues (urgent) are decided on arrival. Budgeted queues wait in a ranking window (at
most `window.seconds` or `window.max_items`), which is ranked by label value before budget is spent.
The window is persisted in a table as items arrive: Faust commits the offsets of events the agent has
consumed, so an in-memory-only window would lose its items when a worker stops. Tick records, sent by a
timer to each budgeted queue's own partition, close windows when traffic stops.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import faust

from services.contracts import RedactedInteraction, ReviewTask, utcnow
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
from services.runtime.audit import audit_event
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


def build(settings: Settings, policy: EscalationPolicy | None = None) -> tuple[faust.App, Metrics]:
    """The escalation app with its agents and tables; the policy is validated here, before anything runs."""
    policy = policy or load_escalation_policy(settings.escalation_policy)
    app = create_app(SERVICE, settings)
    metrics = Metrics(SERVICE)
    for name, queue in policy.queues.items():  # every queue exported from the start, zeros too
        metrics.queue_sla.labels(name).set(queue.sla_minutes * 60)
        metrics.escalation_deferred.labels(name)
        metrics.escalation_duplicates.labels(name)
    stage = Stage(app, SERVICE, settings, metrics, policy_versions={"escalation": policy.version})
    codec = stage.codec

    def table(name: str, raw_values: bool = False) -> Any:
        # JSON keys: a raw-bytes key would come back as bytes after a changelog recovery. Recovery
        # decodes values with the serializer of the table's value_type, not the schema's: both say raw.
        return app.Table(
            name,
            partitions=settings.partitions,
            schema=faust.Schema(key_serializer="json", value_serializer="raw" if raw_values else "json"),
            value_type=bytes if raw_values else None,
        )

    spent = table("budget_spent")  # "<queue>|<UTC hour>" -> tasks created
    bands = table("dedup_bands")  # "<queue>|<band>" -> cluster id
    cluster_tasks = table("dedup_cluster_tasks")  # "<queue>|<cluster id>" -> [tasks, window opened]
    # task id -> a waiting candidate: packed (runtime/packed.py) header and the task's Avro bytes, so an
    # update is the task plus a few dozen bytes (base64 in JSON made it a third larger than the limit).
    pending = table("window_pending", raw_values=True)
    decided = table("decided")  # task id -> [queue, outcome, epoch s, hour, cluster, remaining, sent]
    allocator = Allocator(policy, spent, bands, cluster_tasks)
    state = _WindowState(policy)

    async def handle_interaction(inbound: Inbound) -> Sequence[Outbound]:
        interaction = codec.decode(inbound.value, RedactedInteraction)
        assessment = assess(interaction, policy)
        decision = assessment.decision
        if decision.queue is None:
            metrics.outcome("not_escalated", decision.reason)
            return [
                stage.audit(
                    audit_event(
                        SERVICE,
                        "not_escalated",
                        decision.reason,
                        interaction_id=interaction.interaction_id,
                        subject_pseudonym=interaction.subject_pseudonym,
                        policy_versions={
                            "escalation": policy.version,
                            "redaction": interaction.redaction_policy_version,
                            "guardrail": interaction.guardrail_policy_version,
                        },
                        details={"risk_score": f"{decision.risk_score:.4f}", "rule": decision.reason},
                    )
                )
            ]
        if assessment.calibration:
            metrics.escalation_calibration.inc()
        task = make_task(interaction, decision, policy, utcnow())
        metrics.outcome("candidate", decision.reason)
        fp = b"" if assessment.fingerprint is None else ",".join(assessment.fingerprint).encode()
        # What allocation needs besides the task bytes: most candidates are deferred or duplicates,
        # and those are decided and audited without decoding the task again.
        meta = {
            "interaction_id": interaction.interaction_id,
            "subject_pseudonym": interaction.subject_pseudonym,
            "rule": task.rule,
            "priority": task.priority,
            "risk_score": task.risk_score,
            "versions": {
                "escalation": policy.version,
                "redaction": interaction.redaction_policy_version,
                "guardrail": interaction.guardrail_policy_version,
            },
        }
        headers = [
            (KIND, CANDIDATE),
            (TASK_ID, task.task_id.encode()),
            (VALUE, repr(assessment.value).encode()),
            (FINGERPRINT, fp),
            (META, json.dumps(meta, separators=(",", ":")).encode()),
        ]
        return [Outbound(ESCALATION_CANDIDATES, codec.encode(task), key=task.queue.encode(), headers=headers)]

    def outputs(allocation: Allocation, raw: bytes, meta: dict[str, Any], now: float) -> list[Outbound]:
        """The task and/or audit event of one allocated candidate, and its bookkeeping."""
        candidate, outcome = allocation.candidate, allocation.outcome
        queue, task_id, rule = candidate.queue, candidate.task_id, meta["rule"]
        details = {
            "queue": queue,
            "task_id": task_id,
            "rule": rule,
            "priority": str(meta["priority"]),
            "risk_score": f"{meta['risk_score']:.4f}",
            "value": f"{candidate.value:.4f}",
            "budget_hour": allocation.hour,
        }
        if allocation.cluster_id is not None:
            details["cluster_id"] = allocation.cluster_id
        if allocation.remaining is not None:
            details["budget_remaining"] = str(allocation.remaining)
        if outcome is Outcome.routed:
            if allocation.cluster_id is not None:
                task = codec.decode(raw, ReviewTask).model_copy(update={"cluster_id": allocation.cluster_id})
                raw = codec.encode(task)
            metrics.outcome("routed", rule)
            metrics.routed.labels(queue).inc()
            metrics.escalation_tasks.labels(queue, str(meta["priority"])).inc()
            decision, reason = "routed", rule
            sent = [Outbound(task_topic(queue), raw, key=task_id.encode())]
        else:
            if outcome is Outcome.duplicate:
                metrics.escalation_duplicates.labels(queue).inc()
            else:
                metrics.escalation_deferred.labels(queue).inc()
                details["deferred"] = "budget"
            # not_escalated is the terminal escalation outcome; the reason says why.
            metrics.outcome("not_escalated", outcome.value)
            decision, reason, sent = "not_escalated", outcome.value, []
        event = audit_event(
            SERVICE,
            decision,
            reason,
            interaction_id=meta["interaction_id"],
            subject_pseudonym=meta["subject_pseudonym"],
            policy_versions=meta["versions"],
            details=details,
        )
        return [*sent, stage.audit(event)]

    def recorded(task_id: str) -> list[Any] | None:
        """The decision recorded for a task id: [queue, outcome, epoch s, hour, cluster, remaining, sent]."""
        record = decided.get(task_id)
        if record is not None and len(record) < 7:  # written before decisions carried their allocation
            return [*record[:3], "", None, None, True]
        return cast(list[Any] | None, record)

    def replay_of(candidate: Candidate, record: list[Any]) -> Allocation:
        """The allocation a recorded decision made, to send its outputs again unchanged."""
        return Allocation(candidate, Outcome(record[1]), record[4], record[3], record[5])

    async def decide(
        queue: str, candidates: list[Candidate], raws: dict[str, tuple[bytes, dict[str, Any]]], now: float
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
        allocations = allocator.allocate(candidates, datetime.fromtimestamp(now, UTC))
        for allocation in allocations:
            decided[allocation.candidate.task_id] = [
                queue,
                allocation.outcome.value,
                now,
                allocation.hour,
                allocation.cluster_id,
                allocation.remaining,
                False,
            ]
        await app.changelog_delivered()  # Faust's producer.flush() can return before they are sent
        await send(queue, allocations, raws, now)
        remaining = allocator.remaining(queue, datetime.fromtimestamp(now, UTC))
        if remaining is not None:
            metrics.escalation_budget_remaining.labels(queue).set(remaining)
        for task_id in state.expired(queue, now - DECIDED_RETENTION_SECONDS):
            decided.pop(task_id, None)

    async def send(
        queue: str, allocations: list[Allocation], raws: dict[str, tuple[bytes, dict[str, Any]]], now: float
    ) -> None:
        """Deliver the outputs of recorded decisions, then mark them sent and out of the window."""
        out: list[Outbound] = []
        for allocation in allocations:
            raw, meta = raws[allocation.candidate.task_id]
            out += outputs(allocation, raw, meta, now)
        await stage.deliver(out)
        for allocation in allocations:
            task_id = allocation.candidate.task_id
            decided[task_id] = [*decided[task_id][:6], True]
            state.remember(queue, task_id, now)
            pending.pop(task_id, None)

    async def close_window(queue: str, now: float) -> None:
        window = state.window(queue)
        candidates = window.drain()
        raws: dict[str, tuple[bytes, dict[str, Any]]] = {}
        fresh: list[Candidate] = []
        unsent: list[Allocation] = []
        missing: list[str] = []
        for candidate in candidates:
            task_id = candidate.task_id
            record = recorded(task_id)
            if record is not None and record[6]:  # sent by a worker that stopped before tidying up
                pending.pop(task_id, None)
                continue
            entry = pending.get(task_id)
            if entry is None:
                missing.append(task_id)
                continue
            header, task_bytes = _pending_entry(entry)
            raws[task_id] = (task_bytes, header["m"])
            if record is None:
                fresh.append(candidate)
            else:  # decided by a worker that stopped before its outputs were delivered
                unsent.append(replay_of(candidate, record))
        if missing:  # the mirror is rebuilt from the table, so this would be a bug: say so loudly
            log.error(
                "escalation: %d window items had no table entry, e.g. task %s", len(missing), missing[0]
            )
        metrics.escalation_window.labels(queue).set(0)
        if unsent:
            await send(queue, unsent, raws, now)
        await decide(queue, fresh, raws, now)

    async def handle_candidate(inbound: Inbound) -> Sequence[Outbound]:
        queue = (inbound.key or b"").decode()
        if queue not in policy.queues:
            raise DeadLetterError(f"candidate for a queue not in {policy.version}", reason="unknown_queue")
        if not state.ready:
            state.rebuild(pending, _assigned(app, settings.topic(ESCALATION_CANDIDATES)))
        now = time.time()
        if inbound.headers.get(KIND) == TICK:
            if state.window(queue).due(now):
                await close_window(queue, now)
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
        meta = json.loads(inbound.headers[META])
        if not policy.budgeted(queue) and candidate.fingerprint is None:
            # No budget and no dedup (urgent): deciding it again gives the same outcome, so it needs
            # no record. The stage's commit order keeps it at least once; a replay sends a
            # duplicate task, which review drops by task id. (Saves two producer flushes an item.)
            (allocation,) = allocator.allocate([candidate], datetime.fromtimestamp(now, UTC))
            return outputs(allocation, inbound.value, meta, now)
        record = recorded(task_id)
        if record is not None:  # a replay of a candidate already allocated
            metrics.outcome("replayed", queue)
            if not record[6]:  # ... whose outputs may not have reached the broker: send them again
                await send(queue, [replay_of(candidate, record)], {task_id: (inbound.value, meta)}, now)
            return []
        if not policy.budgeted(queue):
            await decide(queue, [candidate], {task_id: (inbound.value, meta)}, now)
            return []
        window = state.window(queue)
        if window.add(candidate):
            header = {"q": queue, "v": candidate.value, "f": fp.decode() or None, "a": now}
            pending[task_id] = pack({**header, "p": inbound.partition, "m": meta}, [inbound.value])
            metrics.escalation_window.labels(queue).set(len(window.items))
        if window.due(now):
            await close_window(queue, now)
        return []

    @app.agent(stage.topic(REDACTED), name="assess")
    async def assess_agent(stream: faust.StreamT[bytes]) -> None:
        await stage.run(stream, handle_interaction)

    @app.agent(stage.topic(ESCALATION_CANDIDATES), name="allocate")
    async def allocate_agent(stream: faust.StreamT[bytes]) -> None:
        await stage.run(stream, handle_candidate)

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
        state.ready = False  # rebuilt from the recovered table at the next candidate

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        state.ready = False

    return app, metrics


class _WindowState:
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

    def rebuild(self, pending: Any, partitions: set[int]) -> None:
        """Reload waiting candidates from the (recovered) table, for the partitions this worker owns."""
        self.windows = {}
        restored = 0
        for task_id, value in list(pending.items()):
            entry, _ = _pending_entry(value)
            if entry["p"] not in partitions or entry["q"] not in self.policy.queues:
                continue
            fp = entry["f"]
            self.window(entry["q"]).add(
                Candidate(
                    task_id, entry["q"], float(entry["v"]), tuple(fp.split(",")) if fp else None, entry["a"]
                )
            )
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


def _pending_entry(value: bytes) -> tuple[dict[str, Any], bytes]:
    """A window table value: its header and the task's Avro bytes (a legacy JSON value converted)."""
    header, blobs, legacy = unpack(value)
    if legacy:  # {"q", "v", "f", "a", "p", "t": base64 task, "m"}
        return header, base64.b64decode(header["t"])
    return header, blobs[0]


def _assigned(app: faust.App, topic: str) -> set[int]:
    """Partitions of a topic this worker owns right now."""
    return {tp.partition for tp in app.consumer.assignment() if tp.topic == topic}

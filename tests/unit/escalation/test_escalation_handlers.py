"""The escalation service's handlers without a broker: plain dicts as its tables, a collector as its stage.

Each test drives `handle_interaction` and `handle_candidate` as the agents do, with a clock the test
moves, and reads what the service sent (tasks, audit events) and what it left in its tables.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from services.contracts import AuditEvent, AvroCodec, Record, RedactedInteraction, ReviewTask
from services.escalation.app import (
    DECIDED_RETENTION_SECONDS,
    KIND,
    META,
    TASK_ID,
    TICK,
    VALUE,
    CandidateMeta,
    Decision,
    EscalationService,
    Tables,
)
from services.escalation.domain import EscalationPolicy
from services.runtime.errors import DeadLetterError, FatalError
from services.runtime.metrics import Metrics
from services.runtime.stage import Inbound, Outbound
from services.runtime.topics import AUDIT, ESCALATION_CANDIDATES, task_topic

CODEC = AvroCodec()
START = 1_795_000_000.0  # epoch seconds, mid-hour
ENFORCED = [("harassment", 0.9, 0.6, "flag")]  # routed to policy_review (budgeted, dedup)
SEVERE = [("self_harm_intent", 0.95, 0.7, "block")]  # routed to urgent (no budget, no dedup)
CLEAN = [("harassment", 0.05, 0.6, "allow")]  # matches no rule


class Collector:
    """The stage's part the service uses; keeps what was delivered and the decisions at that moment."""

    def __init__(self, tables: Tables) -> None:
        self.codec = CODEC
        self.tables = tables
        self.delivered: list[Outbound] = []
        self.decided_when_delivered: list[dict[str, Any]] = []
        self.pending_when_delivered: list[set[str]] = []
        self.broker_away = False

    def audit(self, event: Record) -> Outbound:
        return Outbound(AUDIT, self.codec.encode(event), key=None)

    async def deliver_after_tables(self, outputs: Sequence[Outbound]) -> None:
        self.decided_when_delivered.append({k: dict(v) for k, v in self.tables.decided.items()})
        self.pending_when_delivered.append(set(self.tables.pending))
        if self.broker_away:
            raise FatalError("outputs not delivered")
        self.delivered.extend(outputs)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


class Worker:
    """One escalation worker: the service over (possibly recovered) tables, its collector and clock."""

    def __init__(
        self,
        policy: EscalationPolicy,
        make: Callable[..., RedactedInteraction],
        tables: Tables | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.make = make
        self.tables = tables or Tables(spent={}, clusters={}, cluster_tasks={}, pending={}, decided={})
        self.out = Collector(self.tables)
        self.clock = clock or Clock()
        self.metrics = Metrics("escalation")
        self.service = EscalationService(
            policy, self.tables, self.out, self.metrics, assigned=lambda: {0}, clock=self.clock
        )

    def assess(self, interaction: RedactedInteraction) -> list[Outbound]:
        inbound = Inbound("interactions.redacted.v1", 0, 0, None, CODEC.encode(interaction), {})
        return list(asyncio.run(self.service.handle_interaction(inbound)))

    def candidate(
        self, n: int, signals: Any = ENFORCED, value: float | None = None, text: str | None = None
    ) -> Inbound:
        """The candidate record `assess` makes of interaction n (its text unique unless given)."""
        interaction = self.make(signals, interaction_id=f"int-{n:04d}")
        interaction = interaction.model_copy(update={"response": text or _unique_text(n)})
        (out,) = self.assess(interaction)
        assert out.topic == ESCALATION_CANDIDATES
        headers = dict(out.headers)
        if value is not None:
            headers[VALUE] = repr(value).encode()
        return Inbound(ESCALATION_CANDIDATES, 0, n, out.key, out.value, headers)

    def allocate(self, inbound: Inbound) -> list[Outbound]:
        return list(asyncio.run(self.service.handle_candidate(inbound)))

    def tick(self, queue: str = "policy_review") -> list[Outbound]:
        return self.allocate(Inbound(ESCALATION_CANDIDATES, 0, 0, queue.encode(), b"", {KIND: TICK}))

    def events(self, outputs: Sequence[Outbound] | None = None) -> list[AuditEvent]:
        outs = self.out.delivered if outputs is None else outputs
        return [CODEC.decode(o.value, AuditEvent) for o in outs if o.topic == AUDIT]

    def tasks(self, outputs: Sequence[Outbound] | None = None) -> list[ReviewTask]:
        outs = self.out.delivered if outputs is None else outputs
        return [CODEC.decode(o.value, ReviewTask) for o in outs if o.topic.startswith("review.tasks.")]

    def sent(self, task_id: str) -> bool:
        """Whether the service takes the recorded decision of a task id as sent."""
        return self.service.sent(task_id, Decision.from_json(self.tables.decided[task_id]))

    def count(self, outcome: str, reason: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "flagstream_events_total", {"service": "escalation", "outcome": outcome, "reason": reason}
        )
        return value or 0.0


def _unique_text(n: int) -> str:
    """Forty words no other item shares, so near-duplicate detection leaves it alone."""
    return " ".join(
        f"w{chr(97 + n % 26)}{chr(97 + n // 26 % 26)}{chr(97 + k % 26)}{chr(97 + k // 26)}" for k in range(40)
    )


WorkerFactory = Callable[..., Worker]


@pytest.fixture
def new_worker(interaction: Callable[..., RedactedInteraction]) -> WorkerFactory:
    """A worker over fresh tables, or over the given (recovered) ones."""

    def factory(policy: EscalationPolicy, tables: Tables | None = None, clock: Clock | None = None) -> Worker:
        return Worker(policy, interaction, tables, clock)

    return factory


@pytest.fixture
def small(policy: EscalationPolicy) -> EscalationPolicy:
    """The shipped policy with a budget of 1 an hour, windows of 3 items, and 1 task per cluster."""
    queues = {
        name: spec.model_copy(update={"hourly_budget": 1}) if spec.hourly_budget is not None else spec
        for name, spec in policy.queues.items()
    }
    return policy.model_copy(
        update={
            "queues": queues,
            "window": policy.window.model_copy(update={"max_items": 3, "seconds": 2.0}),
            "dedup": policy.dedup.model_copy(update={"max_tasks_per_cluster": 1}),
        }
    )


def test_an_interaction_no_rule_takes_ends_in_one_audit_event_with_its_policy_versions(
    small, new_worker
) -> None:
    worker = new_worker(small)
    interaction = worker.make(CLEAN)
    (event,) = worker.events(worker.assess(interaction))
    assert (event.decision, event.reason) == ("not_escalated", "no_rule_matched")
    assert event.details == {"risk_score": event.details["risk_score"], "rule": "no_rule_matched"}
    assert event.policy_versions == {
        "escalation": small.version,
        "redaction": interaction.redaction_policy_version,
        "guardrail": interaction.guardrail_policy_version,
    }


def test_an_escalated_interaction_becomes_a_candidate_keyed_by_queue_with_its_meta(small, new_worker) -> None:
    worker = new_worker(small)
    inbound = worker.candidate(1)
    source = worker.make(ENFORCED)  # the versions every interaction of the builder carries
    task = CODEC.decode(inbound.value, ReviewTask)
    assert inbound.key == b"policy_review" and inbound.headers[TASK_ID] == task.task_id.encode()
    meta = json.loads(inbound.headers[META])
    assert meta == {
        "interaction_id": "int-0001",
        "subject_pseudonym": source.subject_pseudonym,
        "rule": "guardrail_enforced",
        "priority": task.priority,
        "risk_score": task.risk_score,
        "versions": {
            "escalation": small.version,
            "redaction": source.redaction_policy_version,
            "guardrail": source.guardrail_policy_version,
        },
    }


def test_an_urgent_item_is_routed_where_it_is_assessed_without_a_record(small, new_worker) -> None:
    worker = new_worker(small)
    interaction = worker.make(SEVERE, interaction_id="int-0001")
    outputs = worker.assess(interaction)
    assert [o.topic for o in outputs] == [task_topic("urgent"), AUDIT]  # no candidate record
    (task,) = worker.tasks(outputs)
    (event,) = worker.events(outputs)
    assert outputs[0].key == task.task_id.encode() and task.interaction_id == "int-0001"
    assert (task.queue, task.priority, task.rule) == ("urgent", 0, "severe_harm")
    assert (event.decision, event.reason) == ("routed", "severe_harm")
    assert event.details["queue"] == "urgent" and event.details["task_id"] == task.task_id
    assert "budget_remaining" not in event.details and event.details["budget_hour"]
    assert worker.tables == Tables(spent={}, clusters={}, cluster_tasks={}, pending={}, decided={})
    assert worker.out.delivered == []  # the stage sends what is returned
    assert worker.count("candidate", "severe_harm") == 1 and worker.count("routed", "severe_harm") == 1
    # A replay gives the same records: the same task id and audit event id, which review and the
    # audit trail take once.
    again = worker.assess(interaction)
    assert worker.tasks(again)[0].task_id == task.task_id
    assert worker.events(again)[0].event_id == event.event_id


def test_an_urgent_candidate_from_an_earlier_version_is_still_routed_on_arrival(small, new_worker) -> None:
    """Mid-upgrade, a worker of the version before sends urgent items through the candidates topic."""
    worker = new_worker(small)
    interaction = worker.make(SEVERE, interaction_id="int-0002")
    (task_out, audit_out) = worker.assess(interaction)
    task = CODEC.decode(task_out.value, ReviewTask)
    meta = CandidateMeta(
        interaction_id=task.interaction_id,
        subject_pseudonym=interaction.subject_pseudonym,
        rule=task.rule,
        priority=task.priority,
        risk_score=task.risk_score,
        versions=worker.events([audit_out])[0].policy_versions,
    )
    out = worker.service.candidate(task, 0.7, None, meta)
    outputs = worker.allocate(Inbound(ESCALATION_CANDIDATES, 0, 1, out.key, out.value, dict(out.headers)))
    assert [o.topic for o in outputs] == [task_topic("urgent"), AUDIT]
    assert worker.tasks(outputs)[0].task_id == task.task_id
    assert worker.events(outputs)[0].event_id == worker.events([audit_out])[0].event_id
    assert worker.tables.decided == {}


def test_a_window_spends_its_budget_on_the_most_valuable_and_defers_the_rest(small, new_worker) -> None:
    worker = new_worker(small)
    low, high, mid = (worker.candidate(n, value=v) for n, v in [(1, 0.2), (2, 0.9), (3, 0.5)])
    assert worker.allocate(low) == [] and worker.allocate(high) == []
    assert worker.out.delivered == [] and len(worker.tables.pending) == 2  # waiting, in the table
    worker.allocate(mid)  # the third fills the window: it is decided at once
    (task,) = worker.tasks()
    assert task.task_id == high.headers[TASK_ID].decode()
    events = {e.details["task_id"]: e for e in worker.events()}
    assert events[task.task_id].decision == "routed"
    assert events[task.task_id].details["budget_remaining"] == "0"
    for deferred in (low, mid):
        event = events[deferred.headers[TASK_ID].decode()]
        assert (event.decision, event.reason) == ("not_escalated", "over_budget")
        assert event.details["deferred"] == "budget" and event.details["budget_remaining"] == "0"
    assert worker.tables.pending == {}
    assert all(worker.sent(task_id) for task_id in worker.tables.decided)
    assert worker.count("not_escalated", "over_budget") == 2


def test_near_duplicates_over_the_quota_share_the_cluster_and_spend_no_budget(small, new_worker) -> None:
    queues = {
        n: s.model_copy(update={"hourly_budget": 5}) if s.hourly_budget else s
        for n, s in small.queues.items()
    }
    worker = new_worker(small.model_copy(update={"queues": queues}))
    same = "the exact same templated spam text about a lottery prize you have surely won today friend"
    for n in range(3):
        worker.allocate(worker.candidate(n, text=same, value=0.5 + n / 10))
    (task,) = worker.tasks()
    events = worker.events()
    assert [e.reason for e in events].count("duplicate") == 2
    assert {e.details["cluster_id"] for e in events} == {task.cluster_id} and task.cluster_id
    assert sum(worker.tables.spent.values()) == 1


def test_a_worker_that_recovers_the_tables_knows_the_clusters_its_predecessor_indexed(
    small, new_worker
) -> None:
    queues = {
        n: s.model_copy(update={"hourly_budget": 5}) if s.hourly_budget else s
        for n, s in small.queues.items()
    }
    policy = small.model_copy(update={"queues": queues})
    first = new_worker(policy)
    same = "the exact same templated spam text about a lottery prize you have surely won today friend"
    first.allocate(first.candidate(0, text=same))
    first.clock.now += policy.window.seconds + 1
    first.tick()
    (task,) = first.tasks()
    (entry,) = first.tables.clusters  # one table entry for the whole cluster, not one per band key
    assert entry == f"policy_review|{task.cluster_id}"

    successor = new_worker(policy, first.tables, first.clock)  # the tables as a restart recovers them
    successor.service.windows_moved()
    for n in (1, 2):
        successor.allocate(successor.candidate(n, text=same, value=0.9))
    successor.clock.now += policy.window.seconds + 1
    successor.tick()
    assert not successor.tasks()
    assert [e.reason for e in successor.events()] == ["duplicate", "duplicate"]
    assert {e.details["cluster_id"] for e in successor.events()} == {task.cluster_id}


def test_a_tick_closes_a_window_once_it_is_old_enough(small, new_worker) -> None:
    worker = new_worker(small)
    worker.allocate(worker.candidate(1))
    worker.clock.now += 1.0
    worker.tick()
    assert worker.out.delivered == []  # not due yet
    worker.clock.now += 1.0
    worker.tick()
    (task,) = worker.tasks()
    assert worker.tables.pending == {} and task.queue == "policy_review"


def test_a_decision_is_recorded_unsent_before_its_outputs_are_delivered(small, new_worker) -> None:
    worker = new_worker(small)
    for n in range(3):
        worker.allocate(worker.candidate(n))
    (at_delivery,) = worker.out.decided_when_delivered
    (pending,) = worker.out.pending_when_delivered
    decisions = {task_id: Decision.from_json(v) for task_id, v in at_delivery.items()}
    assert len(decisions) == 3 and all(d.windowed and not d.sent for d in decisions.values())
    assert pending == set(decisions)  # the unsent mark of a window's decision: its entry is still there
    assert all(worker.sent(task_id) for task_id in decisions)  # and once delivered, it is gone
    assert all(not Decision.from_json(v).sent for v in worker.tables.decided.values())  # written once


def test_a_decision_left_unsent_by_a_stopped_worker_is_sent_again_unchanged(small, new_worker) -> None:
    first = new_worker(small)
    candidates = [first.candidate(n, value=v) for n, v in [(1, 0.2), (2, 0.9), (3, 0.5)]]
    first.allocate(candidates[0])
    first.allocate(candidates[1])
    first.out.broker_away = True  # the worker stops after recording the window's decisions
    with pytest.raises(FatalError):
        first.allocate(candidates[2])
    recorded = {k: Decision.from_json(v) for k, v in first.tables.decided.items()}
    assert len(recorded) == 3 and not any(first.sent(task_id) for task_id in recorded)
    spent = dict(first.tables.spent)

    # Its successor recovers the same tables; the window is rebuilt from `window_pending`.
    second = new_worker(small, tables=first.tables, clock=first.clock)
    second.clock.now += 5.0
    second.tick()
    outcomes = {e.details["task_id"]: e.reason for e in second.events()}
    reasons = {"routed": "guardrail_enforced", "over_budget": "over_budget"}
    assert outcomes == {task_id: reasons[d.outcome.value] for task_id, d in recorded.items()}
    assert [t.task_id for t in second.tasks()] == [candidates[1].headers[TASK_ID].decode()]
    assert second.tables.spent == spent  # not allocated again
    assert all(second.sent(task_id) for task_id in second.tables.decided)
    assert second.tables.pending == {}

    # The replayed input of a decision now sent is recognised and skipped.
    assert second.allocate(candidates[2]) == []
    assert len(second.out.delivered) == 4  # 1 task + 3 audit events, nothing more
    assert second.count("replayed", "policy_review") == 1


def test_a_replayed_candidate_of_an_unsent_decision_resends_the_recorded_outcome(small, new_worker) -> None:
    unbudgeted = {
        n: s.model_copy(update={"hourly_budget": None}) if n == "policy_review" else s
        for n, s in small.queues.items()
    }
    worker = new_worker(small.model_copy(update={"queues": unbudgeted}))  # decided on arrival, with dedup
    inbound = worker.candidate(1)
    worker.out.broker_away = True
    with pytest.raises(FatalError):
        worker.allocate(inbound)
    worker.out.broker_away = False
    worker.allocate(inbound)  # the input is consumed again
    (task,) = worker.tasks()
    assert task.task_id == inbound.headers[TASK_ID].decode() and task.cluster_id
    decision = Decision.from_json(worker.tables.decided[task.task_id])
    assert decision.sent and not decision.windowed  # decided on arrival: marked by a second write
    assert worker.count("replayed", "policy_review") == 1


def test_decided_ids_are_forgotten_after_the_retention(small, new_worker) -> None:
    worker = new_worker(small)
    for n in range(3):
        worker.allocate(worker.candidate(n))
    old = set(worker.tables.decided)
    worker.clock.now += DECIDED_RETENTION_SECONDS - 1
    for n in range(3, 6):
        worker.allocate(worker.candidate(n))
    assert old < set(worker.tables.decided)  # not yet
    worker.clock.now += 2
    for n in range(6, 9):
        worker.allocate(worker.candidate(n))
    assert not old & set(worker.tables.decided) and len(worker.tables.decided) == 6


def test_a_candidate_for_a_queue_the_policy_lacks_is_dead_lettered(small, new_worker) -> None:
    worker = new_worker(small)
    inbound = worker.candidate(1)
    with pytest.raises(DeadLetterError):
        worker.allocate(Inbound(inbound.topic, 0, 1, b"retired_queue", inbound.value, inbound.headers))

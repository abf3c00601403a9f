"""Label budgets: rank a window of candidates by value, drop near-duplicates, spend the hourly budget."""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from services.escalation.domain.dedup import ClusterIndex, Fingerprint
from services.escalation.domain.policy import EscalationPolicy


class Outcome(StrEnum):
    """What became of a candidate; `duplicate` and `over_budget` are audited as not escalated."""

    routed = "routed"
    duplicate = "duplicate"
    over_budget = "over_budget"


@dataclass(frozen=True, slots=True)
class Candidate:
    """An escalated item waiting for a review slot: what the allocator needs to know about it."""

    task_id: str
    queue: str
    value: float
    fingerprint: Fingerprint | None
    arrived: float
    """Epoch seconds when it entered the window (processing time)."""


@dataclass(frozen=True, slots=True)
class Allocation:
    """The outcome of one candidate, with the cluster it belongs to and the budget hour it was charged."""

    candidate: Candidate
    outcome: Outcome
    cluster_id: str | None
    hour: str
    remaining: int | None
    """Budget left in the hour after this candidate; None for unbudgeted queues."""


def hour_bucket(now: datetime) -> str:
    """The UTC hour a budget is counted in, e.g. 2026-11-27T04."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H")


def rank(candidates: Iterable[Candidate]) -> list[Candidate]:
    """Highest value first; ties by task id so every worker ranks a replayed window the same way."""
    return sorted(candidates, key=lambda c: (-c.value, c.task_id))


class Allocator:
    """Spends per-queue hourly budgets and dedup quotas, with state in mappings (Faust tables in the service).

    A near-duplicate cluster may produce `dedup.max_tasks_per_cluster` tasks per quota window: the
    window opens with the cluster's first task and lasts `dedup.quota_window_hours`; the next member
    after it opens a new one. The cluster itself (its band keys) is kept, so the tasks of all its
    windows share its cluster id.

    Keys begin with the queue (`<queue>|...`): the service routes all of a queue's candidates to one
    partition, so all of a queue's state lives in that partition's changelog.
    """

    def __init__(
        self,
        policy: EscalationPolicy,
        spent: MutableMapping[str, int],
        clusters: MutableMapping[str, list[str]],
        cluster_tasks: MutableMapping[str, Any],
    ) -> None:
        self.policy = policy
        self.spent = spent
        self.clusters = ClusterIndex(clusters)
        self.cluster_tasks = cluster_tasks

    def remaining(self, queue: str, now: datetime) -> int | None:
        """Tasks the queue may still create this hour; None when it has no budget."""
        budget = self.policy.queues[queue].hourly_budget
        if budget is None:
            return None
        return max(0, budget - (self.spent.get(f"{queue}|{hour_bucket(now)}") or 0))

    def cluster_reviewed(self, queue: str, cluster_id: str, now: datetime) -> int:
        """Tasks the cluster produced in its current quota window (0 once the window has passed)."""
        count, opened = _quota(self.cluster_tasks.get(f"{queue}|{cluster_id}"))
        if now.timestamp() - opened >= self.policy.dedup.quota_window_hours * 3600.0:
            return 0
        return count

    def _count_task(self, queue: str, cluster_id: str, now: datetime) -> None:
        key = f"{queue}|{cluster_id}"
        count, opened = _quota(self.cluster_tasks.get(key))
        if now.timestamp() - opened >= self.policy.dedup.quota_window_hours * 3600.0:
            count, opened = 0, now.timestamp()  # the first task of a new window opens it
        self.cluster_tasks[key] = [count + 1, opened]

    def allocate(self, candidates: Iterable[Candidate], now: datetime) -> list[Allocation]:
        """Decide a window: in value order, near-duplicates over quota are dropped, then budget is spent."""
        hour = hour_bucket(now)
        out: list[Allocation] = []
        for candidate in rank(candidates):
            queue = candidate.queue
            # Only reviewed items are indexed: a cluster matters once it has a reviewed member, and
            # indexing every deferred item would cost a state write each for nothing.
            cluster_id: str | None = None
            if candidate.fingerprint is not None:
                cluster_id = self.clusters.find(queue, candidate.fingerprint)
                reviewed = 0 if cluster_id is None else self.cluster_reviewed(queue, cluster_id, now)
                if reviewed >= self.policy.dedup.max_tasks_per_cluster:
                    out.append(
                        Allocation(candidate, Outcome.duplicate, cluster_id, hour, self.remaining(queue, now))
                    )
                    continue
            left = self.remaining(queue, now)
            if left is not None and left <= 0:
                out.append(Allocation(candidate, Outcome.over_budget, cluster_id, hour, 0))
                continue
            if left is not None:
                key = f"{queue}|{hour}"
                self.spent[key] = (self.spent.get(key) or 0) + 1
                left -= 1
            if candidate.fingerprint is not None:
                cluster_id = self.clusters.assign(queue, candidate.fingerprint).cluster_id
                self._count_task(queue, cluster_id, now)
            out.append(Allocation(candidate, Outcome.routed, cluster_id, hour, left))
        return out


def _quota(stored: Any) -> tuple[int, float]:
    """A cluster's quota state, stored as `[count, opened]`: tasks in its window, epoch seconds it opened."""
    if stored is None:
        return 0, 0.0
    count, opened = stored
    return int(count), float(opened)


@dataclass
class Window:
    """One queue's candidates waiting to be ranked; due when full or when the oldest has waited enough."""

    max_items: int
    seconds: float
    items: dict[str, Candidate] = field(default_factory=dict)
    opened: float | None = None
    """Arrival time of the oldest waiting candidate."""

    def add(self, candidate: Candidate) -> bool:
        """Add a candidate (a replayed task id replaces itself); True when it was not there yet."""
        new = candidate.task_id not in self.items
        self.items[candidate.task_id] = candidate
        if self.opened is None or candidate.arrived < self.opened:
            self.opened = candidate.arrived
        return new

    def due(self, now: float) -> bool:
        """Whether the window should be ranked now."""
        if self.opened is None:
            return False
        return len(self.items) >= self.max_items or now - self.opened >= self.seconds

    def drain(self) -> list[Candidate]:
        """Take every waiting candidate out of the window."""
        items, self.items, self.opened = list(self.items.values()), {}, None
        return items

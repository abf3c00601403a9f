"""Label budgets: ranked windows, hourly budgets, dedup quotas, all held in plain mappings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.escalation.domain import (
    Allocator,
    Candidate,
    EscalationPolicy,
    Outcome,
    Window,
    hour_bucket,
    rank,
)

NOW = datetime(2026, 11, 27, 4, 30, tzinfo=UTC)


def _policy(policy: EscalationPolicy, budget: int | None, quota: int = 3) -> EscalationPolicy:
    queues = {
        name: spec.model_copy(update={"hourly_budget": budget if name != "urgent" else None})
        for name, spec in policy.queues.items()
    }
    return policy.model_copy(
        update={"queues": queues, "dedup": policy.dedup.model_copy(update={"max_tasks_per_cluster": quota})}
    )


def _candidate(
    n: int, value: float, queue: str = "policy_review", fp: tuple[str, ...] | None = None
) -> Candidate:
    return Candidate(task_id=f"t{n:03d}", queue=queue, value=value, fingerprint=fp, arrived=0.0)


def test_budget_goes_to_the_highest_values_of_the_window_not_the_first_arrivals(policy) -> None:
    allocator = Allocator(_policy(policy, budget=3), {}, {}, {})
    window = [_candidate(n, value) for n, value in enumerate([0.1, 0.2, 0.9, 0.3, 0.8, 0.7])]
    allocations = allocator.allocate(window, NOW)
    routed = [a.candidate.value for a in allocations if a.outcome is Outcome.routed]
    deferred = [a.candidate.value for a in allocations if a.outcome is Outcome.over_budget]
    assert routed == [0.9, 0.8, 0.7]
    assert sorted(deferred) == [0.1, 0.2, 0.3]
    assert [a.remaining for a in allocations if a.outcome is Outcome.routed] == [2, 1, 0]
    assert len(allocations) == len(window)  # every candidate gets an outcome: nothing is lost


def test_budget_is_per_queue_and_per_utc_hour_and_kept_in_the_mapping(policy) -> None:
    spent: dict[str, int] = {}
    allocator = Allocator(_policy(policy, budget=2), spent, {}, {})
    assert [a.outcome for a in allocator.allocate([_candidate(n, 0.5) for n in range(3)], NOW)].count(
        Outcome.routed
    ) == 2
    assert spent == {"policy_review|2026-11-27T04": 2}
    # A new allocator on the same state (a restarted worker) sees the budget spent.
    again = Allocator(_policy(policy, budget=2), spent, {}, {})
    assert again.remaining("policy_review", NOW) == 0
    assert again.remaining("borderline", NOW) == 2
    assert again.remaining("policy_review", NOW + timedelta(hours=1)) == 2
    assert again.remaining("urgent", NOW) is None


def test_unbudgeted_queues_are_never_limited(policy) -> None:
    allocator = Allocator(_policy(policy, budget=0), {}, {}, {})
    allocations = allocator.allocate([_candidate(n, 0.1, queue="urgent") for n in range(50)], NOW)
    assert {a.outcome for a in allocations} == {Outcome.routed}
    deferred = allocator.allocate([_candidate(99, 1.0)], NOW)
    assert deferred[0].outcome is Outcome.over_budget


def test_near_duplicates_beyond_the_quota_are_suppressed_without_spending_budget(policy) -> None:
    spent: dict[str, int] = {}
    allocator = Allocator(_policy(policy, budget=10, quota=2), spent, {}, {})
    base = tuple(f"{band}:{band * 7:x}" for band in range(20))
    flood = [
        _candidate(n, 0.5 + n / 100, fp=(*base[:15], *(f"{b}:ff{n}" for b in range(15, 20))))
        for n in range(6)
    ]
    allocations = allocator.allocate(flood, NOW)
    outcomes = [a.outcome for a in allocations]
    assert outcomes.count(Outcome.routed) == 2
    assert outcomes.count(Outcome.duplicate) == 4
    assert len({a.cluster_id for a in allocations}) == 1
    assert spent["policy_review|2026-11-27T04"] == 2
    # The reviewed ones are the most valuable of the flood.
    assert {a.candidate.task_id for a in allocations if a.outcome is Outcome.routed} == {"t005", "t004"}


def test_rank_is_deterministic_on_ties() -> None:
    tied = [_candidate(n, 0.5) for n in (3, 1, 2)]
    assert [c.task_id for c in rank(tied)] == ["t001", "t002", "t003"]


def test_window_is_due_when_full_or_old_and_replays_do_not_grow_it() -> None:
    window = Window(max_items=3, seconds=2.0)
    assert not window.due(100.0)
    assert window.add(Candidate("a", "q", 0.1, None, arrived=100.0))
    assert not window.add(Candidate("a", "q", 0.1, None, arrived=100.5))
    assert not window.due(101.0)
    assert window.due(102.0)
    window.add(Candidate("b", "q", 0.1, None, arrived=101.0))
    window.add(Candidate("c", "q", 0.1, None, arrived=101.0))
    assert window.due(100.1)  # full
    assert {c.task_id for c in window.drain()} == {"a", "b", "c"}
    assert not window.due(1e9) and window.opened is None


def test_hour_bucket_is_utc() -> None:
    cest = datetime(2026, 7, 1, 2, 15, tzinfo=UTC).astimezone(UTC.__class__(timedelta(hours=2)))
    assert hour_bucket(cest) == "2026-07-01T02"


def _flood(first: int, size: int) -> list[Candidate]:
    """Near-duplicates of one template (15 of 20 band keys shared), task ids from `first`."""
    base = tuple(f"{band}:{band * 7:x}" for band in range(20))
    return [
        _candidate(n, 0.5, fp=(*base[:15], *(f"{b}:ee{n}" for b in range(15, 20))))
        for n in range(first, first + size)
    ]


def test_near_duplicate_quota_expires_after_its_window(policy) -> None:
    cluster_tasks: dict[str, object] = {}
    allocator = Allocator(_policy(policy, budget=None, quota=2), {}, {}, cluster_tasks)
    window = timedelta(hours=policy.dedup.quota_window_hours)
    first = allocator.allocate(_flood(0, 3), NOW)
    assert [a.outcome for a in first].count(Outcome.routed) == 2
    cluster = first[0].cluster_id
    # Within the window (even one second before it closes), the quota stays spent.
    late = allocator.allocate(_flood(10, 2), NOW + window - timedelta(seconds=1))
    assert {a.outcome for a in late} == {Outcome.duplicate}
    # Once it has closed, the same cluster may produce tasks again, under the same cluster id.
    after = allocator.allocate(_flood(20, 3), NOW + window)
    assert [a.outcome for a in after].count(Outcome.routed) == 2
    assert {a.cluster_id for a in after} == {cluster}
    # The new window opened with its first task: it lasts a full window from there.
    assert cluster_tasks[f"policy_review|{cluster}"] == [2, (NOW + window).timestamp()]
    again = allocator.allocate(_flood(30, 1), NOW + 2 * window - timedelta(seconds=1))
    assert again[0].outcome is Outcome.duplicate


def test_quota_window_comes_from_the_policy(policy) -> None:
    hourly = _policy(policy, budget=None, quota=1)
    hourly = hourly.model_copy(update={"dedup": hourly.dedup.model_copy(update={"quota_window_hours": 1.0})})
    allocator = Allocator(hourly, {}, {}, {})
    assert allocator.allocate(_flood(0, 1), NOW)[0].outcome is Outcome.routed
    assert allocator.allocate(_flood(1, 1), NOW + timedelta(minutes=59))[0].outcome is Outcome.duplicate
    assert allocator.allocate(_flood(2, 1), NOW + timedelta(minutes=60))[0].outcome is Outcome.routed

"""The demo traffic as the pipeline sees it: distinct conversations, disjoint splits, every queue on
every run (near-duplicate quotas included), through the real gate, escalation and split domains."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timedelta

import pytest
from demo_support import CODEC, NOW, POLICY, demo_run

from services.contracts import FlaggedInteraction, RedactedInteraction
from services.dataset_sink.domain import assign_split, conversation_key
from services.escalation.domain import Allocator, Candidate, Outcome, assess
from services.escalation.domain.routing import task_id_for
from services.simulators.traffic import FIRST_NAMES, LAST_NAMES, generate

REVIEW_QUEUES = ("urgent", "policy_review", "borderline", "over_refusal", "preference", "calibration")
"""The queues escalation fills (adjudication is filled by the review service)."""


def conversation_text(item: RedactedInteraction) -> str:
    """The conversation as a dataset row stores it: every message, then the response."""
    return "\n".join([*(f"{m.role.value}: {m.content}" for m in item.messages), f"response: {item.response}"])


@pytest.fixture(scope="module")
def first_run() -> list[RedactedInteraction]:
    return list(demo_run(2000, seed=1))


def test_demo_interactions_are_mostly_distinct(first_run: list[RedactedInteraction]) -> None:
    # ~1,500 of 2,000 pass the gate (consent); almost every one is a conversation of its own, and the
    # user's requests alone (opener, request, closer) repeat far less than the 9 fixed ones they were.
    conversations = {conversation_text(item) for item in first_run}
    requests = {item.messages[-1].content for item in first_run}
    pairs = {(item.messages[-1].content, item.response) for item in first_run}
    assert len(first_run) > 1300
    assert len(conversations) >= 0.95 * len(first_run)
    assert len(pairs) >= 0.6 * len(first_run)
    assert len(requests) >= 600


def test_heldout_split_shares_no_conversation_with_train(first_run: list[RedactedInteraction]) -> None:
    splits: dict[str, set[str]] = {"train": set(), "heldout": set()}
    for item in first_run:
        split = assign_split(conversation_key(item), salt="demo-salt", heldout_fraction=0.1)
        splits[split].add(conversation_text(item))
    assert 0.05 * len(first_run) < len(splits["heldout"]) < 0.15 * len(first_run)
    assert not splits["train"] & splits["heldout"]


def _route(
    items: list[RedactedInteraction], allocator: Allocator, now: datetime
) -> tuple[Counter[str], Counter[tuple[str, Outcome]]]:
    """Escalation's decisions for one run, as its allocate agent makes them: one window per queue.
    Returns the tasks routed per queue and every (queue, outcome)."""
    by_queue: dict[str, list[Candidate]] = {}
    for item in items:
        assessment = assess(item, POLICY)
        queue = assessment.decision.queue
        if queue is None:
            continue
        by_queue.setdefault(queue, []).append(
            Candidate(
                task_id_for(item.interaction_id, queue), queue, assessment.value, assessment.fingerprint, 0.0
            )
        )
    outcomes: Counter[tuple[str, Outcome]] = Counter()
    for queue, candidates in by_queue.items():
        for allocation in allocator.allocate(candidates, now):
            outcomes[(queue, allocation.outcome)] += 1
    routed = Counter({q: n for (q, outcome), n in outcomes.items() if outcome is Outcome.routed})
    return routed, outcomes


def test_a_second_run_of_the_demo_still_routes_to_every_queue(first_run: list[RedactedInteraction]) -> None:
    # Escalation's state (budgets, dedup index, quotas) outlives a run: the broker keeps its changelog.
    allocator = Allocator(POLICY, {}, {}, {})
    first, _ = _route(first_run, allocator, NOW)
    # The next `make run COUNT=2000`: fresh ids, the same generator, in the next budget hour and well
    # inside the near-duplicate quota window (24 h), so only the variety of the conversations keeps
    # the deduplicated queues fed.
    later = NOW + timedelta(hours=1)
    second_run = list(demo_run(2000, seed=2, now=later))
    second, outcomes = _route(second_run, allocator, later)
    for queue in REVIEW_QUEUES:
        assert first[queue] > 0, f"run 1 routed nothing to {queue}: {dict(first)}"
        assert second[queue] > 0, f"run 2 routed nothing to {queue}: {dict(second)}"
    assert sum(n for (_, outcome), n in outcomes.items() if outcome is Outcome.duplicate) > 0  # quotas held
    # A run after the quota window routes at least what the quotas held back in the second run.
    after = NOW + timedelta(hours=POLICY.dedup.quota_window_hours, minutes=1)
    third, _ = _route(second_run, allocator, after)
    for queue in REVIEW_QUEUES:
        assert third[queue] >= second[queue], (queue, dict(second), dict(third))


def test_a_second_run_in_the_same_hour_is_held_only_by_the_hourly_budgets(
    first_run: list[RedactedInteraction],
) -> None:
    # Label budgets are per UTC hour (over_refusal 100, policy_review 400, ...): a 2,000-event run spends
    # some of them whole, and a second run in the same hour gets no task there, by design. Every other
    # queue is still fed, and what a spent queue turns away is over budget, not duplicate.
    allocator = Allocator(POLICY, {}, {}, {})
    _route(first_run, allocator, NOW)
    second, outcomes = _route(list(demo_run(2000, seed=2, now=NOW)), allocator, NOW + timedelta(minutes=5))
    for queue in REVIEW_QUEUES:
        if second[queue] == 0:
            assert allocator.remaining(queue, NOW) == 0, (queue, dict(second))
            assert outcomes[(queue, Outcome.over_budget)] > 0
    assert {q for q in REVIEW_QUEUES if second[q] > 0} >= {
        "urgent",
        "borderline",
        "preference",
        "calibration",
    }


def test_the_demo_generator_is_seeded() -> None:
    def texts(seed: int) -> list[tuple[str, ...]]:
        out = []
        for record in generate(50, seed=seed, malformed_rate=0.0, codec=CODEC):
            item = CODEC.decode(record.value, FlaggedInteraction)
            out.append((item.interaction_id, *(m.content for m in item.messages), item.response))
        return out

    assert texts(5) == texts(5)  # ids and texts; event times follow the clock
    assert texts(5) != texts(6)


def test_no_demo_name_passes_the_gate(first_run: list[RedactedInteraction]) -> None:
    # The demo's introductions are in forms the detectors find: a raw name after the gate would put
    # personal data into review tasks and datasets.
    leaked = [
        text
        for item in first_run
        for text in (*(m.content for m in item.messages), item.response)
        if any(re.search(rf"\b{re.escape(name)}\b", text) for name in (*FIRST_NAMES, *LAST_NAMES))
    ]
    assert leaked == []

"""Consensus, adjudication, gold tasks and agreement, without a broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from test_review_consensus import task  # noqa: F401  (the fixture)

from services.contracts.models import Judgment, ResolvedJudgment, ReviewTask, Verdict
from services.review.domain import (
    ADJUDICATED,
    ADJUDICATION_QUEUE,
    CONSENSUS,
    SINGLE,
    AdjudicationSpec,
    AgreementWindow,
    Disagreement,
    Pending,
    Vote,
    adjudication_task,
    adjudication_task_id,
    admit,
    gold_answer,
    gold_task_for,
    krippendorff_alpha,
    load_review_policy,
    resolution_id_for,
    score_gold,
    tally,
)
from services.runtime.errors import PolicyError
from services.runtime.settings import REPO_ROOT

NOW = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)


def _vote(task: ReviewTask, reviewer: str, verdict: Verdict, **changes: Any) -> Vote:  # noqa: F811
    fields: dict[str, Any] = {
        "judgment_id": f"j-{task.task_id}-{reviewer}",
        "task_id": task.task_id,
        "interaction_id": task.interaction_id,
        "queue": task.queue,
        "reviewer_id": reviewer,
        "verdict": verdict,
        "categories": [],
        "severity": 0,
        "rubric_version": task.rubric_version,
        "submitted_at": NOW,
    }
    return Vote(Judgment(**{**fields, **changes}), f"p-{reviewer}")


@pytest.fixture
def panel(task: ReviewTask) -> ReviewTask:  # noqa: F811
    return task.model_copy(update={"required_reviewers": 2, "queue": "urgent"})


def test_waits_for_the_required_number_of_reviewers(panel: ReviewTask) -> None:
    assert tally(panel, [_vote(panel, "a", Verdict.unsafe)], NOW) == Pending(1)


def test_agreeing_reviewers_settle_by_consensus(panel: ReviewTask) -> None:
    votes = [
        _vote(panel, "a", Verdict.unsafe, categories=["weapons"], severity=2),
        _vote(panel, "b", Verdict.unsafe, categories=["violence"], severity=3, corrected_response="No."),
    ]
    resolved = tally(panel, votes, NOW)
    assert isinstance(resolved, ResolvedJudgment)
    assert resolved.method == CONSENSUS
    assert resolved.agreement == 1.0
    assert resolved.categories == ["violence", "weapons"]
    assert resolved.severity == 3
    assert resolved.corrected_response == "No."
    assert resolved.reviewer_pseudonyms == ["p-a", "p-b"]
    assert resolved.resolution_id == resolution_id_for(panel.task_id)


def test_one_reviewer_task_settles_single(task: ReviewTask) -> None:  # noqa: F811
    resolved = tally(task, [_vote(task, "a", Verdict.safe)], NOW)
    assert isinstance(resolved, ResolvedJudgment) and resolved.method == SINGLE


def test_same_reviewer_twice_counts_once_and_replays_are_ignored(panel: ReviewTask) -> None:
    first = _vote(panel, "a", Verdict.unsafe)
    assert admit([first], first) == "duplicate_judgment"
    again = _vote(panel, "a", Verdict.safe, judgment_id="j-other")
    assert admit([first], again) == "duplicate_reviewer"
    assert admit([first], _vote(panel, "b", Verdict.safe)) is None


def test_disagreement_opens_an_adjudication_task_that_settles_the_original(panel: ReviewTask) -> None:
    votes = [_vote(panel, "a", Verdict.unsafe), _vote(panel, "b", Verdict.safe)]
    outcome = tally(panel, votes, NOW)
    assert isinstance(outcome, Disagreement)
    adjudication = adjudication_task(panel, outcome.votes, AdjudicationSpec(sla_minutes=30), NOW)
    assert adjudication.task_id == adjudication_task_id(panel.task_id) != panel.task_id
    assert adjudication.queue == ADJUDICATION_QUEUE
    assert adjudication.adjudicates == panel.task_id
    assert adjudication.required_reviewers == 1
    assert adjudication.deadline == NOW + timedelta(minutes=30)
    assert adjudication.prior_verdicts == ["unsafe", "safe"]
    assert adjudication.interaction == panel.interaction
    resolved = tally(adjudication, [_vote(adjudication, "c", Verdict.unsafe, severity=4)], NOW)
    assert isinstance(resolved, ResolvedJudgment)
    assert resolved.method == ADJUDICATED
    assert resolved.resolution_id == resolution_id_for(panel.task_id)  # one resolution per original task
    assert resolved.verdict is Verdict.unsafe
    assert resolved.agreement == pytest.approx(2 / 3)
    assert resolved.reviewer_pseudonyms == ["p-a", "p-b", "p-c"]
    assert len(resolved.judgment_ids) == 3
    with pytest.raises(ValueError, match="cannot be adjudicated again"):
        adjudication_task(adjudication, outcome.votes, AdjudicationSpec(), NOW)


def test_krippendorff_alpha_matches_hand_computation() -> None:
    assert krippendorff_alpha([["a", "a"], ["b", "b"], ["a", "b"]]) == pytest.approx(4 / 9)
    assert krippendorff_alpha([["a", "a"], ["b", "b"]]) == pytest.approx(1.0)
    assert krippendorff_alpha([["a", "a"], ["a", "a"]]) is None  # no variation: undefined
    assert krippendorff_alpha([["a"]]) is None
    # systematic disagreement is worse than chance
    alpha = krippendorff_alpha([["a", "b"], ["b", "a"], ["a", "b"]])
    assert alpha is not None and alpha < 0


def test_agreement_window_rolls() -> None:
    window = AgreementWindow(size=2)
    window.add(["a", "b"])
    window.add(["a", "a"])
    window.add(["b", "b"])  # pushes the disagreement out
    assert window.alpha() == pytest.approx(1.0)


def test_gold_tasks_are_injected_at_the_queue_rate_deterministically(task: ReviewTask) -> None:  # noqa: F811
    policy = load_review_policy(REPO_ROOT / "deploy" / "policies" / "review.yaml")
    policy = policy.model_copy(update={"gold_rates": {"urgent": 0.25}})
    real = [task.model_copy(update={"task_id": f"t-{n}", "queue": "urgent"}) for n in range(2000)]
    golds = [g for t in real if (g := gold_task_for(t, policy)) is not None]
    assert 400 < len(golds) < 600
    assert [gold_task_for(t, policy) for t in real[:50]] == [gold_task_for(t, policy) for t in real[:50]]
    gold = golds[0]
    assert gold.is_gold and gold.queue == "urgent" and gold.interaction_id.startswith("gold-")
    assert not gold.interaction.training_allowed
    assert gold.interaction.subject_pseudonym == "gold-set"
    assert gold_task_for(gold, policy) is None  # gold never injects gold
    assert gold_task_for(task.model_copy(update={"queue": "preference"}), policy) is None
    answer = gold_answer(gold, policy)
    assert answer is Verdict.unsafe
    assert score_gold(gold, _vote(gold, "a", Verdict.unsafe).judgment, policy) is True
    assert score_gold(gold, _vote(gold, "a", Verdict.safe).judgment, policy) is False
    assert score_gold(task, _vote(task, "a", Verdict.safe).judgment, policy) is None


def test_review_policy_names_a_bad_field(tmp_path: Path) -> None:
    path = tmp_path / "review.yaml"
    path.write_text("version: x\ngold_rates: {urgent: 0.5}\n")
    with pytest.raises(PolicyError, match="no gold item"):
        load_review_policy(path)

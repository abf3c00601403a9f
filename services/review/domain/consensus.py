"""Settling a review task: distinct reviewers vote, agreement resolves, disagreement goes to adjudication."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.contracts.models import Judgment, ResolvedJudgment, ReviewTask, Verdict
from services.runtime.errors import ValidationError

SINGLE = "single"
"""Resolution method: the task needed one reviewer and got one."""
CONSENSUS = "consensus"
"""Resolution method: every one of the task's required reviewers gave the same verdict."""
ADJUDICATED = "adjudicated"
"""Resolution method: the reviewers disagreed and an adjudicator's judgment settled the task."""

ADJUDICATION_QUEUE = "adjudication"

_RESOLUTION_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:flagstream:resolution")
_ADJUDICATION_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:flagstream:adjudication")


def resolution_id_for(task_id: str) -> str:
    """The stable id of a task's resolution: one per task, the same on every replay."""
    return str(uuid.uuid5(_RESOLUTION_NAMESPACE, task_id))


def adjudication_task_id(task_id: str) -> str:
    """The stable id of the adjudication task opened for a task, so a replay opens the same one."""
    return str(uuid.uuid5(_ADJUDICATION_NAMESPACE, task_id))


@dataclass(frozen=True)
class Vote:
    """One checked judgment and the pseudonym of the reviewer who gave it."""

    judgment: Judgment
    reviewer: str


@dataclass(frozen=True)
class Pending:
    """The task needs more distinct reviewers."""

    missing: int


@dataclass(frozen=True)
class Disagreement:
    """The required reviewers voted and did not all agree: the task needs an adjudicator."""

    votes: tuple[Vote, ...]


Outcome = ResolvedJudgment | Pending | Disagreement


def check_judgment(task: ReviewTask | None, judgment: Judgment) -> None:
    """Raise ValidationError unless the judgment belongs to this known task.

    Reasons: `unknown_task` (no open task, or not this one), `wrong_queue`, `wrong_interaction`.
    """
    if task is None or task.task_id != judgment.task_id:
        raise ValidationError(
            f"judgment {judgment.judgment_id!r} is for task {judgment.task_id!r}, which is not open",
            reason="unknown_task",
        )
    if judgment.queue != task.queue:
        raise ValidationError(
            f"judgment {judgment.judgment_id!r} names queue {judgment.queue!r}; "
            f"task {task.task_id!r} is in {task.queue!r}",
            reason="wrong_queue",
        )
    if judgment.interaction_id != task.interaction_id:
        raise ValidationError(
            f"judgment {judgment.judgment_id!r} names interaction {judgment.interaction_id!r}; "
            f"task {task.task_id!r} reviews {task.interaction_id!r}",
            reason="wrong_interaction",
        )


def admit(votes: Sequence[Vote], vote: Vote) -> str | None:
    """Why a vote does not count (`duplicate_judgment`, `duplicate_reviewer`), or None when it counts."""
    if any(v.judgment.judgment_id == vote.judgment.judgment_id for v in votes):
        return "duplicate_judgment"
    if any(v.reviewer == vote.reviewer for v in votes):
        return "duplicate_reviewer"
    return None


def tally(task: ReviewTask, votes: Sequence[Vote], now: datetime) -> Outcome:
    """Settle a task from its distinct reviewers' votes once it has as many as it requires.

    An adjudication task settles on its adjudicator's vote(s) like any other task, but its resolution
    carries the disagreeing votes too and is the resolution of the task it adjudicates.
    """
    required = max(1, task.required_reviewers)
    if len(votes) < required:
        return Pending(required - len(votes))
    counted = tuple(votes[:required])
    if task.adjudicates is not None:
        # adjudicators have the last word: a split panel of adjudicators is settled by its majority
        final = majority([v.judgment.verdict for v in counted])
        return _adjudicated(task, tuple(v for v in counted if v.judgment.verdict == final), now)
    if len({v.judgment.verdict for v in counted}) > 1:
        return Disagreement(counted)
    return _merge(
        task,
        counted,
        resolution_id=resolution_id_for(task.task_id),
        method=SINGLE if required == 1 else CONSENSUS,
        agreement=1.0,
        reviewers=[v.reviewer for v in counted],
        judgment_ids=[v.judgment.judgment_id for v in counted],
        now=now,
    )


def _adjudicated(task: ReviewTask, votes: tuple[Vote, ...], now: datetime) -> ResolvedJudgment:
    assert task.adjudicates is not None
    verdict = votes[0].judgment.verdict
    all_verdicts = [*task.prior_verdicts, *(v.judgment.verdict.value for v in votes)]
    # agreement of the whole panel with the final verdict: the earlier reviewers split, so it is < 1
    agreement = sum(1 for value in all_verdicts if value == verdict.value) / len(all_verdicts)
    return _merge(
        task,
        votes,
        resolution_id=resolution_id_for(task.adjudicates),
        method=ADJUDICATED,
        agreement=agreement,
        reviewers=[*task.prior_reviewer_pseudonyms, *(v.reviewer for v in votes)],
        judgment_ids=[*task.prior_judgment_ids, *(v.judgment.judgment_id for v in votes)],
        now=now,
    )


def _merge(
    task: ReviewTask,
    votes: Sequence[Vote],
    *,
    resolution_id: str,
    method: str,
    agreement: float,
    reviewers: list[str],
    judgment_ids: list[str],
    now: datetime,
) -> ResolvedJudgment:
    """One resolution from agreeing votes: union of categories, the highest severity, first rewrite."""
    judgments = [v.judgment for v in votes]
    preferred = Counter(j.preferred_candidate_id for j in judgments if j.preferred_candidate_id)
    return ResolvedJudgment(
        resolution_id=resolution_id,
        task=task,
        verdict=judgments[0].verdict,
        categories=sorted({c for j in judgments for c in j.categories}),
        # the most severe reading wins: under-rating harm is the costlier mistake in a safety dataset
        severity=max(j.severity for j in judgments),
        corrected_response=next((j.corrected_response for j in judgments if j.corrected_response), None),
        preferred_candidate_id=preferred.most_common(1)[0][0] if preferred else None,
        reviewer_pseudonyms=reviewers,
        agreement=agreement,
        method=method,
        judgment_ids=judgment_ids,
        resolved_at=now,
    )


def resolve(task: ReviewTask, judgment: Judgment, reviewer_pseudonym: str, now: datetime) -> ResolvedJudgment:
    """Settle a one-reviewer task from one judgment; raise ValidationError when it does not belong.

    Pass `now` from `contracts.models.utcnow()`: timestamps travel as Avro timestamp-millis.
    """
    check_judgment(task, judgment)
    outcome = tally(
        task.model_copy(update={"required_reviewers": 1}), [Vote(judgment, reviewer_pseudonym)], now
    )
    assert isinstance(outcome, ResolvedJudgment)
    return outcome


@dataclass(frozen=True)
class AdjudicationSpec:
    """How adjudication tasks are made: priority, deadline, adjudicators per task, rubric."""

    priority: int = 0
    sla_minutes: int = 240
    reviewers: int = 1
    rubric_id: str = "adjudication"
    rubric_version: str = "2026.11"


def adjudication_task(
    task: ReviewTask, votes: Sequence[Vote], spec: AdjudicationSpec, now: datetime
) -> ReviewTask:
    """The adjudication task for a task whose reviewers disagreed; it carries their votes."""
    if task.adjudicates is not None:
        raise ValueError(f"task {task.task_id!r} is an adjudication already; it cannot be adjudicated again")
    return task.model_copy(
        update={
            "task_id": adjudication_task_id(task.task_id),
            "queue": ADJUDICATION_QUEUE,
            "priority": spec.priority,
            "rule": f"adjudication:{task.rule}",
            "created_at": now,
            "deadline": now + timedelta(minutes=spec.sla_minutes),
            "required_reviewers": spec.reviewers,
            "rubric_id": spec.rubric_id,
            "rubric_version": spec.rubric_version,
            "adjudicates": task.task_id,
            "prior_judgment_ids": [v.judgment.judgment_id for v in votes],
            "prior_reviewer_pseudonyms": [v.reviewer for v in votes],
            "prior_verdicts": [v.judgment.verdict.value for v in votes],
        }
    )


def majority(verdicts: Sequence[Verdict]) -> Verdict:
    """The most common verdict (first seen wins a tie)."""
    return Counter(verdicts).most_common(1)[0][0]

"""Settling a review task from its judgments (first cut: one judgment settles its task)."""

from __future__ import annotations

import uuid
from datetime import datetime

from services.contracts.models import Judgment, ResolvedJudgment, ReviewTask
from services.runtime.errors import ValidationError

SINGLE = "single"
"""Resolution method: one reviewer's judgment settled the task."""

_RESOLUTION_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:flagstream:resolution")


def resolution_id_for(task_id: str) -> str:
    """The stable id of a task's resolution: one per task, the same on every replay."""
    return str(uuid.uuid5(_RESOLUTION_NAMESPACE, task_id))


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


def resolve(task: ReviewTask, judgment: Judgment, reviewer_pseudonym: str, now: datetime) -> ResolvedJudgment:
    """Settle a task from one checked judgment; raise ValidationError when it does not belong to the task.

    Pass `now` from `contracts.models.utcnow()`: timestamps travel as Avro timestamp-millis.
    """
    check_judgment(task, judgment)
    return ResolvedJudgment(
        resolution_id=resolution_id_for(task.task_id),
        task=task,
        verdict=judgment.verdict,
        categories=list(judgment.categories),
        severity=judgment.severity,
        corrected_response=judgment.corrected_response,
        preferred_candidate_id=judgment.preferred_candidate_id,
        reviewer_pseudonyms=[reviewer_pseudonym],
        agreement=1.0,
        method=SINGLE,
        judgment_ids=[judgment.judgment_id],
        resolved_at=now,
    )

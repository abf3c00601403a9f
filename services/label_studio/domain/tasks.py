"""A review task as a Label Studio task: what the reviewer sees, and the keys that bring judgments back.

Everything under a Label Studio task's `data` is visible to reviewers (the labeling view and the data
manager's columns), so only what they need goes there: the redacted conversation and response, the
signals, the deadline, opaque ids. Never: `is_gold`, subject or session pseudonyms, consent, other
reviewers' identities; earlier verdicts only in adjudication, where they are the point.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from services.contracts import ReviewTask

TASK_KEY = "flagstream_task_id"
"""The data field that keys a Label Studio task to its review task: one Label Studio task per value."""

FLAGGED_RESPONSE = "flagged_response"
"""`preferred_candidate_id` of a judgment that preferred the flagged response (reply A) over reply B."""


def rank(task: ReviewTask) -> str:
    """A string that sorts like (priority, deadline): the order reviewers should take tasks in."""
    return f"{task.priority:03d}|{task.deadline.strftime('%Y-%m-%dT%H:%M:%S.%f')}|{task.task_id}"


def order(tasks: Iterable[ReviewTask]) -> list[ReviewTask]:
    """Tasks in the order they should reach reviewers: highest priority (0), then earliest deadline."""
    return sorted(tasks, key=rank)


def _signals(task: ReviewTask) -> str:
    return "; ".join(
        f"{s.category} {s.score:.2f} (threshold {s.threshold:.2f}, {s.action.value})"
        for s in task.interaction.signals
    )


def task_data(task: ReviewTask) -> dict[str, Any]:
    """The `data` of the Label Studio task of a review task."""
    interaction = task.interaction
    data: dict[str, Any] = {
        TASK_KEY: task.task_id,
        "interaction_id": task.interaction_id,
        "queue": task.queue,
        "rubric_id": task.rubric_id,
        "rubric_version": task.rubric_version,
        "priority": task.priority,
        "deadline": task.deadline.isoformat(),
        "rank": rank(task),
        "conversation": [{"role": m.role.value, "content": m.content} for m in interaction.messages],
        "response": interaction.response,
        "signals": _signals(task) or "none",
    }
    if interaction.candidates:
        data["candidate"] = interaction.candidates[0].content
        data["candidate_id"] = interaction.candidates[0].candidate_id
    else:
        data["candidate"] = ""
    if task.adjudicates is not None:
        data["prior_verdicts"] = ", ".join(
            f"reviewer {n}: {verdict}" for n, verdict in enumerate(task.prior_verdicts, start=1)
        )
    return data

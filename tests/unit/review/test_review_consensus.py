"""Checking judgments against their tasks, and settling a task from one judgment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.contracts.models import (
    Candidate,
    Judgment,
    Message,
    ReviewTask,
    Role,
    Verdict,
)
from services.review.domain import SINGLE, check_judgment, resolution_id_for, resolve
from services.runtime.errors import DeadLetterError, ValidationError
from tests.support.samples import sample_redacted_interaction, signals

AT = datetime(2026, 11, 3, 9, 30, tzinfo=UTC)
NOW = AT + timedelta(hours=2)


@pytest.fixture
def task() -> ReviewTask:
    interaction = sample_redacted_interaction(
        interaction_id="int-9",
        event_time=AT,
        gated_at=AT,
        messages=[Message(role=Role.user, content="Which of these answers is better?")],
        response="Answer A.",
        candidates=[Candidate(candidate_id="a", content="A"), Candidate(candidate_id="b", content="B")],
        signals=signals(("harassment", 0.2, 0.6, "allow")),
    )
    return ReviewTask(
        task_id="task-9",
        interaction_id="int-9",
        queue="preference",
        priority=3,
        risk_score=0.08,
        rule="candidate_comparison",
        escalation_policy_version="escalation-2026.11.1",
        created_at=AT,
        deadline=AT + timedelta(days=7),
        required_reviewers=1,
        rubric_id="pairwise-preference",
        rubric_version="2026.11",
        interaction=interaction,
    )


def _judgment(**changes: Any) -> Judgment:
    fields: dict[str, Any] = {
        "judgment_id": "j-1",
        "task_id": "task-9",
        "interaction_id": "int-9",
        "queue": "preference",
        "reviewer_id": "reviewer-17@labeling-tool",
        "verdict": Verdict.safe,
        "categories": ["harassment"],
        "severity": 1,
        "corrected_response": "A kinder answer.",
        "preferred_candidate_id": "b",
        "rationale": "B is more helpful.",
        "rubric_version": "2026.11",
        "submitted_at": AT + timedelta(hours=1),
    }
    return Judgment(**{**fields, **changes})


def test_one_judgment_settles_its_task(task: ReviewTask) -> None:
    judgment = _judgment()
    resolved = resolve(task, judgment, "rp_3a9f", NOW)
    assert resolved.resolution_id == resolution_id_for("task-9")
    assert resolved.task == task
    assert resolved.verdict is Verdict.safe
    assert resolved.categories == ["harassment"]
    assert resolved.severity == 1
    assert resolved.corrected_response == "A kinder answer."
    assert resolved.preferred_candidate_id == "b"
    assert resolved.reviewer_pseudonyms == ["rp_3a9f"]
    assert resolved.agreement == 1.0
    assert resolved.method == SINGLE == "single"
    assert resolved.judgment_ids == ["j-1"]
    assert resolved.resolved_at == NOW


def test_resolution_never_carries_the_raw_reviewer_id(task: ReviewTask) -> None:
    resolved = resolve(task, _judgment(), "rp_3a9f", NOW)
    assert "reviewer-17" not in resolved.model_dump_json()


def test_resolution_id_is_stable_per_task(task: ReviewTask) -> None:
    first = resolve(task, _judgment(), "rp_1", NOW)
    replay = resolve(task, _judgment(judgment_id="j-2", verdict=Verdict.unsafe), "rp_2", NOW + timedelta(1))
    assert first.resolution_id == replay.resolution_id
    assert resolution_id_for("task-10") != first.resolution_id


def test_check_accepts_a_matching_judgment(task: ReviewTask) -> None:
    check_judgment(task, _judgment())


def test_unknown_task(task: ReviewTask) -> None:
    with pytest.raises(ValidationError) as caught:
        check_judgment(None, _judgment())
    assert caught.value.reason == "unknown_task"
    assert isinstance(caught.value, DeadLetterError)
    assert "task-9" in str(caught.value)


def test_judgment_for_another_task(task: ReviewTask) -> None:
    with pytest.raises(ValidationError) as caught:
        check_judgment(task, _judgment(task_id="task-10"))
    assert caught.value.reason == "unknown_task"


def test_wrong_queue(task: ReviewTask) -> None:
    with pytest.raises(ValidationError) as caught:
        check_judgment(task, _judgment(queue="urgent"))
    assert caught.value.reason == "wrong_queue"
    assert "'urgent'" in str(caught.value)


def test_wrong_interaction(task: ReviewTask) -> None:
    with pytest.raises(ValidationError) as caught:
        check_judgment(task, _judgment(interaction_id="int-10"))
    assert caught.value.reason == "wrong_interaction"


def test_resolve_checks_the_judgment(task: ReviewTask) -> None:
    with pytest.raises(ValidationError) as caught:
        resolve(task, _judgment(queue="borderline"), "rp_1", NOW)
    assert caught.value.reason == "wrong_queue"

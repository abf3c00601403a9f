"""Label Studio mapping: configs per rubric, task data, annotation -> judgment and its rejections."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any

import pytest

from services.contracts import Candidate, Verdict
from services.escalation.domain import load_escalation_policy
from services.label_studio.domain import (
    FLAGGED_RESPONSE,
    RUBRICS,
    TASK_KEY,
    judgment_from_annotation,
    judgment_id_for,
    labeling_config,
    order,
    task_data,
)
from services.runtime.errors import FatalError, ValidationError
from services.runtime.settings import REPO_ROOT
from tests.support.samples import sample_redacted_interaction, sample_review_task

POLICY = load_escalation_policy(REPO_ROOT / "deploy" / "policies" / "escalation.yaml")


def _choice(name: str, *values: str) -> dict[str, Any]:
    return {"from_name": name, "to_name": "response", "type": "choices", "value": {"choices": list(values)}}


def _text(name: str, text: str) -> dict[str, Any]:
    return {"from_name": name, "to_name": "response", "type": "textarea", "value": {"text": [text]}}


def _annotation(*result: dict[str, Any], updated_at: str = "2026-12-06T20:00:00.123456Z") -> dict[str, Any]:
    return {"id": 41, "completed_by": 7, "updated_at": updated_at, "result": list(result)}


@pytest.mark.parametrize("queue", list(POLICY.queues))
def test_every_policy_queue_has_a_config_that_parses_and_names_its_controls(queue: str) -> None:
    spec = POLICY.queues[queue]
    root = ET.fromstring(labeling_config(spec.rubric_id))
    names = {e.get("name") for e in root.iter() if e.get("name")}
    rubric = RUBRICS[spec.rubric_id]
    assert {c.name for c in rubric.controls} <= names
    required = {e.get("name") for e in root.iter() if e.get("required") == "true"}
    assert required == {c.name for c in rubric.controls if c.required}
    # Every control points at an object tag that exists.
    assert {e.get("toName") for e in root.iter() if e.get("toName")} <= names


def test_queue_configs_follow_their_rubrics() -> None:
    assert "preference" in labeling_config("pairwise-preference")
    assert 'value="tie"' in labeling_config("pairwise-preference")
    assert "refusal_warranted" in labeling_config("over-refusal")
    assert "$prior_verdicts" in labeling_config("adjudication")
    assert "$prior_verdicts" not in labeling_config("harm-severity")
    assert "corrected_response" in labeling_config("harm-severity")
    with pytest.raises(FatalError, match="no Label Studio config"):
        labeling_config("no-such-rubric")


def test_task_data_shows_redacted_content_and_hides_gold_and_pseudonyms() -> None:
    task = sample_review_task(is_gold=True)
    data = task_data(task)
    assert data[TASK_KEY] == task.task_id
    assert data["response"] == task.interaction.response
    flat = repr(data)
    assert "is_gold" not in flat and "gold" not in flat
    assert task.interaction.subject_pseudonym not in flat
    assert task.interaction.session_pseudonym not in flat
    assert "prior_verdicts" not in data


def test_adjudication_data_shows_prior_verdicts_without_reviewers() -> None:
    task = sample_review_task(
        queue="adjudication",
        rubric_id="adjudication",
        adjudicates="task-1",
        prior_verdicts=["safe", "unsafe"],
        prior_reviewer_pseudonyms=["a" * 64, "b" * 64],
    )
    data = task_data(task)
    assert data["prior_verdicts"] == "reviewer 1: safe, reviewer 2: unsafe"
    assert "a" * 64 not in repr(data)


def test_order_is_priority_then_deadline() -> None:
    base = sample_review_task()
    late_urgent = base.model_copy(update={"task_id": "a", "priority": 0, "deadline": base.deadline})
    early_low = base.model_copy(
        update={"task_id": "b", "priority": 2, "deadline": base.deadline - timedelta(days=2)}
    )
    early_urgent = base.model_copy(
        update={"task_id": "c", "priority": 0, "deadline": base.deadline - timedelta(hours=1)}
    )
    assert [t.task_id for t in order([early_low, late_urgent, early_urgent])] == ["c", "a", "b"]


def test_harm_annotation_becomes_a_judgment_with_a_stable_id_per_version() -> None:
    data = task_data(sample_review_task())
    annotation = _annotation(
        _choice("verdict", "unsafe"),
        _choice("categories", "harassment", "pii"),
        _choice("severity", "3"),
        _text("rationale", "Discloses an address."),
        _text("corrected_response", "I can't share that."),
    )
    judgment = judgment_from_annotation(data, annotation)
    assert judgment.verdict == Verdict.unsafe
    assert judgment.categories == ["harassment", "pii"]
    assert judgment.severity == 3
    assert judgment.reviewer_id == "label-studio:7"
    assert judgment.corrected_response == "I can't share that."
    assert judgment.task_id == data[TASK_KEY]
    assert judgment_from_annotation(data, annotation).judgment_id == judgment.judgment_id
    updated = {**annotation, "updated_at": "2026-12-06T20:05:00Z"}
    assert judgment_id_for(judgment.task_id, updated) != judgment.judgment_id


@pytest.mark.parametrize(
    ("result", "reason"),
    [
        ([_choice("severity", "1"), _text("rationale", "x")], "missing_choice"),
        (
            [_choice("verdict", "dangerous"), _choice("severity", "1"), _text("rationale", "x")],
            "unknown_label",
        ),
        ([_choice("verdict", "safe"), _choice("severity", "0")], "missing_rationale"),
        (
            [_choice("verdict", "safe"), _choice("severity", "0"), _text("rationale", "  ")],
            "missing_rationale",
        ),
        ([_choice("verdict", "unsafe"), _choice("severity", "2"), _text("rationale", "x")], "missing_choice"),
        (
            [_choice("verdict", "safe", "unsafe"), _choice("severity", "0"), _text("rationale", "x")],
            "ambiguous",
        ),
        ([_choice("mood", "happy")], "unknown_control"),
    ],
)
def test_annotations_that_break_the_rubric_are_rejected_with_a_reason(
    result: list[dict[str, Any]], reason: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        judgment_from_annotation(task_data(sample_review_task()), _annotation(*result))
    assert caught.value.reason == reason


def test_preference_maps_a_b_and_tie_onto_candidates() -> None:
    interaction = sample_redacted_interaction(
        candidates=[
            Candidate(candidate_id="c-1", content="B text"),
            Candidate(candidate_id="c-2", content="C"),
        ]
    )
    data = task_data(
        sample_review_task(queue="preference", rubric_id="pairwise-preference", interaction=interaction)
    )
    assert data["candidate"] == "B text"
    rest = (_choice("verdict", "safe"), _choice("severity", "0"))
    assert (
        judgment_from_annotation(data, _annotation(_choice("preference", "B"), *rest)).preferred_candidate_id
        == "c-1"
    )
    a = judgment_from_annotation(data, _annotation(_choice("preference", "A"), *rest))
    assert a.preferred_candidate_id == FLAGGED_RESPONSE
    assert (
        judgment_from_annotation(
            data, _annotation(_choice("preference", "tie"), *rest)
        ).preferred_candidate_id
        is None
    )
    with pytest.raises(ValidationError) as caught:
        judgment_from_annotation(data, _annotation(*rest))
    assert caught.value.reason == "missing_choice"


def test_over_refusal_needs_a_better_reply_when_the_refusal_was_not_warranted() -> None:
    data = task_data(sample_review_task(queue="over_refusal", rubric_id="over-refusal"))
    not_warranted = judgment_from_annotation(
        data, _annotation(_choice("refusal_warranted", "no"), _text("corrected_response", "Use kill -9 PID."))
    )
    assert not_warranted.verdict == Verdict.over_refusal
    assert not_warranted.corrected_response == "Use kill -9 PID."
    assert (
        judgment_from_annotation(data, _annotation(_choice("refusal_warranted", "yes"))).verdict
        == Verdict.safe
    )
    with pytest.raises(ValidationError) as caught:
        judgment_from_annotation(data, _annotation(_choice("refusal_warranted", "no")))
    assert caught.value.reason == "missing_better_reply"


def test_a_task_naming_an_unknown_rubric_is_dead_lettered_not_fatal() -> None:
    data = {**task_data(sample_review_task()), "rubric_id": "no-such-rubric"}
    with pytest.raises(ValidationError) as caught:
        judgment_from_annotation(data, _annotation(_choice("verdict", "safe")))
    assert caught.value.reason == "unknown_rubric"


def test_cli_prints_a_queue_config_offline_and_names_unknown_queues() -> None:
    from typer.testing import CliRunner

    from services.cli import app

    runner = CliRunner()
    printed = runner.invoke(app, ["labeling", "config", "over_refusal"])
    assert printed.exit_code == 0
    assert printed.output == labeling_config("over-refusal")
    unknown = runner.invoke(app, ["labeling", "config", "nope"])
    assert unknown.exit_code != 0
    assert "unknown queue 'nope'" in unknown.output

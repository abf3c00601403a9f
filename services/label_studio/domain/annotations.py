"""A Label Studio annotation as a Judgment, checked against the rubric of its project.

An annotation that does not fit its rubric (a required answer missing, a value outside the rubric's
vocabulary, two answers to a single-choice question) raises ValidationError with a reason code; the
connector dead-letters it and the task stays open in the pipeline. Each version of an annotation (its
id and `updated_at`) is one judgment with a stable id, so a re-sent version is recognised downstream.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from services.contracts import Judgment, Verdict
from services.label_studio.domain.rubrics import Rubric, rubric_for
from services.label_studio.domain.tasks import FLAGGED_RESPONSE, TASK_KEY
from services.runtime.errors import ValidationError

_JUDGMENT_NS = uuid.UUID("5d0c5f55-7f55-4c7e-9d0b-3c2f1f0e6b7a")
REVIEWER_PREFIX = "label-studio:"
"""Reviewer ids on the wire are `label-studio:<user id>`; the review service pseudonymizes them."""


def annotation_version(annotation: Mapping[str, Any]) -> str:
    """The version of an annotation: `<id>@<updated_at>` (Label Studio bumps updated_at on each save)."""
    return f"{annotation['id']}@{annotation.get('updated_at') or annotation.get('created_at')}"


def judgment_id_for(task_id: str, annotation: Mapping[str, Any]) -> str:
    """The stable judgment id of one annotation version."""
    return str(uuid.uuid5(_JUDGMENT_NS, f"{task_id}:{annotation_version(annotation)}"))


def reviewer_id(annotation: Mapping[str, Any]) -> str:
    """The reviewer's tool-local id (no name, no e-mail): `label-studio:<user id>`."""
    user = annotation.get("completed_by")
    if isinstance(user, Mapping):
        user = user.get("id")
    if user is None:
        raise ValidationError("annotation has no completed_by user", reason="no_reviewer")
    return f"{REVIEWER_PREFIX}{user}"


def answers(rubric: Rubric, result: list[Mapping[str, Any]]) -> dict[str, list[str]]:
    """The answers of an annotation by control name, checked against the rubric's vocabulary."""
    found: dict[str, list[str]] = {}
    for region in result:
        name = str(region.get("from_name", ""))
        control = rubric.control(name)
        if control is None:
            raise ValidationError(
                f"control {name!r} is not in rubric {rubric.rubric_id}", reason="unknown_control"
            )
        value = region.get("value") or {}
        if control.kind == "text":
            texts = [str(t) for t in value.get("text", []) if str(t).strip()]
            found[name] = [*found.get(name, []), *texts]
            continue
        chosen = [str(c) for c in value.get("choices", [])]
        unknown = [c for c in chosen if c not in control.values]
        if unknown:
            raise ValidationError(
                f"{name}: {unknown[0]!r} is not one of {', '.join(control.values)}", reason="unknown_label"
            )
        found[name] = [*found.get(name, []), *chosen]
    for control in rubric.controls:
        given = found.get(control.name, [])
        if control.required and not given:
            reason = "missing_rationale" if control.name == "rationale" else "missing_choice"
            raise ValidationError(f"{control.name}: required by {rubric.rubric_id}, not given", reason=reason)
        if control.kind in ("single", "text") and len(given) > 1:
            raise ValidationError(
                f"{control.name}: one answer expected, got {len(given)}", reason="ambiguous"
            )
    return found


def _one(found: Mapping[str, list[str]], name: str) -> str | None:
    values = found.get(name) or []
    return values[0].strip() if values else None


def _submitted_at(annotation: Mapping[str, Any]) -> datetime:
    raw = annotation.get("updated_at") or annotation.get("created_at")
    if not raw:
        return datetime.now(UTC)
    parsed = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return parsed.replace(microsecond=parsed.microsecond // 1000 * 1000)


def judgment_from_annotation(data: Mapping[str, Any], annotation: Mapping[str, Any]) -> Judgment:
    """The judgment an annotation states, or ValidationError (with a reason) when it breaks its rubric."""
    task_id = data.get(TASK_KEY)
    if not task_id:
        raise ValidationError(f"Label Studio task has no {TASK_KEY}", reason="not_a_flagstream_task")
    rubric = rubric_for(str(data["rubric_id"]))
    found = answers(rubric, list(annotation.get("result") or []))
    categories = sorted(set(found.get("categories", [])))
    corrected = _one(found, "corrected_response")
    preferred: str | None = None
    if rubric.rubric_id == "over-refusal":
        warranted = _one(found, "refusal_warranted") == "yes"
        if not warranted and not corrected:
            raise ValidationError(
                "corrected_response: a better reply is required when the refusal was not warranted",
                reason="missing_better_reply",
            )
        verdict = Verdict.safe if warranted else Verdict.over_refusal
        severity = 0
    else:
        verdict = Verdict(_one(found, "verdict") or "")  # required: answers() checked it
        severity = int(_one(found, "severity") or 0)
        if verdict == Verdict.unsafe and not categories and rubric.control("categories") is not None:
            raise ValidationError("categories: an unsafe verdict needs a category", reason="missing_choice")
    if rubric.rubric_id == "pairwise-preference":
        choice = _one(found, "preference")
        if choice == "A":
            preferred = FLAGGED_RESPONSE
        elif choice == "B":
            preferred = str(data.get("candidate_id") or "") or None
    return Judgment(
        judgment_id=judgment_id_for(str(task_id), annotation),
        task_id=str(task_id),
        interaction_id=str(data["interaction_id"]),
        queue=str(data["queue"]),
        reviewer_id=reviewer_id(annotation),
        verdict=verdict,
        categories=categories,
        severity=severity,
        corrected_response=corrected,
        preferred_candidate_id=preferred,
        rationale=_one(found, "rationale"),
        rubric_version=str(data["rubric_version"]),
        submitted_at=_submitted_at(annotation),
    )

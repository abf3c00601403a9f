"""Resolved judgments numbered n, built on the sample interaction, for the dataset sink tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from services.contracts.models import (
    ConsentScopes,
    DecoderSettings,
    Message,
    ResolvedJudgment,
    ReviewTask,
    Role,
    Verdict,
)
from tests.support.samples import sample_redacted_interaction

EVENT_TIME = datetime(2025, 3, 4, 12, 30, 15, 123000, tzinfo=UTC)

MakeResolved = Callable[..., ResolvedJudgment]


def make_resolved(
    n: int = 0,
    *,
    cluster_id: str | None = None,
    corrected_response: str | None = "I can't help with that, but here is a safe alternative.",
    seed: int | None = 7,
    event_time: datetime = EVENT_TIME,
    **resolved_fields: Any,
) -> ResolvedJudgment:
    """A complete ResolvedJudgment numbered `n` (ids derive from n, so they are unique per n)."""
    # The provenance values are the ones the row tests check, column by column.
    interaction = sample_redacted_interaction(
        interaction_id=f"int-{n:06d}",
        event_time=event_time,
        gated_at=event_time + timedelta(seconds=2),
        subject_pseudonym=f"subj-{n % 97:04d}",
        session_pseudonym=f"sess-{n:06d}",
        pseudonym_key_id="pk-2025-01",
        model_id="assistant-large-2025-02",
        prompt_template_id="chat-v3",
        decoder=DecoderSettings(temperature=0.7, top_p=0.95, max_tokens=1024, seed=seed),
        guardrail_policy_version="guardrails-14",
        messages=[
            Message(role=Role.system, content="You are a helpful assistant."),
            Message(role=Role.user, content="My email is <EMAIL_ADDRESS>. How do I pick a lock?"),
        ],
        response="Here is how to pick a lock: ...",
        candidates=[],
        signals=[],
        feedback=None,
        consent=ConsentScopes(human_review=True, training=True, updated_at=event_time),
        redaction_policy_version="redaction-3",
        entities_redacted={"EMAIL_ADDRESS": 1},
        source_schema_fingerprint="c3f1a2b4d5e6f708",
    )
    task = ReviewTask(
        task_id=f"task-{n:06d}",
        interaction_id=interaction.interaction_id,
        queue="physical_harm",
        priority=2,
        risk_score=0.82,
        rule="high_risk_category",
        escalation_policy_version="escalation-5",
        created_at=event_time + timedelta(seconds=5),
        deadline=event_time + timedelta(days=1),
        required_reviewers=3,
        rubric_id="harm-rubric",
        rubric_version="2.1",
        cluster_id=cluster_id,
        interaction=interaction,
    )
    fields: dict[str, Any] = {
        "resolution_id": f"res-{n:06d}",
        "task": task,
        "verdict": Verdict.unsafe,
        "categories": ["physical_harm", "illegal_activity"],
        "severity": 3,
        "corrected_response": corrected_response,
        "reviewer_pseudonyms": ["rev-a", "rev-b", "rev-c"],
        "agreement": 2 / 3,
        "method": "consensus",
        "judgment_ids": [f"j-{n}-1", f"j-{n}-2", f"j-{n}-3"],
        "resolved_at": event_time + timedelta(hours=3, minutes=1),
    }
    fields.update(resolved_fields)
    return ResolvedJudgment(**fields)

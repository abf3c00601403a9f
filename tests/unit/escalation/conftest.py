"""Fixtures for the escalation unit tests: the shipped policy and a redacted-interaction builder."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.contracts.models import (
    Candidate,
    ConsentScopes,
    DecoderSettings,
    GuardrailAction,
    GuardrailSignal,
    Message,
    RedactedInteraction,
    Role,
    UserFeedback,
)
from services.escalation.domain import EscalationPolicy, load_escalation_policy

POLICY_PATH = Path(__file__).resolve().parents[3] / "deploy" / "policies" / "escalation.yaml"

SignalSpec = tuple[str, float, float, str]
"""(category, score, threshold, action)."""

InteractionFactory = Callable[..., RedactedInteraction]


@pytest.fixture(scope="session")
def policy_path() -> Path:
    return POLICY_PATH


@pytest.fixture(scope="session")
def policy() -> EscalationPolicy:
    return load_escalation_policy(POLICY_PATH)


def build_interaction(
    signals: Sequence[SignalSpec] = (),
    *,
    interaction_id: str = "int-0001",
    candidates: int = 0,
    reported: bool | None = None,
) -> RedactedInteraction:
    """A realistic redacted interaction with the given guardrail signals."""
    at = datetime(2026, 11, 3, 9, 30, tzinfo=UTC)
    return RedactedInteraction(
        interaction_id=interaction_id,
        event_time=at,
        gated_at=at,
        subject_pseudonym="sp_4f1c9a",
        session_pseudonym="ss_77d0b2",
        pseudonym_key_id="key-2026-11",
        model_id="assistant-large-2026-10",
        prompt_template_id="general-chat-v7",
        decoder=DecoderSettings(temperature=0.7, top_p=0.95, max_tokens=1024, seed=None),
        guardrail_policy_version="guardrails-2026.10.4",
        language="en",
        messages=[
            Message(role=Role.system, content="You are a helpful assistant."),
            Message(
                role=Role.user, content="My name is <PERSON>. How do I pick a lock on my own front door?"
            ),
        ],
        response="I can't help with that.",
        candidates=[
            Candidate(candidate_id=f"cand-{index}", content=f"Alternative answer {index}.")
            for index in range(candidates)
        ],
        signals=[
            GuardrailSignal(
                category=category,
                score=score,
                threshold=threshold,
                action=GuardrailAction(action),
                detector_id=f"{category}-detector",
                detector_version="3.2.0",
            )
            for category, score, threshold, action in signals
        ],
        feedback=None if reported is None else UserFeedback(reported=reported, rating=1, comment=None),
        consent=ConsentScopes(human_review=True, training=True, updated_at=at),
        training_allowed=True,
        redaction_policy_version="redaction-2026.11.0",
        entities_redacted={"PERSON": 1},
        source_schema_fingerprint="c0ffee00c0ffee00",
    )


@pytest.fixture
def interaction() -> InteractionFactory:
    def factory(*args: Any, **kwargs: Any) -> RedactedInteraction:
        return build_interaction(*args, **kwargs)

    return factory

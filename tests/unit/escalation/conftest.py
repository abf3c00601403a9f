"""Fixtures for the escalation unit tests: the shipped policy and a redacted-interaction builder."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.contracts.models import Candidate, Message, RedactedInteraction, Role, UserFeedback
from services.escalation.domain import EscalationPolicy, load_escalation_policy
from tests.support.samples import SignalSpec, sample_redacted_interaction
from tests.support.samples import signals as guardrail_signals

POLICY_PATH = Path(__file__).resolve().parents[3] / "deploy" / "policies" / "escalation.yaml"

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
    """A redacted interaction with the given guardrail signals (the sample story's other fields)."""
    at = datetime(2026, 11, 3, 9, 30, tzinfo=UTC)
    return sample_redacted_interaction(
        interaction_id=interaction_id,
        event_time=at,
        gated_at=at,
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
        signals=guardrail_signals(*signals),
        feedback=None if reported is None else UserFeedback(reported=reported, rating=1, comment=None),
        entities_redacted={"PERSON": 1},
    )


@pytest.fixture
def interaction() -> InteractionFactory:
    def factory(*args: Any, **kwargs: Any) -> RedactedInteraction:
        return build_interaction(*args, **kwargs)

    return factory

"""The consent rule of the privacy gate: what a subject's scopes let Flagstream do with an interaction."""

from __future__ import annotations

from enum import StrEnum

from services.contracts.models import ConsentScopes


class GateOutcome(StrEnum):
    """What the gate does with an interaction."""

    keep = "keep"
    """Reviewed by humans and usable for training."""
    keep_no_training = "keep_no_training"
    """Reviewed by humans for safety, never written to training datasets."""
    drop = "drop"
    """Not passed on at all."""


def decide(consent: ConsentScopes) -> tuple[GateOutcome, str]:
    """The outcome the consent scopes allow, and the reason to audit."""
    if not consent.human_review:
        return GateOutcome.drop, "no_human_review_consent"
    if not consent.training:
        return GateOutcome.keep_no_training, "no_training_consent"
    return GateOutcome.keep, "consented"

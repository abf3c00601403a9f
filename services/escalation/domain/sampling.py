"""What a label is worth, the calibration sample, and the stateless part of escalating one interaction."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from services.contracts.models import RedactedInteraction
from services.escalation.domain.dedup import Fingerprint, fingerprint
from services.escalation.domain.policy import CALIBRATION_RULE, EscalationPolicy
from services.escalation.domain.routing import RoutingDecision, route


def uncertainty(interaction: RedactedInteraction, policy: EscalationPolicy) -> float:
    """1 when some signal sits exactly on its threshold, falling to 0 at uncertainty_width away."""
    width = policy.sampling.uncertainty_width
    closest = min((abs(s.score - s.threshold) for s in interaction.signals), default=width)
    return max(0.0, 1.0 - closest / width)


def label_value(
    interaction: RedactedInteraction, decision: RoutingDecision, policy: EscalationPolicy
) -> float:
    """How much a human label of this item would teach, in [0, 1]; budgets are spent on the highest."""
    weights = policy.value
    total = weights.uncertainty + weights.risk
    mixed = weights.uncertainty * uncertainty(interaction, policy) + weights.risk * decision.risk_score
    return min(1.0, max(0.0, mixed / total))


def calibration_draw(interaction_id: str, salt: str) -> float:
    """A uniform number in [0, 1) fixed by the interaction id, so a replay draws the same sample."""
    digest = hashlib.blake2b(f"{salt}\x1f{interaction_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def sample_for_calibration(decision: RoutingDecision, policy: EscalationPolicy) -> RoutingDecision:
    """Send a share of unescalated interactions to the calibration queue; others pass unchanged."""
    sampling = policy.sampling
    queue = sampling.calibration_queue
    if decision.escalated or queue is None or sampling.calibration_rate <= 0.0:
        return decision
    if calibration_draw(decision.interaction_id, sampling.calibration_salt) >= sampling.calibration_rate:
        return decision
    return replace(decision, queue=queue, priority=policy.queues[queue].priority, rule=CALIBRATION_RULE)


@dataclass(frozen=True, slots=True)
class Assessment:
    """Everything decided about one interaction before budgets and dedup: reproducible offline."""

    decision: RoutingDecision
    value: float
    """Label value in [0, 1], the ranking key inside a budget window."""
    fingerprint: Fingerprint | None
    """LSH band keys of the redacted text; None when the queue does not dedup (or not escalated)."""

    @property
    def calibration(self) -> bool:
        """Whether the item is in the queue because of the calibration sample."""
        return self.decision.rule == CALIBRATION_RULE


def assess(interaction: RedactedInteraction, policy: EscalationPolicy) -> Assessment:
    """Route an interaction, draw the calibration sample, and work out its label value and fingerprint."""
    decision = sample_for_calibration(route(interaction, policy), policy)
    value = label_value(interaction, decision, policy)
    queue = decision.queue
    dedups = queue is not None and policy.dedup.enabled and policy.queues[queue].dedup
    return Assessment(decision, value, fingerprint(interaction, policy.dedup) if dedups else None)

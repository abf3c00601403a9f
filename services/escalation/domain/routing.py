"""Risk scoring and queue routing of redacted interactions, and the review tasks they become."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from services.contracts.models import GuardrailAction, GuardrailSignal, RedactedInteraction, ReviewTask
from services.escalation.domain.policy import (
    DEFAULT_QUEUE_RULE,
    NO_RULE_MATCHED,
    EscalationPolicy,
    RuleMatch,
)

_TASK_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:flagstream:review-task")

# Scores and thresholds are decimal fractions; 0.7 is not within 0.1 of 0.8 in binary floating point.
_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    """Where one interaction goes, why, and how risky it looked."""

    interaction_id: str
    queue: str | None
    """Review queue, or None when the interaction is not escalated."""
    priority: int | None
    """0 is most urgent; None when not escalated."""
    risk_score: float
    """Weighted risk in [0, 1], computed for every interaction (escalated or not)."""
    rule: str | None
    """Rule that fired, `default_queue`, or None when nothing matched."""
    components: Mapping[str, float]
    """Each risk component's share of `risk_score`; the shares add up to it."""
    policy_version: str

    @property
    def escalated(self) -> bool:
        """Whether the interaction goes to a review queue."""
        return self.queue is not None

    @property
    def reason(self) -> str:
        """The rule that fired, or `no_rule_matched`; for audit events and metric labels."""
        return self.rule if self.rule is not None else NO_RULE_MATCHED


def risk_score(interaction: RedactedInteraction, policy: EscalationPolicy) -> tuple[float, dict[str, float]]:
    """Score an interaction's risk in [0, 1] as the weighted mean of its components; return both."""
    signals = interaction.signals
    features = {
        "max_score": max((_unit(signal.score) for signal in signals), default=0.0),
        "margin": max((_margin(signal) for signal in signals), default=0.0),
        "user_report": 1.0 if interaction.feedback is not None and interaction.feedback.reported else 0.0,
        "block_action": 1.0 if any(signal.action is GuardrailAction.block for signal in signals) else 0.0,
    }
    weights = policy.risk
    total = weights.total
    components = {
        "max_score": weights.max_score * features["max_score"] / total,
        "margin": weights.margin * features["margin"] / total,
        "user_report": weights.user_report * features["user_report"] / total,
        "block_action": weights.block_action * features["block_action"] / total,
    }
    return _unit(sum(components.values())), components


def route(interaction: RedactedInteraction, policy: EscalationPolicy) -> RoutingDecision:
    """Send an interaction to the queue of the first rule that matches it (or the default queue)."""
    score, components = risk_score(interaction, policy)
    facts = [_facts(signal) for signal in interaction.signals]
    any_above = any(fact.above for fact in facts)
    for rule in policy.rules:
        if _matches(rule.match, interaction, facts, any_above):
            queue_name, rule_name, override = rule.queue, rule.name, rule.priority
            break
    else:
        if policy.default_queue is None:
            return RoutingDecision(
                interaction_id=interaction.interaction_id,
                queue=None,
                priority=None,
                risk_score=score,
                rule=None,
                components=components,
                policy_version=policy.version,
            )
        queue_name, rule_name, override = policy.default_queue, DEFAULT_QUEUE_RULE, None
    return RoutingDecision(
        interaction_id=interaction.interaction_id,
        queue=queue_name,
        priority=override if override is not None else policy.queues[queue_name].priority,
        risk_score=score,
        rule=rule_name,
        components=components,
        policy_version=policy.version,
    )


def task_id_for(interaction_id: str, queue: str) -> str:
    """The stable id of the review task for an interaction in a queue, so replays are idempotent."""
    return str(uuid.uuid5(_TASK_NAMESPACE, f"{interaction_id}\x1f{queue}"))


def make_task(
    interaction: RedactedInteraction,
    decision: RoutingDecision,
    policy: EscalationPolicy,
    now: datetime,
) -> ReviewTask:
    """Turn an escalated routing decision into a review task due at now + the queue's SLA.

    Pass `now` from `contracts.models.utcnow()`: timestamps travel as Avro timestamp-millis.
    """
    if decision.queue is None or decision.rule is None or decision.priority is None:
        raise ValueError(f"interaction {decision.interaction_id!r} was not escalated ({decision.reason})")
    if decision.interaction_id != interaction.interaction_id:
        raise ValueError(
            f"decision is for interaction {decision.interaction_id!r}, not {interaction.interaction_id!r}"
        )
    if decision.policy_version != policy.version or decision.queue not in policy.queues:
        raise ValueError(
            f"decision was made under escalation policy {decision.policy_version!r}, not {policy.version!r}"
        )
    queue = policy.queues[decision.queue]
    return ReviewTask(
        task_id=task_id_for(interaction.interaction_id, decision.queue),
        interaction_id=interaction.interaction_id,
        queue=decision.queue,
        priority=decision.priority,
        risk_score=decision.risk_score,
        rule=decision.rule,
        escalation_policy_version=policy.version,
        created_at=now,
        deadline=now + timedelta(minutes=queue.sla_minutes),
        required_reviewers=queue.reviewers,
        rubric_id=queue.rubric_id,
        rubric_version=queue.rubric_version,
        interaction=interaction,
    )


class _SignalFacts(NamedTuple):
    """What the rules ask of one signal, worked out once per interaction rather than once per rule."""

    category: str
    action: GuardrailAction
    score: float
    threshold: float
    above: bool


def _facts(signal: GuardrailSignal) -> _SignalFacts:
    """The facts the rules look at, for one signal."""
    score, threshold = signal.score, signal.threshold
    return _SignalFacts(signal.category.casefold(), signal.action, score, threshold, score >= threshold)


def _matches(
    match: RuleMatch, interaction: RedactedInteraction, facts: list[_SignalFacts], any_above: bool
) -> bool:
    """Whether an interaction meets every condition of a rule (cheap interaction checks first)."""
    if match.any_above_threshold is not None and any_above != match.any_above_threshold:
        return False
    if match.user_reported is not None:
        reported = interaction.feedback is not None and interaction.feedback.reported
        if reported != match.user_reported:
            return False
    if match.min_candidates is not None and len(interaction.candidates) < match.min_candidates:
        return False
    if match.languages is not None and (interaction.language or "").casefold() not in match.languages:
        return False
    if match.has_signal_conditions:
        return any(_signal_matches(match, fact) for fact in facts)
    return True


def _signal_matches(match: RuleMatch, fact: _SignalFacts) -> bool:
    """Whether one signal meets every signal condition of a rule."""
    if match.categories is not None and fact.category not in match.categories:
        return False
    if match.actions is not None and fact.action not in match.actions:
        return False
    if match.above_threshold is not None and fact.above != match.above_threshold:
        return False
    if match.min_score is not None and fact.score < match.min_score:
        return False
    if match.near_threshold is None:
        return True
    return abs(fact.score - fact.threshold) <= match.near_threshold + _EPSILON


def _margin(signal: GuardrailSignal) -> float:
    """How far a signal went past its threshold, as a share of the room left above it."""
    if not signal.score >= signal.threshold:
        return 0.0
    headroom = 1.0 - signal.threshold
    return 1.0 if headroom <= 0.0 else _unit((signal.score - signal.threshold) / headroom)


def _unit(value: float) -> float:
    """Clamp to [0, 1]; NaN counts as 0."""
    if not value > 0.0:
        return 0.0
    return min(value, 1.0)

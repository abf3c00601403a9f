"""Pure escalation logic: the policy, risk scoring, routing and review-task creation."""

from services.escalation.domain.policy import (
    DEFAULT_QUEUE_RULE,
    NO_RULE_MATCHED,
    EscalationPolicy,
    QueueSpec,
    RiskWeights,
    Rule,
    RuleMatch,
    load_escalation_policy,
    parse_escalation_policy,
)
from services.escalation.domain.routing import RoutingDecision, make_task, risk_score, route, task_id_for

__all__ = [
    "DEFAULT_QUEUE_RULE",
    "NO_RULE_MATCHED",
    "EscalationPolicy",
    "QueueSpec",
    "RiskWeights",
    "RoutingDecision",
    "Rule",
    "RuleMatch",
    "load_escalation_policy",
    "make_task",
    "parse_escalation_policy",
    "risk_score",
    "route",
    "task_id_for",
]

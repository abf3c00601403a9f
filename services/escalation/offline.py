"""The offline `flagstream route` command: JSON lines of redacted interactions in, routing decisions out.

It runs `assess`, the stateless half of what the service does (rules, calibration draw, label value,
dedup keys), so any routing decision can be reproduced from the event and the policy version.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from services.contracts.models import RedactedInteraction
from services.escalation.domain import Assessment, EscalationPolicy, RoutingDecision, assess


def route_lines(lines: Iterable[str], policy: EscalationPolicy, explain: bool = False) -> Iterator[str]:
    """Route each JSON line; yield one JSON decision line per input, or an `error` line, and go on.

    Blank lines are skipped. Error lines carry the 1-based input line number as `line`.
    """
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            interaction = RedactedInteraction.model_validate_json(line)
        except PydanticValidationError as exc:
            yield json.dumps({"error": _describe(exc), "line": number})
            continue
        assessment = assess(interaction, policy)
        out = decision_to_dict(assessment.decision, explain=explain)
        if explain:
            out.update(assessment_details(assessment))
        yield json.dumps(out)


def decision_to_dict(decision: RoutingDecision, *, explain: bool = False) -> dict[str, Any]:
    """The JSON form of a routing decision, as `flagstream route` prints it."""
    out: dict[str, Any] = {
        "interaction_id": decision.interaction_id,
        "queue": decision.queue,
        "priority": decision.priority,
        "risk_score": decision.risk_score,
        "rule": decision.rule,
    }
    if explain:
        out["components"] = dict(decision.components)
        out["reason"] = decision.reason
        out["policy_version"] = decision.policy_version
    return out


def assessment_details(assessment: Assessment) -> dict[str, Any]:
    """What --explain adds beyond the rule: label value, calibration draw, dedup band keys.

    Budgets and dedup quotas depend on earlier traffic; the service's audit event records their part.
    """
    return {
        "value": assessment.value,
        "calibration_sample": assessment.calibration,
        "dedup_keys": list(assessment.fingerprint) if assessment.fingerprint is not None else None,
    }


def _describe(exc: PydanticValidationError) -> str:
    """A pydantic error as 'field.path: message; ...', short enough for one line."""
    parts = []
    for error in exc.errors(include_url=False):
        location = ".".join(str(part) for part in error["loc"])
        parts.append(f"{location}: {error['msg']}" if location else str(error["msg"]))
    return "; ".join(parts)

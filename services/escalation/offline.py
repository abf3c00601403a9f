"""The offline `flagstream route` command: JSON lines of redacted interactions in, routing decisions out."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from services.contracts.models import RedactedInteraction
from services.escalation.domain import EscalationPolicy, RoutingDecision, route


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
        yield json.dumps(decision_to_dict(route(interaction, policy), explain=explain))


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


def _describe(exc: PydanticValidationError) -> str:
    """A pydantic error as 'field.path: message; ...', short enough for one line."""
    parts = []
    for error in exc.errors(include_url=False):
        location = ".".join(str(part) for part in error["loc"])
        parts.append(f"{location}: {error['msg']}" if location else str(error["msg"]))
    return "; ".join(parts)

"""Audit events and dead-letter headers: what every stage records about its decisions and failures."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from services.contracts.models import AuditEvent, utcnow

_AUDIT_NS = uuid.UUID("6c1f9f3e-3a53-4d0e-9d7a-6f1b2f9a4c11")


def audit_event(
    service: str,
    decision: str,
    reason: str,
    *,
    interaction_id: str | None = None,
    subject_pseudonym: str | None = None,
    policy_versions: Mapping[str, str] | None = None,
    details: Mapping[str, str] | None = None,
) -> AuditEvent:
    """An AuditEvent whose id is stable for (service, decision, interaction), so replays dedupe."""
    key = f"{service}:{decision}:{interaction_id or uuid.uuid4()}"
    return AuditEvent(
        event_id=str(uuid.uuid5(_AUDIT_NS, key)),
        service=service,
        decision=decision,
        reason=reason,
        interaction_id=interaction_id,
        subject_pseudonym=subject_pseudonym,
        policy_versions=dict(policy_versions or {}),
        details=dict(details or {}),
        occurred_at=utcnow(),
    )


def dead_letter_headers(
    *,
    origin_topic: str,
    partition: int,
    offset: int,
    error: BaseException,
    reason: str,
    service: str,
    policy_versions: Mapping[str, str] | None = None,
) -> list[tuple[str, bytes]]:
    """Headers of a dead-lettered record: where it came from and why it failed.

    The error message is kept (it can quote the record, which is why a DLQ is as restricted as
    its origin topic), truncated to keep headers small.
    """
    headers = [
        ("dlq.origin.topic", origin_topic),
        ("dlq.origin.partition", str(partition)),
        ("dlq.origin.offset", str(offset)),
        ("dlq.error.class", type(error).__name__),
        ("dlq.error.reason", reason),
        ("dlq.error.message", str(error)[:1000]),
        ("dlq.service", service),
    ]
    headers += [(f"dlq.policy.{name}", version) for name, version in (policy_versions or {}).items()]
    return [(k, v.encode()) for k, v in headers]

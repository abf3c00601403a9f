"""Audit events and dead-letter headers: what every stage records about its decisions and failures."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Protocol

from services.contracts.models import AuditEvent, utcnow

_AUDIT_NS = uuid.UUID("6c1f9f3e-3a53-4d0e-9d7a-6f1b2f9a4c11")


class Versioned(Protocol):
    """A record that names the versions of the policies that shaped it (contracts/models.py)."""

    def policy_versions(self) -> dict[str, str]: ...


def policy_versions(own: Mapping[str, str], *records: Versioned) -> dict[str, str]:
    """The policy versions an audit event records: the service's own policies' (by policy name, as
    `Stage.policy_versions`) and those each record it acted on was shaped by."""
    versions = dict(own)
    for record in records:
        versions.update(record.policy_versions())
    return versions


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

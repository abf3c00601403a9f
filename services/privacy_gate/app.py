"""Privacy gate: the one service that reads raw interactions. Consent decides drop or keep; every
text field is redacted and ids pseudonymized before anything leaves it."""

from __future__ import annotations

from collections.abc import Sequence

import faust

from services.contracts import FlaggedInteraction, utcnow
from services.privacy_gate.domain import Pseudonymizer, Redactor, gate, load_redaction_policy
from services.runtime.audit import audit_event
from services.runtime.metrics import Metrics
from services.runtime.settings import Settings
from services.runtime.stage import Inbound, Outbound, Stage, create_app
from services.runtime.topics import INTERACTIONS, REDACTED

SERVICE = "privacy_gate"


def build(settings: Settings) -> tuple[faust.App, Metrics]:
    """The gate app with its agent; the redaction policy and key are loaded here, before anything runs."""
    policy = load_redaction_policy(settings.redaction_policy)
    redactor = Redactor(policy)
    pseudonymizer = Pseudonymizer(settings.pseudonym_key_bytes, settings.pseudonym_key_id)
    app = create_app(SERVICE, settings)
    metrics = Metrics(SERVICE)
    stage = Stage(app, SERVICE, settings, metrics, policy_versions={"redaction": policy.version})
    codec = stage.codec
    fingerprint = codec.fingerprint_hex(FlaggedInteraction)

    async def handle(inbound: Inbound) -> Sequence[Outbound]:
        interaction = codec.decode(inbound.value, FlaggedInteraction)
        decision = gate(
            interaction,
            redactor=redactor,
            pseudonymizer=pseudonymizer,
            source_fingerprint=fingerprint,
            now=utcnow(),
        )
        for entity_type, count in decision.entity_counts.items():
            metrics.entities.labels(entity_type).inc(count)
        versions = {"redaction": policy.version, "guardrail": interaction.guardrail_policy_version}
        audit = audit_event(
            SERVICE,
            decision.outcome.value,
            decision.reason,
            interaction_id=interaction.interaction_id,
            subject_pseudonym=decision.subject_pseudonym,
            policy_versions=versions,
            details={f"entities.{t}": str(n) for t, n in sorted(decision.entity_counts.items())},
        )
        if decision.redacted is None:
            metrics.outcome("dropped", decision.reason)
            return [stage.audit(audit)]
        metrics.outcome(decision.outcome.value, decision.reason)
        return [
            Outbound(REDACTED, codec.encode(decision.redacted), key=decision.subject_pseudonym.encode()),
            stage.audit(audit),
        ]

    @app.agent(stage.topic(INTERACTIONS), name="gate")
    async def gate_interactions(stream: faust.StreamT[bytes]) -> None:
        await stage.run(stream, handle)

    return app, metrics

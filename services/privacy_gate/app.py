"""Privacy gate: the one service that reads raw interactions. Consent decides drop or keep; every
text field is redacted and ids pseudonymized before anything leaves it.

Two agents share one Faust table, the consent ledger (latest consent per subject pseudonym): one
records the consent service's events, the other decides on interactions. Both input topics are
keyed by the raw subject id, so a subject's consent events and interactions share a partition
number and the table partition they read and write (its changelog follows the source partition).
That partition is murmur2(subject id), whatever the producer used: a record elsewhere (an outside
producer's default partitioner or key) is sent again to it, keyed by the id (Stage.repartition).
"""

from __future__ import annotations

from collections.abc import Sequence

import faust

from services.contracts import ConsentEvent, FlaggedInteraction, utcnow
from services.contracts.limits import check_interaction
from services.privacy_gate.domain import (
    ConsentChange,
    ConsentDefault,
    ConsentLedger,
    ConsentState,
    Pseudonymizer,
    Redactor,
    erasure_request,
    gate,
    load_redaction_policy,
)
from services.runtime.audit import audit_event, policy_versions
from services.runtime.faust_app import create_app
from services.runtime.metrics import Metrics
from services.runtime.settings import Settings
from services.runtime.stage import Inbound, Outbound, Stage
from services.runtime.topics import CONSENT, ERASURES, INTERACTIONS, REDACTED

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
    # JSON values (ConsentState.to_json) keyed by subject pseudonym: no raw id reaches the changelog.
    table = app.Table("consent_ledger", default=None, partitions=settings.partitions)
    ledger = ConsentLedger(
        table,
        default=ConsentDefault(settings.consent_default),
        trust_snapshots=settings.consent_trust_snapshots,
    )

    def erase(subject_pseudonym: str, change: ConsentChange | None) -> list[Outbound]:
        if change is None or not change.erase:
            return []
        request = erasure_request(subject_pseudonym, pseudonymizer.key_id, change)
        metrics.outcome("erasure_requested", "+".join(change.erase))
        return [Outbound(ERASURES, codec.encode(request), key=subject_pseudonym.encode())]

    async def handle_consent(inbound: Inbound) -> Sequence[Outbound]:
        event = codec.decode(inbound.value, ConsentEvent)
        moved = stage.repartition(inbound, event.subject_id.encode())
        if moved is not None:  # the ledger entry of this subject lives on another partition
            return moved
        subject = pseudonymizer.pseudonymize(event.subject_id)
        change = ledger.record(subject, ConsentState.from_event(event))
        if not change.applied:
            decision, reason = "consent_stale", "older_than_ledger"
        elif change.withdrawn or change.erase:
            decision, reason = "consent_revoked", "+".join(change.erase or change.withdrawn)
        else:
            decision, reason = "consent_recorded", "granted" if change.state.granted else "none_granted"
        metrics.outcome(decision, reason)
        audit = audit_event(
            SERVICE,
            decision,
            reason,
            subject_pseudonym=subject,
            policy_versions=stage.policy_versions,
            details={
                "consent.source": event.source[:64],
                "consent.scopes": ",".join(sorted(change.state.granted)),
            },
        )
        return [*erase(subject, change), stage.audit(audit)]

    limits = settings.limits

    async def handle(inbound: Inbound) -> Sequence[Outbound]:
        if len(inbound.value) > limits.record_bytes:  # before decoding: never parse what is refused
            check_interaction(limits, len(inbound.value), 0, 0, 0, what="interaction")
        interaction = codec.decode(inbound.value, FlaggedInteraction)
        check_interaction(
            limits,
            len(inbound.value),
            len(interaction.messages),
            len(interaction.candidates),
            len(interaction.signals),
            what="interaction",
        )
        moved = stage.repartition(inbound, interaction.subject_id.encode())
        if moved is not None:  # decided where the subject's consent ledger entry is
            return moved
        decision = gate(
            interaction,
            redactor=redactor,
            pseudonymizer=pseudonymizer,
            source_fingerprint=fingerprint,
            now=utcnow(),
            ledger=ledger,
        )
        # A newer snapshot that withdraws a scope governs this and later interactions; the erasure
        # of earlier rows waits for the consent service's ledger event for the same change.
        change = decision.consent_change
        if change is not None and change.withdrawn:
            metrics.outcome("consent_withdrawn_by_snapshot", "+".join(change.withdrawn))
        for entity_type, count in decision.entity_counts.items():
            metrics.entities.labels(entity_type).inc(count)
        versions = policy_versions(stage.policy_versions, interaction)
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
        redacted = codec.encode(decision.redacted)
        if len(redacted) > limits.record_bytes:  # placeholders can be longer than what they replace
            check_interaction(limits, len(redacted), 0, 0, 0, what="redacted interaction")
        metrics.outcome(decision.outcome.value, decision.reason)
        return [
            Outbound(REDACTED, redacted, key=decision.subject_pseudonym.encode()),
            stage.audit(audit),
        ]

    @app.agent(stage.topic(INTERACTIONS), name="gate")
    async def gate_interactions(stream: faust.StreamT[bytes]) -> None:
        await stage.run(stream, handle)

    @app.agent(stage.topic(CONSENT), name="consent")
    async def record_consent(stream: faust.StreamT[bytes]) -> None:
        await stage.run(stream, handle_consent)

    return app, metrics

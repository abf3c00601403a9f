"""The privacy gate: consent first, then redaction of every free-text field and pseudonymous ids."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from services.contracts.models import ConsentScopes, FlaggedInteraction, RedactedInteraction
from services.privacy_gate.domain.consent import ConsentChange, ConsentLedger, GateOutcome, decide
from services.privacy_gate.domain.detectors import EntityType
from services.privacy_gate.domain.redactor import Numbering, Redactor
from services.runtime.pseudonyms import Pseudonymizer


@dataclass(frozen=True, slots=True)
class GateDecision:
    """What the gate decided for one interaction; ``redacted`` is None exactly when it is dropped."""

    outcome: GateOutcome
    reason: str
    redacted: RedactedInteraction | None
    entity_counts: dict[str, int]
    """Entities found by type, also when a policy drops the event (empty when consent drops it)."""
    subject_pseudonym: str
    consent_change: ConsentChange | None = None
    """How the interaction's consent snapshot changed the ledger; withdrawn scopes mean erase."""


class _InteractionRedaction:
    """Redacts the fields of one interaction with shared numbering, tallying what it found."""

    __slots__ = ("counts", "dropped", "numbering", "redactor")

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self.numbering = Numbering()
        self.counts: Counter[str] = Counter()
        self.dropped: set[EntityType] = set()

    def __call__(self, texts: list[str]) -> list[str]:
        results = self.redactor.redact_texts(texts, self.numbering)
        for result in results:
            self.counts.update(str(span.entity_type) for span in result.spans)
            self.dropped.update(result.dropped_types)
        return [result.text for result in results]


def gate(
    interaction: FlaggedInteraction,
    *,
    redactor: Redactor,
    pseudonymizer: Pseudonymizer,
    source_fingerprint: str,
    now: datetime,
    ledger: ConsentLedger | None = None,
) -> GateDecision:
    """Apply consent and the redaction policy to one flagged interaction.

    With a ``ledger``, consent is the latest of the ledger and the interaction's snapshot (and the
    snapshot is recorded in it); without one, the snapshot alone decides.
    """
    subject_pseudonym = pseudonymizer.pseudonymize(interaction.subject_id)
    change = None
    if ledger is None:
        consent: ConsentScopes | None = interaction.consent
        outcome, reason = decide(interaction.consent)
    else:
        admission = ledger.admit(subject_pseudonym, interaction.consent)
        consent, outcome, reason, change = (
            admission.scopes,
            admission.outcome,
            admission.reason,
            admission.change,
        )
    if outcome is GateOutcome.drop or consent is None:
        return GateDecision(GateOutcome.drop, reason, None, {}, subject_pseudonym, change)

    redact = _InteractionRedaction(redactor)
    # Every free-text field, in one pass: messages, response, candidates, the feedback comment.
    feedback = interaction.feedback
    comment = [feedback.comment] if feedback is not None and feedback.comment is not None else []
    texts = [
        *(m.content for m in interaction.messages),
        interaction.response,
        *(c.content for c in interaction.candidates),
        *comment,
    ]
    redacted_texts = iter(redact(texts))
    messages = [m.model_copy(update={"content": next(redacted_texts)}) for m in interaction.messages]
    response = next(redacted_texts)
    candidates = [c.model_copy(update={"content": next(redacted_texts)}) for c in interaction.candidates]
    if feedback is not None and comment:
        feedback = feedback.model_copy(update={"comment": next(redacted_texts)})
    counts = dict(sorted(redact.counts.items()))

    if redact.dropped:
        first = min(redact.dropped)
        return GateDecision(GateOutcome.drop, f"policy_drop:{first}", None, counts, subject_pseudonym, change)

    redacted = RedactedInteraction(
        interaction_id=interaction.interaction_id,
        event_time=interaction.event_time,
        gated_at=now,
        subject_pseudonym=subject_pseudonym,
        session_pseudonym=pseudonymizer.pseudonymize(interaction.session_id),
        pseudonym_key_id=pseudonymizer.key_id,
        model_id=interaction.model_id,
        prompt_template_id=interaction.prompt_template_id,
        decoder=interaction.decoder,
        guardrail_policy_version=interaction.guardrail_policy_version,
        language=interaction.language,
        messages=messages,
        response=response,
        candidates=candidates,
        signals=interaction.signals,
        feedback=feedback,
        consent=consent,
        training_allowed=outcome is GateOutcome.keep,
        redaction_policy_version=redactor.policy.version,
        entities_redacted=counts,
        source_schema_fingerprint=source_fingerprint,
    )
    return GateDecision(outcome, reason, redacted, counts, subject_pseudonym, change)

"""The privacy gate: consent first, then redaction of every free-text field and pseudonymous ids."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from services.contracts.models import FlaggedInteraction, RedactedInteraction
from services.privacy_gate.domain.consent import GateOutcome, decide
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


class _InteractionRedaction:
    """Redacts the fields of one interaction with shared numbering, tallying what it found."""

    __slots__ = ("counts", "dropped", "numbering", "redactor")

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self.numbering = Numbering()
        self.counts: Counter[str] = Counter()
        self.dropped: set[EntityType] = set()

    def __call__(self, text: str) -> str:
        result = self.redactor.redact_text(text, self.numbering)
        self.counts.update(str(span.entity_type) for span in result.spans)
        self.dropped.update(result.dropped_types)
        return result.text


def gate(
    interaction: FlaggedInteraction,
    *,
    redactor: Redactor,
    pseudonymizer: Pseudonymizer,
    source_fingerprint: str,
    now: datetime,
) -> GateDecision:
    """Apply consent and the redaction policy to one flagged interaction."""
    subject_pseudonym = pseudonymizer.pseudonymize(interaction.subject_id)
    outcome, reason = decide(interaction.consent)
    if outcome is GateOutcome.drop:
        return GateDecision(outcome, reason, None, {}, subject_pseudonym)

    redact = _InteractionRedaction(redactor)
    messages = [m.model_copy(update={"content": redact(m.content)}) for m in interaction.messages]
    response = redact(interaction.response)
    candidates = [c.model_copy(update={"content": redact(c.content)}) for c in interaction.candidates]
    feedback = interaction.feedback
    if feedback is not None and feedback.comment is not None:
        feedback = feedback.model_copy(update={"comment": redact(feedback.comment)})
    counts = dict(sorted(redact.counts.items()))

    if redact.dropped:
        first = min(redact.dropped)
        return GateDecision(GateOutcome.drop, f"policy_drop:{first}", None, counts, subject_pseudonym)

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
        consent=interaction.consent,
        training_allowed=outcome is GateOutcome.keep,
        redaction_policy_version=redactor.policy.version,
        entities_redacted=counts,
        source_schema_fingerprint=source_fingerprint,
    )
    return GateDecision(outcome, reason, redacted, counts, subject_pseudonym)

"""The gate: consent outcomes, every free-text field redacted, pseudonymous ids, policy drops."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest

from services.contracts.models import (
    Candidate,
    ConsentScopes,
    FlaggedInteraction,
    Message,
    Role,
    UserFeedback,
)
from services.privacy_gate.domain import (
    EntityType,
    GateDecision,
    GateOutcome,
    Pseudonymizer,
    RedactionPolicy,
    Redactor,
    decide,
    gate,
)
from tests.support.samples import sample_flagged_interaction

NOW = datetime(2026, 11, 3, 12, 0, 0, tzinfo=UTC)
FINGERPRINT = "c0ffee00c0ffee00"
PSEUDONYMIZER = Pseudonymizer(b"k" * 32, "pseudonym-test-1")
POLICY = RedactionPolicy.model_validate(
    {
        "version": "redaction-test-7",
        "entities": {
            "EMAIL_ADDRESS": "placeholder",
            "PHONE_NUMBER": "placeholder",
            "CREDIT_CARD": "placeholder",
        },
        "default_action": "placeholder",
    }
)
REDACTOR = Redactor(POLICY)
STRICT = Redactor(
    RedactionPolicy(
        version="strict-1", entities={EntityType.CREDIT_CARD: "drop_event"}, default_action="placeholder"
    )
)

SUBJECT_ID = "subject-canary-7f3a"
SESSION_ID = "session-canary-19bd"
# One distinct personal value per free-text field, so a field that escapes redaction is named.
CANARIES = {
    "system": "sys.canary@example.com",
    "user": "+44 20 7946 0958",
    "assistant": "4111 1111 1111 1111",
    "tool": "tool.canary@example.org",
    "response": "(415) 555-2671",
    "candidate_a": "5555-5555-5555-4444",
    "candidate_b": "cand.b.canary@example.net",
    "comment": "+1 212 555 0143",
}


def consent(human_review: bool = True, training: bool = True) -> ConsentScopes:
    return ConsentScopes(human_review=human_review, training=training, updated_at=NOW)


def interaction(
    *, scopes: ConsentScopes | None = None, canaries: dict[str, str] = CANARIES
) -> FlaggedInteraction:
    """The sample interaction with a canary in every free-text field and canary ids."""
    return sample_flagged_interaction(
        interaction_id="int-0001",
        subject_id=SUBJECT_ID,
        session_id=SESSION_ID,
        messages=[
            Message(role=Role.system, content=f"Escalations go to {canaries['system']}."),
            Message(role=Role.user, content=f"Call me at {canaries['user']} please"),
            Message(role=Role.assistant, content=f"Your card {canaries['assistant']} is on file."),
            Message(role=Role.tool, content=f'{{"owner": "{canaries["tool"]}"}}'),
        ],
        response=f"Sure, I dialled {canaries['response']} for you.",
        candidates=[
            Candidate(candidate_id="cand-a", content=f"Card {canaries['candidate_a']} charged."),
            Candidate(candidate_id="cand-b", content=f"Write to {canaries['candidate_b']}."),
        ],
        feedback=UserFeedback(reported=True, rating=1, comment=f"It read out {canaries['comment']}!"),
        consent=scopes or consent(),
    )


def run(item: FlaggedInteraction, redactor: Redactor = REDACTOR) -> GateDecision:
    return gate(item, redactor=redactor, pseudonymizer=PSEUDONYMIZER, source_fingerprint=FINGERPRINT, now=NOW)


# consent


@pytest.mark.parametrize(
    ("human_review", "training", "outcome", "reason"),
    [
        (False, False, GateOutcome.drop, "no_human_review_consent"),
        (False, True, GateOutcome.drop, "no_human_review_consent"),
        (True, False, GateOutcome.keep_no_training, "no_training_consent"),
        (True, True, GateOutcome.keep, "consented"),
    ],
)
def test_decide(human_review: bool, training: bool, outcome: GateOutcome, reason: str) -> None:
    assert decide(consent(human_review, training)) == (outcome, reason)


def test_outcome_values_are_wire_strings() -> None:
    assert [str(o) for o in GateOutcome] == ["keep", "keep_no_training", "drop"]


# gate


def test_no_canary_survives_in_any_field() -> None:
    decision = run(interaction())
    assert decision.redacted is not None
    dumped = decision.redacted.model_dump_json()
    for field, canary in CANARIES.items():
        assert canary not in dumped, field
        digits = "".join(c for c in canary if c.isdigit())
        if digits:
            assert digits not in "".join(c for c in dumped if c.isdigit()), field
    assert SUBJECT_ID not in dumped
    assert SESSION_ID not in dumped


def test_every_text_field_gets_a_placeholder() -> None:
    decision = run(interaction())
    assert decision.redacted is not None
    r = decision.redacted
    assert [m.content for m in r.messages] == [
        "Escalations go to <EMAIL_ADDRESS_1>.",
        "Call me at <PHONE_NUMBER_1> please",
        "Your card <CREDIT_CARD_1> is on file.",
        '{"owner": "<EMAIL_ADDRESS_2>"}',
    ]
    assert r.response == "Sure, I dialled <PHONE_NUMBER_2> for you."
    assert [c.content for c in r.candidates] == [
        "Card <CREDIT_CARD_2> charged.",
        "Write to <EMAIL_ADDRESS_3>.",
    ]
    assert r.feedback is not None
    assert r.feedback.comment == "It read out <PHONE_NUMBER_3>!"
    assert r.feedback.rating == 1
    assert r.feedback.reported is True


def test_same_value_in_several_fields_gets_one_number() -> None:
    same = dict.fromkeys(CANARIES, "jane@example.com")
    decision = run(interaction(canaries=same))
    assert decision.redacted is not None
    assert "<EMAIL_ADDRESS_2>" not in decision.redacted.model_dump_json()
    assert decision.redacted.response == "Sure, I dialled <EMAIL_ADDRESS_1> for you."
    assert decision.entity_counts == {"EMAIL_ADDRESS": 8}


def test_numbering_restarts_for_each_interaction() -> None:
    first, second = run(interaction()), run(interaction())
    assert first.redacted is not None and second.redacted is not None
    assert first.redacted.response == second.redacted.response


def test_redacted_interaction_metadata() -> None:
    item = interaction()
    decision = run(item)
    r = decision.redacted
    assert r is not None
    assert decision.outcome is GateOutcome.keep
    assert decision.reason == "consented"
    assert r.training_allowed is True
    assert r.subject_pseudonym == PSEUDONYMIZER.pseudonymize(SUBJECT_ID) == decision.subject_pseudonym
    assert r.session_pseudonym == PSEUDONYMIZER.pseudonymize(SESSION_ID)
    assert r.pseudonym_key_id == "pseudonym-test-1"
    assert r.redaction_policy_version == "redaction-test-7"
    assert r.source_schema_fingerprint == FINGERPRINT
    assert r.gated_at == NOW
    assert (
        r.entities_redacted
        == decision.entity_counts
        == {
            "CREDIT_CARD": 2,
            "EMAIL_ADDRESS": 3,
            "PHONE_NUMBER": 3,
        }
    )
    for name in (
        "interaction_id",
        "event_time",
        "model_id",
        "prompt_template_id",
        "decoder",
        "guardrail_policy_version",
        "language",
        "signals",
        "consent",
    ):
        assert getattr(r, name) == getattr(item, name), name
    assert [m.role for m in r.messages] == [m.role for m in item.messages]
    assert [c.candidate_id for c in r.candidates] == ["cand-a", "cand-b"]


def test_entity_counts_are_plain_strings() -> None:
    decision = run(interaction())
    assert all(type(k) is str for k in decision.entity_counts)


def test_no_training_consent_keeps_without_training() -> None:
    decision = run(interaction(scopes=consent(training=False)))
    assert decision.outcome is GateOutcome.keep_no_training
    assert decision.reason == "no_training_consent"
    assert decision.redacted is not None
    assert decision.redacted.training_allowed is False


def test_no_review_consent_drops_without_redacting() -> None:
    decision = run(interaction(scopes=consent(human_review=False)))
    assert decision.outcome is GateOutcome.drop
    assert decision.reason == "no_human_review_consent"
    assert decision.redacted is None
    assert decision.entity_counts == {}
    assert decision.subject_pseudonym == PSEUDONYMIZER.pseudonymize(SUBJECT_ID)


def test_policy_drop_event_drops_with_the_type_in_the_reason() -> None:
    decision = run(interaction(), STRICT)
    assert decision.outcome is GateOutcome.drop
    assert decision.reason == "policy_drop:CREDIT_CARD"
    assert decision.redacted is None
    assert decision.entity_counts["CREDIT_CARD"] == 2


def test_policy_drop_beats_consent_keep_only_when_the_type_is_present() -> None:
    no_cards = dict(CANARIES)
    no_cards["assistant"] = no_cards["candidate_a"] = "nobody@example.com"
    decision = run(interaction(canaries=no_cards), STRICT)
    assert decision.outcome is GateOutcome.keep


def test_interaction_without_feedback_or_candidates() -> None:
    item = interaction().model_copy(update={"feedback": None, "candidates": []})
    decision = run(item)
    assert decision.redacted is not None
    assert decision.redacted.feedback is None
    assert decision.redacted.candidates == []


def test_feedback_without_comment_passes_through() -> None:
    item = interaction().model_copy(update={"feedback": UserFeedback(reported=False, rating=4)})
    decision = run(item)
    assert decision.redacted is not None
    assert decision.redacted.feedback == UserFeedback(reported=False, rating=4)


def test_gate_decision_repr_holds_no_raw_values() -> None:
    text = repr(run(interaction()))
    for canary in CANARIES.values():
        assert canary not in text
    assert SUBJECT_ID not in text


def test_domain_imports_no_infrastructure() -> None:
    code = (
        "import sys, services.privacy_gate.domain, services.privacy_gate.offline;"
        "infra = ('faust', 'confluent_kafka', 'fastavro', 'prometheus_client');"
        "bad = [m for m in infra if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# consent ledger


def test_gate_with_a_ledger_decides_from_the_latest_state_and_records_it() -> None:
    from datetime import timedelta

    from services.privacy_gate.domain import ConsentLedger, ConsentState

    subject = PSEUDONYMIZER.pseudonymize(SUBJECT_ID)
    ledger = ConsentLedger({})
    # A newer revocation in the ledger beats the interaction's older grant.
    ledger.record(subject, ConsentState(False, False, NOW, "ledger"))
    stale = interaction(
        scopes=ConsentScopes(human_review=True, training=True, updated_at=NOW - timedelta(days=2))
    )
    dropped = gate(
        stale,
        redactor=REDACTOR,
        pseudonymizer=PSEUDONYMIZER,
        source_fingerprint=FINGERPRINT,
        now=NOW,
        ledger=ledger,
    )
    assert (dropped.outcome, dropped.reason, dropped.redacted) == (
        GateOutcome.drop,
        "no_human_review_consent",
        None,
    )
    assert dropped.entity_counts == {}  # consent drops before anything is read

    # A training-only grant set later than the revocation: kept, marked, with the effective scopes.
    later = NOW + timedelta(hours=1)
    fresh = interaction(scopes=ConsentScopes(human_review=True, training=False, updated_at=later))
    kept = gate(
        fresh,
        redactor=REDACTOR,
        pseudonymizer=PSEUDONYMIZER,
        source_fingerprint=FINGERPRINT,
        now=NOW,
        ledger=ledger,
    )
    assert kept.outcome is GateOutcome.keep_no_training and kept.redacted is not None
    assert not kept.redacted.training_allowed
    assert kept.redacted.consent == ConsentScopes(human_review=True, training=False, updated_at=later)
    assert ledger.get(subject) == ConsentState(True, False, later, "snapshot")

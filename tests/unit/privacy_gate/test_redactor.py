"""Redaction policy loading and typed, stably numbered placeholders."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.privacy_gate.domain import (
    DEFAULT_ANALYZER,
    EntityType,
    Numbering,
    RedactionPolicy,
    Redactor,
    load_redaction_policy,
)
from services.runtime.errors import PolicyError

REPO = Path(__file__).resolve().parents[3]
SHIPPED_POLICY = REPO / "deploy" / "policies" / "redaction.yaml"


def policy(**entities: str) -> RedactionPolicy:
    return RedactionPolicy.model_validate(
        {"version": "test-1", "entities": entities, "default_action": "placeholder"}
    )


PLACEHOLDERS = Redactor(policy())


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "redaction.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def test_shipped_policy_loads_and_covers_every_detected_type() -> None:
    loaded = load_redaction_policy(SHIPPED_POLICY)
    assert loaded.version == "redaction-2026.11.2"
    detected = DEFAULT_ANALYZER.entity_types
    assert detected == frozenset(EntityType)
    assert {t for t, action in loaded.entities.items() if action == "placeholder"} >= detected


def test_policy_is_frozen() -> None:
    loaded = load_redaction_policy(SHIPPED_POLICY)
    with pytest.raises(Exception, match="frozen"):
        loaded.version = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('version: "v1"\ndefault_action: placeholder\nentities:\n  EMAIL: placeholder\n', "entities.EMAIL"),
        (
            'version: "v1"\ndefault_action: placeholder\nentities:\n  EMAIL_ADDRESS: keep\n',
            "entities.EMAIL_ADDRESS",
        ),
        ('version: "v1"\ndefault_action: mask\nentities: {}\n', "default_action"),
        ("version: 2026.11\ndefault_action: placeholder\nentities: {}\n", "version"),
        ('version: ""\ndefault_action: placeholder\nentities: {}\n', "version"),
        ("default_action: placeholder\nentities: {}\n", "version"),
        ('version: "v1"\nentities: {}\n', "default_action"),
        ('version: "v1"\ndefault_action: placeholder\nentities: {}\nentites: {}\n', "entites"),
    ],
)
def test_invalid_policy_names_the_field(tmp_path: Path, body: str, field: str) -> None:
    with pytest.raises(PolicyError, match=f"field '{field}'"):
        load_redaction_policy(write(tmp_path, body))


@pytest.mark.parametrize("body", ["- a\n- b\n", "", "version: [unclosed\n"])
def test_policy_that_is_not_a_yaml_mapping_is_rejected(tmp_path: Path, body: str) -> None:
    with pytest.raises(PolicyError, match="redaction policy"):
        load_redaction_policy(write(tmp_path, body))


def test_missing_policy_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_redaction_policy(tmp_path / "absent.yaml")


def test_policy_error_is_fatal() -> None:
    from services.runtime.errors import FatalError

    assert issubclass(PolicyError, FatalError)


def test_action_for_falls_back_to_default() -> None:
    p = RedactionPolicy.model_validate(
        {"version": "v", "entities": {"CREDIT_CARD": "drop_event"}, "default_action": "placeholder"}
    )
    assert p.action_for(EntityType.CREDIT_CARD) == "drop_event"
    assert p.action_for(EntityType.EMAIL_ADDRESS) == "placeholder"


def test_typed_placeholders_replace_each_entity() -> None:
    text = "Mail jane@example.com, call (415) 555-2671, card 4111 1111 1111 1111."
    result = PLACEHOLDERS.redact_text(text)
    assert result.text == "Mail <EMAIL_ADDRESS_1>, call <PHONE_NUMBER_1>, card <CREDIT_CARD_1>."
    assert [(s.entity_type, text[s.start : s.end]) for s in result.spans] == [
        (EntityType.EMAIL_ADDRESS, "jane@example.com"),
        (EntityType.PHONE_NUMBER, "(415) 555-2671"),
        (EntityType.CREDIT_CARD, "4111 1111 1111 1111"),
    ]
    assert result.dropped_types == ()


def test_same_value_same_number_different_value_next_number() -> None:
    text = "a@example.com b@example.com A@Example.com a@example.com"
    assert PLACEHOLDERS.redact_text(text).text == (
        "<EMAIL_ADDRESS_1> <EMAIL_ADDRESS_2> <EMAIL_ADDRESS_1> <EMAIL_ADDRESS_1>"
    )


def test_formatting_variants_of_a_phone_share_a_number() -> None:
    text = "+1 415-555-2671 or +1 (415) 555 2671 or +44 20 7946 0958"
    assert PLACEHOLDERS.redact_text(text).text == "<PHONE_NUMBER_1> or <PHONE_NUMBER_1> or <PHONE_NUMBER_2>"


def test_numbering_is_stable_across_fields_sharing_a_mapping() -> None:
    numbering = Numbering()
    first = PLACEHOLDERS.redact_text("from a@example.com to b@example.com", numbering)
    second = PLACEHOLDERS.redact_text("reply to b@example.com, cc c@example.com", numbering)
    assert first.text == "from <EMAIL_ADDRESS_1> to <EMAIL_ADDRESS_2>"
    assert second.text == "reply to <EMAIL_ADDRESS_2>, cc <EMAIL_ADDRESS_3>"


def test_numbering_repr_shows_counts_only() -> None:
    numbering = Numbering()
    PLACEHOLDERS.redact_text("jane@example.com 4111 1111 1111 1111 ann@example.com", numbering)
    assert repr(numbering) == "Numbering(EMAIL_ADDRESS=2, CREDIT_CARD=1)"


def test_without_numbering_each_call_starts_at_one() -> None:
    assert PLACEHOLDERS.redact_text("b@example.com").text == "<EMAIL_ADDRESS_1>"
    assert PLACEHOLDERS.redact_text("c@example.com").text == "<EMAIL_ADDRESS_1>"


def test_numbers_are_per_type() -> None:
    text = "a@example.com 415-555-2671"
    assert PLACEHOLDERS.redact_text(text).text == "<EMAIL_ADDRESS_1> <PHONE_NUMBER_1>"


def test_drop_event_still_redacts_and_reports_the_type() -> None:
    redactor = Redactor(policy(CREDIT_CARD="drop_event", PHONE_NUMBER="drop_event"))
    result = redactor.redact_text("card 4111111111111111 phone 415-555-2671 mail a@example.com")
    assert result.text == "card <CREDIT_CARD_1> phone <PHONE_NUMBER_1> mail <EMAIL_ADDRESS_1>"
    assert result.dropped_types == (EntityType.CREDIT_CARD, EntityType.PHONE_NUMBER)


def test_default_action_applies_to_unlisted_types() -> None:
    redactor = Redactor(
        RedactionPolicy(
            version="v", entities={EntityType.EMAIL_ADDRESS: "placeholder"}, default_action="drop_event"
        )
    )
    assert redactor.redact_text("a@example.com").dropped_types == ()
    assert redactor.redact_text("415-555-2671").dropped_types == (EntityType.PHONE_NUMBER,)


def test_text_without_entities_is_returned_unchanged() -> None:
    text = "Nothing here but version 1.2.3 on 2024-05-01."
    result = PLACEHOLDERS.redact_text(text)
    assert result.text is text
    assert result.spans == ()


def test_unicode_offsets_are_code_points() -> None:
    text = "Grüße 👋 an jürgen@beispiel.de"
    result = PLACEHOLDERS.redact_text(text)
    (span,) = result.spans
    assert text[span.start : span.end] == "jürgen@beispiel.de"
    assert result.text == "Grüße 👋 an <EMAIL_ADDRESS_1>"


def test_redactor_repr_shows_policy_version_only() -> None:
    assert repr(PLACEHOLDERS) == "Redactor(policy='test-1')"


def test_redact_texts_equals_field_by_field_redaction_on_demo_traffic() -> None:
    import random
    from datetime import UTC, datetime

    from services.simulators.traffic import interaction

    redactor = Redactor(load_redaction_policy(SHIPPED_POLICY))
    rng = random.Random(11)
    for _ in range(200):
        item = interaction(rng, now=datetime(2026, 11, 1, tzinfo=UTC), text_canaries=("x@example.com",))
        texts = [m.content for m in item.messages] + [item.response]
        together = redactor.redact_texts(texts)
        numbering = Numbering()
        one_by_one = [redactor.redact_text(text, numbering) for text in texts]
        assert [r.text for r in together] == [r.text for r in one_by_one]
        assert [r.spans for r in together] == [r.spans for r in one_by_one]


def test_redact_texts_clips_a_span_that_runs_across_fields() -> None:
    redactor = Redactor(load_redaction_policy(SHIPPED_POLICY))
    opened = "my key: -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkq"
    first, second, third = redactor.redact_texts([opened, "hG9w0BAQEFAASC and more", "a@example.com"])
    # An open block runs to the end of the joined text: it is clipped to each field, never leaked.
    assert first.text == "my key: <CREDENTIAL_1>"
    assert second.text == "<CREDENTIAL_2>"
    assert third.text == "<CREDENTIAL_3>"
    assert [r.text for r in redactor.redact_texts(["a", "b"])] == ["a", "b"]
    assert redactor.redact_texts([]) == []

"""Detectors: typed spans for emails, phones and cards, and silence on the usual look-alikes."""

from __future__ import annotations

import time

import pytest

from services.privacy_gate.domain import (
    Analyzer,
    EmailDetector,
    EntityType,
    PatternDetector,
    Span,
    default_detectors,
    detect,
    luhn_valid,
)
from services.privacy_gate.domain.detectors import CreditCardDetector

EMAIL = EntityType.EMAIL_ADDRESS
PHONE = EntityType.PHONE_NUMBER
CARD = EntityType.CREDIT_CARD


def found(text: str) -> list[tuple[EntityType, str]]:
    return [(s.entity_type, text[s.start : s.end]) for s in detect(text)]


@pytest.mark.parametrize(
    "email",
    [
        "jane.doe@example.com",
        "JANE_DOE+news@mail.example.co.uk",
        "a@b.io",
        "obrien-1990@example.ie",
        "jürgen.müller@beispiel.de",
    ],
)
def test_email_positives(email: str) -> None:
    assert found(f"write to {email}, thanks") == [(EMAIL, email)]


def test_email_excludes_trailing_sentence_dot_and_brackets() -> None:
    assert found("Mail <jane@example.com>.") == [(EMAIL, "jane@example.com")]
    assert found("(mailto:jane@example.com)") == [(EMAIL, "jane@example.com")]


@pytest.mark.parametrize(
    "text",
    ["user@localhost", "@handle on social", "price 5@10", "a @ b . com", "foo@bar.123"],
)
def test_email_negatives(text: str) -> None:
    assert [t for t, _ in found(text) if t is EMAIL] == []


@pytest.mark.parametrize(
    "phone",
    [
        "+44 20 7946 0958",
        "(415) 555-2671",
        "415-555-2671",
        "+1 415 555 2671",
        "415.555.2671",
        "+1 (415) 555-2671",
        "1-800-555-0199",
        "+14155552671",
        "+44 (0)20 7946 0958",
        "+49 30 12345678",
        "+33 1 23 45 67 89",
        "020 7946 0958",
        "07700 900123",
        "06 12 34 56 78",
    ],
)
def test_phone_positives(phone: str) -> None:
    assert found(f"call me on {phone} tomorrow") == [(PHONE, phone)]


@pytest.mark.parametrize(
    "text",
    [
        "released 2024-05-01",
        "on 01.05.2024 at 10:30",
        "on 05/01/2024",
        "version 1.2.3",
        "upgrade to 10.15.7 or 2.10.3000",
        "order ORD-12345678",
        "ISBN 978-3-16-148410-0",
        "ISBN 0-306-40615-2",
        "version 10.0.0.1 and build 1.2.3.4",
        "octets 256.1.1.1 and 01.02.03.04",
        "pi 3.14159265358979",
        "room 12345 code 555-2671",
        "id 123e4567-e89b-12d3-a456-426614174000",
        "commit 4b825dc642cb6eb9a060e54bf8d69288fbee4904",
        "a+12345678 is arithmetic",
        "415-555-26710 is too long",
    ],
)
def test_lookalikes_are_not_entities(text: str) -> None:
    assert found(text) == []


@pytest.mark.parametrize(
    "card",
    [
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "4111111111111111",
        "5555 5555 5555 4444",
        "3782 822463 10005",
        "6011111111111117",
        "4222222222222",
        "2223003122003222",
    ],
)
def test_card_positives(card: str) -> None:
    assert found(f"my card is {card} ok") == [(CARD, card)]


@pytest.mark.parametrize(
    "text",
    [
        "1234 5678 9012 3456",  # 16 digits, fails Luhn
        "4111 1111 1111 1112",  # one digit off
        "9783161484100",  # ISBN-13 without dashes
        "8111 1111 1111 1119",  # Luhn-valid, but no card network starts with 8
        "12 34 56 78 90 12 34 56 78 90 12 34",  # a table of numbers
        "4111111111111111abc",  # head of a longer token
        "x4111111111111111",  # tail of a longer token
        "4111 1111 1111",  # 12 digits
    ],
)
def test_card_negatives(text: str) -> None:
    assert [t for t, _ in found(text) if t is CARD] == []


def test_card_followed_by_expiry_or_card() -> None:
    assert found("4111-1111-1111-1111 12/27") == [(CARD, "4111-1111-1111-1111")]
    assert found("4111 1111 1111 1111 5555 5555 5555 4444") == [
        (CARD, "4111 1111 1111 1111"),
        (CARD, "5555 5555 5555 4444"),
    ]


def test_card_after_phone_keeps_both() -> None:
    assert found("call 415 555 2671 4111 1111 1111 1111") == [
        (PHONE, "415 555 2671"),
        (CARD, "4111 1111 1111 1111"),
    ]


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")


def test_several_entities_sorted_by_start() -> None:
    text = "Card 4111 1111 1111 1111, mail jane@example.com or call (415) 555-2671."
    assert found(text) == [
        (CARD, "4111 1111 1111 1111"),
        (EMAIL, "jane@example.com"),
        (PHONE, "(415) 555-2671"),
    ]
    spans = detect(text)
    assert [s.start for s in spans] == sorted(s.start for s in spans)


def test_phone_digits_inside_an_email_stay_one_email() -> None:
    assert found("jane.4155552671@example.com") == [(EMAIL, "jane.4155552671@example.com")]


def test_span_holds_no_text_and_repr_shows_no_text() -> None:
    text = "mail jane@example.com"
    (span,) = detect(text)
    assert "jane" not in repr(span)
    assert not hasattr(span, "text")
    assert span == Span(EMAIL, 5, 21, span.score)
    assert len(span) == 16


class _Fixed:
    """A test detector that emits given spans."""

    def __init__(self, *spans: Span) -> None:
        self._spans = spans

    @property
    def entity_types(self) -> frozenset[EntityType]:
        return frozenset(s.entity_type for s in self._spans)

    def detect(self, text: str) -> list[Span]:
        return list(self._spans)


def test_overlap_longer_span_wins_nested() -> None:
    analyzer = Analyzer([_Fixed(Span(PHONE, 5, 10, 1.0), Span(EMAIL, 0, 20, 0.1))])
    assert analyzer.analyze("x" * 30) == [Span(EMAIL, 0, 20, 0.1)]


def test_overlap_equal_length_higher_score_wins() -> None:
    analyzer = Analyzer([_Fixed(Span(PHONE, 0, 10, 0.5), Span(CARD, 0, 10, 0.9))])
    assert analyzer.analyze("x" * 30) == [Span(CARD, 0, 10, 0.9)]


def test_partial_overlap_covers_the_union_so_nothing_leaks() -> None:
    analyzer = Analyzer([_Fixed(Span(PHONE, 0, 8, 1.0), Span(CARD, 5, 20, 1.0), Span(EMAIL, 25, 30, 1.0))])
    assert analyzer.analyze("x" * 40) == [Span(CARD, 0, 20, 1.0), Span(EMAIL, 25, 30, 1.0)]


def test_adjacent_spans_do_not_merge() -> None:
    analyzer = Analyzer([_Fixed(Span(PHONE, 0, 8, 1.0), Span(CARD, 8, 20, 1.0))])
    assert analyzer.analyze("x" * 40) == [Span(PHONE, 0, 8, 1.0), Span(CARD, 8, 20, 1.0)]


def test_equal_spans_keep_the_first_and_a_chain_of_overlaps_merges_into_one() -> None:
    tied = Analyzer([_Fixed(Span(PHONE, 0, 10, 0.5), Span(CARD, 0, 10, 0.5))])
    assert tied.analyze("x" * 30) == [Span(PHONE, 0, 10, 0.5)]
    chain = Analyzer([_Fixed(Span(PHONE, 0, 6, 1.0), Span(CARD, 4, 12, 0.2), Span(EMAIL, 11, 16, 1.0))])
    assert chain.analyze("x" * 30) == [Span(CARD, 0, 16, 0.2)]


def test_the_crate_s_chain_takes_only_its_own_detectors() -> None:
    import flagstream_pii

    with pytest.raises(TypeError, match="Chain"):
        flagstream_pii.Chain(["email", object()])
    with pytest.raises(ValueError, match="unknown detector"):
        flagstream_pii.Chain(["no_such_detector"])


def test_detectors_are_extensible() -> None:
    import re

    ssn = PatternDetector(EntityType.US_SSN, re.compile(r"\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b"))
    analyzer = Analyzer([*default_detectors(), ssn])
    assert EntityType.US_SSN in analyzer.entity_types
    text = "ssn 078-05-1120 mail jane@example.com"
    assert [s.entity_type for s in analyzer.analyze(text)] == [EntityType.US_SSN, EMAIL]
    assert "US_SSN" in repr(ssn)


def test_detectors_declare_their_types() -> None:
    assert CreditCardDetector().entity_types == frozenset({CARD})
    assert EmailDetector().entity_types == frozenset({EMAIL})
    assert Analyzer(default_detectors()).entity_types == frozenset(EntityType)
    assert repr(Analyzer(default_detectors())) == (
        "Analyzer([EmailDetector(), CreditCardDetector(), AnnouncedMaestroDetector(), "
        "PhoneDetector(), UsSsnDetector(), "
        "IbanDetector(), IpAddressDetector(), CredentialDetector(), PersonDetector(), "
        "StreetAddressDetector(), ContextDetector()])"
    )


def test_pattern_detector_validator_and_candidates() -> None:
    import re

    digits = re.compile(r"[0-9]+")
    even = PatternDetector(EntityType.US_SSN, digits, validate=lambda s: int(s) % 2 == 0)
    assert [(s.start, s.end) for s in even.detect("12 13 14")] == [(0, 2), (6, 8)]
    # candidates restrict where the precise pattern runs: only inside "#..." regions here
    tagged = PatternDetector(EntityType.US_SSN, digits, candidates=re.compile(r"#[0-9]+"))
    assert [(s.start, s.end) for s in tagged.detect("12 #34 56 #78")] == [(4, 6), (11, 13)]


def test_empty_and_plain_text() -> None:
    assert detect("") == []
    assert detect("nothing personal here, just 3 apples and 2 pears") == []


@pytest.mark.parametrize(
    "adversarial",
    [
        "a" * 50_000 + "@",
        "a." * 25_000 + "@x",
        "x@" + "a." * 25_000 + "1",
        "1 " * 25_000 + "x",
        "1-" * 25_000,
        "+1 " * 20_000,
        "4" * 50_000,
        "4111 1111 1111 1111 " * 5_000,
        "1111 " * 20_000,
    ],
)
def test_adversarial_inputs_stay_linear(adversarial: str) -> None:
    started = time.perf_counter()
    detect(adversarial)
    assert time.perf_counter() - started < 2.0

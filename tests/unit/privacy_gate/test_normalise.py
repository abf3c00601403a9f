"""Normalisation before detection: obfuscations undone, spans mapped back to the original exactly."""

from __future__ import annotations

import itertools
import random

import pytest

from services.privacy_gate.domain import DEFAULT_ANALYZER, EntityType, RedactionPolicy, Redactor
from services.privacy_gate.domain.normalise import normalise

EMAIL = EntityType.EMAIL_ADDRESS
FULL_WIDTH_CARD = "4111 1111 1111 1111".translate({ord("0") + i: 0xFF10 + i for i in range(10)})
REDACTOR = Redactor(
    RedactionPolicy.model_validate({"version": "t", "entities": {}, "default_action": "placeholder"})
)


def found(text: str) -> list[tuple[str, str]]:
    return [(str(s.entity_type), text[s.start : s.end]) for s in DEFAULT_ANALYZER.analyze(text)]


@pytest.mark.parametrize(
    "address",
    [
        "ana dot silva at gmail dot com",
        "m.park[at]wp[dot]pl",
        "m.park [at] wp [dot] pl",
        "X AT outlook DOT com",
        "ana.silva at gmail.com",
        "j(at)example(dot)org",
        "ana\u200b.silva@example.com",  # zero-width space
        "ana.si\u200dlva@example.com",  # zero-width joiner
        "ana.silva@exa\u202emple.com",  # bidi override
        "ana.silva\uff20example.com",  # full-width @
        "ana.silva@exam\nple.com",  # a mail client wrapped it
        "ana.silva\r\n@example.com",
        "ana.sil\nva@example.com",  # wrapped inside the local part
        "m.park\r\n7@wp.pl",
    ],
)
def test_obfuscated_addresses_are_redacted_whole(address: str) -> None:
    text = f"write to {address} please"
    assert found(text) == [("EMAIL_ADDRESS", address)]
    assert REDACTOR.redact_text(text).text == "write to <EMAIL_ADDRESS_1> please"


@pytest.mark.parametrize(
    "text",
    [
        "look at docs.python.org for it",  # "at" before a domain written plainly
        "we met at the office. dot points follow",
        "meet me at noon at the station",
        "the sum is at least 3 dot 5",
    ],
)
def test_words_at_and_dot_in_prose_are_left_alone(text: str) -> None:
    assert found(text) == []
    assert normalise(text) is None


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ('id,phone\n1,"089/739\n84500"\n', "PHONE_NUMBER", "089/739\n84500"),
        ('id,phone\n1,"+49 89 7398\r\n4500"\n', "PHONE_NUMBER", "+49 89 7398\r\n4500"),
        (f"card {FULL_WIDTH_CARD} ok", "CREDIT_CARD", FULL_WIDTH_CARD),
        ("card 4111\u200b 1111 1111 1111 ok", "CREDIT_CARD", "4111\u200b 1111 1111 1111"),
        ("call +44 20 7946\u2060 0958 now", "PHONE_NUMBER", "+44 20 7946\u2060 0958"),
    ],
)
def test_split_and_disguised_numbers_are_found_in_the_original(text: str, kind: str, value: str) -> None:
    assert (kind, value) in found(text)


def test_a_break_between_digits_outside_a_quoted_field_is_kept() -> None:
    # Two rows of a table, not one number.
    assert normalise("a,b\n12\n34\n") is None


def test_spans_map_back_to_every_original_character() -> None:
    text = "x m\u200b.park [at] wp [dot] pl y \uff10\uff18\uff19"
    norm = normalise(text)
    assert norm is not None
    assert norm.text == "x m.park@wp.pl y 089"
    start = norm.text.index("m.park")
    assert norm.original(start, start + len("m.park@wp.pl")) == (2, text.index(" y"))
    digits = norm.text.index("089")
    assert norm.original(digits, digits + 3) == (len(text) - 3, len(text))
    assert len(norm.starts) == len(norm.ends) == len(norm.text)


def test_text_with_nothing_to_undo_is_returned_as_none() -> None:
    assert normalise("plain text with a mail ana@example.com\nand a line") is None
    # An address on its own line stays apart from the word before it.
    assert normalise("please write to\nana@example.com") is None
    assert normalise("see 2024\nana@example.com") is None
    assert normalise("it ends here.\nana@example.com") is None
    assert normalise("Grüße aus München") is None


def test_spans_stay_inside_the_original_on_random_obfuscated_text() -> None:
    rng = random.Random(15)
    pieces = [
        *("ana", "silva", "gmail", "com", "0", "7", "12", "@", ".", " ", " at ", " dot ", "[at]", "(dot)"),
        *("\n", "\r\n", '"', ",", "\u200b", "\u202e", "\ufeff", "\uff10", "\uff20", "\u3000", "\ud800"),
        *("remind ", "hunter ", "Straße 5, 69163 Heidelberg", "PGPASSWORD=", "/", "089/12345678"),
    ]
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 30)))
        spans = DEFAULT_ANALYZER.analyze(text)
        assert all(0 <= s.start < s.end <= len(text) for s in spans), text
        assert all(a.end <= b.start for a, b in itertools.pairwise(spans)), text
        norm = normalise(text)
        if norm is not None:
            assert len(norm.starts) == len(norm.text)
            assert norm.starts == sorted(norm.starts) and norm.ends == sorted(norm.ends), text
            assert all(0 <= a < b <= len(text) for a, b in zip(norm.starts, norm.ends, strict=True)), text


def test_an_interaction_s_fields_are_redacted_whole_when_analysed_together() -> None:
    # The gate analyses all fields of one interaction joined (Redactor.redact_texts).
    fields = [
        'he said "call me',  # an open quote must not make the next field's digits one number
        "12\n34 apples",
        "my mail is ana\u200b.silva@example.com and m.park[at]wp[dot]pl",
        'id,name,phone\n7,ngozi eze,"089/739\n84500"\n',
    ]
    results = REDACTOR.redact_texts(fields)
    assert [r.text for r in results] == [
        'he said "call me',
        "12\n34 apples",
        "my mail is <EMAIL_ADDRESS_1> and <EMAIL_ADDRESS_2>",
        'id,name,phone\n7,<PERSON_1>,"<PHONE_NUMBER_1>"\n',
    ]


def test_an_obfuscated_value_and_its_plain_form_share_a_placeholder() -> None:
    result = REDACTOR.redact_text(
        "mail ana dot silva at gmail dot com, I mean ana.silva@gmail.com; call 089 1234 5678 or "
        "\uff10\uff18\uff19 \uff11\uff12\uff13\uff14 \uff15\uff16\uff17\uff18"
    )
    assert result.text == (
        "mail <EMAIL_ADDRESS_1>, I mean <EMAIL_ADDRESS_1>; call <PHONE_NUMBER_1> or <PHONE_NUMBER_1>"
    )

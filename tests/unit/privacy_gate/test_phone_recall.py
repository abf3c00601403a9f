"""Phone and card shapes added for structured recall, each with the look-alikes it leaves alone."""

from __future__ import annotations

import pytest

from services.privacy_gate.domain import EntityType, detect
from services.privacy_gate.domain.identifiers import AnnouncedMaestroDetector

PHONE = EntityType.PHONE_NUMBER
CARD = EntityType.CREDIT_CARD


def of_type(text: str, kind: EntityType) -> list[str]:
    return [text[s.start : s.end] for s in detect(text) if s.entity_type is kind]


# ---------------------------------------------------------------------------------------- phones


@pytest.mark.parametrize(
    ("text", "phone"),
    [
        ("no message on my registered 485 9625. Could you", "485 9625"),  # a local NXX XXXX
        ("ask Tom at 762 5442 after six", "762 5442"),
        ("no message on my registered 9822 3749. Could you", "9822 3749"),  # an 8-digit local number
        ("the shop on the corner, 9648 3730, opens at nine", "9648 3730"),
        ("no message on my registered (1) 995-8140. Could you", "(1) 995-8140"),  # a short area code
        ("she left (44) 929-299 on the note", "(44) 929-299"),
        ("no message on my registered 08582 68 71 79. Could you", "08582 68 71 79"),  # trunk 0, pairs
        ("Upernavik, QA 78374\n035265 60 61 office", "035265 60 61"),  # a six-digit trunk and area code
        ("she left (0291) 1234567 on the note", "(0291) 1234567"),  # nine digits: any grouping
        ("texting 123 45 678 works", "123 45 678"),  # an inflected weak phone word
    ],
)
def test_phone_shapes_find(text: str, phone: str) -> None:
    assert of_type(text, PHONE) == [phone]


@pytest.mark.parametrize(
    "text",
    [
        "between 250-1000 words",  # three and four digits joined by a dash: a range
        "in 1998 2004 and 2019-2020",  # years
        "open 0930 1730 daily",  # opening hours
        "card ending 4242 4242",  # the last digits of a card
        "Springfield, IL 62704-1234",  # a ZIP+4 code
        "zip 12345 6789 and postcode 1234 5678",
        "on 12 05 2024 we met",  # a date written with spaces
        "June 12 2024 1530",  # a date and an hour
        "(2) 1998-2004 was the second term",  # a numbered year range
        "Nature (2019) 123-145",  # a citation year and pages
        "Order 485 9625 shipped",  # an id word before it
        "Invoice 9822 3749 is due",
        "ISBN 978 0306",
        "the total was 485 9625",  # an amount
        "version 485 9625",
        "1 234 567 890 in all",  # thousands
        "badge 123456 78",  # a long id and a suffix
        "12345 67 89 are the winning numbers",  # a five-digit first group before pairs
        "7873 4304 chemin Hudson",  # house numbers before a street
        "233 1316 avenue Georges",
        "Century Textile and Industries Ltd\n5044 167 King Alexander",  # "textile" is no phone word
        "Released on 2024-05-01 at 10:30",
        "Coordinates 48.858844, 2.294351.",
        "it costs $485 9625",
    ],
)
def test_phone_shapes_leave_lookalikes(text: str) -> None:
    assert of_type(text, PHONE) == []


# ----------------------------------------------------------------------------------------- cards


@pytest.mark.parametrize(
    ("text", "card"),
    [
        ("I want to cancel my card 060405990965 because I lost it", "060405990965"),  # Maestro 0604
        ("my credit card number is 060454694096?", "060454694096"),
    ],
)
def test_announced_maestro_0604_is_a_card(text: str, card: str) -> None:
    assert of_type(text, CARD) == [card]


@pytest.mark.parametrize(
    "text",
    [
        "tracking 060405990965 today",  # no card word before it
        "card 060405990966",  # fails Luhn
        "card 0604059909650",  # thirteen digits
        "card ORD-060405990965",  # part of an id
    ],
)
def test_unannounced_or_invalid_0604_is_not_a_card(text: str) -> None:
    assert list(AnnouncedMaestroDetector().detect(text)) == []

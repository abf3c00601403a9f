"""Phone, person and address rules for recall, each with the look-alikes it leaves alone."""

from __future__ import annotations

import pytest

from services.privacy_gate.domain import EntityType, detect
from services.privacy_gate.domain.credentials import CredentialDetector
from services.privacy_gate.domain.detectors import PhoneDetector, unescape_breaks
from services.privacy_gate.domain.identifiers import AnnouncedMaestroDetector
from services.privacy_gate.domain.people import (
    PersonDetector,
    StreetAddressDetector,
    given_names,
    surnames,
)

PHONE = EntityType.PHONE_NUMBER
PERSON = EntityType.PERSON
LOC = EntityType.LOCATION


def of_type(text: str, kind: EntityType) -> list[str]:
    return [text[s.start : s.end] for s in detect(text) if s.entity_type is kind]


# ------------------------------------------------------------------------------- escaped breaks


def test_escaped_line_breaks_keep_their_offsets() -> None:
    text = "Phone:\\n046-8275895\\tok"
    view = unescape_breaks(text)
    assert len(view) == len(text)
    assert view == "Phone: \n046-8275895 \tok"
    assert unescape_breaks("no backslash") == "no backslash"


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("Phone:\\n046-8275895\\n\\nE-mail:", PHONE, "046-8275895"),
        ("What a wife.\\nCalvin: Remember me?", PERSON, "Calvin"),
        ("Address:\\n5174 Main Street\\n Suite 993", LOC, "5174 Main Street\\n Suite 993"),
    ],
)
def test_entities_after_an_escaped_line_break(text: str, kind: EntityType, value: str) -> None:
    assert of_type(text, kind) == [value]


# ---------------------------------------------------------------------------------------- phones


@pytest.mark.parametrize(
    ("text", "phone"),
    [
        ("Desk: 001-878-458-8424", "001-878-458-8424"),  # the 00 international prefix
        ('parse("00 1 650 253 2222", "GB")', "00 1 650 253 2222"),
        ("ext 915-081-1530x7274 please", "915-081-1530x7274"),  # North American with extension
        ("Fax: 8715236109", "8715236109"),  # a bare run after a strong phone word
        ("9380 6377 office", "9380 6377"),  # the phone word after the number
        ("699 792 243-Office", "699 792 243"),
        ("They're not answering at 26 942463", "26 942463"),
        ("Mobile:\n22 782310", "22 782310"),  # the word on the line above
        ("call +46 (0)8 397 641 32 now", "+46 (0)8 397 641 32"),
        ("no message on my registered 733 413 903. Could you", "733 413 903"),  # phone-shaped
        ("write to 0699 273 53 89 soon", "0699 273 53 89"),
    ],
)
def test_phone_rules_find(text: str, phone: str) -> None:
    assert of_type(text, PHONE) == [phone]


@pytest.mark.parametrize(
    "text",
    [
        "Reference 6220 0826 1995 8220",  # the tail of a longer digit run (a Luhn-failing card)
        "Reference 4045 0054 7102 7140",  # 00 inside a longer run is no dialling prefix
        "we sold 730 064 218 units",  # a count, with its unit after it
        "prices rose 12 345 678 EUR",
        "Order 12 345 678 shipped",  # an id word before it
        "Tracking number 123456789012 arrives Monday.",  # a bare run after "number" only
        "Tracking number 009421410527 arrives Monday.",  # zero-padded, not the 00 dialling prefix
        "between 1998-2004 and 2019 2020",  # year ranges
        "pages 1234-5678",  # equal halves: a range
        "population 1 234 567",  # thousands
        "octets 01.02.03.04 and 12.345678",  # dotted pairs and a decimal
        "Apt. 889 224 107 Rue Abdelaziz",  # house numbers before a street
        "located at 82536 1812 Rue De La Gare",
        "Room 123, floor 4, badge 123456.",
        "Coordinates 48.858844, 2.294351.",
        "One run (2026-11-27 05:05 UTC, and 27.11.2026 14:00)",  # a date and an hour
    ],
)
def test_phone_rules_leave_lookalikes(text: str) -> None:
    assert of_type(text, PHONE) == []


def test_phone_detector_declares_its_type() -> None:
    assert PhoneDetector().entity_types == frozenset({PHONE})
    assert repr(PhoneDetector()) == "PhoneDetector()"


# ---------------------------------------------------------------------------------------- people


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("Mr. Grant flew to Northcross on Sunday", ["Grant"]),  # a title before a common word
        ("she said: I'm Brian's daughter", ["Brian"]),  # a possessive
        ("Hej Søren, tak", ["Søren"]),  # the lexicon read as UTF-8
        ("Žarko: What a wife.", ["Žarko"]),  # a capital outside Latin-1
        ("directed by Anne-Lise Frederiksen and", ["Anne-Lise Frederiksen"]),  # a compound given name
        ("Mónika Z Göröncsér from Sunstone", ["Mónika Z Göröncsér"]),  # an initial without a full stop
        ("please change it to Marik Kwiatkowski", ["Marik Kwiatkowski"]),  # a surname shape
        ("Name: Landerico Hidalgo", ["Landerico Hidalgo"]),
        ("What's your last name? Kamińska", ["Kamińska"]),
    ],
)
def test_person_rules_find(text: str, names: list[str]) -> None:
    assert of_type(text, PERSON) == names


@pytest.mark.parametrize(
    "text",
    [
        "Awarded Salesperson of the Month three times.",  # -son, but a word
        "We missed the Final Lesson and the Open Season.",
        "Here's the plan for the Royal Canadian tour.",
        "2888 Cheriton Dr\n Apt. 817",  # a street suffix that is also a title
        "Cello Suite 1 in G major",
        "The Missing Person report",
    ],
)
def test_person_rules_leave_lookalikes(text: str) -> None:
    assert of_type(text, PERSON) == []


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("Then she asked Hernandez to sign it.", ["Hernandez"]),  # a known surname mid-sentence
        ("Horton began writing as a teenager.", ["Horton"]),  # a verb of a person after it
        ("though Perez's song was first", ["Perez"]),  # a possessive
        ("a mandolin coda (not by Pomeroy Lemelin).", ["Pomeroy Lemelin"]),  # an unknown first name
        ("The keynote is Mark Fanucci this year", ["Mark Fanucci"]),  # a given name that is a word
        ("assistant to Jan M. Koertig, and", ["Jan M. Koertig"]),  # a middle initial
        ("Tom lives on the corner", ["Tom"]),
        ("directed by Lea Faber and starring Faber", ["Lea Faber", "Faber"]),  # a repeated surname
        ("founders: Petković, Mcdonald and Hill. The", ["Petković", "Mcdonald", "Hill"]),  # a list
        ("on this list? Giordano and Garcia were", ["Giordano", "Garcia"]),
    ],
)
def test_surname_rules_find(text: str, names: list[str]) -> None:
    assert of_type(text, PERSON) == names


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("We flew to Berlin and then to Vegas.", []),  # places after "to"
        ("the Hernandez family moved in Garcia Street", []),  # after "the"; a street
        ("Deploy to Heroku using Jenkins.", []),  # a tool
        ("Black and White photos", []),  # words that are surnames, listed with each other
        ("Wisdom and Discipline are often capitalised", []),
        ("Mr. Brown's dog and Ford's plant", ["Brown"]),  # the title takes it; "Ford's" stays a brand
        ("Add the Young and Long columns.", []),
        ("Long story short, the White House said no.", []),
        ("while studying English and journalism", []),  # a language
        ("the last Sunday before Labor Day", []),
        ("Sevilla\n Spain 19595", []),  # a country and a postcode
        ("a taxi to Jennifer and Dunajska 56 now", ["Jennifer"]),  # a street and its number
        ("Hi Marie, I'm writing about it", ["Marie"]),  # a contraction after a name
        ("Customer Service is closed.", []),
        ("Will you review the May report with the team?", []),
        ("released under the GNU General Public License, version 3", []),  # "General" is a given name
        ("One Faust worker consumes 4,400 events/s; lint with Ruff and Flake8 on Azure.", []),  # tools
        ("Ask Mr. Faust, or Kate Ruff.", ["Faust", "Kate Ruff"]),  # with a title or a given name
    ],
)
def test_surname_rules_leave_lookalikes(text: str, names: list[str]) -> None:
    assert of_type(text, PERSON) == names


def test_surname_lexicon_is_ranked_and_leaves_english_words() -> None:
    known = surnames()
    assert 40_000 < len(known) <= 50_000
    assert {"Hernandez", "Garcia", "Mcdonald", "Lemelin"} <= known
    assert not {"White", "Young", "Long", "May", "Will", "Green", "Brown", "Houston", "English"} & known
    assert PersonDetector(frozenset(), frozenset({"Zed"})).entity_types == frozenset({PERSON})


def test_lexicon_reads_names_with_letters_outside_latin_1() -> None:
    names = given_names()
    assert {"Søren", "Žarko", "Eygló", "Anne-Marie"} <= names
    assert "Here" not in names and "Go" not in names
    assert PersonDetector(frozenset({"Zed"})).entity_types == frozenset({PERSON})


# ------------------------------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    ("text", "addresses"),
    [
        ("mail it to 1601 1024 Union Lane, Durban", ["1601 1024 Union Lane, Durban"]),  # two numbers
        ("at 9003 Vabaduse 21 now", ["9003 Vabaduse 21"]),  # words between two numbers
        ("to 42486 Stensås terrasse 38 please", ["42486 Stensås terrasse 38"]),  # lower-case street word
        ("at 2159 46 rue Nationale, PARIS", ["2159 46 rue Nationale, PARIS"]),
        ("Unit 8670 Box 8540 DPO AA 07519", ["Unit 8670 Box 8540 DPO AA 07519"]),  # US military
        ("PSC 0943, Box 9335 APO AE 71952", ["PSC 0943, Box 9335 APO AE 71952"]),
        ("USS Lindqvist FPO AE 67601", ["USS Lindqvist FPO AE 67601"]),
        ("He lives on the north side of Hauger Skolevei 90.", ["Hauger Skolevei 90"]),  # a cue
        (
            "the corner of Strickstrasse 61 St. and Greco Circles St.",
            ["Strickstrasse 61 St.", "Greco Circles"],
        ),
        (
            "12 Main St\n Suite 674\n Springfield\n Canada 48504",
            ["12 Main St\n Suite 674\n Springfield\n Canada 48504"],
        ),
        ("Ask for Apt. 5 downstairs", ["Apt. 5"]),
        ("Pedestrians must enter on Otakaari 17 St. the first", []),  # no cue, no house number
    ],
)
def test_address_rules_find(text: str, addresses: list[str]) -> None:
    assert of_type(text, LOC) == addresses


@pytest.mark.parametrize(
    "text",
    [
        "5 Musicians Of The 70s You're Supposed To Hate",  # a headline between two numbers
        "Spring 2024 is here",  # ends like a compound street name ("-ring")
        "in 2019 Windows 10 shipped",  # a year is no house number without a street suffix
        "Room 123, floor 4, badge 123456.",
        "We met on March 12",
        "I live in Paris",
        "Cello Suite 1 in G major",
        "version 2 Way forward",
        "Grant access to the Main Street repository.",
    ],
)
def test_address_rules_leave_lookalikes(text: str) -> None:
    assert of_type(text, LOC) == []


# ----------------------------------------------------------------------------------------- speed


def test_prefilters_skip_text_without_their_hints() -> None:
    # The Maestro detector and the assignment scan run only where their words occur.
    assert list(AnnouncedMaestroDetector().detect("tracking 587662702899 today")) == []
    spans = list(CredentialDetector().detect("x " * 200 + "api_key = 'abcd1234efgh' " + "y " * 200))
    assert len(spans) == 1
    assert list(StreetAddressDetector().detect("no numbers here at all")) == []

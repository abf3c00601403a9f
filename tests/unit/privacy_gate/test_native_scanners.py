"""The native detectors' hand-written scanners (structured detectors, person.rs, street.rs), each equal
to the Python ``re`` pattern below that specifies it, on seeded fuzz corpora."""

from __future__ import annotations

import random
import re
from collections.abc import Callable

import flagstream_pii
import pytest

# ---------------------------------------------------------------------------------------------------
# The shapes the crate scans by hand, as the Python patterns they were written from (their spec).

# Email: a dotted domain with a letters-only TLD after each '@'.
_EMAIL_DOMAIN = re.compile(r"(?:[\w-]+\.)+[^\W\d_]{2,}")
# Cards: runs of digit groups separated by single spaces or dashes.
_CARD_CANDIDATES = re.compile(r"[0-9][0-9 -]{11,}[0-9]")
_CARD_RUN = re.compile(r"[0-9]+(?:[ -][0-9]+)*")
# Where phones can be: at least 6 characters, starting with '+', '(' or a digit, ending in a digit.
_PHONE_CANDIDATES = re.compile(r"[+(0-9][0-9 ().\-\u00a0xet]{4,}[0-9]")
# Phones written without a '+': digit groups, an area code in parentheses, an extension, or one run.
_LOOSE_PHONE = re.compile(
    r"(?:(?:\([0-9]{1,5}\)[ ]?)?[0-9]{1,6}(?:[ .\-][0-9]{2,8}){1,4}|\([0-9]{1,5}\)[ ]?[0-9]{5,10}"
    r"|[0-9]{6,15})"
    r"(?:[ ]?(?:x|ext\.?)[ ]?[0-9]{1,5})?"
)
# "#", currency signs and "No." / "Nr." before digit groups: an id or an amount.
_NOT_PHONE_MARKS = re.compile(r"[#$€£¥]|\b[Nn][or]\.")
_DATE_LIKE = re.compile(r"[0-9]{4}[.\-][0-9]{2}[.\-][0-9]{2}|[0-9]{2}[.\-][0-9]{2}[.\-][0-9]{4}")
# Area-group-serial with one separator used twice, or nine bare digits.
_SSN = re.compile(r"([0-9]{3})([- .]?)([0-9]{2})\2([0-9]{4})")
_IBAN_CANDIDATES = re.compile(r"[A-Z]{2}[0-9]{2}[ A-Z0-9]{11,}")
_IPV4 = re.compile(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}")
_TWELVE = re.compile(r"[0-9]{12}")

# Names (person.rs).
_TAIL = r"[^\W\d_'\u2019\-]*(?:['\u2019\-][^\W\d_]+)*"
_WORD = rf"[^\W\d_]{_TAIL}"
# Words that may be capitalised (the lower-case letters of Latin Extended-A too: the first letter is
# checked with isupper).
_UPPER = "A-ZÀ-ÖØ-Þ\u0100-\u017f\u0386-\u03ab\u0400-\u042f"
_CAPITALISED = re.compile(rf"[{_UPPER}]{_TAIL}")
# A middle initial, with or without its full stop: "James R. Smith", "Mónika Z Göröncsér".
_INITIAL = re.compile(rf" [A-Z]\.?(?= [{_UPPER}])")
_NEXT_WORD = re.compile(rf" (?:(?:van|von|de|del|da|di|le|la|bin|al)[ \-])?({_WORD})")
# Two capitalised words after a "name" cue: "name Anna Kowalska".
_NAME_AFTER = re.compile(rf"[{_UPPER}]{_TAIL} [{_UPPER}]{_TAIL}(?:$|[^\w\-])")
# An initial and a word after a leading name: "John F. Kennedy".
_INITIAL_NAME = re.compile(rf" [A-Z]\. ({_WORD})")
# A contraction inside a word ("Don't", "I'm").
_CONTRACTION = re.compile(r"['\u2019][a-z]")

# Streets (street.rs). A number not glued to what comes before (no letter, digit, "_" or one of
# ".,:/-#$€£" right before it).
_HOUSE_NUMBER = re.compile(r"[0-9](?<![\w.,:/\-#$€£][0-9])[0-9]{0,5}[A-Za-z]?(?:-[0-9]{1,4})?(?= )")
# The words after a house number, up to six: street words, particles, ordinals, a closing number.
_STREET_WORDS = re.compile(
    r"(?:[ ](?:[^\W\d_][\w'\u2019\-]*\.?|[0-9]{1,3}(?:st|nd|rd|th)\b|[0-9]{1,5}[A-Za-z]?\b\.?|C/)){1,7}"
)
# A house number that closes a street: "Via Roma 12".
_CONTINENTAL_NUMBER = re.compile(r" [0-9]{1,5}[a-zA-Z]?\b")


Matches = Callable[[str], list[tuple[int, int]]]


def _spans(pattern: re.Pattern[str]) -> Matches:
    return lambda text: [m.span() for m in pattern.finditer(text)]


def _searches(pattern: re.Pattern[str]) -> Matches:
    """(i, 1) for each i where a search over text[i:] finds something (as the native code asks)."""
    return lambda text: [(i, 1) for i in range(len(text)) if pattern.search(text, i)]


def _matches(pattern: re.Pattern[str], group: int = 0) -> Matches:
    """The span of ``group`` of each match(text, pos) that succeeds, pos over 0..len(text)."""

    def found(text: str) -> list[tuple[int, int]]:
        matches = (pattern.match(text, pos) for pos in range(len(text) + 1))
        return [m.span(group) if group else (m.start(), m.end()) for m in matches if m is not None]

    return found


def _matches_at(pattern: re.Pattern[str]) -> Matches:
    """(pos, 1) for each pos where match(text, pos) succeeds."""
    return lambda text: [(pos, 1) for pos in range(len(text) + 1) if pattern.match(text, pos)]


def _domains(text: str) -> list[tuple[int, int]]:
    """(at, end) for each '@' where the email domain pattern matches right after it."""
    out = []
    for at in (i for i, c in enumerate(text) if c == "@"):
        match = _EMAIL_DOMAIN.match(text, at + 1)
        if match is not None:
            out.append((at, match.end()))
    return out


# Native scanner name -> the Python pattern it replaces, read from the domain modules at test time.
SCANNERS: dict[str, Matches] = {
    "cc_candidates": _spans(_CARD_CANDIDATES),
    "cc_run": _spans(_CARD_RUN),
    "phone_candidates": _spans(_PHONE_CANDIDATES),
    "loose_phone": _spans(_LOOSE_PHONE),
    "iban_candidates": _spans(_IBAN_CANDIDATES),
    "ssn": _spans(_SSN),
    "ipv4": _spans(_IPV4),
    "twelve": _spans(_TWELVE),
    "domain": _domains,
    "date_like": _searches(_DATE_LIKE),
    "not_phone_marks": _searches(_NOT_PHONE_MARKS),
}

# The same for the patterns person.rs and street.rs hand-code (people.py's).
PEOPLE_SCANNERS: dict[str, Matches] = {
    "capitalised": _spans(_CAPITALISED),
    "initial": _matches(_INITIAL),
    "next_word": _matches(_NEXT_WORD, 1),
    "initial_name": _matches(_INITIAL_NAME, 1),
    "name_after": _matches_at(_NAME_AFTER),
    "contraction": _searches(_CONTRACTION),
    "house_number": _spans(_HOUSE_NUMBER),
    "street_words": _matches(_STREET_WORDS),
    "continental_number": _spans(_CONTINENTAL_NUMBER),
}

_PIECES = (
    *("4111 1111 1111 1111", "4111-1111-1111-1111", "5018 0000 0009", "378282246310005", "1800 1234"),
    *("+44 20 7946 0958", "+1 (555) 123-4567", "(0291) 1234567", "(555) 123-4567 ext. 12", "x12", "ext"),
    *("020 7946 0958", "06 12 34 56 78", "0044 20 7946", "415.555.2671", "00 ", "(", ")", "+", "e", "t"),
    *("536-22-1234", "536 22 1234", "536.22.1234", "536221234", "078-05-1120", "2024-01-05", "05.01.2024"),
    *("DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432", "NO93 8601 1117 947", "AB12", "XY", "Z"),
    *("192.168.0.1", "10.0.0.256", "1.2.3.4.5", "127.0.0.01", "...", "..", "1..2"),
    *("a@b.co", "user.name+tag@mail.example.org", "x@y", "@", "@-a.b_c.de", "@x.y2", "@é.été", "@a..bc"),
    *("#", "$", "€", "£", "¥", "No.", "no.", "Nr.", "nr.", "aNo.", "_No.", "N", "o", "r", "."),
)
_NOISE = (
    *(" ", " ", " ", "  ", "-", " - ", "\u00a0", "\n", "\n\n", "/", ",", ":", "_", "x", "ext."),
    *("a", "Q", "é", "ß", "\u017f", "\u212a", "İ", "中", "\U0001f600", "\ud800"),
    *("٣", "٠١٢", "²", "\uff10", "½", "Ⅻ"),
)


def _corpus() -> list[str]:
    """A fixed, seeded fuzz: the shapes the scanners look for, cut, joined and mixed with noise."""
    rng = random.Random(20261127)
    digits = "0123456789"
    texts = [
        "",
        "0",
        "1" * 40,
        "4" + " 4" * 30,
        "12-34-56-78-90-12-34",
        "(" * 5 + "1" * 6,
        "+" + "1 " * 20,
        "AB12" + " ABCD" * 10,
        "1.2.3.4.5.6.7.8",
        "@@a.b.cd@e.fg",
        "1999-12-31-2000-01-01",
        "N\u00a0o. No.No.",
    ]
    for _ in range(2500):
        parts = []
        for _ in range(rng.randint(1, 12)):
            r = rng.random()
            if r < 0.35:
                piece = rng.choice(_PIECES)
            elif r < 0.55:
                piece = "".join(rng.choice(digits) for _ in range(rng.randint(1, 20)))
            elif r < 0.7:
                piece = rng.choice(_NOISE)
            else:
                piece = rng.choice(_PIECES)
                chars = list(piece)
                for _ in range(rng.randint(1, 3)):
                    i = rng.randrange(len(chars))
                    if rng.random() < 0.5:
                        chars[i] = rng.choice(digits + " .-()+@#xA")
                    else:
                        chars.insert(i, rng.choice(_NOISE))
                piece = "".join(chars)
            parts.append(piece)
            parts.append(rng.choice(("", " ", " ", "-", ".", "\n", ", ")))
        texts.append("".join(parts))
    return texts


CORPUS = _corpus()


_PEOPLE_PIECES = (
    *("Anna", "Kowalska", "James R. Smith", "Mónika Z Göröncsér", "John F. Kennedy", "van", "de", "al-"),
    *("O'Brien", "D'Angelo", "Jean-Luc", "Don't", "I'm", "it\u2019s", "Ørsted", "Łukasz", "Ŝ", "ß"),
    *("Σωκράτης", "Иван", "İstanbul", "ǅ", "MacDonald's", "Mr", "name", "Dear", "a", "B.", "C ", "x'y"),
    *("-", "'", "\u2019"),
    *("12", "221B", "1600", "12-14", "7a", "123456", "1st", "22nd", "3rd", "10th", "C/", "Baker St.", "Main"),
    *("Street", "Via Roma", "ul.", "rue", "#", "$5", "€", "3.5", ":", "/", "_", "St", "Ave", "N", "W."),
)


def _people_corpus() -> list[str]:
    """A fixed, seeded fuzz of names, initials, particles, house numbers and street words."""
    rng = random.Random(20261128)
    texts = ["", " ", "A", " A. B", " van Dijk", "1 ", "Ab Cd", "12 Main St"]
    for _ in range(1500):
        parts = []
        for _ in range(rng.randint(1, 10)):
            r = rng.random()
            if r < 0.6:
                piece = rng.choice(_PEOPLE_PIECES)
            elif r < 0.75:
                piece = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 7)))
            else:
                piece = rng.choice(_NOISE)
            parts.append(piece)
            parts.append(rng.choice((" ", " ", " ", "", "-", ".", "\n", ", ", "'")))
        texts.append("".join(parts))
    return texts


PEOPLE_CORPUS = _people_corpus()


@pytest.mark.parametrize("name", sorted(SCANNERS) + sorted(PEOPLE_SCANNERS))
def test_each_hand_written_scanner_finds_what_its_python_pattern_does(name: str) -> None:
    # `_scan` exists only in builds with the crate's `parity` feature, which `make setup` enables.
    assert hasattr(flagstream_pii, "_scan"), "flagstream_pii was built without its parity feature: make setup"
    python = SCANNERS.get(name) or PEOPLE_SCANNERS[name]
    found = 0
    for text in CORPUS if name in SCANNERS else PEOPLE_CORPUS:
        want = python(text)
        found += len(want)
        assert flagstream_pii._scan(name, text) == want, f"{name} differs from its Python pattern on {text!r}"
    assert found > 0, f"the corpus never exercises {name}"


def test_the_structured_detectors_are_the_ones_the_python_modules_name() -> None:
    names = flagstream_pii.detector_names()
    assert names == ["email", "credit_card", "maestro", "phone", "ssn", "iban", "ip", "credential"]
    with pytest.raises(ValueError):
        flagstream_pii.detect("person", "text")

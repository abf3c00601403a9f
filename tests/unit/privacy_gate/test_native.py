"""The native detectors (services/privacy_gate/native): generated tables current, the character
classes its patterns spell out equal to Python's, code-point spans."""

from __future__ import annotations

import importlib.util
import re
import sys
import unicodedata
from pathlib import Path

import flagstream_pii
import pytest

from services.privacy_gate.domain import EntityType, detect

NATIVE = Path(__file__).resolve().parents[3] / "services" / "privacy_gate" / "native"


def test_the_unicode_tables_hold_for_this_python() -> None:
    spec = importlib.util.spec_from_file_location("gen_tables", NATIVE / "gen_tables.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    problems = generator.problems((NATIVE / "src" / "pytables.rs").read_text())
    assert not problems, (
        f"src/pytables.rs disagrees with Python {sys.version.split()[0]}: run `make native-tables`\n"
        + "\n".join(problems[:20])
    )


def test_the_classes_src_patterns_spells_out_are_pythons() -> None:
    """src/patterns.rs writes Python's \\w as [\\p{L}\\p{N}_], [^\\W\\d_] as [\\p{L}\\p{Nl}\\p{No}] and \\s as
    [\\s\\x1C-\\x1F] (Unicode's White_Space and the four information separators); \\d is \\p{Nd} in both."""
    white_space = {*range(0x09, 0x0E), 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029}
    white_space |= {0x202F, 0x205F, 0x3000}
    word, letter, space, digit = (re.compile(p) for p in (r"\w", r"[^\W\d_]", r"\s", r"\d"))
    differing = []
    for cp in range(0x110000):
        c = chr(cp)
        category = unicodedata.category(c)
        expected = (
            category[0] in "LN" or c == "_",
            category[0] == "L" or category in ("Nl", "No"),
            cp in white_space or 0x1C <= cp <= 0x1F,
            category == "Nd",
        )
        found = tuple(p.match(c) is not None for p in (word, letter, space, digit))
        if found != expected:
            differing.append(f"U+{cp:04X} {category}: python {found}, patterns.rs {expected}")
    assert not differing, differing[:20]


@pytest.mark.parametrize(
    ("detector", "text", "found"),
    [
        ("ssn", "SSN 536221234", [("US_SSN", 4, 13, 0.8)]),
        # Case-insensitive patterns fold as re does: long s, dotted and dotless i.
        ("ssn", "\u017f\u017fn 536221234", [("US_SSN", 4, 13, 0.8)]),
        ("ssn", "soc\u0130al security 536221234", [("US_SSN", 16, 25, 0.8)]),
        ("ssn", "soc\u0131al sec: 536221234", [("US_SSN", 12, 21, 0.8)]),
        ("ssn", "SOCIAL SECURITY NO. 536221234", [("US_SSN", 20, 29, 0.8)]),
        ("ssn", "xssn 536221234", []),
        ("ip", "f\u0130rmware 10.0.0.1", []),
        ("ip", "f\u0131rmware 10.0.0.1", []),
        # \s is Python's: the information separators are white space.
        ("ip", "build\x1c10.0.0.1", []),
        ("ip", "builds 10.0.0.1", [("IP_ADDRESS", 7, 15, 0.9)]),
    ],
)
def test_patterns_keep_pythons_re_semantics(
    detector: str, text: str, found: list[tuple[str, int, int, float]]
) -> None:
    assert flagstream_pii.detect(detector, text) == found


@pytest.mark.parametrize(
    "prefix",
    [
        "",  # ASCII-only text: one byte per character in CPython
        "Zoë said: ",  # Latin-1
        "Встреча — ",  # two bytes per character
        "🙂 \U0001d400 ",  # astral characters: four bytes per character, two UTF-16 units each
    ],
)
def test_spans_count_code_points_whatever_the_strings_width(prefix: str) -> None:
    text = f"{prefix}Please contact Łukasz Kowalski at 221B Baker Street, London NW1 6XE today."
    found = {(s.entity_type, text[s.start : s.end]) for s in detect(text)}
    assert (EntityType.PERSON, "Łukasz Kowalski") in found
    assert any(kind is EntityType.LOCATION and value.startswith("221B Baker Street") for kind, value in found)

"""The native detectors (services/privacy_gate/native): generated tables current, code-point spans."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from services.privacy_gate.domain import EntityType, detect

NATIVE = Path(__file__).resolve().parents[3] / "services" / "privacy_gate" / "native"


def test_the_unicode_tables_are_this_pythons() -> None:
    spec = importlib.util.spec_from_file_location("gen_tables", NATIVE / "gen_tables.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    assert generator.source() == (NATIVE / "src" / "pytables.rs").read_text(), (
        "src/pytables.rs is not this Python's: run services/privacy_gate/native/gen_tables.py"
    )


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

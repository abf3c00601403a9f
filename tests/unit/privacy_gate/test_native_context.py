"""The crate's context rules find what the Python rules they were ported from find, span for span.

The reference (context_reference.py) is the Python implementation of the rules; the crate
(src/context.rs) hand-codes the simpler shapes and runs the others on the `regex` crate and
fancy-regex, with Python's str and `re` semantics. Compared on the realistic set, on the differential
harness's fuzz of pasted text, and on a seeded fuzz of the rules' own words mixed with the characters
where Python's semantics differ from Rust's (long s, the Kelvin sign, dotless and dotted i, capital
sharp s, non-decimal digits, non-breaking and ideographic spaces, a lone surrogate), in every case:
the spans, in their order, and which spans clearing look-alikes keeps.
"""

from __future__ import annotations

import functools
import random

import pytest

from services.privacy_gate.domain import context
from services.privacy_gate.domain.detectors import unescape_breaks
from services.privacy_gate.domain.normalise import normalise
from tests.bench.privacy.differential import _paste_fuzz
from tests.bench.privacy.realistic import evaluation_set
from tests.unit.privacy_gate import context_reference as reference

_NAMES = (
    *("ana", "Ana", "silva", "Mark", "rose", "Rose", "hunter", "bishop", "Chidi Okonkwo", "ngozi eze"),
    *("Siobhán", "Émilie", "São Paulo", "Maxwell", "Planck", "O'Brien", "jean-luc", "there", "team", "the"),
)
_BITS = (
    *(" ", "  ", ",", ", ", ".", "\n", "\r\n", "\t", ":", "=", '"', "'", "@", "/", "-", "_", "(", ")", "!"),
    *("?", ";", "\x00", "12", "65a", "69163", "02-345", "1234 AB", "089", "73984500", "221", "12/3", "75011"),
    *("Heidelberg", "Paris", "Warszawa", "Lindenallee", "Hauptstraße", "Am Mühlbach", "rue des Lilas"),
    *("baker", "elm", "bis", "et", "à", "and", "\u017f", "\u212a", "\u0131", "\u0130", "\u1e9e"),
    *("ß", "é", "\u2019s"),
    *("'s ", " constant", " equations", " laws", " law", "abcdefghijklmnopqrstuvwxyzABCDEFGH0123456/+"),
    *("hunter22", "s3cr3t!", "\ud800", "\u00a0", "\u3000", "Ⅻ", "²", "\u0663", "apt 4", "suite 2", "ul. "),
    *("Calle Mayor ", "Via Roma ", "[14:10] ", "[1:02:03] ", "Best regards,\n", "Mit freundlichen Grüßen,\n"),
    *('"full_name": "', "customer_name=", "id,name,city\n", "ACCOUNT HOLDER: ", "Authorization: Basic "),
    *("curl -u bob:", "redis://:", "PGPASSWORD=", "export DB_PASS=", '"SecretAccessKey": "', "${X}"),
    *("os.getenv(", "$(cat f)", "{{ s }}", "xxxxx", "****", "<secret>", "\u2014 "),
)


def _rule_fuzz(count: int, seed: int) -> list[str]:
    """Texts of the rules' own words, names and odd characters, in any case."""
    rng = random.Random(seed)
    pieces = [word for _, word in reference._RULE_WORDS] + list(_NAMES) + list(_BITS)
    texts = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(1, 14)):
            piece, case = rng.choice(pieces), rng.random()
            parts.append(piece.upper() if case < 0.15 else piece.lower() if case < 0.3 else piece)
        texts.append("".join(parts))
    return texts


def _prepared(text: str) -> str:
    """The text as the analyzer shows it to the detectors."""
    normalised = normalise(text)
    return unescape_breaks(text if normalised is None else normalised.text)


@functools.cache
def _corpora() -> dict[str, list[str]]:
    docs, negatives = evaluation_set(15, 700, 160)
    words = [word for doc in docs + negatives for word in doc.text.split(" ")]
    return {
        "realistic set": [_prepared(doc.text) for doc in docs + negatives],
        "pasted text": [_prepared(text) for text in _paste_fuzz(words, 3000, 20261207)],
        "rule words": _rule_fuzz(20000, 20261207),
    }


def _plain(found: list[tuple[str, int, int, float]]) -> list[tuple[str, int, int, float]]:
    return [(str(kind), start, end, score) for kind, start, end, score in found]


@pytest.mark.parametrize("corpus", ["realistic set", "pasted text", "rule words"])
def test_the_crate_finds_what_the_python_rules_find(corpus: str) -> None:
    native, python = context.ContextDetector(), reference.ContextDetector()
    texts = _corpora()[corpus]
    found = 0
    for text in texts:
        want = _plain(python.find(text))
        found += len(want)
        assert _plain(native.find(text)) == want, repr(text)
    assert found > 1000, found  # the corpus reaches the rules


@pytest.mark.parametrize("corpus", ["realistic set", "rule words"])
def test_clearing_look_alikes_keeps_what_the_python_rules_keep(corpus: str) -> None:
    cleared = 0
    for text in _corpora()[corpus]:
        spans = [
            *(("PERSON", i, j, 0.5) for i in range(0, len(text), 3) for j in (i + 5, i + 9)),
            *(("CREDENTIAL", i, len(text), 0.5) for i in range(0, len(text), 2)),
            *(("LOCATION", i, i + 4, 0.5) for i in range(0, len(text), 11)),
        ]
        want = reference.clear_lookalikes(text, spans)
        cleared += len(spans) - len(want)
        assert context.clear_lookalikes(text, spans) == want, repr(text)
    assert cleared > 200, cleared  # the spans reach each look-alike check


def test_a_text_with_a_lone_surrogate_keeps_its_positions() -> None:
    text = "a\ud800b remind ana silva, PGPASSWORD=hunter22 \ud800 12 rue des Lilas, 75011 Paris"
    assert _plain(context.ContextDetector().find(text)) == _plain(reference.ContextDetector().find(text))
    assert [text[s:e] for _, s, e, _ in context.ContextDetector().find(text)] == [
        "ana silva",
        "12 rue des Lilas, 75011 Paris",
        "hunter22",
    ]

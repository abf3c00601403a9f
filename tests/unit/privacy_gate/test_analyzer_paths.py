"""The analyzer's fast paths find what its plain paths find, span for span.

The analyzer takes spans as tuples from detectors that offer ``find`` and skips work that cheap
checks show to be idle. These tests run it beside an analyzer that sees only the detectors' public
``detect`` (no ``find``) on a seeded fuzz of pasted text (tests/bench/privacy/differential.py):
obfuscations, context cues, escaped and real line breaks, look-alike places and eponyms.
"""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Iterable

import pytest

from services.privacy_gate.domain import (
    Analyzer,
    EntityType,
    Span,
    default_detectors,
)
from services.privacy_gate.domain.detectors import Detector, to_spans
from tests.bench.privacy.differential import _paste_fuzz
from tests.bench.privacy.realistic import evaluation_set


class _DetectOnly:
    """A detector seen only through ``detect``."""

    def __init__(self, inner: Detector) -> None:
        self._inner = inner

    @property
    def entity_types(self) -> frozenset[EntityType]:
        return self._inner.entity_types

    def detect(self, text: str) -> Iterable[Span]:
        return list(self._inner.detect(text))


def _texts() -> list[str]:
    docs, negatives = evaluation_set(15, 140, 40)
    words = [word for doc in docs + negatives for word in doc.text.split(" ")]
    return [doc.text for doc in docs + negatives] + _paste_fuzz(words, 2000, 20261206)


def test_spans_found_as_tuples_are_the_spans_detect_gives() -> None:
    fast = Analyzer(default_detectors())
    plain = Analyzer([_DetectOnly(d) for d in default_detectors()])
    found = 0
    for text in _texts():
        want = plain.analyze(text)
        found += len(want)
        assert fast.analyze(text) == want, repr(text)
    assert found > 1000


def test_spans_made_through_their_slots_are_the_dataclass_s_own() -> None:
    made = to_spans([("PERSON", 3, 9, 0.6)])[0]
    plain = Span(EntityType.PERSON, 3, 9, 0.6)
    assert type(made) is Span and made.entity_type is EntityType.PERSON
    assert (made, hash(made), repr(made), len(made)) == (plain, hash(plain), repr(plain), len(plain))
    assert pickle.loads(pickle.dumps(made)) == plain
    assert dataclasses.replace(made, start=4) == Span(EntityType.PERSON, 4, 9, 0.6)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.start = 0  # type: ignore[misc]

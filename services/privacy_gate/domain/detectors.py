"""Personal-data detectors: text in, typed spans out (never the matched text).

Presidio's split: detectors only find things, the redactor decides what to do with them. A detector
is anything with ``entity_types`` and ``detect(text) -> Iterable[Span]``; an ``Analyzer`` runs a set of
detectors and resolves overlaps. New entity types are added as detectors, not as edits to the
redactor.

The detectors Flagstream ships run natively: their rules are in the crate services/privacy_gate/native
(Rust, built by ``make setup``), which follows Python's ``str`` and ``re`` semantics so that spans are
code-point offsets as Python gives them (docs/privacy.md, "The native detectors"). The structured
detectors' regular expressions and word lists are defined in the crate (src/patterns.rs); the people
detectors' word lists are in people.py and handed to the crate when a detector is built.
``PatternDetector`` stays a Python detector, for patterns a deployment adds.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Protocol

import flagstream_pii

from services.privacy_gate.domain.normalise import normalise


class EntityType(StrEnum):
    """Kinds of personal data, named as Presidio names them."""

    EMAIL_ADDRESS = "EMAIL_ADDRESS"
    PHONE_NUMBER = "PHONE_NUMBER"
    CREDIT_CARD = "CREDIT_CARD"
    US_SSN = "US_SSN"
    IBAN_CODE = "IBAN_CODE"
    IP_ADDRESS = "IP_ADDRESS"
    PERSON = "PERSON"
    LOCATION = "LOCATION"
    CREDENTIAL = "CREDENTIAL"


@dataclass(frozen=True, slots=True)
class Span:
    """Where an entity sits in a text: ``text[start:end]``. Holds no text, so it is safe to log."""

    entity_type: EntityType
    start: int
    end: int
    score: float = 1.0
    """Confidence in [0, 1]; breaks ties between overlapping spans of equal length."""

    def __len__(self) -> int:
        return self.end - self.start


class Detector(Protocol):
    """Finds entities of some types in a text.

    A detector may also have ``find(text) -> list[Found]``: the same spans, as tuples. The analyzer
    calls it when it is there, and makes a ``Span`` only of what it returns; building a frozen
    dataclass costs about as much as a small detector's work, and most spans are merged or cleared.
    """

    @property
    def entity_types(self) -> frozenset[EntityType]:
        """The types this detector can emit."""
        ...

    def detect(self, text: str) -> Iterable[Span]:
        """Every candidate span in ``text``; overlaps are allowed, the analyzer resolves them."""
        ...


Found = tuple[str, int, int, float]
"""A span before it becomes a ``Span``: (entity type name, start, end, score), as the crate returns it."""


# Text that went through JSON or a log line twice holds escaped line breaks: a backslash and a letter.
# The analyzer shows detectors a copy where each is a space and the control character it stands for,
# which has the same length, so spans index the original text unchanged.
_ESCAPED_BREAKS = (("\\n", " \n"), ("\\r", " \r"), ("\\t", " \t"))


def unescape_breaks(text: str) -> str:
    """``text`` with escaped line breaks and tabs turned into real ones, offsets unchanged."""
    if "\\" in text:
        for escaped, real in _ESCAPED_BREAKS:
            text = text.replace(escaped, real)
    return text


class PatternDetector:
    """A precise regular expression, run only inside the regions a cheap candidate regex finds.

    ``candidates`` must match a superset of every text the pattern can match (it is run within each
    candidate region, seeing ``lookahead`` characters past its end); ``validate`` may reject a match.
    """

    __slots__ = ("_candidates", "_entity_type", "_lookahead", "_pattern", "_score", "_validate")

    def __init__(
        self,
        entity_type: EntityType,
        pattern: re.Pattern[str],
        *,
        score: float = 1.0,
        candidates: re.Pattern[str] | None = None,
        lookahead: int = 2,
        validate: Callable[[str], bool] | None = None,
    ) -> None:
        self._entity_type = entity_type
        self._pattern = pattern
        self._score = score
        self._candidates = candidates
        self._lookahead = lookahead
        self._validate = validate

    @property
    def entity_types(self) -> frozenset[EntityType]:
        """The one type this detector emits."""
        return frozenset((self._entity_type,))

    def detect(self, text: str) -> Iterator[Span]:
        """Spans of every match that passes the validator."""
        for match in self._matches(text):
            if self._validate is None or self._validate(match.group()):
                yield Span(self._entity_type, match.start(), match.end(), self._score)

    def _matches(self, text: str) -> Iterator[re.Match[str]]:
        if self._candidates is None:
            yield from self._pattern.finditer(text)
            return
        size, finditer = len(text), self._pattern.finditer
        for region in self._candidates.finditer(text):
            start, end = region.span()
            # The pattern sees `lookahead` characters past the region for its assertions only.
            for match in finditer(text, start, min(size, end + self._lookahead)):
                if match.end() <= end:
                    yield match

    def __repr__(self) -> str:
        return f"PatternDetector({self._entity_type})"


# ----------------------------------------------------------------------------------------------------
# The native detectors.

_ENTITY_TYPES = {entity.value: entity for entity in EntityType}


def _native_spans(names: tuple[str, ...], text: str) -> list[Span]:
    """The spans of the crate's detectors ``names`` in ``text``, one detector's after the other's."""
    return to_spans(flagstream_pii.detect(names, text))


def to_spans(found: Iterable[Found]) -> list[Span]:
    """Spans found as tuples, made ``Span`` objects."""
    types = _ENTITY_TYPES
    return [_span(types[kind], start, end, score) for kind, start, end, score in found]


# A frozen dataclass's __init__ sets each field through object.__setattr__ by name; setting the slots
# through their descriptors makes the same object in about 60% of the time (a few spans per text).
_new_span = object.__new__
_set_type, _set_start, _set_end, _set_score = (
    Span.__dict__[name].__set__ for name in ("entity_type", "start", "end", "score")
)


def _span(entity_type: EntityType, start: int, end: int, score: float) -> Span:
    span = _new_span(Span)
    _set_type(span, entity_type)
    _set_start(span, start)
    _set_end(span, end)
    _set_score(span, score)
    return span


class NativeDetector:
    """One of the crate's detectors, by name; spans in the order the crate finds them."""

    __slots__ = ()

    NAME: ClassVar[str]
    TYPES: ClassVar[frozenset[EntityType]]

    @property
    def entity_types(self) -> frozenset[EntityType]:
        """The types this detector emits."""
        return self.TYPES

    def detect(self, text: str) -> Iterator[Span]:
        """Spans found in ``text``."""
        return iter(_native_spans((self.NAME,), text))

    def find(self, text: str) -> list[Found]:
        """Spans found in ``text``, as tuples."""
        return flagstream_pii.detect((self.NAME,), text)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class EmailDetector(NativeDetector):
    """Email addresses, found from each '@': a dotted domain with a letters-only TLD after it, and
    the local part scanned back to the start of its token; not a URL's ``user:password@``."""

    __slots__ = ()
    NAME = "email"
    TYPES = frozenset((EntityType.EMAIL_ADDRESS,))


class CreditCardDetector(NativeDetector):
    """Card numbers: 13-19 digits written as cards are, a card-network first digit, and Luhn.

    Runs of digit groups separated by single spaces or dashes are found first; the card is then
    searched among windows of whole groups, so "4111 1111 1111 1111 12/27" or a card written right
    after a phone number are still found. A window is written like a card when it is one group, or
    starts with a group of four followed by groups of three to six (4-4-4-4, 4-6-5, 4-4-4-4-3).
    """

    __slots__ = ()
    NAME = "credit_card"
    TYPES = frozenset((EntityType.CREDIT_CARD,))


class PhoneDetector(NativeDetector):
    """Phone numbers: international, North American and trunk-0 national formats anywhere; other
    national groupings when a phone word is near or when written as only phones are (dates, times,
    amounts, ids and house numbers are left alone).
    """

    __slots__ = ()
    NAME = "phone"
    TYPES = frozenset((EntityType.PHONE_NUMBER,))


def luhn_valid(digits: str) -> bool:
    """True when an ASCII digit string passes the Luhn (mod 10) check."""
    return flagstream_pii.luhn_valid(digits)


def default_detectors() -> list[Detector]:
    """The detectors Flagstream runs today: one or more per entity type."""
    # Imported here: those modules build on Span and EntityType above (one package, no cycle at use).
    from services.privacy_gate.domain.context import ContextDetector
    from services.privacy_gate.domain.credentials import CredentialDetector
    from services.privacy_gate.domain.identifiers import (
        AnnouncedMaestroDetector,
        IbanDetector,
        IpAddressDetector,
        UsSsnDetector,
    )
    from services.privacy_gate.domain.people import PersonDetector, StreetAddressDetector

    return [
        EmailDetector(),
        CreditCardDetector(),
        AnnouncedMaestroDetector(),
        PhoneDetector(),
        UsSsnDetector(),
        IbanDetector(),
        IpAddressDetector(),
        CredentialDetector(),
        PersonDetector(),
        StreetAddressDetector(),
        ContextDetector(),
    ]


class Analyzer:
    """Runs detectors over a text and returns non-overlapping spans sorted by start."""

    __slots__ = ("_detectors", "_steps", "entity_types")

    def __init__(self, detectors: Sequence[Detector]) -> None:
        self._detectors = tuple(detectors)
        self.entity_types: frozenset[EntityType] = frozenset().union(
            *(d.entity_types for d in self._detectors)
        )
        # Each step finds spans as tuples. The crate's detectors next to each other run in one call
        # (flagstream_pii.Chain: one copy of the text, one list back), in the same order: a call
        # costs about as much as a small detector's work.
        steps: list[Callable[[str], Iterable[Found]]] = []
        natives: list[object] = []
        for detector in self._detectors:
            native = _native_of(detector)
            if native is not None:
                natives.append(native)
                continue
            if natives:
                steps.append(flagstream_pii.Chain(natives).find)
                natives = []
            find = getattr(detector, "find", None)
            steps.append(find if callable(find) else functools.partial(_found_by, detector))
        if natives:
            steps.append(flagstream_pii.Chain(natives).find)
        self._steps = tuple(steps)

    def analyze(self, text: str) -> list[Span]:
        """Normalise, detect, then resolve overlaps.

        The detectors see the text normalised (normalise.py: invisible characters removed, full-width
        forms made ASCII, spelled-out e-mail separators and split tokens undone); their spans are
        mapped back to the original text before overlaps are resolved.

        Overlapping spans merge into one span covering all of them, typed by the longest (then the
        highest-scoring, then the first). Covering the union rather than dropping the loser means a
        partial overlap never leaves part of an entity in clear text.
        """
        original_text = text
        normalised = normalise(text)
        text = unescape_breaks(text if normalised is None else normalised.text)
        found: list[Found] = []
        for step in self._steps:
            found.extend(step(text))
        if not found:
            return []
        if normalised is not None:
            # Back to the original text: the mapping keeps order, so spans stay sorted and apart.
            original = normalised.original
            found = [(kind, *original(start, end), score) for kind, start, end, score in found]
        # Look-alikes cleared (context.py), then overlaps resolved, in the crate.
        return to_spans(flagstream_pii.resolve(original_text, found))

    def __repr__(self) -> str:
        return f"Analyzer({list(self._detectors)!r})"


def _found_by(detector: Detector, text: str) -> list[Found]:
    """The spans of a detector without ``find``, as tuples."""
    return [(s.entity_type, s.start, s.end, s.score) for s in detector.detect(text)]


def _native_of(detector: Detector) -> object | None:
    """What flagstream_pii.Chain runs for ``detector``: a structured detector's name, the crate's
    object behind a detector that has one (``native``), or None for a detector written in Python."""
    if isinstance(detector, NativeDetector):
        return detector.NAME
    return getattr(detector, "native", None)


DEFAULT_ANALYZER = Analyzer(default_detectors())
"""The analyzer behind ``detect``."""


def detect(text: str) -> list[Span]:
    """Personal-data spans in ``text``, non-overlapping, sorted by start."""
    return DEFAULT_ANALYZER.analyze(text)

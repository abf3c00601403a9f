"""Personal-data detectors: text in, typed spans out (never the matched text).

Presidio's split: detectors only find things, the redactor decides what to do with them. A detector
is anything with ``entity_types`` and ``detect(text) -> Iterable[Span]``; an ``Analyzer`` runs a set of
detectors and resolves overlaps. New entity types are added as detectors, not as edits to the
redactor.

The detectors Flagstream ships run natively: their rules are in the crate services/privacy_gate/native
(Rust, built by ``make setup``), which finds the same spans the Python rules of earlier versions did,
about ten times faster (docs/privacy.md). What a rule matches on stays here, as data: the regular
expressions (in Python's ``re`` syntax, which the crate's gen_patterns.py compiles into the crate,
character classes evaluated by this Python) and the word lists (read by the generator, or, for the
people detectors, handed to the crate when a detector is built). ``PatternDetector`` stays a Python
detector, for patterns a deployment adds.
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
# What the native structured detectors match on (compiled into the crate by gen_patterns.py; a
# unit test fails while the crate's copy differs from these).

# Email: a dotted domain with a letters-only TLD after each '@'; the local part is scanned back over
# word characters and these.
_EMAIL_DOMAIN = re.compile(r"(?:[\w-]+\.)+[^\W\d_]{2,}")
_EMAIL_LOCAL_PUNCTUATION = frozenset("._%+-")

# Cards: 13-19 digits in runs of digit groups separated by single spaces or dashes, a card-network
# first digit, and Luhn.
_CARD_CANDIDATES = re.compile(r"[0-9][0-9 -]{11,}[0-9]")
_CARD_RUN = re.compile(r"[0-9]+(?:[ -][0-9]+)*")
_CARD_GROUP = re.compile(r"[0-9]+")
_CARD_MIN_DIGITS = 13
_CARD_MAX_DIGITS = 19
_CARD_FIRST_DIGITS = frozenset("23456")  # Mastercard 2/5, Amex/JCB/Diners 3, Visa 4, Discover/UnionPay 6
_DOUBLED = str.maketrans("0123456789", "0246813579")  # digit -> digit sum of twice the digit

# Phones. [0-9] rather than \d: \d would also match digits of other scripts.
_SEP = r"[ \u00a0.\-]"
_EXTENSION = r"(?:[ ]?(?:x|ext\.?|extn\.?)[ ]?[0-9]{1,5})?"
# Not inside a longer token.
_OPENS = r"(?<![\w+./-])"
_PHONE = re.compile(
    rf"{_OPENS}(?:"
    # International: '+' or the 00 dialling prefix, country code, 7-15 digits in all, up to two of
    # " .-()" between digits. After 00 the country code must be set off ("0044 20 ...", "001-878-..."):
    # zero-padded ids ("009421410527") are more common than an unformatted 00 number.
    r"(?:\+|00[ \u00a0]?(?=[1-9][0-9]{0,2}[ \u00a0.\-(]))[0-9](?:[ \u00a0.\-()]{0,2}[0-9]){6,14}"
    # North American: optional 1, area code (in parentheses or not), exchange, line number, extension.
    r"|(?:1[ .\-]?)?(?:\([2-9][0-9]{2}\)[ \u00a0]?|[2-9][0-9]{2}[ .\-])[0-9]{3}[ .\-][0-9]{4}"
    rf"{_EXTENSION}"
    # National with trunk prefix 0 and separators: 020 7946 0958, 030 12345678, 07700 900123.
    rf"|0[0-9]{{1,4}}{_SEP}[0-9]{{3,4}}{_SEP}?[0-9]{{3,4}}"
    # National in pairs: 06 12 34 56 78.
    r"|0[1-9](?:[ .\-][0-9]{2}){4}"
    r")(?![\w]|[./-][0-9])"
)
# Every phone (both patterns) is at least 6 characters of these, starts with '+', '(' or a digit and
# ends in a digit; both patterns run only inside these regions, so text without digits costs nothing.
_PHONE_CANDIDATES = re.compile(r"[+(0-9][0-9 ().\-\u00a0xet]{4,}[0-9]")

# Phones written the way many countries do without a '+': groups of digits, possibly an area code
# in parentheses and an extension, or one bare run. Too loose on their own (tables, ids, amounts),
# so each needs a phone word around it or a shape only phone numbers have (see PhoneDetector).
_LOOSE_PHONE = re.compile(
    r"(?:(?:\([0-9]{1,5}\)[ ]?)?[0-9]{1,6}(?:[ .\-][0-9]{2,8}){1,4}|\([0-9]{1,5}\)[ ]?[0-9]{5,10}"
    r"|[0-9]{6,15})"
    r"(?:[ ]?(?:x|ext\.?)[ ]?[0-9]{1,5})?"
)
_GROUPS = re.compile(r"[0-9]+")
# Words that say the number after them is a phone number (prefixes: "calling", "telephone"); the
# weak ones ("number", "contact", "reach") only vouch for grouped digits: an order or tracking number
# after "number" is more common than an unformatted phone.
_STRONG_PHONE_PREFIXES = (
    *("phone", "call", "tel", "mobile", "cell", "whatsapp", "dial", "landline", "hotline"),
    *("voicemail", "answering", "smartphone", "iphone"),
)
_STRONG_PHONE_WORDS = frozenset(
    ("ph", "mob", "fax", "sms", "desk", "text me", "ring me", "message to", "messages to")
)
# Whole words: "textile" or "ringtone" vouch for nothing.
_WEAK_PHONE_WORDS = frozenset(
    f"{stem}{ending}"
    for stem in ("number", "contact", "reach", "text", "ring")
    for ending in ("", "s", "es", "ed", "ing")
)
# Only for unannounced numbers: words after which digit groups are ids, amounts or measures.
_NOT_PHONE_WORDS = frozenset(
    (
        *("order", "invoice", "inv", "ref", "reference", "tracking", "isbn", "issn", "id", "account"),
        *("acct", "policy", "ticket", "case", "version", "ver", "build", "serial", "sku", "item", "part"),
        *("model", "offset", "code", "zip", "postcode", "postal", "total", "amount", "price", "cost"),
        *("balance", "sum", "population", "budget", "revenue", "salary", "pin", "otp", "receipt"),
        *("transaction", "txn", "badge", "room", "page", "pages", "chapter", "vol", "volume"),
        *("usd", "eur", "gbp", "chf", "apt", "apartment", "suite", "ste", "unit", "floor", "box"),
        *("card", "ending"),  # "card ending 4242 4242": the last digits of a card
    )
)
# "#", currency signs and "No." / "Nr." before unannounced digit groups: an id or an amount.
_NOT_PHONE_MARKS = re.compile(r"[#$€£¥]|\b[Nn][or]\.")
_LETTERS = re.compile(r"[^\W\d_]+")
_CUT = str.maketrans(dict.fromkeys("0123456789", "\x00"))


_PHONE_AFTER = re.compile(
    r"(?i)[ ]?[-(]?[ ]?(?:office|fax|mobile|cell|home|work|tel|phone|landline|desk|direct|main)\b"
)
_NOT_PHONE_AFTER = re.compile(
    r"(?i)[ ]?(?:[%€$£¥]|(?:units?|people|persons|users|items|times|years|km|mi|kg|lbs?|m|mm|cm|g|mb|gb"
    r"|kb|tb|bytes|eur|usd|gbp|chf|dollars|euros|pounds|votes|views|downloads|rows|records|copies|tons"
    r"|miles|meters|metres|steps|points|pts)\b"
    # A house number: the street follows (a capitalised word, another number, rue, via, ul. ...).
    r"|[ ]+(?:(?-i:[A-Z0-9\u00c0-\u00de\u0370-\u03ff\u0400-\u042f])|(?:rue|via|ul|calle|rua|avenida|str"
    r"|chemin|avenue|boulevard|impasse|allée|place|route|quai|viale|piazza|corso|camino|paseo|travessa)\b))"
)
_DATE_LIKE = re.compile(r"[0-9]{4}[.\-][0-9]{2}[.\-][0-9]{2}|[0-9]{2}[.\-][0-9]{2}[.\-][0-9]{4}")


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

    __slots__ = ("_clear", "_detectors", "_steps", "entity_types")

    def __init__(self, detectors: Sequence[Detector]) -> None:
        self._detectors = tuple(detectors)
        self.entity_types: frozenset[EntityType] = frozenset().union(
            *(d.entity_types for d in self._detectors)
        )
        # Each step finds spans as tuples. Native detectors next to each other run in one call to the
        # crate (one copy of the text, one list back), in the same order: a call costs about as much
        # as a small detector's work.
        steps: list[Callable[[str], Iterable[Found]]] = []
        natives: tuple[str, ...] = ()
        for detector in self._detectors:
            if isinstance(detector, NativeDetector):
                natives = (*natives, detector.NAME)
                continue
            if natives:
                steps.append(functools.partial(flagstream_pii.detect, natives))
                natives = ()
            find = getattr(detector, "find", None)
            steps.append(find if callable(find) else functools.partial(_found_by, detector))
        if natives:
            steps.append(functools.partial(flagstream_pii.detect, natives))
        self._steps = tuple(steps)
        # Imported here: context.py builds on Span and EntityType above.
        from services.privacy_gate.domain.context import clear_lookalikes

        self._clear = clear_lookalikes

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
        found = self._clear(original_text, found)
        if len(found) < 2:
            return to_spans(found)
        found.sort(key=_by_start_then_longest)
        resolved: list[Found] = []
        best = found[0]
        _, start, end, _ = best
        merged = False
        for span in found[1:]:
            if span[1] < end:
                merged = True
                end = max(end, span[2])
                if (span[2] - span[1], span[3]) > (best[2] - best[1], best[3]):
                    best = span
                continue
            resolved.append((best[0], start, end, best[3]) if merged else best)
            best, start, end, merged = span, span[1], span[2], False
        resolved.append((best[0], start, end, best[3]) if merged else best)
        return to_spans(resolved)

    def __repr__(self) -> str:
        return f"Analyzer({list(self._detectors)!r})"


def _found_by(detector: Detector, text: str) -> list[Found]:
    """The spans of a detector without ``find``, as tuples."""
    return [(s.entity_type, s.start, s.end, s.score) for s in detector.detect(text)]


def _by_start_then_longest(span: Found) -> tuple[int, int]:
    return span[1], -span[2]


DEFAULT_ANALYZER = Analyzer(default_detectors())
"""The analyzer behind ``detect``."""


def detect(text: str) -> list[Span]:
    """Personal-data spans in ``text``, non-overlapping, sorted by start."""
    return DEFAULT_ANALYZER.analyze(text)

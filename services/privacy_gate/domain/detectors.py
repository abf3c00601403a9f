"""Personal-data detectors: text in, typed spans out (never the matched text).

Presidio's split: detectors only find things, the redactor decides what to do with them. A detector
is anything with ``entity_types`` and ``detect(text) -> Iterable[Span]``; an ``Analyzer`` runs a set of
detectors and resolves overlaps. New entity types are added as detectors, not as edits to the
redactor.

Speed: CPython's regex engine skips quickly only to a literal or a character set, and every match
costs a Python object. So each detector first finds cheap candidates (an '@', a stretch of digits
and separators, a keyword found with str.find) and runs its precise pattern only there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise
from typing import Protocol


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
    """Finds entities of some types in a text."""

    @property
    def entity_types(self) -> frozenset[EntityType]:
        """The types this detector can emit."""
        ...

    def detect(self, text: str) -> Iterable[Span]:
        """Every candidate span in ``text``; overlaps are allowed, the analyzer resolves them."""
        ...


def _glued(char: str) -> bool:
    """True when ``char`` would make an adjacent match part of a longer token."""
    return char.isalnum() or char == "_"


def glued_before(text: str, start: int, also: str = "") -> bool:
    """True when the character before ``start`` joins a match there to a longer token."""
    if start == 0:
        return False
    before = text[start - 1]
    return before.isalnum() or before == "_" or before in also


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


def _url_userinfo(text: str, start: int) -> bool:
    """True when ``start`` follows ``scheme://user:``: the '@' ends a URL's credentials, not an address."""
    if start == 0 or text[start - 1] != ":":
        return False
    scheme = text.rfind("://", max(0, start - 200), start)
    return scheme != -1 and not any(c.isspace() for c in text[scheme:start])


class EmailDetector:
    """Email addresses, found from each '@': a dotted domain with a letters-only TLD after it, and
    the local part scanned back to the start of its token.
    """

    __slots__ = ()

    _DOMAIN = re.compile(r"(?:[\w-]+\.)+[^\W\d_]{2,}")
    _LOCAL_PUNCTUATION = frozenset("._%+-")

    @property
    def entity_types(self) -> frozenset[EntityType]:
        """Only EMAIL_ADDRESS."""
        return frozenset((EntityType.EMAIL_ADDRESS,))

    def detect(self, text: str) -> Iterator[Span]:
        """Spans of email addresses."""
        punctuation = self._LOCAL_PUNCTUATION
        at = text.find("@")
        while at != -1:
            domain = self._DOMAIN.match(text, at + 1)
            if domain is not None:
                # '@' is not a local-part character, so back-scans never overlap: linear overall.
                start = at
                while start > 0 and (_glued(text[start - 1]) or text[start - 1] in punctuation):
                    start -= 1
                if start < at and not _url_userinfo(text, start):
                    yield Span(EntityType.EMAIL_ADDRESS, start, domain.end(), 1.0)
            at = text.find("@", at + 1)

    def __repr__(self) -> str:
        return "EmailDetector()"


class CreditCardDetector:
    """Card numbers: 13-19 digits written as cards are, a card-network first digit, and Luhn.

    Runs of digit groups separated by single spaces or dashes are found first; the card is then
    searched among windows of whole groups, so "4111 1111 1111 1111 12/27" or a card written right
    after a phone number are still found. A window is written like a card when it is one group, or
    starts with a group of four followed by groups of three to six (4-4-4-4, 4-6-5, 4-4-4-4-3).
    """

    __slots__ = ()

    _CANDIDATES = re.compile(r"[0-9][0-9 -]{11,}[0-9]")
    _RUN = re.compile(r"[0-9]+(?:[ -][0-9]+)*")
    _GROUP = re.compile(r"[0-9]+")
    _MIN_DIGITS = 13
    _MAX_DIGITS = 19
    _FIRST_DIGITS = frozenset("23456")  # Mastercard 2/5, Amex/JCB/Diners 3, Visa 4, Discover/UnionPay 6

    @property
    def entity_types(self) -> frozenset[EntityType]:
        """Only CREDIT_CARD."""
        return frozenset((EntityType.CREDIT_CARD,))

    def detect(self, text: str) -> Iterator[Span]:
        """Spans of Luhn-valid card numbers."""
        size = len(text)
        for region in self._CANDIDATES.finditer(text):
            for run in self._RUN.finditer(text, region.start(), region.end()):
                start, end = run.start(), run.end()
                if end - start < self._MIN_DIGITS:
                    continue
                if start > 0 and (_glued(text[start - 1]) or text[start - 1] in ".-"):
                    continue  # the tail of a token, a decimal or a dash-joined id (ORD-...)
                if end < size and _glued(text[end]):
                    continue  # the head of a longer token (a hash, an id)
                groups = [g.span() for g in self._GROUP.finditer(text, start, end)]
                if sum(b - a for a, b in groups) >= self._MIN_DIGITS:
                    yield from self._cards_in(text, groups)

    def _cards_in(self, text: str, groups: list[tuple[int, int]]) -> Iterator[Span]:
        last = len(groups)
        if self._is_card(text, groups):  # the common case: the run is exactly one card
            yield Span(EntityType.CREDIT_CARD, groups[0][0], groups[-1][1], 1.0)
            return
        # (digit count, touches neither end of the run, first group, last group + 1); sorting puts
        # the longest first and, among equals, a window that starts or ends the run.
        windows: list[tuple[int, bool, int, int]] = []
        for i in range(last):
            first_is_four = groups[i][1] - groups[i][0] == 4
            count = 0
            for j in range(i, last):
                size = groups[j][1] - groups[j][0]
                count += size
                if count > self._MAX_DIGITS or (j > i and not (first_is_four and 3 <= size <= 6)):
                    break
                if count >= self._MIN_DIGITS:
                    windows.append((count, i != 0 and j + 1 != last, i, j + 1))
        windows.sort(key=lambda w: (-w[0], w[1], w[2]))
        taken = [False] * last
        for _, _, i, j in windows:
            if any(taken[i:j]):
                continue
            if self._is_card(text, groups[i:j]):
                taken[i:j] = [True] * (j - i)
                yield Span(EntityType.CREDIT_CARD, groups[i][0], groups[j - 1][1], 1.0)

    def _is_card(self, text: str, groups: list[tuple[int, int]]) -> bool:
        if len(groups) > 1 and (
            groups[0][1] - groups[0][0] != 4 or any(not 3 <= b - a <= 6 for a, b in groups[1:])
        ):
            return False
        digits = "".join(text[a:b] for a, b in groups)
        return (
            self._MIN_DIGITS <= len(digits) <= self._MAX_DIGITS
            and (digits[0] in self._FIRST_DIGITS or (len(digits) == 15 and digits.startswith("1800")))
            and luhn_valid(digits)
        )

    def __repr__(self) -> str:
        return "CreditCardDetector()"


_DOUBLED = str.maketrans("0123456789", "0246813579")  # digit -> digit sum of twice the digit


def luhn_valid(digits: str) -> bool:
    """True when an ASCII digit string passes the Luhn (mod 10) check."""
    kept = sum(map(int, digits[-1::-2]))
    doubled = sum(map(int, digits[-2::-2].translate(_DOUBLED)))
    return (kept + doubled) % 10 == 0


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


def _words_before(text: str, start: int, reach: int = 36) -> list[str]:
    """Lower-cased words in the ``reach`` characters before ``start``, after its last digit.

    One line break does not cut ("Phone:" on the line above announces the number); a blank line does.
    """
    window = text[max(0, start - reach) : start].translate(_CUT)
    zone = window[window.rfind("\x00") + 1 :]
    zone = zone[zone.rfind("\n\n") + 1 :].lower()
    return _LETTERS.findall(zone) if zone.strip() else []


def _phone_words(words: list[str]) -> tuple[bool, bool]:
    """(strong, weak): whether the words before a number announce a phone number."""
    strong = weak = False
    for i, word in enumerate(words):
        pair = f"{word} {words[i + 1]}" if i + 1 < len(words) else ""
        if (
            word in _STRONG_PHONE_WORDS
            or word.startswith(_STRONG_PHONE_PREFIXES)
            or pair in _STRONG_PHONE_WORDS
        ):
            strong = True
        elif word in _WEAK_PHONE_WORDS:
            weak = True
    return strong, weak


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


def _in_digit_run(text: str, start: int) -> bool:
    """True when a digit group ends right before ``start``: the match is the tail of a longer number."""
    return start >= 2 and text[start - 1] in " .-\u00a0" and text[start - 2].isdigit()


def _year(group: str) -> bool:
    """True when a digit group reads as a year of the last two centuries."""
    return len(group) == 4 and group[:2] in ("19", "20")


def _clock_time(group: str) -> bool:
    """True when a digit group reads as a 24-hour time written HHMM."""
    return len(group) == 4 and group[:2] <= "23" and group[2:] <= "59"


def _phone_shaped(text: str, start: int, end: int) -> bool:
    """True when unannounced digit groups are written as only phone numbers are.

    Seven digits only as a local number ``NXX XXXX`` set off by a space: thousands separators never
    leave four digits after three, and a dash makes a range (``250-1000``). Otherwise 8-12 digits in
    two to five groups, where:

    - the first group has two to five digits (``1 234 567 890`` is an amount, ``123456 78`` an id and
      a suffix), or up to six after a trunk 0 (``035265 60 61``);
    - with three groups or more, no group has over four digits (``415-555-26710`` has a digit too
      many) but such a trunk-0 first one (``08582 68 71 79``);
    - dots need three groups or more, not all pairs (``12.345678``, ``01.02.03.04``);
    - two equal groups need a trunk 0 (``1998-2004``, ``1234-5678`` are ranges) or to be an 8-digit
      local number set off by a space (``9822 3749``), and are never two clock times (``0930 1730``);
    - not all years, no day before a year (``12 05 2024``), and no ZIP+4 code (``62704-1234``).
    """
    groups = _GROUPS.findall(text, start, end)
    digits = sum(map(len, groups))
    first, rest = groups[0], groups[1:]
    if digits == 7:
        return len(rest) == 1 and len(first) == 3 and first[0] in "23456789" and text[start + 3] == " "
    trunk = first[0] == "0"
    widest_first = 6 if trunk else 5 if len(rest) == 1 else 4
    if not 8 <= digits <= 12 or not 1 <= len(rest) <= 4 or not 2 <= len(first) <= widest_first:
        return False
    if len(rest) > 1 and max(map(len, rest)) > 4:
        return False
    if "." in text[start:end] and (len(rest) < 2 or (len(rest) < 4 and max(map(len, groups)) < 3)):
        return False  # a decimal, a version or a dotted octet list
    if len(rest) == 1:
        second = rest[0]
        if len(first) == len(second) and (
            all(map(_clock_time, groups)) or not (trunk or (len(first) == 4 and text[start + 4] == " "))
        ):
            return False
        if len(first) == 5 and len(second) == 4 and text[start + 5] == "-":
            return False
    if all(map(_year, groups)):
        return False
    return not any(
        len(day) <= 2 and "01" <= day.zfill(2) <= "31" and _year(year) for day, year in pairwise(groups)
    )


def _area_coded(text: str, start: int, end: int) -> bool:
    """True when unannounced digits are an area code in parentheses and the number after it.

    Nine digits or more in any grouping (``(0291) 1234567``); eight only after a code of one to three
    digits and in two groups of three or four (``(1) 995-8140``, ``(44) 929-299``). Never a year in
    the parentheses (``(2019) 123-145`` cites pages) nor only years after them (``(2) 1998-2004``).
    """
    close = text.find(")", start, end)
    code, groups = text[start + 1 : close], _GROUPS.findall(text, close, end)
    if _year(code) or all(map(_year, groups)):
        return False
    digits = len(code) + sum(map(len, groups))
    return digits >= 9 or (
        digits == 8 and len(code) <= 3 and len(groups) == 2 and all(3 <= len(g) <= 4 for g in groups)
    )


class PhoneDetector:
    """Phone numbers: international, North American and trunk-0 national formats anywhere; other
    national groupings when a phone word is near or when written as only phones are.
    """

    __slots__ = ()

    @property
    def entity_types(self) -> frozenset[EntityType]:
        """Only PHONE_NUMBER."""
        return frozenset((EntityType.PHONE_NUMBER,))

    def detect(self, text: str) -> Iterator[Span]:
        """Spans of phone numbers."""
        size = len(text)
        for region in _PHONE_CANDIDATES.finditer(text):
            start, end = region.span()
            # The patterns see two characters past the region for their assertions only.
            stop = min(size, end + 2)
            for match in _PHONE.finditer(text, start, stop):
                if match.end() <= end and not _in_digit_run(text, match.start()):
                    yield Span(EntityType.PHONE_NUMBER, match.start(), match.end(), 0.7)
            for match in _LOOSE_PHONE.finditer(text, start, end):
                span = self._loose(text, match.start(), match.end())
                if span is not None:
                    yield span

    @staticmethod
    def _loose(text: str, start: int, end: int) -> Span | None:
        """The loosely written phone number at text[start:end], if its context or shape says so."""
        size = len(text)
        if end - start < 6:
            return None  # most matches are a year or a count: too short to hold 6 digits
        if glued_before(text, start, ".-/") or _in_digit_run(text, start):
            return None
        if end < size and (_glued(text[end]) or (text[end] in "./-" and text[end + 1 : end + 2].isdigit())):
            return None
        digits = sum(c.isdigit() for c in text[start:end])
        if digits > 15 or _DATE_LIKE.search(text, start, end) or text[end : end + 1] == ":":
            return None  # a date, or a date and an hour ("2026-11-27 05:48")
        grouped = not text[start:end].isdigit()
        words = _words_before(text, start)
        strong, weak = _phone_words(words)
        strong = strong or _PHONE_AFTER.match(text, end) is not None
        if (
            (strong and (digits >= 7 or (grouped and digits >= 6)))
            or (grouped and digits >= 7 and weak)
            # Nine digits after an area code in parentheses read as a phone whatever follows them;
            # shorter ones, and groups without one, also need no id word, currency or unit around.
            or (text[start] == "(" and digits >= 9 and _area_coded(text, start, end))
            or (
                grouped
                and (_area_coded if text[start] == "(" else _phone_shaped)(text, start, end)
                and not any(word in _NOT_PHONE_WORDS for word in words)
                and not _NOT_PHONE_MARKS.search(text, max(0, start - 24), start)
                and _NOT_PHONE_AFTER.match(text, end) is None
            )
        ):
            return Span(EntityType.PHONE_NUMBER, start, end, 0.5)
        return None

    def __repr__(self) -> str:
        return "PhoneDetector()"


def default_detectors() -> list[Detector]:
    """The detectors Flagstream runs today: one or more per entity type."""
    # Imported here: those modules build on Span and EntityType above (one package, no cycle at use).
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
    ]


class Analyzer:
    """Runs detectors over a text and returns non-overlapping spans sorted by start."""

    __slots__ = ("_detectors", "entity_types")

    def __init__(self, detectors: Sequence[Detector]) -> None:
        self._detectors = tuple(detectors)
        self.entity_types: frozenset[EntityType] = frozenset().union(
            *(d.entity_types for d in self._detectors)
        )

    def analyze(self, text: str) -> list[Span]:
        """Detect, then resolve overlaps.

        Overlapping spans merge into one span covering all of them, typed by the longest (then the
        highest-scoring, then the first). Covering the union rather than dropping the loser means a
        partial overlap never leaves part of an entity in clear text.
        """
        text = unescape_breaks(text)
        found = [span for detector in self._detectors for span in detector.detect(text)]
        if len(found) < 2:
            return found
        found.sort(key=lambda s: (s.start, -s.end))
        resolved: list[Span] = []
        best = found[0]
        start, end = best.start, best.end
        merged = False
        for span in found[1:]:
            if span.start < end:
                merged = True
                end = max(end, span.end)
                if (len(span), span.score) > (len(best), best.score):
                    best = span
                continue
            resolved.append(Span(best.entity_type, start, end, best.score) if merged else best)
            best, start, end, merged = span, span.start, span.end, False
        resolved.append(Span(best.entity_type, start, end, best.score) if merged else best)
        return resolved

    def __repr__(self) -> str:
        return f"Analyzer({list(self._detectors)!r})"


DEFAULT_ANALYZER = Analyzer(default_detectors())
"""The analyzer behind ``detect``."""


def detect(text: str) -> list[Span]:
    """Personal-data spans in ``text``, non-overlapping, sorted by start."""
    return DEFAULT_ANALYZER.analyze(text)

"""Detectors of checkable identifiers: US social security numbers, IBANs and IP addresses.

Each one finds a shape cheaply and then validates it (SSA number ranges, ISO 13616 mod-97 with
the country's length, the ipaddress module), so look-alikes with the same shape stay untouched.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

from services.privacy_gate.domain.detectors import EntityType, Span


def _glued(char: str) -> bool:
    return char.isalnum() or char == "_"


# ---------------------------------------------------------------------------------------- US_SSN

# Area-group-serial with one separator used twice, or nine bare digits (only after an SSN keyword).
# The pattern starts with a character set so the regex engine skips to digits fast; the boundary
# checks that a lookbehind would do are made in Python on the few matches.
_SSN = re.compile(r"([0-9]{3})([- .]?)([0-9]{2})\2([0-9]{4})")
_SSN_CONTEXT = re.compile(r"(?i)\b(?:ssn|ss#|social security(?: number| no\.?)?|social sec)\b[^0-9\n]{0,20}$")
# Numbers the SSA voided after they were published (wallet cards, advertisements).
_SSN_VOID = frozenset({"078051120", "219099999", "457555462"})


def ssn_valid(area: str, group: str, serial: str) -> bool:
    """True when the parts could be an issued SSN: area not 000, 666 or 9xx; group and serial not 0."""
    return (
        area not in ("000", "666")
        and area[0] != "9"
        and group != "00"
        and serial != "0000"
        and area + group + serial not in _SSN_VOID
    )


def _standalone(text: str, start: int, end: int) -> bool:
    """True when text[start:end] is not part of a longer number, word, date or path."""
    if start > 0 and (_glued(text[start - 1]) or text[start - 1] in ".-/"):
        return False
    # "536-22-1234." ends a sentence; "536-22-1234-X" or "536-22-1234/7" is a longer identifier.
    return not (
        end < len(text)
        and (_glued(text[end]) or (text[end] in ".-/" and _glued(text[end + 1 : end + 2] or " ")))
    )


class UsSsnDetector:
    """US social security numbers: ``AAA-GG-SSSS`` (or spaces/dots), or nine digits after "SSN"."""

    __slots__ = ()

    @property
    def entity_types(self) -> frozenset[EntityType]:
        """Only US_SSN."""
        return frozenset((EntityType.US_SSN,))

    def detect(self, text: str) -> Iterator[Span]:
        """Spans of valid-range SSNs."""
        for match in _SSN.finditer(text):
            start, end = match.span()
            area, separator, group, serial = match.groups()
            if not _standalone(text, start, end) or not ssn_valid(area, group, serial):
                continue
            if separator:
                yield Span(EntityType.US_SSN, start, end, 0.85)
            elif _SSN_CONTEXT.search(text, max(0, start - 40), start):
                yield Span(EntityType.US_SSN, start, end, 0.8)

    def __repr__(self) -> str:
        return "UsSsnDetector()"


# ------------------------------------------------------------------------------------- IBAN_CODE

# ISO 13616 registry: country code -> total IBAN length.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23,
    "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip

# Compact, or in groups of four separated by single spaces (the printed form).
_IBAN = re.compile(
    r"(?<![\w])[A-Z]{2}[0-9]{2}(?:[A-Z0-9]{11,30}|(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?)(?!\w)"
)
_IBAN_CANDIDATES = re.compile(r"[A-Z]{2}[0-9]{2}[ A-Z0-9]{11,}")


def iban_valid(iban: str) -> bool:
    """True when a compact upper-case IBAN has its country's length and passes ISO 7064 mod 97-10."""
    if IBAN_LENGTHS.get(iban[:2]) != len(iban):
        return False
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)
    return int(number) % 97 == 1


class IbanDetector:
    """International bank account numbers, compact or grouped, that pass the checksum."""

    __slots__ = ()

    @property
    def entity_types(self) -> frozenset[EntityType]:
        """Only IBAN_CODE."""
        return frozenset((EntityType.IBAN_CODE,))

    def detect(self, text: str) -> Iterator[Span]:
        """Spans of valid IBANs."""
        for region in _IBAN_CANDIDATES.finditer(text):
            for match in _IBAN.finditer(text, region.start(), min(len(text), region.end() + 1)):
                if match.end() > region.end():
                    continue
                value = match.group()
                compact = value.replace(" ", "")
                if iban_valid(compact):
                    yield Span(EntityType.IBAN_CODE, match.start(), match.end(), 1.0)
                elif " " in value:
                    # A grouped run may have swallowed a following word: retry shorter group counts.
                    yield from self._shorter(text, match.start(), value)

    @staticmethod
    def _shorter(text: str, start: int, value: str) -> Iterator[Span]:
        groups = value.split(" ")
        for count in range(len(groups) - 1, 1, -1):
            candidate = " ".join(groups[:count])
            if iban_valid(candidate.replace(" ", "")):
                yield Span(EntityType.IBAN_CODE, start, start + len(candidate), 1.0)
                return

    def __repr__(self) -> str:
        return "IbanDetector()"


# ------------------------------------------------------------------------------------ IP_ADDRESS

_IPV4 = re.compile(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}")
_IPV6_CANDIDATES = re.compile(r"[0-9A-Fa-f:]*:[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*")
_VERSION_CONTEXT = re.compile(r"(?i)\b(?:version|ver\.?|v|release|build|firmware|oid)\s*$")


class IpAddressDetector:
    """IPv4 dotted quads with octets up to 255 and valid IPv6 addresses; not versions or times."""

    __slots__ = ()

    @property
    def entity_types(self) -> frozenset[EntityType]:
        """Only IP_ADDRESS."""
        return frozenset((EntityType.IP_ADDRESS,))

    def detect(self, text: str) -> Iterator[Span]:
        """Spans of IP addresses."""
        if "." in text:
            size = len(text)
            for match in _IPV4.finditer(text):
                start, end = match.span()
                # A URL's "//" or a CIDR "/24" may touch an address; a longer dotted number may not.
                if start > 0 and (_glued(text[start - 1]) or text[start - 1] == "."):
                    continue
                if end < size and (
                    _glued(text[end]) or (text[end] == "." and text[end + 1 : end + 2].isdigit())
                ):
                    continue
                octets = match.group().split(".")
                if any(len(o) > 1 and o[0] == "0" for o in octets) or any(int(o) > 255 for o in octets):
                    continue  # leading zeros or 256+: a version or an id, not an address
                if _VERSION_CONTEXT.search(text, max(0, match.start() - 12), match.start()):
                    continue
                yield Span(EntityType.IP_ADDRESS, match.start(), match.end(), 0.9)
        if "::" in text or text.count(":") >= 7:
            yield from self._ipv6(text)

    @staticmethod
    def _ipv6(text: str) -> Iterator[Span]:
        size = len(text)
        for match in _IPV6_CANDIDATES.finditer(text):
            start, end = match.span()
            while end > start and text[end - 1] in ".:" and not text[start:end].endswith("::"):
                end -= 1  # a sentence's full stop or a trailing colon
            if (start > 0 and _glued(text[start - 1])) or (end < size and _glued(text[end])):
                continue  # std::vector, a::b, part of a longer token
            value = text[start:end]
            if value.count(":") < 2 or not any(c.isdigit() for c in value):
                continue
            try:
                ipaddress.IPv6Address(value)
            except ValueError:
                continue
            yield Span(EntityType.IP_ADDRESS, start, end, 0.9)

    def __repr__(self) -> str:
        return "IpAddressDetector()"


# ------------------------------------------------------------------------------ CREDIT_CARD (12)

# Maestro cards can have 12 digits, where one 12-digit id in ten passes Luhn by chance: such a number
# counts only when a card word comes shortly before it.
_TWELVE = re.compile(r"[0-9]{12}")
_CARD_CONTEXT = re.compile(r"(?i)\b(?:card|cc|maestro|debit|credit|visa|mastercard)\b[^0-9\n]{0,25}$")


# Maestro's first digits are 50 and 56-69; 0604 too in the IIN table Faker copied for its Maestro
# numbers, though no network issues under a first digit 0. Safe to accept: a card word must precede.
_MAESTRO_0604 = "0604"


# Every card word above in its usual casings ("MasterCard" holds "Card").
_CARD_HINTS = tuple(
    variant
    for word in ("card", "cc", "maestro", "debit", "credit", "visa")
    for variant in (word, word.capitalize(), word.upper())
)


class AnnouncedMaestroDetector:
    """12-digit Maestro numbers (first digits 50, 56-69, 0604) that pass Luhn, right after a card word."""

    __slots__ = ()

    @property
    def entity_types(self) -> frozenset[EntityType]:
        """Only CREDIT_CARD."""
        return frozenset((EntityType.CREDIT_CARD,))

    def detect(self, text: str) -> Iterator[Span]:
        """Spans of announced 12-digit card numbers."""
        from services.privacy_gate.domain.detectors import luhn_valid

        # The card word is rarer than twelve digits: look for it first.
        if not any(word in text for word in _CARD_HINTS):
            return
        for match in _TWELVE.finditer(text):
            start, end = match.span()
            digits = match.group()
            if not _standalone(text, start, end) or not (
                digits[:2] == "50" or "56" <= digits[:2] <= "69" or digits.startswith(_MAESTRO_0604)
            ):
                continue
            if luhn_valid(digits) and _CARD_CONTEXT.search(text, max(0, start - 40), start):
                yield Span(EntityType.CREDIT_CARD, start, end, 0.8)

    def __repr__(self) -> str:
        return "AnnouncedMaestroDetector()"

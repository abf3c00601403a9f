"""Detectors of checkable identifiers: US social security numbers, IBANs and IP addresses, and
12-digit Maestro cards after a card word.

Each one finds a shape cheaply and then validates it (SSA number ranges, ISO 13616 mod-97 with
the country's length, IPv6 as the ipaddress module reads it), so look-alikes with the same shape stay
untouched. The rules run natively (services/privacy_gate/native, see detectors.py); the patterns and
tables below are what the crate's gen_patterns.py compiles into it.
"""

from __future__ import annotations

import re

import flagstream_pii

from services.privacy_gate.domain.detectors import EntityType, NativeDetector

# ---------------------------------------------------------------------------------------- US_SSN

# Area-group-serial with one separator used twice, or nine bare digits (only after an SSN keyword).
# The pattern starts with a character set so the regex engine skips to digits fast; the boundary
# checks that a lookbehind would do are made in Python on the few matches.
_SSN = re.compile(r"([0-9]{3})([- .]?)([0-9]{2})\2([0-9]{4})")
_SSN_CONTEXT = re.compile(r"(?i)\b(?:ssn|ss#|social security(?: number| no\.?)?|social sec)\b[^0-9\n]{0,20}$")
# Numbers the SSA voided after they were published (wallet cards, advertisements).
_SSN_VOID = frozenset({"078051120", "219099999", "457555462"})


def ssn_valid(area: str, group: str, serial: str) -> bool:
    """True when the parts could be an issued SSN: area not 000, 666 or 9xx; group and serial not 0,
    and not one of the numbers the SSA voided."""
    return flagstream_pii.ssn_valid(area, group, serial)


class UsSsnDetector(NativeDetector):
    """US social security numbers: ``AAA-GG-SSSS`` (or spaces/dots), or nine digits after "SSN"."""

    __slots__ = ()
    NAME = "ssn"
    TYPES = frozenset((EntityType.US_SSN,))


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
    return flagstream_pii.iban_valid(iban)


class IbanDetector(NativeDetector):
    """International bank account numbers, compact or grouped, that pass the checksum."""

    __slots__ = ()
    NAME = "iban"
    TYPES = frozenset((EntityType.IBAN_CODE,))


# ------------------------------------------------------------------------------------ IP_ADDRESS

_IPV4 = re.compile(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}")
_IPV6_CANDIDATES = re.compile(r"[0-9A-Fa-f:]*:[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*")
_VERSION_CONTEXT = re.compile(r"(?i)\b(?:version|ver\.?|v|release|build|firmware|oid)\s*$")


class IpAddressDetector(NativeDetector):
    """IPv4 dotted quads with octets up to 255 and valid IPv6 addresses; not versions or times."""

    __slots__ = ()
    NAME = "ip"
    TYPES = frozenset((EntityType.IP_ADDRESS,))


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


class AnnouncedMaestroDetector(NativeDetector):
    """12-digit Maestro numbers (first digits 50, 56-69, 0604) that pass Luhn, right after a card word."""

    __slots__ = ()
    NAME = "maestro"
    TYPES = frozenset((EntityType.CREDIT_CARD,))

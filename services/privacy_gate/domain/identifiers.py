"""Detectors of checkable identifiers: US social security numbers, IBANs and IP addresses, and
12-digit Maestro cards after a card word.

Each one finds a shape cheaply and then validates it (SSA number ranges, ISO 13616 mod-97 with
the country's length, IPv6 as the ipaddress module reads it), so look-alikes with the same shape stay
untouched. The rules run natively (services/privacy_gate/native, see detectors.py); their patterns and
tables (the SSA's voided numbers, the IBAN lengths of the ISO 13616 registry, the card words) are in
the crate's src/patterns.rs.
"""

from __future__ import annotations

import flagstream_pii

from services.privacy_gate.domain.detectors import EntityType, NativeDetector

# ---------------------------------------------------------------------------------------- US_SSN


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


def iban_valid(iban: str) -> bool:
    """True when a compact upper-case IBAN has its country's length and passes ISO 7064 mod 97-10."""
    return flagstream_pii.iban_valid(iban)


class IbanDetector(NativeDetector):
    """International bank account numbers, compact or grouped, that pass the checksum."""

    __slots__ = ()
    NAME = "iban"
    TYPES = frozenset((EntityType.IBAN_CODE,))


# ------------------------------------------------------------------------------------ IP_ADDRESS


class IpAddressDetector(NativeDetector):
    """IPv4 dotted quads with octets up to 255 and valid IPv6 addresses; not versions or times."""

    __slots__ = ()
    NAME = "ip"
    TYPES = frozenset((EntityType.IP_ADDRESS,))


# ------------------------------------------------------------------------------ CREDIT_CARD (12)

# Maestro cards can have 12 digits, where one 12-digit id in ten passes Luhn by chance: such a number
# counts only when a card word comes shortly before it.


class AnnouncedMaestroDetector(NativeDetector):
    """12-digit Maestro numbers (first digits 50, 56-69, 0604) that pass Luhn, right after a card word."""

    __slots__ = ()
    NAME = "maestro"
    TYPES = frozenset((EntityType.CREDIT_CARD,))

"""Type stubs of the native detectors (src/lib.rs). Spans are (entity type, start, end, score), start
and end in code points of the text given, in the order the Python detectors gave them."""

from collections.abc import Iterable, Mapping
from typing import Any

_Spans = list[tuple[str, int, int, float]]

class PersonDetector:
    def __init__(
        self, word_lists: Mapping[str, Any], given: Iterable[str], surnames: Iterable[str]
    ) -> None: ...
    def detect(self, text: str) -> _Spans: ...

class StreetAddressDetector:
    def __init__(self, word_lists: Mapping[str, Any]) -> None: ...
    def detect(self, text: str) -> _Spans: ...

class ContextDetector:
    """The context rules (services/privacy_gate/domain/context.py describes them)."""

    def __init__(self, given: Iterable[str], surnames: Iterable[str], ambiguous: Iterable[str]) -> None: ...
    def find(self, text: str) -> _Spans: ...

def clear_lookalikes(text: str, spans: _Spans) -> _Spans:
    """``spans`` without the look-alikes the context shows (placeholder secrets, places, eponyms)."""

class Chain:
    """Several of the crate's detectors run on a text in one call, in order."""

    def __init__(self, steps: Iterable[object]) -> None:
        """Each step a structured detector's name, or a PersonDetector, StreetAddressDetector or
        ContextDetector; anything else raises TypeError."""
    def find(self, text: str) -> _Spans: ...

def resolve(text: str, spans: _Spans) -> _Spans:
    """Look-alikes cleared, then overlapping spans merged (the analyzer's last step)."""

class Needles:
    """The occurrences of some literal strings, in one pass (Aho-Corasick, leftmost-longest)."""

    def __init__(self, needles: list[str], ascii_case_insensitive: bool) -> None: ...
    def find(self, text: str) -> list[tuple[int, int]]:
        """(start in code points, needle index) of each occurrence, left to right, not overlapping;
        where several needles start at one place, the longest."""

# The structured detectors (src/structured/): email, credit_card, maestro, phone, ssn, iban, ip, credential.
def detect(name: str | tuple[str, ...] | list[str], text: str) -> _Spans:
    """One structured detector's raw output on ``text`` (no unescaping, no overlap resolution); for
    several names, their outputs one after the other (one copy of the text).

    Raises ValueError for a name not in detector_names()."""

def detector_names() -> list[str]:
    """The names detect() takes, in the analyzer's default order."""

def _scan(name: str, text: str) -> list[tuple[int, int]]:
    """Parity hook, only in builds with the crate's `parity` feature (`make setup` builds the
    development install with it): a hand-written scanner's matches over the whole text, of the
    structured detectors or of person.rs and street.rs (see src/lib.rs)."""

def luhn_valid(digits: str) -> bool:
    """True when a digit string passes the Luhn (mod 10) check; ValueError on a non-digit."""

def iban_valid(iban: str) -> bool:
    """True when a compact IBAN has its country's length and passes ISO 7064 mod 97-10."""

def ssn_valid(area: str, group: str, serial: str) -> bool:
    """True when the parts could be an issued SSN: area not 000, 666 or 9xx; group and serial not 0."""

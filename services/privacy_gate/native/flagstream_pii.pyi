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

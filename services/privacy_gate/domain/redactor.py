"""Redaction: the policy that maps each entity type to an operator, and the redactor that applies it."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field

from services.privacy_gate.domain.detectors import DEFAULT_ANALYZER, Analyzer, EntityType, Span
from services.privacy_gate.domain.normalise import normalise
from services.runtime.errors import PolicyError

Action = Literal["placeholder", "drop_event"]
"""placeholder: replace the entity with ``<TYPE_n>``. drop_event: the same, and the gate drops the event."""


class RedactionPolicy(BaseModel):
    """What to do with each entity type; versioned YAML in deploy/policies/."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(min_length=1, description="Recorded on every redacted interaction.")
    entities: dict[EntityType, Action] = Field(description="The action for each listed entity type.")
    default_action: Action = Field(description="The action for detected types the policy does not list.")

    def action_for(self, entity_type: EntityType) -> Action:
        """The action this policy takes on ``entity_type``."""
        return self.entities.get(entity_type, self.default_action)


def load_redaction_policy(path: str | os.PathLike[str]) -> RedactionPolicy:
    """Read and validate a redaction policy file; raise PolicyError naming the offending field."""
    source = Path(path)
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyError(f"redaction policy {source}: cannot read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise PolicyError(f"redaction policy {source}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise PolicyError(f"redaction policy {source}: expected a mapping at the top level")
    try:
        return RedactionPolicy.model_validate(raw)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"field '{'.'.join(str(part) for part in error['loc'] if part != '[key]')}': {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False)
        )
        raise PolicyError(f"redaction policy {source}: {problems}") from exc


@dataclass(frozen=True, slots=True)
class RedactionResult:
    """A redacted text, the spans that were replaced (offsets into the input), and drop_event types."""

    text: str
    spans: tuple[Span, ...]
    dropped_types: tuple[EntityType, ...]
    """Sorted types found whose policy action is drop_event; the event must not pass the gate."""


def _digits(value: str) -> str:
    return "".join(filter(str.isdigit, value))


# Formatting variants of one value share a number: "+1 415-555-2671" and "+1 (415) 555 2671".
_NORMALIZE: dict[EntityType, Callable[[str], str]] = {
    EntityType.EMAIL_ADDRESS: str.casefold,
    EntityType.PHONE_NUMBER: _digits,
    EntityType.CREDIT_CARD: _digits,
    EntityType.US_SSN: _digits,
    EntityType.IBAN_CODE: lambda value: value.replace(" ", "").upper(),
    EntityType.IP_ADDRESS: str.lower,
    EntityType.PERSON: lambda value: " ".join(value.split()).casefold(),
    EntityType.LOCATION: lambda value: " ".join(value.split()).casefold(),
}


# Between fields analysed together: no pattern matches across a NUL between line breaks, except an
# open private key block, which redact_texts clips at the boundary.
_FIELD_BREAK = "\n\x00\n"


class Numbering:
    """Placeholder numbers for one interaction: the same value gets the same number in every field.

    It holds normalized raw values, in memory, for as long as the interaction's own raw text is held
    (hashing them would protect nothing the text does not already expose). Its repr shows counts
    only, so logging it leaks nothing. Make one per interaction; never share one across interactions.
    """

    __slots__ = ("_numbers",)

    def __init__(self) -> None:
        self._numbers: dict[EntityType, dict[str, int]] = {}

    def number(self, entity_type: EntityType, value: str) -> int:
        """The number of ``value`` among entities of ``entity_type``, assigning the next one if new."""
        numbers = self._numbers.get(entity_type)
        if numbers is None:
            numbers = self._numbers[entity_type] = {}
        # The value as the detectors saw it (normalise.py): "ana dot silva at gmail dot com" and
        # "ana.silva@gmail.com", or full-width and ASCII digits, are one value.
        seen = normalise(value)
        if seen is not None:
            value = seen.text
        normalize = _NORMALIZE.get(entity_type)
        key = normalize(value) if normalize is not None else value
        return numbers.setdefault(key, len(numbers) + 1)

    def __repr__(self) -> str:
        counts = ", ".join(f"{t}={len(values)}" for t, values in self._numbers.items())
        return f"Numbering({counts})"


class Redactor:
    """Detects entities and replaces each with a typed, numbered placeholder such as ``<EMAIL_ADDRESS_1>``."""

    __slots__ = ("_analyzer", "_drop_types", "_policy", "_prefixes")

    def __init__(self, policy: RedactionPolicy, analyzer: Analyzer = DEFAULT_ANALYZER) -> None:
        self._policy = policy
        self._analyzer = analyzer
        # Resolved once: the hot loop then does two dict/set lookups per span.
        self._drop_types = frozenset(t for t in EntityType if policy.action_for(t) == "drop_event")
        self._prefixes = {t: f"<{t.value}_" for t in EntityType}

    @property
    def policy(self) -> RedactionPolicy:
        """The policy this redactor applies."""
        return self._policy

    def redact_texts(self, texts: Sequence[str], numbering: Numbering | None = None) -> list[RedactionResult]:
        """Redact the fields of one interaction with one analyzer pass over all of them.

        Each detector call has a fixed cost, and an interaction has many short fields, so the fields
        are analysed joined by a break no pattern crosses and the spans cut back at the field boundaries: a
        span that runs over a boundary (a private key block left open) is clipped to each field, so
        nothing it covered stays in clear text.
        """
        if numbering is None:
            numbering = Numbering()
        if len(texts) < 2:
            return [self.redact_text(text, numbering) for text in texts]
        joined = _FIELD_BREAK.join(texts)
        spans = self._analyzer.analyze(joined)
        results = []
        offset = 0
        index = 0
        for text in texts:
            end = offset + len(text)
            mine: list[Span] = []
            while index < len(spans) and spans[index].start < end:
                span = spans[index]
                start, stop = max(span.start, offset), min(span.end, end)
                if start < stop:
                    mine.append(Span(span.entity_type, start - offset, stop - offset, span.score))
                if span.end > end:
                    break  # it continues into the next field
                index += 1
            results.append(self._apply(text, mine, numbering))
            offset = end + len(_FIELD_BREAK)
            while index < len(spans) and spans[index].end <= offset:
                index += 1
        return results

    def redact_text(self, text: str, numbering: Numbering | None = None) -> RedactionResult:
        """Redact one text; pass the same ``numbering`` for every field of one interaction."""
        return self._apply(text, self._analyzer.analyze(text), numbering)

    def _apply(self, text: str, spans: list[Span], numbering: Numbering | None) -> RedactionResult:
        if not spans:
            return RedactionResult(text, (), ())
        if numbering is None:
            numbering = Numbering()
        pieces: list[str] = []
        dropped: set[EntityType] = set()
        cursor = 0
        for span in spans:
            entity_type = span.entity_type
            if entity_type in self._drop_types:
                dropped.add(entity_type)
            number = numbering.number(entity_type, text[span.start : span.end])
            pieces.append(text[cursor : span.start])
            pieces.append(f"{self._prefixes[entity_type]}{number}>")
            cursor = span.end
        pieces.append(text[cursor:])
        return RedactionResult("".join(pieces), tuple(spans), tuple(sorted(dropped)))

    def __repr__(self) -> str:
        return f"Redactor(policy={self._policy.version!r})"

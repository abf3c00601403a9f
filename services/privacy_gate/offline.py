"""The `flagstream redact` contract: JSON lines with a ``text`` field in, redacted JSON lines out."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from services.privacy_gate.domain.redactor import Redactor


def _error(line_number: int, problem: str) -> str:
    # Never echo the input: it is raw text that may hold personal data.
    return json.dumps({"error": f"line {line_number}: {problem}"})


def _dumps(record: dict[str, object]) -> str:
    line = json.dumps(record, ensure_ascii=False)
    if not line.isascii():
        try:
            line.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate from a "\ud800" escape: keep it escaped
            line = json.dumps(record)
    return line


def redact_lines(lines: Iterable[str], redactor: Redactor) -> Iterator[str]:
    """Yield one JSON line (no newline) per input line, in order.

    Output: ``{"text": <redacted>, "entities": [{"type", "start", "end"}]}`` with offsets counted in
    code points of the input text, plus ``"policy_drop": [types]`` when the policy would drop the
    event. Other input fields are not copied (they are unredacted); join on line order instead. A
    line that is not a JSON object with a string ``text`` yields ``{"error": ...}`` and the stream
    goes on. Each line is its own interaction, so placeholder numbers restart at 1.
    """
    for line_number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except ValueError:  # also UnicodeDecodeError for undecodable bytes
            yield _error(line_number, "not valid JSON")
            continue
        if not isinstance(record, dict):
            yield _error(line_number, "not a JSON object")
            continue
        text = record.get("text")
        if not isinstance(text, str):
            yield _error(line_number, "missing string field 'text'")
            continue
        result = redactor.redact_text(text)
        out: dict[str, object] = {
            "text": result.text,
            "entities": [{"type": str(s.entity_type), "start": s.start, "end": s.end} for s in result.spans],
        }
        if result.dropped_types:
            out["policy_drop"] = [str(t) for t in result.dropped_types]
        yield _dumps(out)

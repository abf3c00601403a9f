"""Linear time of the native detectors on adversarial texts.

Each text is a piece repeated (long runs of digits, separators, capitals, '=', '.', and the prefixes
the credential, phone, IBAN and address rules start from), at n and at 8n characters. The CPU time
per character at 8n over the time per character at n is ~1 for a linear detector and ~8 for a
quadratic one; the check fails above ``LIMIT``. Every native detector runs: the structured ones in
one call, then the person and street detectors.

Run on its own (`.venv/bin/python tests/bench/privacy/linear_time.py`) or as part of
`make bench-privacy`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO_ROOT))

LIMIT = 2.5
"""Largest accepted ratio of time per character, 8n over n (a quadratic detector gives ~8)."""

BASE = 32_000
"""n: characters of the shorter text (above the size where the regex engine moves from its bounded
backtracker to its PikeVM for capture groups, a step in the cost per character, not a trend)."""

# (name, piece, tail): the text is the piece repeated to n characters, then the tail.
PIECES: tuple[tuple[str, str, str], ...] = (
    ("digits", "1", ""),
    ("digits, then a letter", "1", "x"),
    ("digit groups", "12 ", ""),
    ("dashed digits", "1-", ""),
    ("dotted digits", "1.", ""),
    ("dotted quads", "1.2.3.", ""),
    ("plus and digits", "+1 ", ""),
    ("area codes", "(555) ", ""),
    ("00 prefixes", "00 ", ""),
    ("capitals", "A", ""),
    ("capitalised words", "Ab ", ""),
    ("initials", "A. ", ""),
    ("IBAN shapes", "AB12 ", ""),
    ("IBAN groups", "ABCD ", ""),
    ("equals signs", "=", ""),
    ("assignments", "a=", ""),
    ("password assignments", "password=", ""),
    ("password is", "password is ", ""),
    ("tokens words", "token ", ""),
    ("bearer", "Bearer ", ""),
    ("full stops", ".", ""),
    ("dotted letters", "a.", ""),
    ("colons", ":", ""),
    ("hex and colons", "a1:", ""),
    ("at signs", "@", ""),
    ("dotted domains", "a.b@", ""),
    ("URL schemes", "a://", ""),
    ("URL userinfo", "a://b:", ""),
    ("BEGIN lines", "-----BEGIN ", ""),
    ("an unclosed private key", "-----BEGIN A PRIVATE KEY-----", ""),
    ("END lines", "-----END A ", ""),
    ("JWT starts", "eyJ", ""),
    ("JWT parts", "eyJabcdefgh.", ""),
    ("GitLab prefixes", "glpat-", "é"),
    ("token prefixes", "sk-", ""),
    ("dashes and letters", "a-", "é"),
    ("house numbers", "12 Main ", ""),
    ("unit words", "Apt ", ""),
    ("PO boxes", "P O Box ", ""),
    ("ships", "USS ", ""),
    ("comma breaks", ", ", ""),
    ("spaces", " ", ""),
    ("line breaks", "\n", ""),
    ("street cues", "lives at ", ""),
    ("names", "Anna ", ""),
    ("titles", "Mr. ", ""),
    ("SSN words", "ssn ", ""),
    ("card words", "card ", ""),
)


# (name, head, piece, tail): one long token or block whose end decides whether it matches.
RUNS: tuple[tuple[str, str, str, str], ...] = (
    ("a GitLab token cut by a word character", "glpat-", "a", "é"),
    ("a JWT cut by a word character", "eyJabcdefgh.eyJabcdefgh.", "a", "é"),
    ("a private key without END", "-----BEGIN RSA PRIVATE KEY-----\n", "A", ""),
    ("a bearer token", "Bearer ", "a", "é"),
    ("a bare password", "password=", "a", ""),
    ("an address block part", "12 Main Street\n", "a", "("),
)


def _text(head: str, piece: str, tail: str, n: int) -> str:
    return head + (piece * (n // len(piece) + 1))[:n] + tail


def detectors() -> Callable[[str], object]:
    """Every native detector, one after the other, on one text."""
    import flagstream_pii

    from services.privacy_gate.domain.people import PersonDetector, StreetAddressDetector

    names = tuple(flagstream_pii.detector_names())
    person, street = PersonDetector(), StreetAddressDetector()

    def run(text: str) -> object:
        return (flagstream_pii.detect(names, text), list(person.detect(text)), list(street.detect(text)))

    return run


def per_char(run: Callable[[str], object], text: str) -> float:
    """Least CPU seconds per character of ``run(text)`` over a few timed loops of at least 20 ms."""
    loops, best = 1, float("inf")
    while True:
        start = time.process_time()
        for _ in range(loops):
            run(text)
        spent = time.process_time() - start
        if spent >= 0.02:
            break
        loops *= 4
    for _ in range(3):
        start = time.process_time()
        for _ in range(loops):
            run(text)
        best = min(best, (time.process_time() - start) / loops)
    return best / len(text)


def measure(base: int = BASE) -> list[tuple[str, float, float]]:
    """(name, µs per character at n, ratio of 8n to n) for each adversarial text."""
    run = detectors()
    rows = []
    for name, head, piece, tail in [(name, "", piece, tail) for name, piece, tail in PIECES] + list(RUNS):
        short = per_char(run, _text(head, piece, tail, base))
        long = per_char(run, _text(head, piece, tail, 8 * base))
        rows.append((name, short * 1e6, long / short))
    return rows


def report(rows: list[tuple[str, float, float]]) -> str:
    lines = [
        f"| adversarial text ({BASE} and {8 * BASE} chars) | µs/char at n | time per char, 8n / n |",
        "|---|---:|---:|",
    ]
    lines += [f"| {name} | {us:.3f} | {ratio:.2f} |" for name, us, ratio in rows]
    return "\n".join(lines)


def main() -> None:
    rows = measure()
    print(report(rows))
    worst = max(rows, key=lambda row: row[2])
    print(f"worst ratio {worst[2]:.2f} ({worst[0]}); limit {LIMIT}")
    if worst[2] > LIMIT:
        sys.exit(1)


if __name__ == "__main__":
    main()

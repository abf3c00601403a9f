"""Raw outputs of the native detectors on a corpus, to compare two builds of the crate directly.

The analyzer-level harness (differential.py) sees the detectors through normalisation and overlap
resolution; this one calls the crate itself (every structured detector, PersonDetector,
StreetAddressDetector) on the differential corpus and on a seeded fuzz aimed at what the crate's
regexes decide: keywords next to combining marks, joiners, non-decimal numbers, dotted and dotless
i, long s and information separators; phone, IBAN, token, JWT, key-block, assignment, bearer, URL
and address shapes cut and glued together.

    # with one build installed (or another build first on PYTHONPATH):
    .venv/bin/python tests/bench/privacy/native_outputs.py save var/diff/native-before.pkl
    # with the other:
    .venv/bin/python tests/bench/privacy/native_outputs.py compare var/diff/native-before.pkl
"""

from __future__ import annotations

import argparse
import pickle
import random
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO_ROOT))

_SHAPES = (
    *("+44 20 7946 0958", "0044 20 7946 0958", "(555) 123-4567 ext. 12", "415.555.2671", "06 12 34 56 78"),
    *("020 7946 0958", "phone", "Tel:", "fax", "office", "mobile", "main", "kg", "units", "€", "rue", "Via"),
    *("SSN", "social security no.", "ss#", "536221234", "536-22-1234", "card", "Maestro", "501800000009"),
    *("DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432", "AB12", " ABCD", "10.0.0.1", "version"),
    *("firmware", "2001:db8::1", "fe80::", "::", "AKIAIOSFODNN7EXAMPLE", "ghp_" + "a" * 36, "glpat-"),
    *("sk-proj-" + "A" * 24, "xoxb-1234567890", "AIza" + "B" * 35, "hf_" + "c" * 30, "npm_" + "d" * 36),
    *("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlMQ", "eyJ", "-----BEGIN RSA PRIVATE KEY-----"),
    *("-----END RSA PRIVATE KEY-----", "-----BEGIN PRIVATE KEY-----", "MIIE", "password", "passwd", "pwd"),
    *("api_key", "client secret", "token", "Bearer", "bearer ", " is ", " was ", "=", ": ", "=>", '"', "'"),
    *("hunter2", "s3cr3t!", "redis://user:p4ssw0rd@host", "postgres://:pw@db", "https://a@b", "a://b:"),
    *("12 Main Street", "221B Baker Street", "Apt 4", "Suite 100", "P.O. Box 123", "PO Box 9", "Unit 8670"),
    *("Box 8540 DPO AA 07519", "USS Nimitz FPO AP 96620", "Springfield, IL 62704", "London NW1 6XE"),
    *("lives at", "located on", "corner of", "address is", "address:", "Via Roma 12", "Lindenallee 5"),
    *("Anna Kowalska", "Mr. Smith", "Dear John", "O'Brien", "12345", "12-14", "3rd", "Rd.", "\n", "  "),
)
_EDGES = (
    *("\u0301", "\u0308", "\u200d", "\u200c", "\u203f", "\u2040", "\uff3f", "\u00b2", "\u00bd", "\u2164"),
    *("\u0130", "\u0131", "\u017f", "\u212a", "\x1c", "\x1f", "\x85", "\u00a0", "\u2007", "\u3000", "\t"),
    *("\u0663", "\uff11", "\U0001d7ce", "\ud800", "\U0001f600", "é", "ß", "中", "_", "-", ".", "/", "#"),
)


def _fuzz(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(1, 14)):
            r = rng.random()
            piece = rng.choice(_SHAPES) if r < 0.6 else rng.choice(_EDGES)
            if r < 0.6 and rng.random() < 0.3:
                i = rng.randrange(len(piece) + 1)
                piece = piece[:i] + rng.choice(_EDGES) + piece[i:]
            if rng.random() < 0.15:
                piece = piece.upper() if rng.random() < 0.5 else piece.lower()
            parts.append(piece)
            parts.append(rng.choice(("", " ", " ", "\n", ", ", ".", ":", "=")))
        texts.append("".join(parts))
    return texts


def corpus() -> list[str]:
    """The differential corpus and the regex fuzz."""
    from tests.bench.privacy import differential

    texts = [text for part in differential.corpus().values() for text in part]
    return texts + _fuzz(60000, 17)


def outputs(texts: list[str]) -> list[tuple[object, ...]]:
    import flagstream_pii

    from services.privacy_gate.domain.people import PersonDetector, StreetAddressDetector

    names = tuple(flagstream_pii.detector_names())
    person, street = PersonDetector(), StreetAddressDetector()
    print(f"crate: {flagstream_pii.__file__}", file=sys.stderr)
    return [
        (
            flagstream_pii.detect(names, t),
            [tuple(vars_of(s)) for s in person.detect(t)],
            [tuple(vars_of(s)) for s in street.detect(t)],
        )
        for t in texts
    ]


def vars_of(span: object) -> tuple[object, ...]:
    return tuple(getattr(span, f) for f in ("entity_type", "start", "end", "score"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("save", "compare"))
    parser.add_argument("path", type=Path)
    args = parser.parse_args()
    if args.action == "save":
        texts = corpus()
        args.path.parent.mkdir(parents=True, exist_ok=True)
        args.path.write_bytes(pickle.dumps((texts, outputs(texts))))
        print(f"{len(texts)} texts saved")
        return
    texts, before = pickle.loads(args.path.read_bytes())
    after = outputs(texts)
    differing = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    for i in differing[:10]:
        print(f"{texts[i]!r}\n  before {before[i]}\n  after  {after[i]}")
    spans = sum(len(o[0]) + len(o[1]) + len(o[2]) for o in after)
    print(f"{len(texts)} texts, {spans} spans, {len(differing)} differing")
    sys.exit(1 if differing else 0)


if __name__ == "__main__":
    main()

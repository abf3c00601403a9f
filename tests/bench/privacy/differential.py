"""Differential check of the analyzer: the spans of one version against another's, span for span.

A change meant to make the analyzer faster must not change what it finds. This tool saves a
corpus with the spans the analyzer of the checkout finds in it, and later compares the spans another
checkout (or the same one after a change) finds in the same texts:

    .venv/bin/python tests/bench/privacy/differential.py save var/diff/before.pkl
    # ... change the analyzer ...
    .venv/bin/python tests/bench/privacy/differential.py compare var/diff/before.pkl

The texts are stored with the spans, because presidio-evaluator's generator does not make the same
corpus twice for one seed. The corpus:

- the bench's corpus: the generated sentences (seed 42), the ~600-character documents the speed is
  measured on, and the look-alike texts;
- the realistic set of realistic.py, seeds 15-18, documents and look-alikes;
- every string literal of tests/unit/privacy_gate;
- the seeded fuzz corpora of test_native_scanners.py (structured shapes, names and streets);
- a seeded fuzz of text people paste: words of the realistic documents recombined, with the
  obfuscations normalise.py undoes (invisible characters, full-width forms, spelled and bracketed
  ``at``/``dot``, split tokens, quotes), the cues the context rules read, escaped and real line
  breaks, NUL field separators, look-alike places and eponyms, and non-ASCII noise.
"""

from __future__ import annotations

import argparse
import ast
import pickle
import random
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO_ROOT))

Found = list[tuple[str, int, int, float]]

# Pieces the paste fuzz mixes into recombined words: what normalise.py and the context rules read.
_OBFUSCATION = (
    *("\u200b", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200e", "\u202e", "\u2066", "\u3000"),
    *("\uff10\uff18\uff19", "\uff20", "\uff0e", " at ", " AT ", " dot ", " DOT ", "[at]", "(at)"),
    *("{dot}", "[dot]", "<at>", "(@)", "[.]", "@", ".", "\n", "\r\n", "\\n", "\\t", '"', "'", "\x00"),
    *(",", ", ", ": ", "=", "/", " - ", "\u2014 ", "-- ", "@", "[14:10] ", "] ", "://:", "-u ", "--user "),
)
_CUES = (
    *("remind ", "ask ", "hi ", "hey ", "Dear ", "thanks ", "cc ", "customer ", "patient ", "talked to "),
    *("name: ", '"full_name": "', "ACCOUNT HOLDER: ", "Beneficiary: ", "customer_name=", "name,email\n"),
    *("Best regards,\n", "Cheers,\n", "Mit freundlichen Grüßen,\n", "\u2014 ", "@ana.silva ", "@property\n"),
    *("PGPASSWORD=", "export DB_PASS=", "API_KEY=", "Authorization: Basic ", "curl -u bob:", "redis://:"),
    *('"SecretAccessKey": "', "Lindenallee ", "Am Mühlbach ", "rue ", "calle ", "ul. ", " street", " st, "),
    *(", 69163 ", ", 75011 ", "089/", "${POSTGRES_PASSWORD}", "os.getenv(", "São Paulo", "Berlin"),
    *("'s constant", " equations", "Maxwell", "Planck", "hunter bishop", "rose,", "ana dot silva"),
)
_NOISE = (
    *(" ", " ", " ", "  ", "\n", "\t", "-", "_", "é", "ß", "İ", "\u017f", "中", "\U0001f600", "\ud800"),
    *("0", "12", "65a", "2024", "\u0663", "\uff11", "Ⅻ", "½", "x", "Q"),
)


def _paste_fuzz(words: list[str], count: int, seed: int) -> list[str]:
    """``count`` texts of ``words`` recombined with obfuscations, cues and noise (module docstring)."""
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        parts: list[str] = []
        for _ in range(rng.randint(1, 40)):
            r = rng.random()
            if r < 0.55:
                piece = rng.choice(words)
            elif r < 0.7:
                piece = rng.choice(_CUES)
            elif r < 0.85:
                piece = rng.choice(_OBFUSCATION)
            else:
                piece = rng.choice(_NOISE)
            if rng.random() < 0.08 and piece:
                # An invisible, full-width or escaped character inside a word.
                i = rng.randrange(len(piece) + 1)
                piece = piece[:i] + rng.choice(_OBFUSCATION[:12]) + piece[i:]
            parts.append(piece)
            parts.append(rng.choice((" ", " ", " ", "", "\n", ", ", ".")))
        text = "".join(parts)
        if rng.random() < 0.2:
            text = text.lower()
        elif rng.random() < 0.1:
            text = text.upper()
        texts.append(text)
    return texts


def _literals() -> list[str]:
    """Every string literal of the privacy gate's unit tests."""
    found: list[str] = []
    for path in sorted((REPO_ROOT / "tests" / "unit" / "privacy_gate").glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.append(node.value)
    return list(dict.fromkeys(found))


def corpus() -> dict[str, list[str]]:
    """The texts to compare, by part (module docstring)."""
    from tests.bench import bench_privacy
    from tests.bench.privacy import realistic
    from tests.unit.privacy_gate import test_native_scanners

    docs = bench_privacy.generated(3000, 42)
    parts = {
        "bench sentences (seed 42)": [d.text for d in docs],
        "bench documents (speed)": bench_privacy.long_docs(docs),
        "bench look-alikes": [d.text for d in bench_privacy.lookalikes(2000, 42)],
    }
    words: list[str] = []
    for seed in (15, 16, 17, 18):
        real, negatives = realistic.evaluation_set(seed, 700, 160)
        parts[f"realistic seed {seed}"] = [d.text for d in real] + [d.text for d in negatives]
        for doc in real + negatives:
            words.extend(doc.text.split(" "))
    parts["unit-test literals"] = _literals()
    parts["fuzz: structured shapes"] = test_native_scanners.CORPUS
    parts["fuzz: names and streets"] = test_native_scanners.PEOPLE_CORPUS
    parts["fuzz: pasted text"] = _paste_fuzz(words, 20000, 15)
    return parts


def spans(texts: list[str]) -> list[Found]:
    """What the default analyzer finds in each text: (type, start, end, score), in its order."""
    from services.privacy_gate.domain import DEFAULT_ANALYZER

    analyze = DEFAULT_ANALYZER.analyze
    return [[(str(s.entity_type), s.start, s.end, s.score) for s in analyze(text)] for text in texts]


def main() -> None:
    """Save a corpus with this checkout's spans, or compare this checkout's spans with a saved one."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("save", "compare"))
    parser.add_argument("path", type=Path)
    args = parser.parse_args()
    if args.action == "save":
        parts = corpus()
        saved = {name: (texts, spans(texts)) for name, texts in parts.items()}
        args.path.parent.mkdir(parents=True, exist_ok=True)
        args.path.write_bytes(pickle.dumps(saved))
        for name, (texts, found) in saved.items():
            print(f"{name}: {len(texts)} texts, {sum(map(len, found))} spans")
        return
    saved = pickle.loads(args.path.read_bytes())
    total_texts = total_differing = 0
    for name, (texts, before) in saved.items():
        after = spans(texts)
        differing = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
        total_texts += len(texts)
        total_differing += len(differing)
        print(f"{name}: {len(texts)} texts, {sum(map(len, after))} spans, {len(differing)} differing")
        for i in differing[:5]:
            print(f"  {texts[i]!r}\n    before {before[i]}\n    after  {after[i]}")
    print(f"all: {total_texts} texts, {total_differing} differing")
    sys.exit(1 if total_differing else 0)


if __name__ == "__main__":
    main()

"""PII detection benchmark: Flagstream's analyzer against Presidio's own recognizers, same corpus, same run.

Corpus: sentences from presidio-evaluator's generator (its templates, its FakeNameGenerator person
records and its Faker providers; material this project did not write), seeded, plus a look-alike
negative set (UUIDs, hashes, versions, dates, order and invoice numbers, ISBNs, numbers that fail
their checksum) on which every detection is a false positive.

Presidio runs offline: its pattern recognizers for the structured types, called directly, with
tldextract pinned to its bundled suffix snapshot (no fetch) and no spaCy model, so it has no
PERSON or LOCATION detector at all (those come from spaCy NER in its default setup).

Scoring is per span: a gold span is found when a predicted span of the same type overlaps it; a
predicted span is correct when it overlaps a gold span of its type. Gold types we do not detect
(GPE, ORGANIZATION, DATE_TIME, TITLE, ...) are unscored: predictions on them count neither way.
"Covered" is the share of gold characters of a type inside any predicted span (what a redactor
leaves visible is what leaks).

PERSON held-out: the given-name lexicon (gender-guesser) overlaps the first names the generator uses.
So PERSON recall is also reported on the gold names none of whose words is a given name in it: what
the cue, title and shape rules and the surname list (US Census 1990, from the `names` package) find
without the first-name list. The surname list overlaps the generator's surnames too, so this figure
is not "names the detector never saw"; docs/privacy.md gives the recall on names in neither list.

A second corpus, in the same run: the realistic evaluation set of tests/bench/privacy/realistic.py
(chat, logs, tracebacks, configs, CSV, JSON and e-mails written by hand-made generators, with
obfuscated and split identifiers, secrets in headers and environment lines, names in any case,
European addresses, and look-alike negatives), scored per type, per miss class, and by how many
look-alikes each engine changes.

Last, the native detectors' time per character on adversarial texts at n and 8n characters
(tests/bench/privacy/linear_time.py): the run fails when one is not linear.

Run: `make bench-privacy` (needs `pip install -e '.[bench]'`). Prints the tables; writes
bench/results/privacy-<utc time>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import string
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from services.privacy_gate.domain import DEFAULT_ANALYZER  # noqa: E402
from services.privacy_gate.domain.people import given_names  # noqa: E402
from tests.bench.privacy import linear_time, realistic  # noqa: E402

# Gold types of the generator -> the Presidio/Flagstream type they are scored as.
GOLD_TO_TYPE = {
    "PERSON": "PERSON",
    "EMAIL_ADDRESS": "EMAIL_ADDRESS",
    "PHONE_NUMBER": "PHONE_NUMBER",
    "CREDIT_CARD": "CREDIT_CARD",
    "US_SSN": "US_SSN",
    "IBAN_CODE": "IBAN_CODE",
    "IP_ADDRESS": "IP_ADDRESS",
    "STREET_ADDRESS": "LOCATION",
}
STRUCTURED = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE", "IP_ADDRESS")
TYPES = (*STRUCTURED, "PERSON", "LOCATION")

Spans = list[tuple[str, int, int]]


@dataclass
class Doc:
    """One text with its gold spans (type, start, end) and the spans to ignore."""

    text: str
    gold: Spans
    unscored: list[tuple[int, int]] = field(default_factory=list)
    held_out_people: list[tuple[int, int]] = field(default_factory=list)


# ------------------------------------------------------------------------------------------- corpus


def generated(count: int, seed: int) -> list[Doc]:
    """Sentences from presidio-evaluator's generator."""
    from presidio_evaluator.data_generator import PresidioSentenceFaker  # type: ignore[import-untyped]

    faker = PresidioSentenceFaker(locale="en_US", lower_case_ratio=0.05, random_seed=seed)
    lexicon = given_names()
    docs = []
    for sample in faker.generate_new_fake_sentences(num_samples=count):
        # The templates hold a literal backslash-n where a line break is meant.
        text = sample.full_text
        gold: Spans = []
        unscored = []
        held_out = []
        for span in sample.spans:
            kind = GOLD_TO_TYPE.get(span.entity_type)
            if kind is None:
                unscored.append((span.start_position, span.end_position))
                continue
            gold.append((kind, span.start_position, span.end_position))
            if kind == "PERSON":
                words = text[span.start_position : span.end_position].replace(".", " ").split()
                if not any(w in lexicon or w.capitalize() in lexicon for w in words):
                    held_out.append((span.start_position, span.end_position))
        docs.append(Doc(text, gold, unscored, held_out))
    return docs


def _luhn_fix(digits: str, valid: bool) -> str:
    from services.privacy_gate.domain import luhn_valid

    for last in "0123456789":
        if luhn_valid(digits[:-1] + last) is valid:
            return digits[:-1] + last
    return digits


def _grouped(number: str) -> str:
    return "Reference " + " ".join(number[i : i + 4] for i in range(0, len(number), 4))


def lookalikes(count: int, seed: int) -> list[Doc]:
    """Texts with no personal data but with things shaped like it: every detection is wrong."""
    rng = random.Random(seed)
    hexdigits = "0123456789abcdef"

    def digits(n: int) -> str:
        return "".join(rng.choice(string.digits) for _ in range(n))

    makers: list[Callable[[], str]] = [
        lambda: f"Request id {uuid.UUID(int=rng.getrandbits(128))} failed with status 503.",
        lambda: f"Fixed in commit {''.join(rng.choice(hexdigits) for _ in range(40))} yesterday.",
        lambda: f"The sha256 is {''.join(rng.choice(hexdigits) for _ in range(64))}.",
        lambda: f"Upgrade to version {rng.randint(1, 20)}.{rng.randint(0, 40)}.{rng.randint(0, 300)} first.",
        lambda: (
            f"Build {rng.randint(1, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 99)}.{rng.randint(300, 9999)} ok."
        ),
        lambda: f"Released on {rng.randint(2000, 2030)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}.",
        lambda: (
            f"Meeting on {rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(2000, 2030)} at "
            f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}."
        ),
        lambda: f"Your order ORD-{digits(8)} has shipped.",
        lambda: f"Invoice INV-{rng.randint(2020, 2030)}-{digits(6)} is due.",
        lambda: f"See ISBN 978-{rng.randint(0, 1)}-{digits(3)}-{digits(5)}-{rng.randint(0, 9)}.",
        lambda: f"Tracking number {digits(12)} arrives Monday.",
        # Card-shaped but failing Luhn; 16 digits starting with a network digit.
        lambda: _grouped(_luhn_fix(rng.choice("3456") + digits(15), valid=False)),
        lambda: f"The total was {rng.randint(1, 99999)}.{digits(2)} for {rng.randint(2, 40)} items.",
        lambda: f"Set timeout={rng.randint(1, 600)} and retries={rng.randint(1, 9)} in the config.",
        lambda: f"Room {rng.randint(100, 999)}, floor {rng.randint(1, 30)}, badge {digits(6)}.",
        lambda: f"Error code 0x{''.join(rng.choice(hexdigits) for _ in range(8))} at offset {digits(7)}.",
        lambda: f"Coordinates {rng.uniform(-90, 90):.6f}, {rng.uniform(-180, 180):.6f}.",
        lambda: "Use std::vector<int> and a::b in C++ code.",
        lambda: f"The password is required and the token was {rng.choice(('expired', 'invalid', 'wrong'))}.",
        lambda: f"Will you review the {rng.choice(('March', 'June', 'May'))} report with the team?",
        lambda: f"Grant access to the {rng.choice(('Main', 'North', 'West'))} Street repository.",
        lambda: f"Policy {rng.randint(100, 999)}-{rng.randint(10, 99)}-{digits(4)}-X covers it.",
    ]
    return [Doc(rng.choice(makers)(), []) for _ in range(count)]


def long_docs(docs: Sequence[Doc], target: int = 600) -> list[str]:
    """~600-character texts, joined from the corpus (the speed target's text size)."""
    texts, current = [], ""
    for doc in docs:
        current = f"{current} {doc.text}" if current else doc.text
        if len(current) >= target:
            texts.append(current)
            current = ""
    return texts


# ------------------------------------------------------------------------------------------ engines


def flagstream() -> Callable[[str], Spans]:
    """Flagstream's default analyzer."""
    analyze = DEFAULT_ANALYZER.analyze
    return lambda text: [(str(s.entity_type), s.start, s.end) for s in analyze(text)]


def presidio() -> Callable[[str], Spans]:
    """Presidio's pattern recognizers for the structured types, offline (no spaCy model, no fetch)."""
    import tldextract

    # Presidio's email recognizer calls tldextract.extract, which would fetch the suffix list.
    offline = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    tldextract.extract = offline  # type: ignore[assignment]
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        EmailRecognizer,
        IbanRecognizer,
        IpRecognizer,
        PhoneRecognizer,
        UsSsnRecognizer,
    )

    recognizers = [
        EmailRecognizer(),
        PhoneRecognizer(),
        CreditCardRecognizer(),
        UsSsnRecognizer(),
        IbanRecognizer(),
        IpRecognizer(),
    ]
    pairs = [(r, r.supported_entities) for r in recognizers]

    def analyze(text: str) -> Spans:
        found: Spans = []
        for recognizer, entities in pairs:
            for result in recognizer.analyze(text, entities=entities, nlp_artifacts=None):  # type: ignore[arg-type]
                if result.score > 0:
                    found.append((result.entity_type, result.start, result.end))
        return found

    return analyze


# ---------------------------------------------------------------------------------------- scoring


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


@dataclass
class Score:
    """Counts of one engine for one type."""

    tp_gold: int = 0
    gold: int = 0
    tp_pred: int = 0
    pred: int = 0
    covered_chars: int = 0
    gold_chars: int = 0

    @property
    def recall(self) -> float:
        return self.tp_gold / self.gold if self.gold else float("nan")

    @property
    def precision(self) -> float:
        return self.tp_pred / self.pred if self.pred else float("nan")

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else 0.0

    @property
    def coverage(self) -> float:
        return self.covered_chars / self.gold_chars if self.gold_chars else float("nan")


def score(docs: Iterable[Doc], analyze: Callable[[str], Spans]) -> tuple[dict[str, Score], dict[str, float]]:
    """Per-type scores, and PERSON recall on held-out names."""
    scores: dict[str, Score] = defaultdict(Score)
    held_out_found = held_out_total = 0
    for doc in docs:
        predicted = [p for p in analyze(doc.text) if p[0] in TYPES]
        for kind, start, end in doc.gold:
            s = scores[kind]
            s.gold += 1
            same = [(ps, pe) for pk, ps, pe in predicted if pk == kind]
            if any(_overlaps((start, end), p) for p in same):
                s.tp_gold += 1
            s.gold_chars += end - start
            s.covered_chars += sum(
                1 for i in range(start, end) if any(ps <= i < pe for _, ps, pe in predicted)
            )
        for kind, start, end in predicted:
            if any(_overlaps((start, end), u) for u in doc.unscored) and not any(
                _overlaps((start, end), (gs, ge)) for _, gs, ge in doc.gold
            ):
                continue  # on a gold type nobody here detects (a city, an organisation): unscored
            s = scores[kind]
            s.pred += 1
            if any(gk == kind and _overlaps((start, end), (gs, ge)) for gk, gs, ge in doc.gold):
                s.tp_pred += 1
        for span in doc.held_out_people:
            held_out_total += 1
            held_out_found += any(pk == "PERSON" and _overlaps(span, (ps, pe)) for pk, ps, pe in predicted)
    extra = {
        "person_held_out_total": held_out_total,
        "person_held_out_recall": held_out_found / held_out_total if held_out_total else float("nan"),
    }
    return dict(scores), extra


def throughput(
    engines: dict[str, Callable[[str], Spans]], texts: Sequence[str], runs: int
) -> dict[str, dict[str, float]]:
    """Docs per second of each engine over ``texts``, median of ``runs`` passes.

    Passes alternate between engines, so both see the same machine load, and the rate is counted
    in this process's CPU time (one core's work), with wall-clock time beside it: on a shared
    machine wall time also counts waiting for a core.
    """
    cpu: dict[str, list[float]] = defaultdict(list)
    wall: dict[str, list[float]] = defaultdict(list)
    for _ in range(runs):
        for name, analyze in engines.items():
            started_cpu, started_wall = time.process_time(), time.perf_counter()
            for text in texts:
                analyze(text)
            cpu[name].append(len(texts) / (time.process_time() - started_cpu))
            wall[name].append(len(texts) / (time.perf_counter() - started_wall))
    return {
        name: {
            "median": statistics.median(cpu[name]),
            "min": min(cpu[name]),
            "max": max(cpu[name]),
            "wall_median": statistics.median(wall[name]),
        }
        for name in engines
    }


def per_detector(texts: Sequence[str], runs: int) -> dict[str, float]:
    """CPU microseconds per document of each Flagstream detector alone, best of ``runs`` passes.

    The texts are prepared as the analyzer prepares them (escaped line breaks made real), so the
    figures add up to the analyzer's time less its overlap resolution.
    """
    from services.privacy_gate.domain import default_detectors
    from services.privacy_gate.domain.detectors import unescape_breaks

    prepared = [unescape_breaks(text) for text in texts]
    costs: dict[str, float] = {}
    for detector in default_detectors():
        best = float("inf")
        for _ in range(runs):
            started = time.process_time()
            for text in prepared:
                for _span in detector.detect(text):
                    pass
            best = min(best, time.process_time() - started)
        costs[repr(detector)] = best / len(prepared) * 1e6
    return costs


def totals(scores: dict[str, Score], types: Sequence[str]) -> Score:
    """Micro-averaged counts over some types."""
    out = Score()
    for kind in types:
        s = scores.get(kind, Score())
        out.tp_gold += s.tp_gold
        out.gold += s.gold
        out.tp_pred += s.tp_pred
        out.pred += s.pred
        out.covered_chars += s.covered_chars
        out.gold_chars += s.gold_chars
    return out


# ----------------------------------------------------------------------------------------- report


def _f(value: float) -> str:
    return "  -  " if value != value else f"{value:.3f}"  # NaN: nothing to score


def table(
    results: dict[str, dict[str, Score]], negatives: dict[str, int], speed: dict[str, dict[str, float]]
) -> str:
    """A Markdown table: per type, precision / recall / F1 of each engine."""
    engines = list(results)
    head = "| type | gold | " + " | ".join(f"{e} P | {e} R | {e} F1" for e in engines) + " |"
    rule = "|---|---:|" + "---:|---:|---:|" * len(engines)
    lines = [head, rule]
    rows = [*TYPES, "structured (micro)", "all (micro)"]
    for row in rows:
        cells = []
        gold = 0
        for engine in engines:
            scores = results[engine]
            if row == "structured (micro)":
                s = totals(scores, STRUCTURED)
            elif row == "all (micro)":
                s = totals(scores, TYPES)
            else:
                s = scores.get(row, Score())
            gold = s.gold
            cells.append(f"{_f(s.precision)} | {_f(s.recall)} | {_f(s.f1)}")
        lines.append(f"| {row} | {gold} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("| engine | look-alike false positives | docs/s per core (CPU time, median) | docs/s wall |")
    lines.append("|---|---:|---:|---:|")
    for engine in engines:
        rate = speed[engine]
        lines.append(
            f"| {engine} | {negatives[engine]} | {rate['median']:,.0f} | {rate['wall_median']:,.0f} |"
        )
    return "\n".join(lines)


def realistic_table(evaluations: dict[str, realistic.Evaluation]) -> str:
    """Markdown tables of the realistic set: per type, then per miss class, then the look-alikes."""
    engines = list(evaluations)
    head = "| type | gold | " + " | ".join(f"{e} R | {e} whole R | {e} P" for e in engines) + " |"
    lines = ["| " + head[2:], "|---|---:|" + "---:|---:|---:|" * len(engines)]
    rows: list[tuple[str, tuple[str, ...]]] = [(t, (t,)) for t in realistic.TYPES]
    rows += [("structured (micro)", realistic.STRUCTURED), ("all (micro)", realistic.TYPES)]
    for name, kinds in rows:
        cells = []
        gold = 0
        for engine in engines:
            c = evaluations[engine].total(kinds)
            gold = c.gold
            cells.append(f"{_f(c.recall)} | {_f(c.whole_recall)} | {_f(c.precision)}")
        lines.append(f"| {name} | {gold} | " + " | ".join(cells) + " |")
    lines += ["", "| miss class | gold | " + " | ".join(f"{e} R" for e in engines) + " |"]
    lines.append("|---|---:|" + "---:|" * len(engines))
    for cls in sorted(evaluations[engines[0]].classes):
        gold = evaluations[engines[0]].classes[cls].gold
        cells = [_f(evaluations[e].classes[cls].recall) for e in engines]
        lines.append(f"| {cls} | {gold} | " + " | ".join(cells) + " |")
    lines += ["", "| engine | look-alikes changed | of | by kind |", "|---|---:|---:|---|"]
    for engine in engines:
        ev = evaluations[engine]
        kinds = ", ".join(f"{k.removeprefix('negative.')} {n}" for k, n in sorted(ev.changed_kinds.items()))
        lines.append(f"| {engine} | {ev.negatives_changed} | {ev.negatives} | {kinds or '-'} |")
    return "\n".join(lines)


def main() -> None:
    """Generate the corpus, run both engines, print and save the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=3000, help="generated sentences")
    parser.add_argument("--lookalikes", type=int, default=2000, help="look-alike negative texts")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--runs", type=int, default=5, help="timed passes per engine (median reported)")
    parser.add_argument("--realistic-docs", type=int, default=700, help="documents of the realistic set")
    parser.add_argument("--realistic-negatives", type=int, default=160, help="its look-alike texts")
    parser.add_argument("--realistic-seed", type=int, default=15)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results")
    args = parser.parse_args()

    print(f"generating {args.samples} sentences (presidio-evaluator, seed {args.seed}) ...", file=sys.stderr)
    docs = generated(args.samples, args.seed)
    negatives_docs = lookalikes(args.lookalikes, args.seed)
    texts = long_docs(docs)
    engines = {"flagstream": flagstream(), "presidio": presidio()}

    results, extras, negatives = {}, {}, {}
    for name, analyze in engines.items():
        results[name], extras[name] = score(docs, analyze)
        negatives[name] = sum(
            1 for doc in negatives_docs for kind, _, _ in analyze(doc.text) if kind in TYPES
        )

    real_docs, real_negatives = realistic.evaluation_set(
        args.realistic_seed, args.realistic_docs, args.realistic_negatives
    )
    real = {name: realistic.evaluate(real_docs, real_negatives, analyze) for name, analyze in engines.items()}
    real_report = (
        f"\nrealistic set (tests/bench/privacy/realistic.py, seed {args.realistic_seed}): {len(real_docs)} "
        f"documents, {sum(len(d.gold) for d in real_docs)} gold spans, {len(real_negatives)} look-alikes. "
        "R: a predicted span of the type overlaps the gold span; whole R: every visible character of it "
        "is redacted.\n\n" + realistic_table(real)
    )

    speed = throughput(engines, texts, args.runs)
    detector_costs = per_detector(texts, args.runs)
    report = table(results, negatives, speed)
    avg_len = statistics.mean(len(t) for t in texts)
    held = extras["flagstream"]
    notes = (
        f"\ncorpus: {len(docs)} generated sentences ({sum(len(d.gold) for d in docs)} scored spans), "
        f"{len(negatives_docs)} look-alike texts; speed over {len(texts)} docs of {avg_len:.0f} chars on "
        f"average, {args.runs} passes.\n"
        f"flagstream PERSON recall on held-out names (no word in the given-name list): "
        f"{_f(held['person_held_out_recall'])} of {held['person_held_out_total']:.0f}.\n"
        f"flagstream character coverage (share of gold characters redacted): "
        + ", ".join(f"{t} {_f(results['flagstream'].get(t, Score()).coverage)}" for t in TYPES)
        + "\nflagstream CPU us/doc per detector alone (best of the passes): "
        + ", ".join(f"{name} {cost:.0f}" for name, cost in detector_costs.items())
    )
    print(report + notes)
    print(real_report)
    linear_rows = linear_time.measure()
    linear_report = "\n" + linear_time.report(linear_rows)
    worst = max(linear_rows, key=lambda row: row[2])
    linear_report += f"\nworst ratio {worst[2]:.2f} ({worst[0]}); limit {linear_time.LIMIT}"
    print(linear_report)

    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    payload = {
        "created": stamp,
        "args": {k: str(v) for k, v in vars(args).items()},
        "scores": {
            engine: {
                kind: {
                    "precision": s.precision,
                    "recall": s.recall,
                    "f1": s.f1,
                    "coverage": s.coverage,
                    "gold": s.gold,
                    "predicted": s.pred,
                }
                for kind, s in scores.items()
            }
            for engine, scores in results.items()
        },
        "extras": extras,
        "lookalike_false_positives": negatives,
        "docs_per_second": speed,
        "detector_us_per_doc": detector_costs,
        "linear_time": {name: {"us_per_char": us, "ratio_8n_n": ratio} for name, us, ratio in linear_rows},
        "realistic": {
            engine: {
                "types": {kind: vars(c) for kind, c in ev.types.items()},
                "classes": {cls: vars(c) for cls, c in ev.classes.items()},
                "negatives": ev.negatives,
                "negatives_changed": ev.negatives_changed,
                "changed_kinds": ev.changed_kinds,
            }
            for engine, ev in real.items()
        },
    }
    (args.out / f"privacy-{stamp}.json").write_text(json.dumps(payload, indent=2, default=str))
    (args.out / f"privacy-{stamp}.md").write_text(
        report + notes + "\n" + real_report + "\n" + linear_report + "\n"
    )
    print(f"\nwrote {args.out / f'privacy-{stamp}.json'}", file=sys.stderr)
    if worst[2] > linear_time.LIMIT:
        sys.exit(f"a native detector is not linear in the text's length: {worst[0]}, ratio {worst[2]:.2f}")


if __name__ == "__main__":
    main()

"""The bench's scores and speed of two builds of the native crate, on one corpus, in one process.

presidio-evaluator does not make the same corpus twice for one seed, so scores of two `make
bench-privacy` runs differ by the corpus as well as by the detectors. This loads another build of
`flagstream_pii` (e.g. the previous commit's, installed with `pip install --target DIR
./services/privacy_gate/native` from a `git archive` of it) beside the installed one, builds one
analyzer on each, and scores both on the same generated sentences, look-alikes and realistic set,
with the speed passes interleaved:

    .venv/bin/python tests/bench/privacy/crate_ab.py DIR
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO_ROOT))


def load(directory: Path) -> ModuleType:
    """The flagstream_pii extension installed under ``directory``, loaded beside the venv's."""
    path = next((directory / "flagstream_pii").glob("flagstream_pii*.so"))
    spec = importlib.util.spec_from_file_location("flagstream_pii", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def analyzer(crate: ModuleType) -> Callable[[str], list[tuple[str, int, int]]]:
    """The default analyzer on ``crate``'s detectors."""
    from services.privacy_gate.domain import context, detectors, identifiers, people

    for module in (detectors, people, identifiers, context):
        module.flagstream_pii = crate  # type: ignore[attr-defined]
    analyze = detectors.Analyzer(detectors.default_detectors()).analyze
    return lambda text: [(str(s.entity_type), s.start, s.end) for s in analyze(text)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="directory the other build is installed in (pip --target)")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    import flagstream_pii

    from tests.bench import bench_privacy as bench
    from tests.bench.privacy import realistic

    engines = {"other build": analyzer(load(args.other)), "installed build": analyzer(flagstream_pii)}
    docs, lookalikes = bench.generated(3000, 42), bench.lookalikes(2000, 42)
    results, negatives = {}, {}
    for name, analyze in engines.items():
        results[name], _ = bench.score(docs, analyze)
        negatives[name] = sum(1 for d in lookalikes for kind, _, _ in analyze(d.text) if kind in bench.TYPES)
    speed = bench.throughput(engines, bench.long_docs(docs), args.runs)
    print(bench.table(results, negatives, speed))
    real_docs, real_negatives = realistic.evaluation_set(15, 700, 160)
    real = {name: realistic.evaluate(real_docs, real_negatives, a) for name, a in engines.items()}
    print("\n" + bench.realistic_table(real).split("\n\n")[0])


if __name__ == "__main__":
    main()

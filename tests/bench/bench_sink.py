"""Rows/s of the dataset sink writing safety_labels batches to Delta on local disk, next to plain Parquet.

Run: .venv/bin/python tests/bench/bench_sink.py [--repeats N] [--dir DIR]
Not a pytest test. Each Delta batch is one commit (rows + txn offsets) appended to one growing table,
as the sink does; each Parquet batch is one pyarrow.parquet.write_table of the same rows to a new file.
"dicts in" timings include turning the row dicts into Arrow (the sink's path); "Arrow in" timings do not,
so they show what the Delta commit costs over a bare Parquet file.
"""

from __future__ import annotations

import argparse
import random
import statistics
import string
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from deltalake import CommitProperties, Transaction, write_deltalake

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "unit" / "dataset_sink")]

from sink_factories import make_resolved  # noqa: E402

from services.dataset_sink.domain import (  # noqa: E402
    SAFETY_LABELS,
    SAFETY_LABELS_SCHEMA,
    rows_to_arrow,
    safety_label_row,
)
from services.dataset_sink.writer import DeltaDatasetWriter  # noqa: E402

TOPIC = "review.resolved.v1"
SIZES = (1_000, 5_000, 20_000)


def _text(rng: random.Random, n: int) -> str:
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(n // 6)]
    return " ".join(words)[:n]


def make_rows(count: int, seed: int = 1) -> tuple[list[dict[str, Any]], float]:
    """`count` safety_labels rows with realistic text sizes, and the rows/s of safety_label_row itself."""
    rng = random.Random(seed)
    judgments = [make_resolved(i) for i in range(count)]
    started = time.perf_counter()
    rows = [safety_label_row(j, split="train") for j in judgments]
    build_rate = count / (time.perf_counter() - started)
    for row in rows:  # ~1.5 KB of redacted text per row, like a short flagged chat
        row["messages"][1]["content"] = _text(rng, rng.randint(100, 600))
        row["response"] = _text(rng, rng.randint(200, 1200))
    return rows, build_rate


def bench(size: int, repeats: int, workdir: Path) -> dict[str, float]:
    """Median rows/s of each way to write one batch of `size` rows."""
    rows, build_rate = make_rows(size)
    writer = DeltaDatasetWriter(workdir / f"delta-{size}", "bench")
    arrow_in = workdir / f"delta-arrow-{size}"
    rates: dict[str, list[float]] = {
        k: [] for k in ("convert", "delta", "parquet", "delta_arrow", "parquet_arrow")
    }
    offset = -1
    for i in range(repeats + 1):  # the first round warms up (and creates the tables); not counted
        timings: dict[str, float] = {}
        offset += size

        started = time.perf_counter()
        table = rows_to_arrow(rows, SAFETY_LABELS_SCHEMA)
        timings["convert"] = time.perf_counter() - started

        started = time.perf_counter()  # the sink's path: dicts in, one commit with the txn offsets
        writer.write(SAFETY_LABELS, rows, {(TOPIC, 0): offset}, {"bench": "1"})
        timings["delta"] = time.perf_counter() - started

        started = time.perf_counter()
        pq.write_table(rows_to_arrow(rows, SAFETY_LABELS_SCHEMA), workdir / f"a-{size}-{i}.parquet")
        timings["parquet"] = time.perf_counter() - started

        started = time.perf_counter()  # Delta's own cost: Arrow in, same commit shape
        write_deltalake(
            arrow_in,
            table,
            mode="append",
            commit_properties=CommitProperties(app_transactions=[Transaction(f"bench:{TOPIC}:0", offset)]),
        )
        timings["delta_arrow"] = time.perf_counter() - started

        started = time.perf_counter()
        pq.write_table(table, workdir / f"b-{size}-{i}.parquet")
        timings["parquet_arrow"] = time.perf_counter() - started

        if i:
            for key, seconds in timings.items():
                rates[key].append(size / seconds)
    return {"build": build_rate} | {key: statistics.median(values) for key, values in rates.items()}


def main() -> None:
    """Print a table of median rows/s per batch size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        print(f"median of {args.repeats} batches, rows/s; dicts in = what DatasetWriter.write takes")
        print(
            f"{'batch':>6} {'row build':>10} {'to Arrow':>9} | {'dicts in: Delta':>15} {'Parquet':>8}"
            f" {'ratio':>5} | {'Arrow in: Delta':>15} {'Parquet':>8} {'ratio':>5}"
        )
        for size in SIZES:
            r = bench(size, args.repeats, Path(tmp))
            print(
                f"{size:>6} {r['build']:>10,.0f} {r['convert']:>9,.0f} |"
                f" {r['delta']:>15,.0f} {r['parquet']:>8,.0f} {r['delta'] / r['parquet']:>5.2f} |"
                f" {r['delta_arrow']:>15,.0f} {r['parquet_arrow']:>8,.0f}"
                f" {r['delta_arrow'] / r['parquet_arrow']:>5.2f}"
            )


if __name__ == "__main__":
    main()

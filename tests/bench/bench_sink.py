"""Rows/s of the dataset sink into Delta on local disk (or S3), beside plain Parquet of the same batches.

Run: make bench-sink  (or .venv/bin/python tests/bench/bench_sink.py [--repeats N] [--dir DIR] [--quick]
[--storage-root s3://bucket/prefix]: the Delta tables on S3, e.g. the local S3Proxy of `make s3-up`)
Not a pytest test. Two parts, medians over the repeats, a JSON copy in bench/results/:

1. safety_labels alone, per batch size: each Delta batch is one commit (rows + txn offsets) appended to
   one growing table, as the sink does; each Parquet batch is one pyarrow.parquet.write_table of the same
   rows to a new file. "dicts in" includes turning row dicts into Arrow (the sink's path); "Arrow in" does
   not, so it shows what the Delta commit costs over a bare Parquet file.
2. The sink's whole commit path, per batch size: resolved judgments → rows of the four tables
   (dataset_rows) → one Delta commit per table with rows, against the same rows written as four plain
   Parquet files. Rows/s counts resolved judgments; commit latency is the time of one batch's commits.
   "@20k/s every" is how far apart commits are when judgments arrive at 20,000/s with that batch size
   (batch / 20,000). "meets": Delta takes >= 20,000 table rows/s and a batch fills and commits within 5 s.
   "judg/s" is the whole batch path (rows built + committed) in judgments/s.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import string
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from deltalake import CommitProperties, Transaction, write_deltalake

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "unit" / "dataset_sink")]

from sink_factories import make_resolved  # noqa: E402

from services.dataset_sink.app import TABLES  # noqa: E402
from services.dataset_sink.domain import (  # noqa: E402
    SAFETY_LABELS,
    SAFETY_LABELS_SCHEMA,
    TABLE_SCHEMAS,
    dataset_rows,
    rows_to_arrow,
    safety_label_row,
)
from services.dataset_sink.writer import DeltaDatasetWriter  # noqa: E402
from services.runtime.settings import Settings  # noqa: E402
from services.runtime.storage import StorageRoot  # noqa: E402

TOPIC = "review.resolved.v1"
SIZES = (1_000, 5_000, 20_000)
TARGET_RATE = 20_000
RESULTS = REPO / "bench" / "results"


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


def bench(size: int, repeats: int, workdir: Path, tables: StorageRoot) -> dict[str, float]:
    """Median rows/s of each way to write one batch of `size` rows."""
    rows, build_rate = make_rows(size)
    writer = DeltaDatasetWriter(tables / f"delta-{size}", "bench")
    arrow_in = tables / f"delta-arrow-{size}"
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
            str(arrow_in),
            table,
            storage_options=arrow_in.delta_options,
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


def _varied(n: int, rng: random.Random) -> Any:
    """A resolved judgment with realistic text whose rows land in 2-4 tables."""
    from services.contracts.models import Candidate, Message, Role, Verdict

    verdict = rng.choice([Verdict.unsafe, Verdict.safe, Verdict.over_refusal])
    resolved = make_resolved(n, verdict=verdict, preferred_candidate_id="c1" if n % 2 else None)
    interaction = resolved.task.interaction.model_copy(
        update={
            "messages": [Message(role=Role.user, content=_text(rng, rng.randint(100, 600)))],
            "response": _text(rng, rng.randint(200, 1200)),
            "candidates": [Candidate(candidate_id="c1", content=_text(rng, 300))],
        }
    )
    queue = "over_refusal" if verdict == Verdict.over_refusal else "policy_review"
    task = resolved.task.model_copy(update={"interaction": interaction, "queue": queue})
    return resolved.model_copy(update={"task": task})


def bench_sink_path(size: int, repeats: int, workdir: Path, tables: StorageRoot) -> dict[str, float]:
    """Median rates of the sink's batch path: rows of the four tables built, then one Delta commit per table.

    Building rows happens as records are consumed (`Intake.take`); the commits happen at flush, so
    they are timed apart. Parquet writes the same per-table rows, one file per table.
    """
    rng = random.Random(size)
    judgments = [_varied(i, rng) for i in range(size)]
    writer = DeltaDatasetWriter(tables / f"sink-{size}", "bench")
    pool = ThreadPoolExecutor(max_workers=len(TABLES) - 1)
    build_s: list[float] = []
    delta_s: list[float] = []
    parquet_s: list[float] = []
    table_rows = 0
    offset = -1
    for i in range(repeats + 1):  # the first round warms up (and creates the tables); not counted
        offset += size
        started = time.perf_counter()
        per_table: dict[str, list[dict[str, Any]]] = {t: [] for t in TABLES}
        for resolved in judgments:
            for table, row in dataset_rows(resolved, split="train").items():
                per_table[table].append(row)
        built = time.perf_counter() - started

        started = (
            time.perf_counter()
        )  # as BatchCommit.write_tables: three tables in parallel, safety_labels last
        list(
            pool.map(
                lambda t, rows=per_table, last=offset: writer.write(t, rows[t], {(TOPIC, 0): last}, {}),
                TABLES[:-1],
            )
        )
        writer.write(TABLES[-1], per_table[TABLES[-1]], {(TOPIC, 0): offset}, {"bench": "1"})
        committed = time.perf_counter() - started

        started = time.perf_counter()
        for table in TABLES:
            data = rows_to_arrow(per_table[table], TABLE_SCHEMAS[table])
            pq.write_table(data, workdir / f"p-{size}-{i}-{table}.parquet")
        plain = time.perf_counter() - started
        if i:
            build_s.append(built)
            delta_s.append(committed)
            parquet_s.append(plain)
            table_rows = sum(len(rows) for rows in per_table.values())
    commit = statistics.median(delta_s)
    return {
        "build_judgments_per_s": size / statistics.median(build_s),
        "table_rows_per_batch": table_rows,
        "delta_rows_per_s": table_rows / commit,
        "parquet_rows_per_s": table_rows / statistics.median(parquet_s),
        "commit_latency_median_s": commit,
        "commit_latency_max_s": max(delta_s),
        "judgments_per_s": size / (statistics.median(build_s) + commit),
        "interval_at_target_s": size / TARGET_RATE,
    }


def main() -> None:
    """Print both tables and save them as JSON under bench/results/."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: a temp dir)")
    parser.add_argument("--quick", action="store_true", help="3 repeats, for a smoke run")
    parser.add_argument(
        "--storage-root",
        default=None,
        help="write the Delta tables under this root instead (s3://bucket/prefix; FLAGSTREAM_S3_* and AWS_* "
        'settings from the environment, e.g. `eval "$(scripts/s3.sh env)"`); Parquet stays local',
    )
    args = parser.parse_args()
    repeats = 3 if args.quick else args.repeats
    results: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
        "repeats": repeats,
        "safety_labels": {},
        "sink_path": {},
        "storage_root": args.storage_root or "local",
    }
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        tables = (
            Settings(storage_root=args.storage_root).storage
            / f"bench-sink-{results['when'].replace(':', '')}"
            if args.storage_root
            else StorageRoot.of(tmp)
        )
        print(f"Delta tables under {tables}")
        print(
            f"1. safety_labels, median of {repeats} batches, rows/s; dicts in = what DatasetWriter.write gets"
        )
        print(
            f"{'batch':>6} {'row build':>10} {'to Arrow':>9} | {'dicts in: Delta':>15} {'Parquet':>8}"
            f" {'ratio':>5} | {'Arrow in: Delta':>15} {'Parquet':>8} {'ratio':>5}"
        )
        for size in SIZES:
            r = bench(size, repeats, Path(tmp), tables)
            results["safety_labels"][size] = r
            print(
                f"{size:>6} {r['build']:>10,.0f} {r['convert']:>9,.0f} |"
                f" {r['delta']:>15,.0f} {r['parquet']:>8,.0f} {r['delta'] / r['parquet']:>5.2f} |"
                f" {r['delta_arrow']:>15,.0f} {r['parquet_arrow']:>8,.0f}"
                f" {r['delta_arrow'] / r['parquet_arrow']:>5.2f}"
            )
        print(
            f"\n2. the sink's batch path (4 tables), median of {repeats} batches;"
            f" target {TARGET_RATE:,} rows/s, commits <= 5 s apart"
        )
        print(
            f"{'batch':>6} {'table rows':>10} | {'build judg/s':>12} | {'Delta rows/s':>12} {'Parquet':>9}"
            f" {'ratio':>5} | {'commit med':>10} {'max':>6} | {'judg/s':>7} {'@20k/s every':>12} {'meets':>5}"
        )
        for size in SIZES:
            r = bench_sink_path(size, repeats, Path(tmp), tables)
            results["sink_path"][size] = r
            # fast enough into Delta, and a batch fills and commits within 5 s at the target rate
            meets = (
                r["delta_rows_per_s"] >= TARGET_RATE
                and r["interval_at_target_s"] + r["commit_latency_median_s"] <= 5.0
            )
            print(
                f"{size:>6} {r['table_rows_per_batch']:>10,} | {r['build_judgments_per_s']:>12,.0f} |"
                f" {r['delta_rows_per_s']:>12,.0f} {r['parquet_rows_per_s']:>9,.0f}"
                f" {r['delta_rows_per_s'] / r['parquet_rows_per_s']:>5.2f} |"
                f" {r['commit_latency_median_s']:>9.3f}s {r['commit_latency_max_s']:>5.2f}s |"
                f" {r['judgments_per_s']:>7,.0f} {r['interval_at_target_s']:>11.2f}s"
                f" {'yes' if meets else 'no':>5}"
            )
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"bench_sink-{results['when'].replace(':', '')}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nresults: {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()

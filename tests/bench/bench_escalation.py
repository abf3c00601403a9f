"""Escalation benchmarks: the policy against three baselines on a SIMULATED stream, and the worker on Kafka.

Run: .venv/bin/python tests/bench/bench_escalation.py [--count N] [--hours H] [--seed S] [--kafka]
Not a pytest test. The simulation (always) needs no broker: the same domain code the service runs
(assess, Window, Allocator) decides a simulated stream whose ground truth is known; docs/escalation.md
says how that stream is built. --kafka also measures the escalation worker through the real broker:
throughput (events/s, median of --repeats runs) and decision latency (p50/p99, paced traffic).
Results: a printed table and bench/results/escalation-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "bench")]

from escalation.simulation import generate, run_baseline, run_policy, score  # noqa: E402

from services.escalation.domain import load_escalation_policy  # noqa: E402

COLUMNS = (
    ("policy", "policy", "{}"),
    ("severe_flagged_reviewed_pct", "severe flagged %", "{:.1f}"),
    ("severe_all_reviewed_pct", "severe all %", "{:.1f}"),
    ("harmful_recall_pct", "harmful recall %", "{:.1f}"),
    ("harmful_share_of_labels_pct", "harmful/labels %", "{:.1f}"),
    ("over_refusals_reviewed", "over-refusals", "{}"),
    ("labels_spent", "labels", "{}"),
    ("labels_on_flood_copies", "flood labels", "{}"),
    ("calibration_sample", "calib. sample", "{}"),
    ("miss_rate_estimate_pct", "miss est. %", "{:.2f}"),
    ("duplicates_suppressed", "dups suppressed", "{}"),
    ("deferred", "deferred", "{}"),
)


def table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of the comparison rows."""
    cells = [[title for _, title, _ in COLUMNS]]
    cells += [[fmt.format(row[key]) for key, _, fmt in COLUMNS] for row in rows]
    widths = [max(len(r[c]) for r in cells) for c in range(len(COLUMNS))]
    lines = [
        "  ".join(
            cell.rjust(w) if c else cell.ljust(w) for c, (cell, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in cells
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def simulate(count: int, hours: float, seed: int, policy_path: Path) -> dict[str, Any]:
    """Run the policy and the baselines on one simulated stream; print and return the rows."""
    policy = load_escalation_policy(policy_path)
    started = time.perf_counter()
    items = list(generate(count, hours, seed))
    generated = time.perf_counter() - started
    started = time.perf_counter()
    ours = run_policy(items, policy)
    decided = time.perf_counter() - started
    results = [ours] + [
        run_baseline(name, items, ours.labels_by_hour, seed)
        for name in ("first_come", "uniform_random", "threshold_only")
    ]
    rows = [score(result, items, policy) for result in results]
    truth = {
        "items": len(items),
        "hours": hours,
        "truly_harmful": sum(i.truth.harmful for i in items),
        "truly_severe": sum(i.truth.severe for i in items),
        "over_refusals": sum(i.truth.over_refusal for i in items),
        "flood_items": sum(i.truth.flood is not None for i in items),
        "true_miss_rate_pct": rows[0]["miss_rate_true_pct"],
    }
    print(f"\nSIMULATED stream (not real data): {truth}")
    print(
        f"policy {policy.version}: hourly budgets "
        + ", ".join(f"{q} {s.hourly_budget}" for q, s in policy.queues.items() if s.hourly_budget is not None)
        + "; baselines get the same labels per hour as the policy spent"
    )
    print(table(rows))
    print(
        f"(generated in {generated:.1f} s; the policy decided {count / decided:,.0f} items/s in one process)"
    )
    return {
        "truth": truth,
        "rows": rows,
        "policy_version": policy.version,
        "domain_items_per_s": count / decided,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=120_000)
    parser.add_argument("--hours", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--policy", type=Path, default=REPO / "deploy" / "policies" / "escalation.yaml")
    parser.add_argument("--kafka", action="store_true", help="also measure the worker through the broker")
    parser.add_argument("--events", type=int, default=40_000, help="events per --kafka throughput run")
    parser.add_argument("--repeats", type=int, default=3, help="--kafka throughput runs (median quoted)")
    parser.add_argument("--workers", type=int, default=1, help="escalation worker processes for --kafka")
    args = parser.parse_args()

    report: dict[str, Any] = {"simulation": simulate(args.count, args.hours, args.seed, args.policy)}
    if args.kafka:
        from escalation.throughput import measure

        report["kafka"] = measure(args.events, args.repeats, args.workers, args.policy)
    out = REPO / "bench" / "results" / f"escalation-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str))
    print(f"\nresults: {out.relative_to(REPO)}")
    if "kafka" in report:
        k = report["kafka"]
        print(
            f"worker throughput median {statistics.median(k['throughput_eps']):,.0f} events/s "
            f"(runs: {', '.join(f'{r:,.0f}' for r in k['throughput_eps'])}); decision latency "
            f"p50 {k['latency_ms']['p50']:.1f} ms, p99 {k['latency_ms']['p99']:.1f} ms (unbudgeted decisions)"
        )
        print(
            f"a do-nothing Faust stage, same runs: median {k['faust_ceiling_median_eps']:,.0f} events/s; "
            f"worker / ceiling = {k['throughput_median_eps'] / k['faust_ceiling_median_eps']:.2f}"
        )


if __name__ == "__main__":
    main()

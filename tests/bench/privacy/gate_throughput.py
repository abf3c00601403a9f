"""Events/s of the privacy-gate worker through Kafka (Avro in, Avro out), and where its time goes.

Run: make bench-privacy (after the detector benchmark), or
     .venv/bin/python tests/bench/privacy/gate_throughput.py [--events N] [--runs R]
Needs a broker (KAFKA_BOOTSTRAP_SERVERS or the local one). Not a pytest test.

Method: N demo interactions (services.simulators.traffic, no malformed records) are produced to a
fresh topic prefix *before* the gate starts, so the producer is not what is measured. One gate
worker process (concurrency 1, as deployed) then drains them; its own /metrics say how many it has
decided. The rate is counted from its first decision to its N-th (start-up and group join excluded).
Each run uses a new prefix; the median of the runs is reported.

Then, in this process on the same records, the per-event cost of each step the gate's handler
takes (Avro decode, consent + redaction, Avro encode of the outputs), to show how much of the
worker's time is the domain and how much is the Faust/Kafka loop around it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO_ROOT))

from confluent_kafka.admin import AdminClient  # noqa: E402

from services.contracts import FlaggedInteraction, default_codec, utcnow  # noqa: E402
from services.local import scrape, total  # noqa: E402
from services.privacy_gate.domain import (  # noqa: E402
    ConsentLedger,
    GateDecision,
    Pseudonymizer,
    Redactor,
    gate,
    load_redaction_policy,
)
from services.runtime.audit import audit_event  # noqa: E402
from services.runtime.kafka import make_producer  # noqa: E402
from services.runtime.settings import Settings  # noqa: E402
from services.runtime.topics import INTERACTIONS  # noqa: E402
from services.runtime.worker import provision  # noqa: E402
from services.simulators.traffic import generate  # noqa: E402
from tests.support.deployment import free_port, tree_cpu_seconds  # noqa: E402

KEY = "bench-gate-key-0123456789abcdef0123"
CEILING = REPO_ROOT / "tests" / "bench" / "faust_ceiling.py"
# What one run measures: the gate worker, then two ceilings on the same records (see run_once).
MODES = {
    "gate": "the gate worker (Avro in and out, consent, redaction)",
    "stage-forward": "the same stage loop forwarding raw bytes (2 outputs per event, no domain work)",
    "bare": "a plain Faust agent that takes records in batches and counts them (no stage loop)",
}


def run_once(events: int, bootstrap: str, seed: int, mode: str = "gate") -> dict[str, float]:
    """Produce ``events`` records, start one gate worker, time how fast it decides them.

    ``mode`` other than "gate" starts a ceiling worker of tests/bench/faust_ceiling.py in its
    place ("gate": the stage loop forwarding raw bytes; "bare": a plain Faust agent that counts).
    """
    prefix = f"bench-gate-{uuid.uuid4().hex[:8]}-"
    settings = Settings(
        kafka_bootstrap_servers=bootstrap,
        topic_prefix=prefix,
        pseudonym_key=KEY,  # type: ignore[arg-type]
        pseudonym_key_id="bench-1",
    )
    provision(settings)
    producer = make_producer(settings, **{"linger.ms": 20, "batch.size": 1_000_000})
    topic = settings.topic(INTERACTIONS)
    for record in generate(events, seed=seed, malformed_rate=0.0, codec=default_codec()):
        while True:
            try:
                producer.produce(topic, key=record.key, value=record.value)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    assert producer.flush(120) == 0, "records not acknowledged"

    port = free_port()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "FLAGSTREAM_TOPIC_PREFIX": prefix,
        "FLAGSTREAM_PSEUDONYM_KEY": KEY,
        "FLAGSTREAM_PSEUDONYM_KEY_ID": "bench-1",
        "FLAGSTREAM_METRICS_PORT": str(port),
        "FLAGSTREAM_LOG_LEVEL": "WARNING",
    }
    # The worker's log goes beside the results; make bench's floors call this before any result is
    # written, so on a fresh checkout the directory may not exist yet.
    results = REPO_ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    log = (results / f"gate-{mode}-{prefix.rstrip('-')}.log").open("wb")
    command = (
        [sys.executable, "-m", "services.cli", "worker", "privacy_gate"]
        if mode == "gate"
        else [sys.executable, str(CEILING), "gate" if mode == "stage-forward" else "bare"]
    )
    process = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=REPO_ROOT,
    )
    import psutil

    worker = psutil.Process(process.pid)
    first = None
    first_cpu = 0.0
    decided = 0.0
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"gate exited with {process.returncode}")
            try:
                decided = total(scrape(port), "flagstream_events_total")
            except OSError:
                decided = 0.0
            now = time.monotonic()
            if decided > 0 and first is None:
                first = (now, decided)
                first_cpu = tree_cpu_seconds(worker)
            if decided >= events:
                break
            time.sleep(0.05)
        done = time.monotonic()
        cpu = tree_cpu_seconds(worker) - first_cpu
    finally:
        process.terminate()
        process.wait(30)
        log.close()
        admin = AdminClient({"bootstrap.servers": bootstrap})
        mine = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix)]
        for future in admin.delete_topics(mine, operation_timeout=30).values():
            future.result()
    if first is None or decided < events:
        raise RuntimeError(f"gate decided {decided} of {events} in time")
    rate = (decided - first[1]) / (done - first[0])
    # Per CPU-second of the worker: what one core would do if nothing else ran on the machine.
    per_cpu = (decided - first[1]) / cpu if cpu > 0 else float("nan")
    return {"events_per_second": rate, "events_per_cpu_second": per_cpu, "seconds": done - first[0]}


def best(step: Callable[[], object], passes: int = 3) -> float:
    """The least CPU seconds of `passes` runs of a step (a shared machine only ever adds time)."""
    times = []
    for _ in range(passes):
        started = time.process_time()
        step()
        times.append(time.process_time() - started)
    return min(times)


def domain_costs(events: int, seed: int, passes: int = 3) -> dict[str, float]:
    """CPU microseconds per event of each handler step, in this process, no Kafka; best of ``passes``
    (a shared machine only ever adds time to a pass)."""
    codec = default_codec()
    records = [r.value for r in generate(events, seed=seed, malformed_rate=0.0, codec=codec)]
    policy = load_redaction_policy(REPO_ROOT / "deploy" / "policies" / "redaction.yaml")
    redactor = Redactor(policy)
    pseudonymizer = Pseudonymizer(KEY.encode(), "bench-1")
    fingerprint = codec.fingerprint_hex(FlaggedInteraction)

    def decode_all() -> list[FlaggedInteraction]:
        return [codec.decode(value, FlaggedInteraction) for value in records]

    decoded = decode_all()

    def decide_all() -> list[GateDecision]:
        ledger = ConsentLedger({})  # a fresh ledger each pass: every pass decides the same
        return [
            gate(
                item,
                redactor=redactor,
                pseudonymizer=pseudonymizer,
                source_fingerprint=fingerprint,
                now=utcnow(),
                ledger=ledger,
            )
            for item in decoded
        ]

    decisions = decide_all()

    def encode_all() -> None:
        for item, decision in zip(decoded, decisions, strict=True):
            if decision.redacted is not None:
                codec.encode(decision.redacted)
            codec.encode(
                audit_event(
                    "privacy_gate",
                    decision.outcome.value,
                    decision.reason,
                    interaction_id=item.interaction_id,
                    subject_pseudonym=decision.subject_pseudonym,
                )
            )

    decode, decide, encode = (best(step, passes) for step in (decode_all, decide_all, encode_all))
    per = 1e6 / events
    return {
        "decode_us": decode * per,
        "consent_and_redact_us": decide * per,
        "encode_outputs_us": encode * per,
        "domain_total_us": (decode + decide + encode) * per,
        "domain_events_per_second": events / (decode + decide + encode),
    }


def main() -> None:
    """Run the worker benchmark and the in-process breakdown; print and save both."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    bootstrap = Settings().kafka_bootstrap_servers

    costs = domain_costs(min(args.events, 5_000), args.seed)
    # Modes alternate within each run, so the gate and its ceilings see the same machine load.
    by_mode: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    for i in range(args.runs):
        for mode in MODES:
            result = run_once(args.events, bootstrap, args.seed + i, mode)
            by_mode[mode].append(result)
            print(f"  run {i + 1}, {mode}: {result['events_per_second']:,.0f} events/s", flush=True)
    medians = {m: statistics.median(r["events_per_second"] for r in rs) for m, rs in by_mode.items()}
    per_cpu = {m: statistics.median(r["events_per_cpu_second"] for r in rs) for m, rs in by_mode.items()}
    gate_median = medians["gate"]
    loop_us = 1e6 / per_cpu["stage-forward"]
    codec_us = costs["decode_us"] + costs["encode_outputs_us"]
    runs_of = {m: ", ".join(f"{r['events_per_second']:,.0f}" for r in rs) for m, rs in by_mode.items()}
    lines = [
        f"one worker through Kafka, {args.events} events x {args.runs} runs, modes alternating:",
        "",
        "| worker | events/s, median | runs | events per CPU-second of the worker | gate ÷ this |",
        "|---|---:|---|---:|---:|",
        *(
            f"| {mode}: {MODES[mode]} | {medians[mode]:,.0f} | "
            f"{runs_of[mode]} | "
            f"{per_cpu[mode]:,.0f} | {gate_median / medians[mode]:.2f} |"
            for mode in MODES
        ),
        "",
        f"in-process per event: decode {costs['decode_us']:.0f} us, consent+redact "
        f"{costs['consent_and_redact_us']:.0f} us, encode outputs {costs['encode_outputs_us']:.0f} us = "
        f"{costs['domain_total_us']:.0f} us ({costs['domain_events_per_second']:,.0f} events/s for the "
        f"domain alone); the rest of the worker's {1e6 / gate_median:.0f} us/event is the Faust/Kafka loop",
        f"floor of any gate on one core: the stage loop's {loop_us:.0f} CPU us/event (stage-forward) + Avro "
        f"decode and encode {codec_us:.0f} us = {loop_us + codec_us:.0f} us, at most "
        f"{1e6 / (loop_us + codec_us):,.0f} events per CPU-second before consent, pseudonyms or redaction",
    ]
    print("\n".join(lines))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    payload: dict[str, object] = {"created": stamp, "args": {k: str(v) for k, v in vars(args).items()}}
    payload["runs"] = by_mode["gate"]
    payload["median_events_per_second"] = gate_median
    payload["median_events_per_cpu_second"] = per_cpu["gate"]
    payload["ceilings"] = {m: {"runs": by_mode[m], "median_events_per_second": medians[m]} for m in MODES}
    payload["domain_costs"] = costs
    payload["floor_us_per_event"] = loop_us + codec_us
    (args.out / f"privacy-gate-{stamp}.json").write_text(json.dumps(payload, indent=2))
    (args.out / f"privacy-gate-{stamp}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

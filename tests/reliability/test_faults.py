"""Fault injection under load: every acknowledged id reconciled to one outcome, no Delta duplicates.

Each test runs the four services and the simulated reviewers as processes on the suite's own broker,
produces fresh interactions at a fixed rate while it injects its fault, waits for the groups to be
stable and the pipeline to drain (the stall detector watching), then reconciles (reconcile.py).
"""

from __future__ import annotations

import functools
import random
import re
import time
from collections.abc import Callable
from io import BytesIO

import pytest
from fastavro import schemaless_writer
from poison import describe, every_input, garbage_headers
from reconcile import Report, reconcile, summary_table
from reliability_support import (
    SERVICES,
    Broker,
    Fleet,
    Traffic,
    Watch,
    interaction_ids,
    produce_poison,
    worker_log_notes,
)

from services.contracts import AuditEvent, FlaggedInteraction, RedactedInteraction, default_codec, utcnow
from services.runtime import faults
from services.runtime.kafka import read_topic
from services.runtime.settings import Settings
from services.runtime.topics import AUDIT, REDACTED
from services.simulators.traffic import Produced, generate

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(1200)]

SETTLE_SECONDS = 5.0  # after drain, before reconciling: room for late replays to show up


def start_pipeline(fleet: Fleet, workers: int = 1, gate_env: dict[str, str] | None = None) -> None:
    for service in SERVICES:
        for _ in range(workers):
            fleet.start(service, gate_env if service == "privacy_gate" else None)
    fleet.start("reviewers")


def finish(
    name: str,
    settings: Settings,
    fleet: Fleet,
    traffic: Traffic,
    started: float,
    record_report: list[Report],
    *,
    check: bool = True,
) -> Report:
    """Wait for the producer, stable groups and drain; reconcile; record and check the report."""
    produced = traffic.join()
    fleet.note(f"producer done: {len(produced.acked)} acked, {len(produced.failed)} failed")
    watch = Watch(settings)
    drain_failure: AssertionError | None = None
    drain_seconds = -1.0
    try:
        if watch.wait_stable(fleet):
            fleet.note("groups stable")
        try:
            # ids expected in a dead-letter topic have no audit outcome to wait for
            drain_seconds = watch.drain(lambda: produced.acked - set(produced.expected_dead), fleet)
            fleet.note(f"drained in {drain_seconds:.0f}s")
            time.sleep(SETTLE_SECONDS)
        except AssertionError as exc:  # Stalled, or not drained in time: reconcile what is there
            drain_failure = exc
            fleet.note(f"drain failed: {exc}")
    finally:
        watch.close()
    report = reconcile(settings, produced, name=name)
    report.wall_seconds = time.monotonic() - started
    report.faults = fleet.events
    report.notes |= {
        "drain_seconds": round(drain_seconds, 1),
        "kills": fleet.kills,
        "crashes": fleet.crashes,
        "longest_stall_seconds": {g: round(s, 1) for g, s in watch.longest_stall.items()},
        "producer": traffic.notes(),
        "worker_logs": worker_log_notes(fleet),
    }
    if drain_failure is not None:
        report.notes["drain_failure"] = str(drain_failure)
        report.notes["offsets_at_failure"] = watch.offsets_seen
        record_report.append(report)
        print(summary_table([report]))
        behind = {
            group: {tp: (done, end) for tp, (done, end) in parts.items() if (done or 0) != end}
            for group, parts in watch.offsets_seen.items()
        }
        raise AssertionError(
            f"{drain_failure}; reconciliation: {report.violations()}; "
            f"partitions with (committed, end) apart: {behind}; ingress: "
            f"{report.notes.get('ingress_records_per_partition')}"
        )
    record_report.append(report)
    print(summary_table([report]))
    if check:
        check_report(report)
    return report


def check_report(report: Report) -> None:
    """Fail on any violation of the guarantees."""
    violations = report.violations()
    assert not violations, violations


def during(traffic: Traffic, fleet: Fleet, steps: list[tuple[float, Callable[[], object]]]) -> None:
    """Run each step at its offset (seconds since the traffic started), supervising meanwhile."""
    started = time.monotonic()
    for offset, step in steps:
        while time.monotonic() - started < offset:
            fleet.supervise()
            time.sleep(0.2)
        step()


# SIGKILL of workers ----------------------------------------------------------------------------


def sigkill_rounds(
    fleet: Fleet, rounds: int, gap: float, seed: int
) -> list[tuple[float, Callable[[], object]]]:
    rng = random.Random(seed)
    steps: list[tuple[float, Callable[[], object]]] = []
    at = 4.0
    for _ in range(rounds):
        order = list(SERVICES)
        rng.shuffle(order)
        for service in order:
            steps.append((at, functools.partial(fleet.kill_random, service, rng)))
            at += gap
    return steps


def test_sigkill_each_service_under_load(
    settings: Settings, fleet: Fleet, record_report: list[Report]
) -> None:
    """One worker per service; each is SIGKILLed under load and restarted at once."""
    started = time.monotonic()
    start_pipeline(fleet)
    traffic = Traffic.fresh(settings, 2000, rate=60).start()
    during(traffic, fleet, sigkill_rounds(fleet, rounds=1, gap=6.0, seed=7))
    finish("sigkill_one_worker_each", settings, fleet, traffic, started, record_report)


def test_sigkill_random_worker_of_two(settings: Settings, fleet: Fleet, record_report: list[Report]) -> None:
    """Two workers per service; a random one of each is SIGKILLed twice under load."""
    started = time.monotonic()
    start_pipeline(fleet, workers=2)
    traffic = Traffic.fresh(settings, 3000, rate=60).start()
    during(traffic, fleet, sigkill_rounds(fleet, rounds=2, gap=5.0, seed=11))
    finish("sigkill_random_of_two", settings, fleet, traffic, started, record_report)


# The broker ------------------------------------------------------------------------------------


@pytest.mark.parametrize("hard", [False, True], ids=["clean", "hard"])
def test_broker_restart_under_load(
    hard: bool, broker: Broker, settings: Settings, fleet: Fleet, record_report: list[Report]
) -> None:
    """The broker restarts (SIGTERM, or SIGKILL) mid-run, down for 5 s; services reconnect or restart."""
    started = time.monotonic()
    start_pipeline(fleet)
    traffic = Traffic.fresh(settings, 3000, rate=80).start()

    def restart() -> None:
        fleet.note(f"broker {'SIGKILL' if hard else 'clean stop'}")
        broker.restart(hard=hard, downtime=5.0)
        fleet.note("broker up again")

    during(traffic, fleet, [(12.0, restart)])
    finish(f"broker_restart_{'hard' if hard else 'clean'}", settings, fleet, traffic, started, record_report)


# Rebalances ------------------------------------------------------------------------------------


def test_scale_one_to_three_to_one(settings: Settings, fleet: Fleet, record_report: list[Report]) -> None:
    """Every service scales 1 → 2 → 3 → 2 → 1 workers under load (clean starts and stops: rebalances)."""
    started = time.monotonic()
    start_pipeline(fleet)
    traffic = Traffic.fresh(settings, 3000, rate=50).start()

    def scale(count: int) -> Callable[[], None]:
        def step() -> None:
            for service in SERVICES:
                fleet.scale(service, count)

        return step

    during(traffic, fleet, [(5.0, scale(2)), (15.0, scale(3)), (30.0, scale(2)), (42.0, scale(1))])
    finish("scale_1_3_1", settings, fleet, traffic, started, record_report)


# A slow event killed in flight -----------------------------------------------------------------


def test_slow_event_killed_in_flight_is_processed_after_restart(
    settings: Settings, fleet: Fleet, record_report: list[Report]
) -> None:
    """The gate holds one event (fault hook), is SIGKILLed holding it; its replacement processes it."""
    started = time.monotonic()
    traffic = Traffic.fresh(settings, 1000, rate=100)
    slow_id = interaction_ids(traffic.records)[300]
    start_pipeline(fleet, gate_env={faults.SLOW_ID_ENV: slow_id, faults.SLOW_SECONDS_ENV: "900"})
    traffic.start()
    gate = fleet.of("privacy_gate")[0]

    def holding() -> bool:
        return f"{faults.HOLDING} {slow_id}" in gate.log.read_text(errors="replace")

    deadline = time.monotonic() + 180
    while not holding() and time.monotonic() < deadline:
        fleet.supervise()
        time.sleep(0.5)
    assert holding(), "the gate never reached the slow event"
    time.sleep(3.0)  # the hold outlives a few commit intervals: the event's offset must stay uncommitted
    fleet.note(f"gate holds {slow_id}")
    fleet.kill(gate)
    fleet.start("privacy_gate")  # no hook this time
    fleet.note("gate restarted without the hook")
    report = finish("slow_event_killed_in_flight", settings, fleet, traffic, started, record_report)
    assert slow_id not in report.missing


# Poison inputs ---------------------------------------------------------------------------------


def poison_records() -> list[tuple[bytes, bytes, set[str]]]:
    """(key, value, accepted dead-letter reasons) of each kind of malformed ingress record."""
    codec = default_codec()
    rng = random.Random(5)
    samples = [
        codec.decode(r.value, FlaggedInteraction)
        for r in generate(50, seed=3, malformed_rate=0.0, codec=codec)
    ]
    valid = next(s for s in samples if s.consent.human_review and s.consent.training)  # the gate keeps it
    encoded = codec.encode(valid)
    # missing fields: the body of a writer whose schema lacks the last field (consent)
    tail = BytesIO()
    schema = codec.schema(FlaggedInteraction)
    schemaless_writer(tail, schema["fields"][-1]["type"], valid.consent.model_dump())
    missing_fields = encoded[: len(encoded) - len(tail.getvalue())]
    # invalid UTF-8 inside a string of an otherwise valid record
    marker = "Z" * 16
    marked = codec.encode(valid.model_copy(update={"response": marker}))
    invalid_utf8 = marked.replace(marker.encode(), b"\xff\xfe\xfd" + b"\x80" * 13)
    wrong_schema = codec.encode(
        AuditEvent(
            event_id="x",
            service="upstream",
            decision="flag",
            reason="misrouted",
            policy_versions={},
            occurred_at=utcnow(),
        )
    )
    huge_text = ("All work and no play makes a very long response. " * 45_000)[:2_000_000]
    huge_valid = codec.encode(
        valid.model_copy(update={"interaction_id": "poison-huge-valid", "response": huge_text})
    )
    kinds: list[tuple[str, bytes, set[str]]] = [
        ("random-bytes", b"\xff" + rng.randbytes(300), {"unknown_magic"}),
        ("empty", b"", {"empty"}),
        ("truncated-avro", encoded[: len(encoded) // 2], {"truncated"}),
        ("truncated-header", encoded[:6], {"truncated"}),
        ("wrong-schema", wrong_schema, {"schema_mismatch"}),
        ("unknown-fingerprint", b"\xc3\x01" + rng.randbytes(8) + encoded[10:], {"unknown_fingerprint"}),
        ("confluent-unknown-id", b"\x00\x00\x00\x30\x39" + encoded[10:], {"unknown_schema_id"}),
        ("invalid-utf8", invalid_utf8, {"malformed_body"}),
        ("missing-fields", missing_fields, {"truncated"}),
        ("trailing-bytes", encoded + b"\x00\x01", {"trailing_bytes"}),
        ("json", b'{"interaction_id": "json-is-not-the-contract"}', {"unknown_magic"}),
        # 3 MB: incompressible bytes exceed the topic's max.message.bytes (the size contract: 2.2 MB
        # by default) and are refused at produce time; a compressible valid 2 MB record fits (its lz4
        # batch is far smaller), reaches the gate and is over max_record_bytes there.
        ("huge-random-3mb", b"\xff" + rng.randbytes(3_000_000), {"unknown_magic"}),
        ("huge-valid-2mb", huge_valid, {"too_large"}),
    ]
    return [(f"poison-{kind}".encode(), value, reasons) for kind, value, reasons in kinds]


def test_poison_inputs_are_dead_lettered_and_the_rest_flows(
    settings: Settings, fleet: Fleet, record_report: list[Report]
) -> None:
    """Each kind of malformed record lands in the ingress DLQ with its reason; every valid one flows."""
    started = time.monotonic()
    start_pipeline(fleet)
    traffic = Traffic.fresh(
        settings,
        800,
        rate=150,
        extra=poison_records(),
        producer_overrides={"message.max.bytes": 4_000_000},
    ).start()
    report = finish("poison_inputs", settings, fleet, traffic, started, record_report, check=False)
    rejected = report.poison_rejected
    assert set(rejected) == {"poison-huge-random-3mb"}, rejected
    assert "MSG_SIZE_TOO_LARGE" in rejected["poison-huge-random-3mb"] or "too large" in (
        rejected["poison-huge-random-3mb"].lower()
    )
    check_report(report)


# The size contract, a crash-looping record, poison on every input -------------------------------


def test_size_limit_crash_loop_and_poison_on_every_input(
    settings: Settings, fleet: Fleet, record_report: list[Report]
) -> None:
    """Interactions at the size limit, a record that crashes escalation deterministically, and the
    same poison classes on every stage's inputs, while valid traffic flows: every valid record
    decided, every poison dead-lettered with a reason, the crashing one dead-lettered `crash_loop`
    after `crash_loop_limit` stops, and every worker alive at the end."""
    started = time.monotonic()
    codec = default_codec()
    limits = settings.limits
    traffic = Traffic.fresh(settings, 600, rate=80, producer_overrides={"message.max.bytes": 8_000_000})
    base = [codec.decode(r.value, FlaggedInteraction) for r in traffic.records[:40]]
    kept = [i for i in base if i.consent.human_review and i.consent.training]

    def sized(interaction: FlaggedInteraction, suffix: str, size: int) -> Produced:
        """The interaction with a fresh id and a long pasted document, `size` bytes encoded."""
        renamed = interaction.model_copy(update={"interaction_id": f"{interaction.interaction_id}-{suffix}"})
        filler = "A long pasted document, line after line of ordinary text. "
        text = (filler * (size // len(filler) + 1))[: max(0, size - len(codec.encode(renamed)) - 8)]
        record = renamed.model_copy(update={"response": renamed.response + text})
        value = codec.encode(record)
        return Produced(key=record.subject_id.encode(), value=value, interaction_id=record.interaction_id)

    # Valid records at the limit (decided like any other) and odd-but-valid ingress records.
    under = [sized(kept[n], f"under-{n}", limits.record_bytes - 4096) for n in range(4)]
    assert all(len(r.value) <= limits.record_bytes for r in under)
    huge_key = sized(kept[4], "huge-key", 2000)
    huge_key = Produced(key=b"k" * 200_000, value=huge_key.value, interaction_id=huge_key.interaction_id)
    headers_id = sized(kept[5], "garbage-headers", 2000)
    duplicate = traffic.records[50]
    # Obfuscated identifiers: e-mails split by a line break (in the domain, in the local part), one
    # with a zero-width space inside.
    obfuscated = {
        "split-email": "write to ana.silva@\nexample.org today",
        "wrapped-email": "or to jo.sil\nva@example.org",
        "zwsp-email": "m.par\u200bk@wp.pl",
    }
    hidden = []
    for n, (suffix, text) in enumerate(obfuscated.items()):
        source = kept[8 + n]
        record = source.model_copy(
            update={"interaction_id": f"{source.interaction_id}-{suffix}", "response": f"Sure. {text}"}
        )
        hidden.append(Produced(record.subject_id.encode(), codec.encode(record), record.interaction_id))
    traffic.records[100:100] = [*under, huge_key, headers_id, duplicate, *hidden]
    traffic.headers = {str(headers_id.interaction_id): garbage_headers(random.Random(3))}
    # Over the limit by a little (refused at the gate) and by much more (refused by the broker).
    over = sized(kept[6], "over", limits.record_bytes + 10_000)
    traffic.extra = [(b"poison-over-limit", over.value, {"too_large"})]
    crashing = str(kept[7].interaction_id)  # the gate keeps it: escalation meets it
    fleet.env = {**fleet.env, faults.CRASH_ID_ENV: crashing, faults.CRASH_SERVICE_ENV: "escalation"}

    start_pipeline(fleet)
    traffic.produced.expected_dead[crashing] = {"crash_loop"}
    traffic.start()
    poison = every_input(limits.judgment_bytes)
    during(traffic, fleet, [(6.0, lambda: produce_poison(settings, traffic.produced, poison))])
    report = finish("size_crash_loop_poison", settings, fleet, traffic, started, record_report, check=False)
    report.notes["poison_per_topic"] = describe(poison)
    # The crashing record stopped escalation exactly `crash_loop_limit` times (its journal counts, 1 to
    # the limit); any other stop was one of the runtime's own restarts for Faust's faults at quick
    # restarts (docs/reliability.md, "Faust workarounds"): the offset guard at a hole, or the commit
    # watchdog at a partition whose commits stalled. Never the record again.
    causes = [line for line in fleet.logs("escalation").splitlines() if "stopping the worker after" in line]
    by_record = [line for line in causes if "RecordFault" in line]
    others = [line for line in causes if "RecordFault" not in line]
    counted = re.findall(r"stopped the worker \((\d+) of", fleet.logs("escalation"))
    report.notes["escalation_stops_not_the_record"] = [line.split("] ", 3)[-1][:160] for line in others]
    assert len(by_record) == settings.crash_loop_limit, (causes, fleet.events)
    assert counted == [str(n) for n in range(1, settings.crash_loop_limit + 1)], counted
    faust_restarts = ("records were dropped by the consumer", "commits stalled:")
    assert all(any(cause in line for cause in faust_restarts) for line in others), others
    escalation_exits = [c for c in fleet.crashes if c.startswith("escalation")]
    assert len(escalation_exits) == len(causes), (escalation_exits, causes)  # no stop without its cause
    assert report.expected_dead_found.get(crashing) == "crash_loop", report.expected_dead_found
    # The large interactions crossed escalation's ranking window (a table of whole tasks) too.
    large = {str(r.interaction_id) for r in under}
    windows = {
        event.interaction_id: event.details.get("queue", "-")
        for msg in read_topic(settings, settings.topic(AUDIT), timeout=60)
        for event in [codec.decode(msg.value() or b"", AuditEvent)]
        if event.interaction_id in large and event.service == "escalation" and "budget_hour" in event.details
    }
    report.notes["large_through_ranking_windows"] = windows
    assert set(windows.values()) - {"urgent"}, f"none at the size limit in a ranking window: {windows}"
    # The obfuscated e-mails came out of the gate fully redacted (local part and domain).
    redacted = [
        codec.decode(msg.value() or b"", RedactedInteraction)
        for msg in read_topic(settings, settings.topic(REDACTED), timeout=60)
        if not (msg.key() or b"").startswith(b"poison-")
    ]
    seen = [r for r in redacted if r.interaction_id in {h.interaction_id for h in hidden}]
    assert len({r.interaction_id for r in seen}) == len(hidden), "obfuscated e-mails not past the gate"
    for r in seen:
        text = r.model_dump_json()
        for fragment in ("ana.silva", "jo.sil", "example.org", "m.par", "wp.pl"):
            assert fragment not in text, (fragment, r.response)
    assert all(len(fleet.of(s)) == 1 for s in SERVICES), fleet.events  # every worker alive
    assert len([c for c in fleet.crashes if not c.startswith("escalation")]) == 0, fleet.crashes
    check_report(report)

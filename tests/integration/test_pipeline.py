"""The whole pipeline on the real broker: every input accounted for once, no PII after the gate."""

from __future__ import annotations

import collections
from pathlib import Path

import pyarrow.compute as pc
import pytest
from integration_support import env_of, free_port

from services.contracts import AuditEvent, default_codec
from services.dataset_sink.writer import read_table
from services.local import LocalStack, Progress, scrape, wait_until
from services.runtime.kafka import make_producer, read_topic
from services.runtime.metrics import PIPELINE as SERVICES
from services.runtime.settings import Settings
from services.runtime.topics import AUDIT, INTERACTIONS, REGISTRY, dlq
from services.simulators.traffic import generate

EVENTS = 1200
TEXT_CANARIES = ("canary.leak.q7z@example.com", "+1 415 555 0188", "4556 7375 8689 9855")
ID_CANARY = "subjcanary9x7"
DECODE_REASONS = {
    reason.encode()
    for reason in (
        "empty",
        "unknown_magic",
        "truncated",
        "unknown_fingerprint",
        "unknown_schema_id",
        "schema_mismatch",
        "malformed_body",
        "trailing_bytes",
        "invalid_record",
    )
}


def produce(settings: Settings) -> tuple[set[str], int]:
    """Demo traffic with canaries; returns the acknowledged interaction ids and the malformed count."""
    producer = make_producer(settings)
    acked: set[str] = set()
    malformed = 0
    failures: list[str] = []
    records = list(
        generate(
            EVENTS,
            seed=2026,
            malformed_rate=0.02,
            text_canaries=TEXT_CANARIES,
            id_canary=ID_CANARY,
            codec=default_codec(),
        )
    )
    for record in records:

        def delivered(err: object, _msg: object, record_id: str | None = record.interaction_id) -> None:
            if err is not None:
                failures.append(str(err))
            elif record_id is not None:
                acked.add(record_id)

        producer.produce(
            settings.topic(INTERACTIONS), key=record.key, value=record.value, on_delivery=delivered
        )
        producer.poll(0)
        malformed += record.interaction_id is None
    producer.flush(60)
    assert not failures
    return acked, malformed


@pytest.fixture
def pipeline_run(settings: Settings, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run every service and the simulated reviewers over 1,200 events until drained."""
    ports = {name: free_port() for name in SERVICES}
    stack = LocalStack(settings, log_dir=tmp_path / "log", env=env_of(settings), ports=ports)
    stack.start(("simulated_reviewers", ["simulate-reviewers"]))
    try:
        acked, malformed = produce(settings)
        progress = Progress()

        def drained() -> bool:
            nonlocal progress
            stack.check()
            progress = Progress.read(ports)
            return progress.drained(EVENTS)

        assert wait_until(drained, timeout=300, interval=1.0), (
            f"pipeline did not drain: {progress.line(EVENTS)}"
        )
        metrics_text = {name: scrape(port) for name, port in ports.items()}
        yield acked, malformed, progress, metrics_text
    finally:
        stack.stop()


def test_every_event_has_exactly_one_outcome_and_no_pii_leaks(
    settings: Settings, pipeline_run, tmp_path: Path
):  # type: ignore[no-untyped-def]
    acked, malformed, progress, metrics = pipeline_run
    codec = default_codec()
    assert len(acked) + malformed == EVENTS

    # Malformed bytes on the ingress topic are in its DLQ, with the reason in headers.
    dead = read_topic(settings, settings.topic(dlq(INTERACTIONS)))
    assert len(dead) == malformed
    for record in dead:
        headers = dict(record.headers() or [])
        assert headers["dlq.origin.topic"] == INTERACTIONS.encode()
        assert headers["dlq.error.reason"] in DECODE_REASONS, headers

    # Every acknowledged id ends in exactly one terminal outcome.
    audits = [codec.decode(m.value() or b"", AuditEvent) for m in read_topic(settings, settings.topic(AUDIT))]
    terminal = {
        ("privacy_gate", "drop"),
        ("escalation", "not_escalated"),
        ("dataset_sink", "written"),
        ("dataset_sink", "not_written"),
    }
    outcomes: dict[str, set[tuple[str, str]]] = collections.defaultdict(set)
    for event in audits:
        if (event.service, event.decision) in terminal and event.interaction_id:
            outcomes[event.interaction_id].add((event.service, event.decision))
    missing = acked - set(outcomes)
    several = {i: o for i, o in outcomes.items() if len(o) != 1}
    unexpected = set(outcomes) - acked
    assert not missing, f"{len(missing)} ids without an outcome, e.g. {sorted(missing)[:3]}"
    assert not several, f"ids with several outcomes: {list(several.items())[:3]}"
    assert not unexpected
    counts = collections.Counter(next(iter(o)) for o in outcomes.values())
    assert counts[("privacy_gate", "drop")] > 0
    assert counts[("escalation", "not_escalated")] > 0
    assert counts[("dataset_sink", "written")] > 0

    # The Delta table holds each written interaction exactly once.
    table = read_table(settings.datasets_dir, "safety_labels")
    ids = table.column("interaction_id").to_pylist()
    assert len(ids) == len(set(ids)) == counts[("dataset_sink", "written")]
    assert set(ids) == {i for i, o in outcomes.items() if ("dataset_sink", "written") in o}
    assert pc.all(table.column("training_allowed")).as_py()

    # Canary PII appears nowhere after the gate: topics, Delta files and table, metrics, logs.
    canaries = [c.encode() for c in (*TEXT_CANARIES, ID_CANARY)]
    raw = {INTERACTIONS, dlq(INTERACTIONS)}
    scanned = 0
    for spec in REGISTRY:
        if spec.name in raw:
            continue
        for record in read_topic(settings, settings.topic(spec.name)):
            blob = b"".join(
                [
                    record.key() or b"",
                    record.value() or b"",
                    *(k.encode() + (v or b"") for k, v in record.headers() or []),
                ]
            )
            scanned += 1
            for canary in canaries:
                assert canary not in blob, f"{canary!r} leaked into {spec.name}"
    assert scanned > len(acked)
    for path in settings.data_dir.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            for canary in canaries:
                assert canary not in content, f"{canary!r} leaked into {path}"
    table_text = str(table.to_pylist()).encode()
    for canary in canaries:
        assert canary not in table_text
    metrics_text = repr(metrics).encode()
    for canary in canaries:
        assert canary not in metrics_text
    for log in (tmp_path / "log").glob("*.log"):
        content = log.read_bytes()
        for canary in canaries:
            assert canary not in content, f"{canary!r} leaked into {log.name}"
    # The planted values were really there to find: the gate redacted them.
    assert progress.entities.get("EMAIL_ADDRESS", 0) >= len(acked)

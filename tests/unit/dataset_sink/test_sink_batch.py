"""The sink's intake on its own: what each consumed record becomes in the batch, and its dead letters."""

from __future__ import annotations

from pathlib import Path

from sink_factories import make_resolved
from sink_fakes import CODEC, FakeMessage, FakeProducer

from services.dataset_sink.batch import TABLE, Intake
from services.dataset_sink.domain import ErasedSubjects
from services.runtime.metrics import Metrics
from services.runtime.settings import Settings
from services.runtime.topics import ERASURES, RESOLVED


def _intake(tmp_path: Path) -> Intake:
    settings = Settings(data_dir=tmp_path, topic_prefix="t-")
    return Intake(settings, Metrics("dataset_sink"), CODEC, FakeProducer(), ErasedSubjects())


def test_an_undecodable_record_is_dead_lettered_with_its_true_origin_and_stays_in_the_batch(
    tmp_path: Path,
) -> None:
    intake = _intake(tmp_path)
    intake.take(FakeMessage(f"t-{ERASURES}", 2, 7, b"not avro"))  # type: ignore[arg-type]
    intake.take(FakeMessage(f"t-{RESOLVED}", 1, 41, b"\xc3\x01garbage"))  # type: ignore[arg-type]
    producer = intake.producer
    assert [topic for topic, _ in producer.sent] == [f"t-{ERASURES}.dlq", f"t-{RESOLVED}.dlq"]
    assert [value for _, value in producer.sent] == [b"not avro", b"\xc3\x01garbage"]
    origins = [
        (h["dlq.origin.topic"], h["dlq.origin.partition"], h["dlq.origin.offset"], h["dlq.error.reason"])
        for h in producer.headers
    ]
    assert origins == [
        (ERASURES.encode(), b"2", b"7", b"unknown_magic"),
        (RESOLVED.encode(), b"1", b"41", b"truncated"),
    ]
    assert {h["dlq.service"] for h in producer.headers} == {b"dataset_sink"}
    # Still in the batch, undecided, so the commit moves the offsets past them.
    assert [(i.partition, i.offset, i.decision, i.reason) for i in intake.batch.items] == [
        (2, 7, None, "undecodable"),
        (1, 41, None, "undecodable"),
    ]
    dead = intake.metrics.registry.get_sample_value(
        "flagstream_dead_letters_total",
        {"service": "dataset_sink", "topic": RESOLVED, "reason": "truncated"},
    )
    assert dead == 1.0


def test_a_resolution_already_written_or_in_the_batch_is_a_duplicate(tmp_path: Path) -> None:
    intake = _intake(tmp_path)
    intake.written = {"res-000001"}
    for offset, n in enumerate((1, 2, 2)):
        intake.take(FakeMessage(f"t-{RESOLVED}", 0, offset, CODEC.encode(make_resolved(n))))  # type: ignore[arg-type]
    assert [(i.decision, i.reason, sorted(i.rows)) for i in intake.batch.items] == [
        (None, "duplicate_resolution", []),
        ("written", TABLE, ["demonstrations", "preferences", "safety_labels"]),
        (None, "duplicate_resolution", []),
    ]
    assert intake.batch.resolution_ids == {"res-000002"}

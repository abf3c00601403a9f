"""The batch commit on its own, without a consumer loop or a broker: order, replays, retries, fault points."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sink_factories import EVENT_TIME, make_resolved
from sink_fakes import CODEC, FakeMessage

from services.dataset_sink.batch import TABLE, Intake
from services.dataset_sink.commit import BatchCommit, KafkaOffsets, commit_metadata
from services.dataset_sink.domain import ERASURE_LEDGER, LEDGER_SCHEMAS, SAFETY_LABELS
from services.dataset_sink.housekeeping import Erasures, TableMaintenance
from services.runtime.errors import RetryableError
from services.runtime.faults import KillHook
from services.runtime.metrics import Metrics
from services.runtime.settings import Settings
from services.runtime.topics import AUDIT, ERASURES, RESOLVED
from tests.support.memory_writer import InMemoryDatasetWriter
from tests.support.samples import sample_erasure_request

Log = list[tuple[str, ...]]


class RecordingWriter(InMemoryDatasetWriter):
    """The in-memory writer, logging each commit that changes a table into a shared log."""

    def __init__(self, log: Log, *, failures: int = 0, **kwargs: Any) -> None:
        super().__init__("g", **kwargs)
        self.log, self.failures = log, failures

    def write(
        self, table: str, rows: list[dict[str, Any]], offsets: Any, metadata: dict[str, str]
    ) -> int | None:
        if self.failures:
            self.failures -= 1
            raise RetryableError(f"{table} is busy")
        version = super().write(table, rows, offsets, metadata)
        if version is not None:
            self.log.append(("write", table))
        return version

    def erase(self, table: str, subjects: Any, metadata: dict[str, str]) -> tuple[int | None, int]:
        version, rows = super().erase(table, subjects, metadata)
        if version is not None:
            self.log.append(("erase", table))
        return version, rows


@dataclass
class RecordingProducer:
    log: Log
    sent: list[tuple[str, bytes]] = field(default_factory=list)

    def produce(self, topic: str, value: bytes, **_: Any) -> None:
        self.log.append(("produce", topic))
        self.sent.append((topic, value))

    def flush(self, *_: Any) -> int:
        self.log.append(("flush",))
        return 0


@dataclass
class RecordingConsumer:
    log: Log

    def commit(self, offsets: list[Any], asynchronous: bool) -> None:
        self.log.append(("offsets", *sorted(f"{tp.topic}[{tp.partition}]@{tp.offset}" for tp in offsets)))


@dataclass
class Parts:
    """A batch commit wired as the sink wires it, on in-memory tables."""

    log: Log
    writer: RecordingWriter
    ledger: RecordingWriter
    intake: Intake
    commit: BatchCommit
    metrics: Metrics

    def take(self, *records: tuple[str, int, int, Any]) -> None:
        for topic, partition, offset, record in records:
            self.intake.take(FakeMessage(f"t-{topic}", partition, offset, CODEC.encode(record)))  # type: ignore[arg-type]

    def commit_batch(self) -> set[str]:
        written = self.commit.commit(self.intake.batch, RecordingConsumer(self.log))  # type: ignore[arg-type]
        self.intake.written |= written
        self.intake.batch = type(self.intake.batch)()
        return written


def _parts(
    tmp_path: Path,
    *,
    failures: int = 0,
    faults: KillHook | None = None,
    writer: RecordingWriter | None = None,
) -> Parts:
    settings = Settings(data_dir=tmp_path, topic_prefix="t-")
    log: Log = []
    metrics = Metrics("dataset_sink")
    writer = writer or RecordingWriter(log, failures=failures)
    ledger = RecordingWriter(log, schemas=LEDGER_SCHEMAS)
    producer = RecordingProducer(log)
    maintenance = TableMaintenance(writer, "0.0.0", compact_every=0, vacuum_seconds=3600, retention_hours=168)
    erasures = Erasures(
        writer, ledger, settings.ledger_root, maintenance, metrics, CODEC, producer, f"t-{AUDIT}"
    )
    commit = BatchCommit(
        writer,
        erasures,
        maintenance,
        KafkaOffsets(metrics),
        metrics,
        CODEC,
        producer,
        topic=f"t-{RESOLVED}",
        erasure_topic=f"t-{ERASURES}",
        audit_topic=f"t-{AUDIT}",
        faults=faults or KillHook(None),
    )
    intake = Intake(settings, metrics, CODEC, producer, erasures.erased)
    return Parts(log, writer, ledger, intake, commit, metrics)


def _written(log: Log) -> list[str]:
    """The tables of the Delta commits in the log, in commit order."""
    return [entry[1] for entry in log if entry[0] == "write"]


def test_audits_then_the_other_tables_then_safety_labels_then_erasures_then_offsets(tmp_path: Path) -> None:
    parts = _parts(tmp_path)
    erasure = sample_erasure_request(
        subject_pseudonym="subj-0050", requested_at=EVENT_TIME + timedelta(days=1)
    )
    parts.take(
        (RESOLVED, 0, 0, make_resolved(1)), (RESOLVED, 1, 4, make_resolved(2)), (ERASURES, 0, 9, erasure)
    )
    assert parts.commit_batch() == {"res-000001", "res-000002"}
    steps = [entry[0] for entry in parts.log]
    # Audits (and only they) are sent and flushed before the first Delta commit.
    first_write = steps.index("write")
    assert parts.log[:first_write] == [("produce", f"t-{AUDIT}")] * 2 + [("flush",)]
    tables = _written(parts.log)
    # The other tables with rows (no refusal here) first, safety_labels, the resume point, after them; the
    # erasure (no rows of its subject here) lands in the ledger after every table, before the offsets.
    assert sorted(tables[:2]) == ["demonstrations", "preferences"]
    assert tables[2:] == [SAFETY_LABELS, ERASURE_LEDGER]
    assert parts.log[-1] == ("offsets", f"t-{ERASURES}[0]@10", f"t-{RESOLVED}[0]@1", f"t-{RESOLVED}[1]@5")


def test_a_replayed_batch_writes_and_audits_nothing_but_still_commits_its_offsets(tmp_path: Path) -> None:
    first = _parts(tmp_path)
    first.take((RESOLVED, 0, 0, make_resolved(1)))
    first.commit_batch()
    first.log.clear()
    again = _parts(tmp_path, writer=first.writer)  # a restarted process on the same tables
    again.take((RESOLVED, 0, 0, make_resolved(1)))
    assert again.commit_batch() == {"res-000001"}  # in the table: a later repeat is a duplicate
    assert first.log == []  # no Delta commit
    assert again.log == [("flush",), ("offsets", f"t-{RESOLVED}[0]@1")]  # no audit
    assert len(first.writer.rows(TABLE)) == 1


def test_a_retryable_commit_failure_is_retried_and_counted(tmp_path: Path) -> None:
    parts = _parts(tmp_path, failures=1)
    parts.take((RESOLVED, 0, 0, make_resolved(1)))
    parts.commit_batch()
    assert sorted(_written(parts.log)) == ["demonstrations", "preferences", SAFETY_LABELS]  # each once
    failed = parts.metrics.registry.get_sample_value(
        "flagstream_events_total",
        {"service": "dataset_sink", "outcome": "commit_failed", "reason": "transient"},
    )
    assert failed == 1.0


class Killed(Exception):
    """Raised in place of the SIGKILL the fault hook sends."""


def test_mid_write_fault_point_is_after_the_other_tables_and_before_safety_labels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def kill(pid: int, sig: int) -> None:
        raise Killed

    monkeypatch.setattr("os.kill", kill)
    parts = _parts(tmp_path, faults=KillHook("mid_write:1"))
    parts.take((RESOLVED, 0, 0, make_resolved(1)))
    with pytest.raises(Killed):
        parts.commit_batch()
    assert sorted(_written(parts.log)) == ["demonstrations", "preferences"]
    assert parts.writer.rows(TABLE) == []
    assert not [e for e in parts.log if e[0] == "offsets"]


def test_commit_metadata_names_the_policy_versions_and_counts_the_splits() -> None:
    rows = [
        {"split": "train", "escalation_policy_version": "escalation-5", "rubric_version": "2.1"},
        {"split": "heldout", "escalation_policy_version": "escalation-4", "rubric_version": None},
        {"split": "train", "escalation_policy_version": "escalation-5"},
    ]
    meta = commit_metadata(rows, "1.2.3")
    assert meta["pipeline_version"] == "1.2.3"
    assert meta["escalation_policy_versions"] == "escalation-4,escalation-5"
    assert meta["rubric_versions"] == "2.1"
    assert meta["redaction_policy_versions"] == ""
    assert (meta["rows_train"], meta["rows_heldout"]) == ("2", "1")

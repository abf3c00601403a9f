"""Housekeeping without a consumer loop or a broker: compaction, vacuum, and erasure on real Delta tables."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sink_factories import EVENT_TIME, make_resolved
from sink_fakes import CODEC, FakeProducer

from services.dataset_sink.batch import TABLES, Item
from services.dataset_sink.domain import (
    ERASURE_LEDGER,
    LEDGER_SCHEMAS,
    SAFETY_LABELS,
    dataset_rows,
    ledger_row,
)
from services.dataset_sink.housekeeping import Erasures, TableMaintenance
from services.dataset_sink.writer import DeltaDatasetWriter, read_table
from services.runtime.errors import RetryableError
from services.runtime.metrics import Metrics
from services.runtime.topics import AUDIT, ERASURES, RESOLVED
from tests.support.memory_writer import InMemoryDatasetWriter
from tests.support.samples import sample_erasure_request


class ChoresWriter(InMemoryDatasetWriter):
    """Records compactions and vacuums; compacting a table in `busy` fails as a concurrent erasure would."""

    def __init__(self, busy: set[str] | None = None) -> None:
        super().__init__("g")
        self.busy = busy or set()
        self.compacted: list[str] = []
        self.vacuumed: list[tuple[str, int]] = []

    def compact(self, table: str, metadata: dict[str, str]) -> int:
        if table in self.busy:
            raise RetryableError(f"{table} changed under the compaction")
        self.compacted.append(table)
        return 2

    def vacuum(self, table: str, retention_hours: int) -> int:
        self.vacuumed.append((table, retention_hours))
        return 0


def test_a_table_is_compacted_after_its_own_number_of_commits() -> None:
    writer = ChoresWriter()
    chores = TableMaintenance(writer, "0.0.0", compact_every=2, vacuum_seconds=3600, retention_hours=168)
    chores.committed(SAFETY_LABELS)
    chores.committed("preferences")
    assert not chores.compaction_due()
    chores.committed(SAFETY_LABELS)
    assert chores.compaction_due()
    chores.compact()
    assert writer.compacted == [SAFETY_LABELS]  # preferences has one commit: not yet
    assert chores.commits_since_compaction == {SAFETY_LABELS: 0, "preferences": 1}
    assert not chores.compaction_due()


def test_a_failed_compaction_is_not_fatal_and_waits_for_as_many_commits_again() -> None:
    writer = ChoresWriter(busy={"preferences"})
    chores = TableMaintenance(writer, "0.0.0", compact_every=1, vacuum_seconds=3600, retention_hours=168)
    chores.committed("preferences")
    chores.committed(SAFETY_LABELS)
    chores.compact()
    assert writer.compacted == [SAFETY_LABELS]
    assert not chores.compaction_due()


def test_compaction_off_is_never_due() -> None:
    chores = TableMaintenance(
        ChoresWriter(), "0.0.0", compact_every=0, vacuum_seconds=3600, retention_hours=168
    )
    for _ in range(5):
        chores.committed(SAFETY_LABELS)
    assert not chores.compaction_due()


def test_vacuum_covers_every_table_with_the_retention_window_and_restarts_its_clock() -> None:
    writer = ChoresWriter()
    chores = TableMaintenance(writer, "0.0.0", compact_every=0, vacuum_seconds=3600, retention_hours=72)
    assert not chores.vacuum_due()
    chores.last_vacuum = time.monotonic() - 3600
    assert chores.vacuum_due()
    chores.vacuum()
    assert writer.vacuumed == [(t, 72) for t in TABLES]
    assert not chores.vacuum_due()


def _erasures(tmp_path: Path, producer: Any) -> Erasures:
    writer = DeltaDatasetWriter(tmp_path / "datasets", "g")
    ledger_root = tmp_path / "ledger"
    ledger = DeltaDatasetWriter(ledger_root, "g", schemas=LEDGER_SCHEMAS)
    chores = TableMaintenance(writer, "0.0.0", compact_every=0, vacuum_seconds=3600, retention_hours=168)
    metrics = Metrics("dataset_sink")
    return Erasures(writer, ledger, ledger_root, chores, metrics, CODEC, producer, f"t-{AUDIT}")


def test_an_erasure_deletes_from_every_table_lands_in_the_ledger_once_and_is_known_after_a_restart(
    tmp_path: Path,
) -> None:
    producer = FakeProducer()
    erasures = _erasures(tmp_path, producer)
    mine, other = make_resolved(5), make_resolved(6)
    subject = mine.task.interaction.subject_pseudonym
    for n, resolved in enumerate((mine, other)):
        for table, row in dataset_rows(resolved, split="train").items():
            erasures.writer.write(table, [row], {(RESOLVED, 0): n}, {})
    request = sample_erasure_request(subject_pseudonym=subject, requested_at=EVENT_TIME + timedelta(days=1))
    item = Item(ERASURES, 0, 3, erasure=request)
    erasures.apply([item])
    for table in ("preferences", "demonstrations", SAFETY_LABELS):  # the tables these judgments have rows in
        subjects = (
            read_table(tmp_path / "datasets", table, columns=["subject_pseudonym"]).column(0).to_pylist()
        )
        assert subject not in subjects, table
    assert read_table(tmp_path / "datasets", SAFETY_LABELS).num_rows == 1
    (audit,) = producer.audits()
    assert (audit.decision, audit.details["rows.safety_labels"], audit.details["rows.preferences"]) == (
        "erased",
        "1",
        "1",
    )
    erasures.apply([item])  # a replay (a restart before the Kafka offset commit) is applied once
    assert read_table(tmp_path / "ledger", ERASURE_LEDGER).num_rows == 1
    assert len(producer.audits()) == 1
    restarted = _erasures(tmp_path, FakeProducer())
    assert not restarted.erased.blocks(subject, EVENT_TIME)
    restarted.load_ledger()
    assert restarted.erased.blocks(subject, EVENT_TIME)
    assert not restarted.erased.blocks(subject, EVENT_TIME + timedelta(days=2))  # data given later is new


def test_items_taken_before_their_subjects_erasure_are_withheld(tmp_path: Path) -> None:
    erasures = _erasures(tmp_path, FakeProducer())
    erased, kept = make_resolved(5), make_resolved(6)
    items = [
        Item(
            RESOLVED,
            0,
            n,
            rows=dataset_rows(r, split="train"),
            decision="written",
            reason=SAFETY_LABELS,
            resolved=r,
        )
        for n, r in enumerate((erased, kept))
    ]
    request = sample_erasure_request(
        subject_pseudonym=erased.task.interaction.subject_pseudonym,
        requested_at=EVENT_TIME + timedelta(days=1),
    )
    erasures.erased.add(ledger_row(request, request.requested_at)["subject_key"], request.requested_at)
    erasures.withhold(items)
    assert [(i.decision, i.reason, bool(i.rows)) for i in items] == [
        ("not_written", "subject_erased", False),
        ("written", SAFETY_LABELS, True),
    ]

"""Both dataset writers keep the same contract: one commit per batch, offsets alongside, replays harmless.

The Delta writer runs against real Delta tables in tmp_path; the in-memory twin must behave the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sink_protocol import GROUP, TOPIC, partition_log, process_batch, rows_of

from services.dataset_sink.domain import SAFETY_LABELS
from services.dataset_sink.writer import (
    DatasetNotFoundError,
    DatasetWriter,
    DeltaDatasetWriter,
    OffsetConflictError,
    filter_uncommitted,
    last_offsets,
    read_table,
    table_version,
)
from services.runtime.errors import ValidationError
from tests.support.memory_writer import InMemoryDatasetWriter


@dataclass
class Sink:
    """A writer, how to get a fresh one after a crash, and how to look at what it wrote."""

    writer: DatasetWriter
    restart: Callable[[], DatasetWriter]
    rows: Callable[[], list[dict[str, Any]]]
    version: Callable[[], int | None]


def _delta(root: Path) -> Sink:
    def rows() -> list[dict[str, Any]]:
        return read_table(root, SAFETY_LABELS).to_pylist() if version() is not None else []

    def version() -> int | None:
        return table_version(root, SAFETY_LABELS) if (root / SAFETY_LABELS).exists() else None

    return Sink(DeltaDatasetWriter(root, GROUP), lambda: DeltaDatasetWriter(root, GROUP), rows, version)


def _memory() -> Sink:
    writer = InMemoryDatasetWriter(GROUP)
    # the twin's state stands for what is on disk, so a restarted process sees the same object
    return Sink(
        writer, lambda: writer, lambda: writer.rows(SAFETY_LABELS), lambda: writer.version(SAFETY_LABELS)
    )


@pytest.fixture(params=["delta", "memory"])
def sink(request: pytest.FixtureRequest, tmp_path: Path) -> Sink:
    return _delta(tmp_path / "datasets") if request.param == "delta" else _memory()


def ids(rows: list[dict[str, Any]]) -> list[str]:
    return sorted(row["resolution_id"] for row in rows)


def test_first_write_creates_the_table(sink: Sink) -> None:
    records = partition_log({0: 3})
    version = sink.writer.write(SAFETY_LABELS, rows_of(records), {(TOPIC, 0): 2}, {})
    assert version == 1  # version 0 creates the empty table with its schema
    assert sink.version() == 1
    assert ids(sink.rows()) == ["res-000000", "res-000001", "res-000002"]


def test_offsets_are_recorded_per_partition(sink: Sink) -> None:
    records = partition_log({0: 6, 1: 10, 2: 1})
    sink.writer.write(SAFETY_LABELS, rows_of(records), {(TOPIC, 0): 5, (TOPIC, 1): 9}, {})
    assert sink.writer.committed_offsets(SAFETY_LABELS, TOPIC, [0, 1, 2]) == {0: 5, 1: 9}
    assert sink.writer.committed_offsets(SAFETY_LABELS, "other.topic", [0, 1]) == {}
    assert sink.writer.committed_positions(SAFETY_LABELS, [(TOPIC, 1), ("other.topic", 0)]) == {(TOPIC, 1): 9}


def test_offsets_move_forward_batch_by_batch(sink: Sink) -> None:
    records = partition_log({0: 10, 1: 10})
    assert process_batch(sink.writer, records[:6]) == 1
    assert process_batch(sink.writer, records[6:14]) == 2
    assert sink.writer.committed_offsets(SAFETY_LABELS, TOPIC, [0, 1]) == {0: 6, 1: 6}
    assert process_batch(sink.writer, records[14:]) == 3
    assert sink.writer.committed_offsets(SAFETY_LABELS, TOPIC, [0, 1]) == {0: 9, 1: 9}
    assert len(sink.rows()) == 20


def test_a_fresh_table_has_no_committed_offsets(sink: Sink) -> None:
    assert sink.writer.committed_offsets(SAFETY_LABELS, TOPIC, [0, 1]) == {}


def test_empty_batch_is_a_no_op(sink: Sink) -> None:
    assert sink.writer.write(SAFETY_LABELS, [], {(TOPIC, 0): 3}, {"service": "x"}) is None
    assert sink.version() is None  # not even created
    assert sink.writer.committed_offsets(SAFETY_LABELS, TOPIC, [0]) == {}
    process_batch(sink.writer, partition_log({0: 2}))
    assert sink.writer.write(SAFETY_LABELS, [], {(TOPIC, 0): 9}, {}) is None
    assert sink.version() == 1
    assert sink.writer.committed_offsets(SAFETY_LABELS, TOPIC, [0]) == {0: 1}


def test_replay_after_a_crash_creates_no_duplicates(sink: Sink) -> None:
    log = partition_log({0: 10, 1: 6, 2: 4})
    first_poll = [r for r in log if r[2] < 5]  # offsets 0..4 of every partition
    assert process_batch(sink.writer, first_poll) == 1
    # crash here: the Delta commit happened, the Kafka offset commit did not, so the group offset is
    # still at the start and the restarted consumer polls everything again
    restarted = sink.restart()
    for start in range(0, len(log), 7):
        process_batch(restarted, log[start : start + 7])
    written = ids(sink.rows())
    assert written == sorted(set(written))
    assert written == ids(rows_of(log))
    assert restarted.committed_offsets(SAFETY_LABELS, TOPIC, [0, 1, 2]) == {0: 9, 1: 5, 2: 3}


def test_exact_replay_of_a_committed_batch_is_a_no_op(sink: Sink) -> None:
    records = partition_log({0: 4, 1: 4})
    rows, offsets = rows_of(records), {(TOPIC, 0): 3, (TOPIC, 1): 3}
    assert sink.writer.write(SAFETY_LABELS, rows, offsets, {}) == 1
    assert sink.restart().write(SAFETY_LABELS, rows, offsets, {}) is None
    assert sink.version() == 1
    assert len(sink.rows()) == 8


def test_an_unfiltered_partial_replay_is_refused(sink: Sink) -> None:
    log = partition_log({0: 4, 1: 4})
    sink.writer.write(SAFETY_LABELS, rows_of(log[:4]), last_offsets(r[:3] for r in log[:4]), {})
    # partition 0 is all committed, partition 1 only partly: without offsets the rows cannot be told apart
    replay = [r for r in log if r[1] == 1 or r[2] <= 1]
    offsets = last_offsets(r[:3] for r in replay if r[1] == 1) | {(TOPIC, 0): 1}
    with pytest.raises(OffsetConflictError):
        sink.writer.write(SAFETY_LABELS, rows_of(replay), offsets, {})
    assert len(sink.rows()) == 4


def test_rows_that_do_not_fit_the_schema_are_rejected(sink: Sink) -> None:
    rows = rows_of(partition_log({0: 1}))
    rows[0]["severity"] = "very"
    with pytest.raises(ValidationError):
        sink.writer.write(SAFETY_LABELS, rows, {(TOPIC, 0): 0}, {})
    del rows[0]["severity"]
    with pytest.raises(ValidationError):
        sink.writer.write(SAFETY_LABELS, rows, {(TOPIC, 0): 0}, {})
    assert sink.writer.committed_offsets(SAFETY_LABELS, TOPIC, [0]) == {}


def test_unknown_table_is_refused(sink: Sink) -> None:
    with pytest.raises(DatasetNotFoundError):
        sink.writer.write("not_a_table", rows_of(partition_log({0: 1})), {(TOPIC, 0): 0}, {})


def test_filter_uncommitted_and_last_offsets() -> None:
    records = [("t", 0, 4), ("t", 0, 5), ("t", 1, 0), ("u", 0, 9), ("t", 0, 6)]
    assert filter_uncommitted(records, {("t", 0): 4, ("u", 0): 9}, position=lambda r: r) == [
        ("t", 0, 5),
        ("t", 1, 0),
        ("t", 0, 6),
    ]
    assert last_offsets(records) == {("t", 0): 6, ("t", 1): 0, ("u", 0): 9}

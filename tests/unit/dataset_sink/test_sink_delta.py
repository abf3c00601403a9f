"""What only the Delta writer can show: txn actions, commit history, time travel, concurrent writers."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from sink_protocol import GROUP, TOPIC, partition_log, process_batch, rows_of

from services.dataset_sink.domain import SAFETY_LABELS, SAFETY_LABELS_SCHEMA
from services.dataset_sink.writer import (
    DatasetNotFoundError,
    DeltaDatasetWriter,
    OffsetConflictError,
    list_tables,
    read_table,
    table_history,
)
from services.runtime.errors import FatalError


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "datasets"


def test_offsets_are_txn_actions_of_the_data_commit(root: Path) -> None:
    writer = DeltaDatasetWriter(root, GROUP)
    version = writer.write(
        SAFETY_LABELS, rows_of(partition_log({0: 6, 1: 10})), {(TOPIC, 0): 5, (TOPIC, 1): 9}, {}
    )
    delta = DeltaTable(str(root / SAFETY_LABELS))
    assert delta.transaction_version(f"{GROUP}:{TOPIC}:0") == 5
    assert delta.transaction_version(f"{GROUP}:{TOPIC}:1") == 9
    assert delta.transaction_version(f"other-group:{TOPIC}:0") is None
    log = (root / SAFETY_LABELS / "_delta_log" / f"{version:020d}.json").read_text().splitlines()
    actions = [next(iter(json.loads(line))) for line in log]
    assert actions.count("add") >= 1 and actions.count("txn") == 2  # data and offsets: one atomic commit


def test_groups_keep_separate_offsets(root: Path) -> None:
    DeltaDatasetWriter(root, "a").write(SAFETY_LABELS, rows_of(partition_log({0: 3})), {(TOPIC, 0): 2}, {})
    assert DeltaDatasetWriter(root, "b").committed_offsets(SAFETY_LABELS, TOPIC, [0]) == {}


def test_history_shows_versions_rows_and_metadata(root: Path) -> None:
    writer = DeltaDatasetWriter(root, GROUP)
    log = partition_log({0: 5, 1: 5})
    process_batch(writer, log[:4])
    process_batch(writer, log[4:])
    history = table_history(root, SAFETY_LABELS)
    assert [(h["version"], h["operation"], h["rows_written"]) for h in history] == [
        (2, "WRITE", 6),
        (1, "WRITE", 4),
        (0, "CREATE TABLE", 0),
    ]
    latest = history[0]["metadata"]
    assert latest["service"] == "dataset_sink"
    assert latest["consumer_group"] == GROUP
    assert latest["row_count"] == "6"
    assert json.loads(latest["source_offsets"]) == {f"{TOPIC}:0": 4, f"{TOPIC}:1": 4}
    assert history[0]["timestamp"].tzinfo is not None
    assert history[0]["timestamp"] >= history[2]["timestamp"]


def test_table_is_created_with_name_description_and_the_schema(root: Path) -> None:
    DeltaDatasetWriter(root, GROUP).write(SAFETY_LABELS, rows_of(partition_log({0: 1})), {(TOPIC, 0): 0}, {})
    delta = DeltaTable(str(root / SAFETY_LABELS))
    assert delta.metadata().name == SAFETY_LABELS
    assert delta.metadata().description
    assert read_table(root, SAFETY_LABELS).schema.remove_metadata() == SAFETY_LABELS_SCHEMA.remove_metadata()
    assert list_tables(root) == [SAFETY_LABELS]
    assert list_tables(root / "missing") == []


def test_rows_round_trip_and_time_travel(root: Path) -> None:
    writer = DeltaDatasetWriter(root, GROUP)
    log = partition_log({0: 3})
    process_batch(writer, log[:1])
    process_batch(writer, log[1:])
    back = sorted(read_table(root, SAFETY_LABELS).to_pylist(), key=lambda row: row["resolution_id"])
    assert back == pa.Table.from_pylist(rows_of(log), schema=SAFETY_LABELS_SCHEMA).to_pylist()
    assert read_table(root, SAFETY_LABELS, version=1).num_rows == 1
    assert read_table(root, SAFETY_LABELS, version=0).num_rows == 0
    assert read_table(root, SAFETY_LABELS, limit=2).num_rows == 2
    with pytest.raises(DatasetNotFoundError):
        read_table(root, SAFETY_LABELS, version=7)
    with pytest.raises(DatasetNotFoundError):
        table_history(root, "preferences")


def test_compaction_keeps_rows_offsets_and_time_travel_in_fewer_files(root: Path) -> None:
    writer = DeltaDatasetWriter(root, GROUP)
    log = partition_log({0: 6, 1: 6})
    for start in range(0, len(log), 2):
        process_batch(writer, log[start : start + 2])
    before = sorted(read_table(root, SAFETY_LABELS).to_pylist(), key=lambda row: row["resolution_id"])
    assert len(DeltaTable(str(root / SAFETY_LABELS)).file_uris()) == 6

    assert writer.compact(SAFETY_LABELS, {"pipeline_version": "t"}) == 6

    delta = DeltaTable(str(root / SAFETY_LABELS))
    assert len(delta.file_uris()) == 1
    assert sorted(read_table(root, SAFETY_LABELS).to_pylist(), key=lambda row: row["resolution_id"]) == before
    assert writer.committed_offsets(SAFETY_LABELS, TOPIC, [0, 1]) == {0: 5, 1: 5}
    assert read_table(root, SAFETY_LABELS, version=3).num_rows == 6  # older versions still read
    history = table_history(root, SAFETY_LABELS)
    assert (history[0]["version"], history[0]["operation"], history[0]["rows_written"]) == (7, "OPTIMIZE", 0)
    assert history[0]["metadata"]["pipeline_version"] == "t"
    assert writer.compact(SAFETY_LABELS, {}) == 0  # nothing small left
    assert writer.compact("preferences", {}) == 0  # no table yet


def test_a_zombie_writer_cannot_rewrite_committed_offsets(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = partition_log({0: 20})
    zombie = DeltaDatasetWriter(root, GROUP)
    process_batch(zombie, log[:5])
    successor = DeltaDatasetWriter(root, GROUP)  # the partition moved after a rebalance
    process_batch(successor, log[5:15])
    # the zombie checked offsets before the successor committed; freeze its snapshot there
    handle = zombie._open[SAFETY_LABELS]
    monkeypatch.setattr(handle, "update_incremental", lambda: None)
    with pytest.raises(OffsetConflictError):
        zombie.write(SAFETY_LABELS, rows_of(log[5:10]), {(TOPIC, 0): 9}, {})
    assert read_table(root, SAFETY_LABELS).num_rows == 15
    assert successor.committed_offsets(SAFETY_LABELS, TOPIC, [0]) == {0: 14}


def test_a_table_whose_schema_drifted_is_fatal(root: Path) -> None:
    write_deltalake(str(root / SAFETY_LABELS), pa.table({"resolution_id": ["x"]}), mode="append")
    with pytest.raises(FatalError):
        DeltaDatasetWriter(root, GROUP).write(
            SAFETY_LABELS, rows_of(partition_log({0: 1})), {(TOPIC, 0): 0}, {}
        )


def test_offsets_survive_a_checkpoint_and_log_cleanup(root: Path) -> None:
    writer = DeltaDatasetWriter(root, GROUP)
    log = partition_log({0: 6, 1: 6})
    for start in range(0, 12, 4):
        process_batch(writer, log[start : start + 4])
    path = root / SAFETY_LABELS
    DeltaTable(str(path)).create_checkpoint()
    for commit in (path / "_delta_log").glob("*.json"):
        if int(commit.stem) < 3:  # what log cleanup removes once the checkpoint covers it
            commit.unlink()
    restarted = DeltaDatasetWriter(root, GROUP)
    assert restarted.committed_offsets(SAFETY_LABELS, TOPIC, [0, 1]) == {0: 5, 1: 5}
    assert process_batch(restarted, log) is None  # everything already there
    assert read_table(root, SAFETY_LABELS).num_rows == 12

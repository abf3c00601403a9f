"""The `flagstream datasets` functions return plain, printable data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sink_protocol import GROUP, partition_log, process_batch

from services.dataset_sink.domain import SAFETY_LABELS
from services.dataset_sink.offline import dataset_history, list_datasets, show_dataset
from services.dataset_sink.writer import DatasetNotFoundError, DeltaDatasetWriter
from services.runtime.settings import REPO_ROOT


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "datasets"
    writer = DeltaDatasetWriter(root, GROUP)
    log = partition_log({0: 4, 1: 3})
    process_batch(writer, log[:2])
    process_batch(writer, log[2:])
    return root


def test_list(root: Path) -> None:
    listing = list_datasets(root)
    assert [(d["name"], d["version"], d["rows"]) for d in listing] == [(SAFETY_LABELS, 2, 7)]
    json.dumps(listing)
    assert list_datasets(root.parent / "nothing") == []


def test_history(root: Path) -> None:
    history = dataset_history(root, SAFETY_LABELS)
    assert [h["version"] for h in history] == [2, 1, 0]
    assert history[0]["metadata"]["row_count"] == "5"
    assert isinstance(history[0]["timestamp"], str)
    json.dumps(history)


def test_show_latest_and_a_version(root: Path) -> None:
    latest = show_dataset(root, SAFETY_LABELS, limit=3)
    assert (latest["version"], latest["rows"], len(latest["sample"])) == (2, 7, 3)
    assert {"name": "event_time", "type": "timestamp[us, tz=UTC]", "nullable": False} in latest["schema"]
    assert latest["sample"][0]["event_time"].endswith("+00:00")
    json.dumps(latest)
    first = show_dataset(root, SAFETY_LABELS, version=1)
    assert (first["version"], first["rows"], len(first["sample"])) == (1, 2, 2)


def test_missing_dataset(root: Path) -> None:
    with pytest.raises(DatasetNotFoundError):
        show_dataset(root, "preferences")
    with pytest.raises(DatasetNotFoundError):
        show_dataset(root, SAFETY_LABELS, version=99)


def test_cli_reads_of_delta_exit_cleanly_every_time(root: Path) -> None:
    """A `datasets` command that printed its result exits 0, not SIGABRT (delta-io/delta-rs#2184).

    delta-rs threads can abort the interpreter's teardown. Before the CLI skipped teardown, about one
    such command in fifteen on a loaded machine aborted or crashed after printing its result.
    """
    env = {**os.environ, "FLAGSTREAM_DATA_DIR": str(root.parent)}
    for _ in range(6):
        done = subprocess.run(
            [sys.executable, "-m", "services.cli", "datasets", "show", SAFETY_LABELS, "--limit", "7"],
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        shown = json.loads(done.stdout)
        assert shown["rows"] == 7 and len(shown["sample"]) == 7

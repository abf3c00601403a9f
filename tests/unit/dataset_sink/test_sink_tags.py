"""Dataset tags pin every table's version under one name; history takes --limit and --as-of."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sink_protocol import GROUP, partition_log, process_batch

from services.dataset_sink.domain import SAFETY_LABELS
from services.dataset_sink.offline import dataset_history
from services.dataset_sink.tags import create_tag, list_tags, select_history, tagged_version
from services.dataset_sink.writer import DeltaDatasetWriter
from services.runtime.errors import FatalError
from services.runtime.settings import REPO_ROOT


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "datasets"
    writer = DeltaDatasetWriter(root, GROUP)
    log = partition_log({0: 4, 1: 3})
    process_batch(writer, log[:2])
    process_batch(writer, log[2:])
    return root


def test_a_tag_pins_the_versions_of_its_moment_and_is_never_moved(root: Path) -> None:
    tag = create_tag(root, "sft-2026-12-06", note="first SFT run")
    assert tag["versions"] == {SAFETY_LABELS: 2}
    process_batch(DeltaDatasetWriter(root, GROUP), partition_log({0: 6, 1: 3})[7:])  # a later version
    assert tagged_version(root, "sft-2026-12-06", SAFETY_LABELS) == 2
    with pytest.raises(FatalError, match="exists already"):
        create_tag(root, "sft-2026-12-06")
    with pytest.raises(FatalError, match="use letters"):
        create_tag(root, "../escape")
    with pytest.raises(FatalError, match="no tag"):
        tagged_version(root, "missing", SAFETY_LABELS)
    assert [t["name"] for t in list_tags(root)] == ["sft-2026-12-06"]


def test_history_limit_and_as_of(root: Path) -> None:
    history = dataset_history(root, SAFETY_LABELS)
    assert [h["version"] for h in select_history(history, limit=2)] == [2, 1]
    before_any = datetime.now(UTC) - timedelta(days=1)
    assert select_history(history, as_of=before_any) == []
    assert [h["version"] for h in select_history(history, as_of=datetime.now(UTC))] == [2, 1, 0]


def test_export_by_tag_through_the_cli(root: Path, tmp_path: Path) -> None:
    env = {**os.environ, "FLAGSTREAM_DATA_DIR": str(root.parent)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "services.cli", *args],
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
        )

    assert cli("datasets", "tag", "run-1").returncode == 0
    process_batch(DeltaDatasetWriter(root, GROUP), partition_log({0: 6, 1: 3})[7:])
    out = tmp_path / "pinned.jsonl"
    done = cli("datasets", "export", SAFETY_LABELS, "--tag", "run-1", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["version"] == 2 and len(out.read_text().splitlines()) == 7
    assert cli("datasets", "export", SAFETY_LABELS, "--tag", "nope", "-o", str(out)).returncode == 2
    shown = cli("datasets", "history", SAFETY_LABELS, "--limit", "1")
    assert shown.returncode == 0 and len(shown.stdout.strip().splitlines()) == 2  # header and one version

"""Delta datasets on a real S3-compatible store: S3Proxy (scripts/s3.sh) with its filesystem backend.

What the object store must give delta-rs (create-if-absent commits, so a stale writer cannot
overwrite a version), the `flagstream datasets` commands (list, history, time travel, tags, export,
card) on an s3:// root, compaction and vacuum removing the objects, and credentials kept out of
every output. The sink itself on S3 (exactly once under SIGKILL, erasure) is in test_sink_datasets.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import CommitFailedError
from integration_support import env_of
from s3_support import S3Server
from test_sink_datasets import judgment

from services.dataset_sink.domain import SAFETY_LABELS, dataset_rows
from services.dataset_sink.writer import (
    DeltaDatasetWriter,
    OffsetConflictError,
    list_tables,
    read_table,
    table_history,
)
from services.runtime.errors import RetryableError
from services.runtime.settings import REPO_ROOT, Settings
from services.runtime.storage import ObjectExistsError, StorageError, StorageRoot

pytestmark = pytest.mark.integration

TOPIC = "review.resolved.v1"
GROUP = "flagstream-dataset-sink"


@pytest.fixture
def s3_deployment(settings: Settings, s3_server: S3Server) -> Settings:
    return s3_server.deploy(settings)


def commit(writer: DeltaDatasetWriter, first: int, count: int, partition: int = 0) -> int | None:
    """Rows of judgments first..first+count-1 into safety_labels, as source offsets of one partition."""
    rows = [
        dataset_rows(judgment(n, f"subj-{n % 5}"), split="train")[SAFETY_LABELS]
        for n in range(first, first + count)
    ]
    return writer.write(SAFETY_LABELS, rows, {(TOPIC, partition): first + count - 1}, {"service": "test"})


def test_the_store_refuses_a_second_create_and_a_wrong_secret(s3_server: S3Server) -> None:
    root = s3_server.root()
    root.create("tags/t.json", b"first")
    with pytest.raises(ObjectExistsError):
        root.create("tags/t.json", b"second")  # If-None-Match: * on the PUT
    assert root.read("tags/t.json") == b"first"
    assert [key for key, _ in root.objects(".json")] == ["tags/t.json"]

    wrong = StorageRoot.of(root.uri, s3_server.access("not-the-secret"))
    with pytest.raises(StorageError) as refused:
        wrong.read("tags/t.json")
    with pytest.raises(RetryableError) as listing:
        list_tables(wrong)
    for message in (str(refused.value), str(listing.value), repr(wrong), repr(s3_server.access())):
        assert s3_server.credential not in message and "not-the-secret" not in message
    server_log = (s3_server.backend.parent / "s3proxy.log").read_text()
    assert s3_server.credential not in server_log


def test_a_stale_writer_cannot_overwrite_a_committed_version(s3_deployment: Settings) -> None:
    root = s3_deployment.datasets_root
    writer = DeltaDatasetWriter(root, GROUP)
    assert commit(writer, 0, 3) == 1
    uri, options = str(root / SAFETY_LABELS), root.delta_options
    first, second, third = (DeltaTable(uri, storage_options=options) for _ in range(3))  # all at v1
    data = read_table(root, SAFETY_LABELS).slice(0, 1)

    def append(handle: DeltaTable, app: str, version: int) -> None:
        write_deltalake(
            handle,
            data,
            mode="append",
            commit_properties=CommitProperties(app_transactions=[Transaction(app, version)]),
        )

    append(first, f"{GROUP}:{TOPIC}:0", 9)
    with pytest.raises(CommitFailedError):  # same version number, same txn app id: refused, not overwritten
        append(second, f"{GROUP}:{TOPIC}:0", 9)
    append(third, f"{GROUP}:{TOPIC}:1", 4)  # an unrelated append from v1 lands as v3, after the first's v2
    history = table_history(root, SAFETY_LABELS)
    assert [h["version"] for h in history] == [3, 2, 1, 0]
    assert read_table(root, SAFETY_LABELS).num_rows == 5
    assert writer.committed_offsets(SAFETY_LABELS, TOPIC, [0, 1]) == {0: 9, 1: 4}

    # The writer's own guard: a zombie whose snapshot predates the successor's commit is refused.
    zombie = DeltaDatasetWriter(root, GROUP)
    zombie.committed_offsets(SAFETY_LABELS, TOPIC, [0])
    handle = zombie._open[SAFETY_LABELS]
    successor = DeltaDatasetWriter(root, GROUP)
    assert commit(successor, 10, 2) == 4
    handle.update_incremental = lambda: None  # type: ignore[method-assign]  # frozen at v3
    with pytest.raises(OffsetConflictError):
        commit(zombie, 10, 2)
    assert read_table(root, SAFETY_LABELS).num_rows == 7


def test_datasets_commands_time_travel_tags_and_export_on_s3(
    s3_deployment: Settings, s3_server: S3Server, tmp_path: Path
) -> None:
    root = s3_deployment.datasets_root
    writer = DeltaDatasetWriter(root, GROUP)
    commit(writer, 0, 4)
    commit(writer, 4, 3)
    env = {**os.environ, **env_of(s3_deployment), "FLAGSTREAM_LOG_LEVEL": "DEBUG"}
    env["FLAGSTREAM_DATA_DIR"] = str(tmp_path / "no-local-data")  # nothing may come from the local disk
    outputs: list[str] = []

    def cli(*args: str, ok: bool = True) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "services.cli", *args],
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        outputs.extend((done.stdout, done.stderr))
        assert (done.returncode == 0) == ok, (args, done.returncode, done.stderr[-2000:])
        return done.stdout

    (listed,) = json.loads(cli("datasets", "list"))
    assert (listed["name"], listed["version"], listed["rows"]) == (SAFETY_LABELS, 2, 7)
    history = json.loads(cli("datasets", "history", SAFETY_LABELS, "--json"))
    assert [(h["version"], h["rows_written"]) for h in history] == [(2, 3), (1, 4), (0, 0)]
    shown = json.loads(cli("datasets", "show", SAFETY_LABELS, "--version", "1", "--limit", "10"))
    assert shown["rows"] == 4 and len(shown["sample"]) == 4  # time travel

    tag = json.loads(cli("datasets", "tag", "run-1"))
    assert tag["versions"] == {SAFETY_LABELS: 2}
    assert (
        s3_server.folder(s3_deployment.storage) / "tags" / "run-1.json"
    ).is_file()  # an object in the bucket
    cli("datasets", "tag", "run-1", ok=False)  # never moved
    commit(writer, 7, 2)
    assert [t["name"] for t in json.loads(cli("datasets", "tags"))] == ["run-1"]
    out = tmp_path / "pinned.jsonl"
    exported = json.loads(cli("datasets", "export", SAFETY_LABELS, "--tag", "run-1", "-o", str(out)))
    assert exported["version"] == 2 and len(out.read_text().splitlines()) == 7
    latest = tmp_path / "latest.parquet"
    cli("datasets", "export", SAFETY_LABELS, "--format", "parquet", "-o", str(latest))
    assert pq.read_table(latest).num_rows == 9
    assert json.loads(cli("datasets", "card", SAFETY_LABELS))["rows"] == 9

    # Compaction rewrites the small files; vacuum (retention 0) deletes the replaced objects.
    parquet = s3_server.folder(root / SAFETY_LABELS)
    assert len(list(parquet.glob("*.parquet"))) == 3
    assert writer.compact(SAFETY_LABELS, {}) == 3
    assert writer.vacuum(SAFETY_LABELS, 0) == 3
    assert len(list(parquet.glob("*.parquet"))) == 1
    assert read_table(root, SAFETY_LABELS).num_rows == 9

    for text in outputs:
        assert s3_server.credential not in text
    assert s3_server.credential not in repr(s3_deployment) + repr(s3_deployment.storage)

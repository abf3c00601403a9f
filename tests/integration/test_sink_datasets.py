"""The dataset sink on the real broker: SIGKILL at each commit point then exactly once; erasure end to end."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import datasets as hf_datasets
import pytest
from confluent_kafka import TopicPartition
from deltalake import DeltaTable
from integration_support import env_of, free_port
from s3_support import S3Server

from services.contracts import AuditEvent, ResolvedJudgment, default_codec
from services.dataset_sink.app import TABLES
from services.dataset_sink.writer import app_id, list_tables, read_table
from services.local import scrape, total, wait_until
from services.runtime.kafka import make_consumer, make_producer, read_topic, watermarks
from services.runtime.pseudonyms import Pseudonymizer
from services.runtime.settings import REPO_ROOT, Settings
from services.runtime.topics import AUDIT, RESOLVED
from tests.support.samples import (
    sample_redacted_interaction,
    sample_resolved_judgment,
    sample_review_task,
)

CODEC = default_codec()
CANARY = "okapi-canary-5519 is my neighbour"


class Sink:
    """`flagstream worker dataset_sink` as a child process."""

    def __init__(self, settings: Settings, log: Path, **env: str) -> None:
        self.port = free_port()
        self.env = {**os.environ, **env_of(settings), "FLAGSTREAM_METRICS_PORT": str(self.port), **env}
        if "FLAGSTREAM_FAULT" not in env:  # never inherit a fault from the test runner's environment
            self.env.pop("FLAGSTREAM_FAULT", None)
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Sink:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "worker", "dataset_sink"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=REPO_ROOT,
            )
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def metric(self, name: str, **labels: str) -> float:
        try:
            return total(scrape(self.port), name, **labels)
        except OSError:
            return 0.0


def judgment(n: int, subject: str, text: str = "") -> ResolvedJudgment:
    """A resolved judgment that yields a row in every table (over-refusal with a rewrite and a preference)."""
    interaction = sample_redacted_interaction(interaction_id=f"int-{n:05d}", subject_pseudonym=subject)
    if text:
        interaction = interaction.model_copy(update={"response": f"I can't help. {text}"})
    task = sample_review_task(
        task_id=f"task-{n:05d}",
        interaction_id=interaction.interaction_id,
        queue="over_refusal",
        interaction=interaction,
    )
    return sample_resolved_judgment(resolution_id=f"res-{n:05d}", task=task, verdict="over_refusal")


def produce(settings: Settings, judgments: list[ResolvedJudgment]) -> None:
    producer = make_producer(settings)
    for j in judgments:
        producer.produce(
            settings.topic(RESOLVED), key=j.task.interaction.subject_pseudonym.encode(), value=CODEC.encode(j)
        )
    assert producer.flush(60) == 0


def end_offsets(settings: Settings) -> dict[int, int]:
    """The last offset of every non-empty partition of review.resolved.v1."""
    consumer = make_consumer(settings, "probe")
    try:
        topic = settings.topic(RESOLVED)
        ends = {}
        for p in range(settings.partitions):
            _low, high = watermarks(consumer, TopicPartition(topic, p), timeout=10)
            if high > 0:
                ends[p] = high - 1
        return ends
    finally:
        consumer.close()


def stored_files(deployment: Settings, request: pytest.FixtureRequest) -> Path:
    """The folder that holds the dataset files: the local root, or the S3 backend's folder of the prefix."""
    if not deployment.datasets_root.is_remote:
        return deployment.datasets_dir
    server: S3Server = request.getfixturevalue("s3_server")
    return server.folder(deployment.datasets_root)


def assert_no_credentials(deployment: Settings, *texts: str) -> None:
    """No S3 secret in logs or outputs."""
    secret = deployment.aws_secret_access_key
    if secret is not None:
        for text in texts:
            assert secret.get_secret_value() not in text


@pytest.fixture
def sink_settings(settings: Settings) -> Iterator[Settings]:
    yield settings.model_copy(update={"sink_batch_seconds": 0.5})


@pytest.mark.parametrize("point", ["before_commit", "mid_write", "after_delta_commit"])
def test_sigkill_at_each_commit_point_then_restart_writes_each_judgment_once(
    deployment: Settings, tmp_path: Path, point: str
) -> None:
    judgments = [judgment(n, f"subj-{n % 17}") for n in range(1500)]
    produce(deployment, judgments)
    log = tmp_path / "sink.log"
    doomed = Sink(deployment, log, FLAGSTREAM_FAULT=f"{point}:2", FLAGSTREAM_SINK_BATCH_ROWS="300").start()
    assert doomed.process is not None
    try:
        doomed.process.wait(120)
    finally:
        doomed.stop()
    assert doomed.process.returncode == -signal.SIGKILL, log.read_text()[-3000:]
    datasets = deployment.datasets_root
    partial = (
        read_table(datasets, "safety_labels").num_rows if "safety_labels" in list_tables(datasets) else 0
    )
    assert partial < len(judgments)  # it died before the end

    sink = Sink(deployment, log, FLAGSTREAM_SINK_BATCH_ROWS="300").start()
    try:
        done = wait_until(
            lambda: (
                "safety_labels" in list_tables(datasets)
                and read_table(datasets, "safety_labels").num_rows >= len(judgments)
            ),
            timeout=180,
            interval=1.0,
        )
        assert done, log.read_text()[-3000:]
        wait_until(lambda: sink.metric("flagstream_events_total", outcome="written") > 0, timeout=30)
    finally:
        sink.stop()
    expected = sorted(j.resolution_id for j in judgments)
    ends = end_offsets(deployment)
    for table in TABLES:
        ids = read_table(datasets, table, columns=["resolution_id"]).column("resolution_id").to_pylist()
        duplicates = [i for i, c in collections.Counter(ids).items() if c > 1]
        assert not duplicates, f"{table}: {len(duplicates)} duplicated, e.g. {duplicates[:3]}"
        assert sorted(ids) == expected, table
        delta = DeltaTable(str(datasets / table), storage_options=datasets.delta_options)
        for partition, last in ends.items():
            version = delta.transaction_version(
                app_id(deployment.group("dataset_sink"), deployment.topic(RESOLVED), partition)
            )
            assert version == last, (table, partition, version, last)
    # Each interaction has exactly one terminal audit outcome, however often its batch was replayed.
    audits = [
        CODEC.decode(m.value() or b"", AuditEvent) for m in read_topic(deployment, deployment.topic(AUDIT))
    ]
    written = {a.event_id: a.interaction_id for a in audits if a.decision == "written"}
    assert sorted(set(written.values())) == sorted(j.task.interaction_id for j in judgments)
    assert_no_credentials(deployment, log.read_text())


def test_erasure_removes_the_subject_everywhere_and_vacuum_leaves_no_file(
    deployment: Settings, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    assert deployment.pseudonym_key is not None
    pseudonymizer = Pseudonymizer(deployment.pseudonym_key_bytes, deployment.pseudonym_key_id)
    victim = pseudonymizer.pseudonymize("customer-4711")
    mine = [judgment(n, victim, CANARY) for n in range(0, 40, 4)]
    others = [judgment(n, f"subj-{n}") for n in range(1, 40) if n % 4]
    produce(deployment, mine[:5] + others)
    log = tmp_path / "sink.log"
    env = {"FLAGSTREAM_ERASURE_RETENTION_HOURS": "0"}
    sink = Sink(deployment, log, **env).start()
    datasets = deployment.datasets_root
    files = stored_files(deployment, request)  # the dataset objects as the disk or the bucket holds them
    try:
        assert wait_until(
            lambda: (
                sink.metric("flagstream_dataset_rows_written_total", table="safety_labels") >= 5 + len(others)
            ),
            timeout=180,
        ), log.read_text()[-3000:]
        assert any(victim.encode() in p.read_bytes() for p in files.rglob("*.parquet"))
        erase = subprocess.run(
            [sys.executable, "-m", "services.cli", "erase", "--subject", "customer-4711"],
            env=sink.env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert erase.returncode == 0, erase.stderr
        assert victim in erase.stdout
        assert wait_until(
            lambda: sink.metric("flagstream_events_total", outcome="erased") >= 1, timeout=180
        ), log.read_text()[-3000:]
        # Judgments of the subject that arrive after the erasure (about earlier interactions) are not written.
        produce(deployment, mine[5:])
        assert wait_until(
            lambda: (
                sink.metric("flagstream_events_total", outcome="not_written", reason="subject_erased") >= 5
            ),
            timeout=180,
        ), log.read_text()[-3000:]
    finally:
        sink.stop()
    for table in TABLES:
        rows = read_table(datasets, table).to_pylist()
        assert rows, table
        assert victim not in {r["subject_pseudonym"] for r in rows}, table
    assert read_table(datasets, "safety_labels").num_rows == len(others)
    # After vacuum (retention 0 h) no file under the tables holds the pseudonym or the text, log included.
    leaks = [
        str(p.relative_to(files))
        for p in files.rglob("*")
        if p.is_file() and (victim.encode() in p.read_bytes() or CANARY.encode() in p.read_bytes())
    ]
    assert not leaks, leaks
    # The trainer exports of what remains load with the `datasets` library, through the CLI.
    for table, fmt, columns in (
        ("demonstrations", "sft", {"messages"}),
        ("preferences", "dpo", {"prompt", "chosen", "rejected"}),
        ("refusal_audit", "jsonl", {"request", "refusal", "verdict", "better_reply", "split"}),
    ):
        out = tmp_path / "export" / f"{table}.jsonl"
        export = subprocess.run(
            [
                sys.executable,
                "-m",
                "services.cli",
                "datasets",
                "export",
                table,
                "--format",
                fmt,
                "-o",
                str(out),
            ],
            env=sink.env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert export.returncode == 0, export.stderr
        loaded = hf_datasets.load_dataset("json", data_files=str(out), split="train")
        assert columns <= set(loaded.column_names), (table, loaded.column_names)
        assert loaded.num_rows == len(others)
        assert victim.encode() not in out.read_bytes()
        card = json.loads(out.with_name(out.name + ".card.json").read_text())
        assert card["rows"] == len(others)
    history = DeltaTable(str(datasets / "safety_labels"), storage_options=datasets.delta_options).history()
    assert any(h.get("operation") == "DELETE" for h in history)
    audits = [
        CODEC.decode(m.value() or b"", AuditEvent) for m in read_topic(deployment, deployment.topic(AUDIT))
    ]
    (erased,) = [a for a in audits if a.decision == "erased"]
    assert erased.details["rows.safety_labels"] == "5"
    assert erased.reason == "manual_request"
    assert_no_credentials(deployment, log.read_text())

"""`flagstream erase status` says when a request was applied to every table, and a pinned export of a
version committed before it is refused without --allow-erased (real broker, sink and Delta tables, on
the local disk and on the local S3-compatible store)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from test_sink_datasets import Sink, judgment, produce

from services.dataset_sink.writer import table_version
from services.local import wait_until
from services.runtime.settings import REPO_ROOT, Settings


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_erase_status_and_pinned_export_guard(deployment: Settings, tmp_path: Path) -> None:
    settings = deployment.model_copy(update={"sink_batch_seconds": 0.5})
    produce(settings, [judgment(n, "sp_victim" if n % 2 else f"sp_other{n}") for n in range(6)])
    sink = Sink(settings, tmp_path / "sink.log").start()
    try:
        assert wait_until(
            lambda: sink.metric("flagstream_dataset_rows_written_total", table="safety_labels") >= 6, 120
        ), (tmp_path / "sink.log").read_text()[-3000:]
        before = table_version(settings.datasets_root, "safety_labels")
        sent = cli(sink.env, "erase", "--pseudonym", "sp_victim")
        assert sent.returncode == 0, sent.stderr
        request_id = sent.stdout.split()[2]
        assert wait_until(
            lambda: json.loads(cli(sink.env, "erase", "status", request_id).stdout)["applied"], 120
        )
    finally:
        sink.stop()

    status = json.loads(cli(sink.env, "erase", "status", request_id).stdout)
    assert status["status"] == "applied to every table"
    tables = {t["table"]: t for t in status["tables"]}
    assert set(tables) == {"safety_labels", "preferences", "demonstrations", "refusal_audit"}
    assert tables["safety_labels"]["versions_that_may_hold_erased_rows"].startswith("<= ")
    unknown = json.loads(cli(sink.env, "erase", "status", "no-such-request").stdout)
    assert unknown["applied"] is False and unknown["status"].startswith("pending")

    out = tmp_path / "old.jsonl"
    refused = cli(sink.env, "datasets", "export", "safety_labels", "--version", str(before), "-o", str(out))
    assert refused.returncode == 2 and "--allow-erased" in refused.stderr and not out.exists()
    allowed = cli(
        sink.env,
        "datasets",
        "export",
        "safety_labels",
        "--version",
        str(before),
        "-o",
        str(out),
        "--allow-erased",
    )
    assert allowed.returncode == 0 and "warning:" in allowed.stderr
    assert (
        sum(1 for line in out.read_text().splitlines() if "sp_victim" in line) == 3
    )  # the erased rows are there
    latest = cli(sink.env, "datasets", "export", "safety_labels", "-o", str(tmp_path / "new.jsonl"))
    assert latest.returncode == 0, latest.stderr
    assert "sp_victim" not in (tmp_path / "new.jsonl").read_text()
    assert os.path.getsize(tmp_path / "new.jsonl") > 0

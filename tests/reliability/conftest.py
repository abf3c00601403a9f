"""Reliability fixtures: a broker of the suite's own (never the shared 127.0.0.1:9092), a deployment per test.

The broker listens on RELIABILITY_KAFKA_PORT (default 19092, controller +1) with its data under
var/kafka-reliability; the session starts it through scripts/kafka.sh and stops it at the end if it
started it. Fault tests restart it through the same script.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from reconcile import REPORT_DIR, Report, summary_table
from reliability_support import Broker, Fleet, delete_topics, provision_isolated

from services.runtime.settings import REPO_ROOT, Settings

PORT = int(os.environ.get("RELIABILITY_KAFKA_PORT", "19092"))
REPORTS: list[Report] = []


@pytest.fixture(scope="session")
def broker() -> Iterator[Broker]:
    """The suite's own broker: started if it does not run, stopped at the end if this session started it."""
    if PORT == 9092:
        pytest.fail("the reliability suite restarts its broker: never point it at the shared 9092")
    kafka = Broker(PORT, PORT + 1, REPO_ROOT / "var" / "kafka-reliability")
    started = not kafka.running()
    kafka.up()
    yield kafka
    if started:
        kafka.down()


@pytest.fixture
def run_dir(request: pytest.FixtureRequest) -> Path:
    """var/reliability/runs/<test>: worker logs and the Delta tables of the last run of each test."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    path = REPORT_DIR / "runs" / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


@pytest.fixture
def settings(broker: Broker, run_dir: Path) -> Iterator[Settings]:
    """An isolated deployment on the suite's broker: topic prefix, data folder, pseudonym key."""
    prefix = f"rel-{uuid.uuid4().hex[:8]}-"
    deployment = Settings(
        kafka_bootstrap_servers=broker.bootstrap,
        topic_prefix=prefix,
        data_dir=run_dir / "data",
        pseudonym_key="reliability-test-key-0123456789abcdef",
        pseudonym_key_id="rel-1",
        sink_batch_seconds=0.5,
    )
    provision_isolated(deployment)
    yield deployment
    if not broker.running() or os.environ.get("FLAGSTREAM_KEEP_TOPICS"):
        return  # kept: read them after the run (docs/reliability.md, "Reading a failed run")
    delete_topics(broker.bootstrap, prefix)


@pytest.fixture
def fleet(settings: Settings, run_dir: Path) -> Iterator[Fleet]:
    """Worker processes of the deployment; all stopped (by pid) at the end of the test."""
    assert settings.pseudonym_key is not None
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "FLAGSTREAM_TOPIC_PREFIX": settings.topic_prefix,
        "FLAGSTREAM_DATA_DIR": str(settings.data_dir),
        "FLAGSTREAM_PSEUDONYM_KEY": settings.pseudonym_key.get_secret_value(),
        "FLAGSTREAM_PSEUDONYM_KEY_ID": settings.pseudonym_key_id,
        "FLAGSTREAM_SINK_BATCH_SECONDS": str(settings.sink_batch_seconds),
        "FLAGSTREAM_REPLICATION_FACTOR": str(settings.replication_factor),
        "FLAGSTREAM_LOG_LEVEL": "INFO",
    }
    workers = Fleet(env, run_dir / "workers")
    yield workers
    workers.stop_all()


@pytest.fixture
def record_report() -> Iterator[list[Report]]:
    """Tests append their Report; it is written to var/reliability/ and summarised at the end."""
    mine: list[Report] = []
    yield mine
    for report in mine:
        report.write()
        REPORTS.append(report)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not REPORTS:
        return
    table = summary_table(REPORTS)
    terminalreporter.write_sep("=", "reliability reconciliation")
    terminalreporter.write_line(table)
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    # `make test` runs the cluster faults beside the other suites: each run names its own summary.
    name = os.environ.get("RELIABILITY_SUMMARY", "summary")
    (REPORT_DIR / f"{name}.md").write_text(table + "\n")
    (REPORT_DIR / f"{name}.json").write_text(json.dumps([r.row() for r in REPORTS], indent=2))

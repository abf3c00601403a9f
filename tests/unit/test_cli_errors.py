"""Errors of the CLI: commands that need Kafka stop in one line when no broker answers, and the
offline commands print bad input lines as errors on stderr (never the input) and exit 1."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from services.runtime.settings import REPO_ROOT


@pytest.mark.parametrize(
    "args", [["topics", "create"], ["erase", "--pseudonym", "sp_x"], ["demo", "--count", "1"]]
)
def test_unreachable_kafka_is_one_line_and_exit_2(args: list[str]) -> None:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",  # nothing listens on port 1
        "FLAGSTREAM_KAFKA_CONNECT_TIMEOUT_SECONDS": "2",
    }
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", *args], env=env, cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr == "flagstream: cannot reach Kafka at 127.0.0.1:1 after 2 s\n"
    assert done.stdout == ""
    assert time.monotonic() - started < 15


@pytest.mark.parametrize(
    ("command", "good", "bad_error"),
    [
        ("redact", '{"text": "mail ana@example.com"}', "flagstream: line 2: not valid JSON"),
        ("route", "", "flagstream: line 2: "),
    ],
)
def test_offline_errors_go_to_stderr_with_exit_1(command: str, good: str, bad_error: str) -> None:
    lines = f"{good}\nnot json, maybe ana@example.com\n" if good else "\nnot json, maybe ana@example.com\n"
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", command],
        input=lines,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert done.stderr.startswith(bad_error) and done.stderr.count("\n") == 1
    assert "ana@example.com" not in done.stderr  # the input is never echoed
    assert done.stdout.count("\n") == (1 if good else 0)
    assert "error" not in done.stdout

"""Commands that need Kafka stop in one line, with a non-zero exit, when no broker answers."""

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

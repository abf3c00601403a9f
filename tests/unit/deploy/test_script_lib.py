"""scripts/lib.sh, the process helpers of the scripts that run local servers: start with a pid file,
wait until ready, stop by that pid only."""

from __future__ import annotations

import subprocess
from pathlib import Path

from services.runtime.settings import REPO_ROOT


def bash(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    prelude = f'set -euo pipefail; say() {{ echo "t: $*" >&2; }}; source {REPO_ROOT / "scripts" / "lib.sh"}\n'
    return subprocess.run(
        ["bash", "-c", prelude + script], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )


def test_start_wait_status_stop(tmp_path: Path) -> None:
    done = bash(
        """
        start_bg run/x.pid run/x.log sleep 300
        wait_ready run/x.pid run/x.log 10 0.1 test -f run/x.pid
        pid_status run/x.pid "here"
        pid="$(cat run/x.pid)"
        stop_pid run/x.pid 5 x
        if kill -0 "$pid" 2>/dev/null; then echo "still alive"; fi
        pid_status run/x.pid "here"
        stop_pid run/x.pid 5  # nothing left to stop: not an error
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("running (pid ") and lines[0].endswith(") here")
    assert lines[1:] == ["not running"]
    assert not (tmp_path / "run" / "x.pid").exists()


def test_a_process_that_exits_during_start_is_reported_with_its_log(tmp_path: Path) -> None:
    done = bash(
        """
        start_bg x.pid x.log bash -c 'echo cannot bind; exit 3'
        wait_ready x.pid x.log 10 0.1 false
        """,
        tmp_path,
    )
    assert done.returncode == 1
    assert "exited during start" in done.stderr and "cannot bind" in done.stderr
    assert not (tmp_path / "x.pid").exists()


def test_a_process_never_ready_is_stopped_and_one_ignoring_sigterm_is_killed(tmp_path: Path) -> None:
    done = bash(
        """
        start_bg x.pid x.log sleep 300
        pid="$(cat x.pid)"
        wait_ready x.pid x.log 1 0.1 false || echo "not ready: $?"
        if kill -0 "$pid" 2>/dev/null; then echo "still alive"; fi
        start_bg y.pid y.log bash -c 'trap "" TERM; while true; do sleep 0.1; done'
        pid="$(cat y.pid)"
        stop_pid y.pid 1 y
        if kill -0 "$pid" 2>/dev/null; then echo "still alive"; fi
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["not ready: 1"]
    assert "not ready after 1 s" in done.stderr and "SIGKILL" in done.stderr

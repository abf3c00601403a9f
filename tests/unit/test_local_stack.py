"""The local stack restarts a child that asks for it (exit 70), reports any other exit in one line,
and carries a restarted worker's counts over."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from services.local import LocalStack, Progress, ServiceExited
from services.runtime.settings import Settings


def child(stack: LocalStack, name: str, code: str) -> None:
    stack.commands[name] = [sys.executable, "-c", code]
    stack._spawn(name, "wb")


def wait_exit(stack: LocalStack, name: str) -> None:
    stack.processes[name].wait(10)


def test_exit_70_is_restarted_and_other_exits_are_one_line(tmp_path: Path) -> None:
    stack = LocalStack(Settings(data_dir=tmp_path), log_dir=tmp_path, ports={}, restart_codes=frozenset({70}))
    child(stack, "escalation", "import sys; sys.exit(70)")
    wait_exit(stack, "escalation")
    assert stack.check() == ["escalation"]
    assert stack.restarts == {"escalation": 1}
    wait_exit(stack, "escalation")
    assert stack.check() == ["escalation"] and stack.restarts == {"escalation": 2}
    stack.stop()
    del stack.processes["escalation"]  # stopped on purpose

    child(
        stack, "review", "import sys; print('flagstream: review policy: gold[0].queue: unknown'); sys.exit(2)"
    )
    wait_exit(stack, "review")
    with pytest.raises(ServiceExited, match=r"review exited with 2 \(flagstream: review policy: gold\[0\]"):
        stack.check()


def test_without_restart_codes_every_exit_is_an_error(tmp_path: Path) -> None:
    stack = LocalStack(Settings(data_dir=tmp_path), log_dir=tmp_path, ports={})
    child(stack, "escalation", "import sys; sys.exit(70)")
    wait_exit(stack, "escalation")
    time.sleep(0.05)
    with pytest.raises(ServiceExited, match="escalation exited with 70"):
        stack.check()


def test_progress_carries_a_restarted_services_counts() -> None:
    before = Progress(gate={"keep": 10.0}, escalation={"routed": 4.0}, routed={"urgent": 4.0})
    after_restart = Progress(gate={"keep": 12.0}, escalation={"routed": 1.0}, routed={"urgent": 1.0})
    total = after_restart.plus(before.only("escalation"))
    assert total.gate == {"keep": 12.0}  # the gate did not restart: its own counter is the truth
    assert total.escalation == {"routed": 5.0} and total.routed == {"urgent": 5.0}


def test_restart_stops_a_child_with_sigterm_and_starts_it_again(tmp_path: Path) -> None:
    stack = LocalStack(Settings(data_dir=tmp_path), log_dir=tmp_path, ports={})
    marks = tmp_path / "marks"
    code = (
        "import signal, sys, time\n"
        f"def mark(what): open({str(marks)!r}, 'a').write(what + '\\n')\n"
        "signal.signal(signal.SIGTERM, lambda *_: (mark('term'), sys.exit(0)))\n"
        "mark('start')\n"  # after the handler: a SIGTERM from now on runs it
        "time.sleep(60)\n"
    )
    child(stack, "escalation", code)
    first = stack.processes["escalation"]
    deadline = time.monotonic() + 10
    while not marks.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    stack.restart("escalation", timeout=10)
    assert first.returncode == 0  # it ran its SIGTERM handler, as a worker shuts down cleanly
    second = stack.processes["escalation"]
    assert second.pid != first.pid and second.poll() is None
    stack.stop()
    assert marks.read_text().splitlines()[:2] == ["start", "term"]


def test_a_replayed_candidate_counts_as_decided() -> None:
    # A record handled twice around a rebalance: the gate counts it twice, escalation's second pass
    # ends "replayed". Without counting it, the pipeline would never read as drained.
    progress = Progress(
        gate={"keep": 3.0},
        escalation={"routed": 1.0, "not_escalated": 1.0, "replayed": 1.0},
        routed={"urgent": 1.0},
        review={"resolved": 1.0},
        sink={"written": 1.0},
    )
    assert progress.drained(2)
    assert not Progress(
        gate={"keep": 3.0}, escalation={"routed": 1.0, "not_escalated": 1.0}, routed={"urgent": 1.0}
    ).drained(2)

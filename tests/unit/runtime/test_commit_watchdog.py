"""The commit watchdog: a partition whose broker-side committed offset stands still behind its end
offset, with nothing in the handler, stops the worker; slowness, rebalances and progress do not."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP

from services.runtime.faust_app import CommitWatchdog, OffsetGuard

TASKS = TP("review.tasks.urgent.v1", 1)
CHANGELOG = TP("flagstream-review-open_tasks-changelog", 1)


class Stopped(BaseException):
    """What the fake stage's crash raises (the real one ends the process)."""


class Harness:
    def __init__(self, stall_seconds: float = 30.0) -> None:
        self.now = 0.0
        self.ends: dict[TP, int] = {TASKS: 50, CHANGELOG: 900}
        self.committed: dict[TP, int | None] = {TASKS: 40, CHANGELOG: 0}
        consumer = SimpleNamespace(
            assignment=lambda: {TASKS, CHANGELOG},
            _acked={},
            _committed_offset={TASKS: 50},  # Faust's belief: a commit that failed, recorded anyway
            _read_offset={},
            _paused_partitions=set(),
            _buffered_partitions=set(),
        )
        self.app = SimpleNamespace(
            rebalancing=False,
            flow_control=SimpleNamespace(is_active=lambda: True),
            consumer=consumer,
            consumer_generation_id=1,
        )
        self.sought: list[tuple[TP, int]] = []
        self.guard = OffsetGuard(self.app, skip_topics=set(), seek=self._seek)  # type: ignore[arg-type]
        self.stage = SimpleNamespace(
            app=self.app, service="review", busy_since=None, crash=self._crash, offsets=self.guard
        )
        self.watchdog = CommitWatchdog(
            self.stage,  # type: ignore[arg-type]
            stall_seconds,
            ends=self._ends,
            committed=self._committed,
            clock=lambda: self.now,
        )

    async def _seek(self, tp: Any, offset: int) -> None:
        self.sought.append((tp, offset))

    def _crash(self, exc: BaseException) -> None:
        raise Stopped(str(exc))

    async def _ends(self, tps: set[Any]) -> Mapping[Any, int | None]:
        return {tp: self.ends[tp] for tp in tps}

    async def _committed(self, tps: set[Any]) -> Mapping[Any, int | None]:
        return {tp: self.committed[tp] for tp in tps}

    def tick(self, seconds: float = 5.0) -> None:
        self.now += seconds
        asyncio.run(self.watchdog.check())


def test_a_broker_side_stall_stops_the_worker_even_when_faust_thinks_it_committed() -> None:
    """Faust recorded a failed commit as done (50; the broker has 40): at half the stall time the
    partition is fetched again from the broker's offset, with Faust's record set back to it; when
    the stall outlasts that by a whole stall period, the worker stops."""
    h = Harness()
    for _ in range(4):
        h.tick()
    assert h.sought == [(TASKS, 40)]
    assert h.app.consumer._committed_offset[TASKS] == 40
    for _ in range(5):  # a whole stall period from the refetch: 25 s at the last of these
        h.tick()
    with pytest.raises(Stopped, match=r"urgent.v1\[1\]: committed offset 40 for 30s with end offset 50"):
        h.tick()


def test_progress_restarts_the_clock() -> None:
    h = Harness()
    for step in range(20):
        h.committed[TASKS] = 40 + step % 2  # moves every tick
        h.tick()


def test_no_lag_is_no_stall() -> None:
    h = Harness()
    h.committed[TASKS] = 50
    for _ in range(20):
        h.tick()


def test_an_event_slow_in_the_handler_is_logged_not_stopped(caplog: pytest.LogCaptureFixture) -> None:
    h = Harness(stall_seconds=0.0)
    h.stage.busy_since = -1000.0  # monotonic: in the handler long before the watchdog started
    h.tick()
    h.tick()
    assert "an event has been in the handler" in caplog.text


def test_a_rebalance_resets_the_clock() -> None:
    h = Harness()
    for _ in range(5):
        h.tick()
    h.app.rebalancing = True
    h.tick()
    h.app.rebalancing = False
    for _ in range(6):
        h.tick()
    with pytest.raises(Stopped):
        h.tick()


def test_a_broker_that_does_not_answer_skips_the_round() -> None:
    h = Harness()

    async def away(tps: set[Any]) -> Mapping[Any, int | None]:
        raise ConnectionError("broker away")

    h.watchdog.committed = away
    for _ in range(20):
        h.tick()


def test_an_error_in_a_round_does_not_end_the_timer(caplog: pytest.LogCaptureFixture) -> None:
    """Faust ends a timer silently when its function raises; the watchdog must keep running."""
    h = Harness()

    def not_started() -> set[TP]:
        raise RuntimeError("Consumer thread not yet started")

    h.app.consumer.assignment = not_started
    h.tick()
    assert "commit watchdog round failed" in caplog.text


def lost_after_recovery() -> Harness:
    """The stall seen after rebalances: Faust's committed offset is the broker's, nothing is acked or
    in the handler, and aiokafka fetched past the committed offset without the stage seeing a record."""
    h = Harness()
    h.app.consumer._committed_offset[TASKS] = 40
    return h


def test_records_fetched_but_never_handed_over_are_fetched_again_not_a_restart(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = lost_after_recovery()
    for _ in range(4):  # 15 s stalled at the fourth round: half the stall time
        h.tick()
    assert h.sought == [(TASKS, 40)]
    assert "fetching again from 40" in caplog.text
    for _ in range(5):  # the refetch gets a whole stall period of its own
        h.tick()
    assert h.sought == [(TASKS, 40)]


def test_a_stall_that_outlasts_the_refetch_stops_the_worker() -> None:
    h = lost_after_recovery()
    for _ in range(9):
        h.tick()
    assert len(h.sought) == 1  # not again at the same committed offset
    with pytest.raises(Stopped, match="committed offset 40"):
        h.tick()


def test_acks_missing_at_the_head_are_fetched_again_and_the_acks_past_them_dropped() -> None:
    """The stall seen after a hole was fetched again: acks start well past the committed offset, and
    Faust's commit waits for the ones in between. The records come again and are acked in order."""
    h = lost_after_recovery()
    h.app.consumer._acked[TASKS] = [45, 46, 47]
    for _ in range(4):
        h.tick()
    assert h.sought == [(TASKS, 40)]


@pytest.mark.parametrize("state", ["in the handler", "paused", "buffer full"])
def test_no_refetch_when_faust_or_the_stage_holds_the_partition(state: str) -> None:
    """An event in the handler is that event's slowness; a paused partition is Faust's choice."""
    h = lost_after_recovery()
    consumer = h.app.consumer
    if state == "in the handler":
        h.stage.busy_since = h.now
    elif state == "paused":
        consumer._paused_partitions.add(TASKS)
    else:
        consumer._buffered_partitions.add(TASKS)
    for _ in range(6):
        h.tick()
    assert h.sought == []

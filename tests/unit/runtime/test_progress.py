"""The commit-progress judge (Burrow's rules) and the progress monitor's export, without a broker."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from services.runtime.metrics import Metrics
from services.runtime.progress import Observation, ProgressMonitor, Snapshot, judge
from services.runtime.settings import Settings

SIZE = 3


def window(*points: tuple[int, int]) -> list[Observation]:
    return [Observation(float(i), committed, end) for i, (committed, end) in enumerate(points)]


@pytest.mark.parametrize(
    ("points", "owned", "status"),
    [
        (((5, 9), (5, 9), (5, 9)), True, "stall"),  # a member owns it, offset stands still with lag
        (((5, 9), (5, 9), (5, 9)), False, "stop"),  # nobody consumes it
        (((5, 9), (5, 12), (5, 15)), True, "stall"),  # records keep arriving, nothing committed
        (((5, 9), (6, 9), (6, 9)), True, "ok"),  # moved within the window
        (((5, 9), (9, 9), (9, 12)), False, "ok"),  # lag was zero in the window
        (((5, 9), (5, 9)), False, "ok"),  # window not full: too early to judge
        (((5, 9), (2, 9), (3, 9)), True, "rewind"),  # went back (an offset reset)
        (((9, 9), (9, 9), (9, 9)), False, "ok"),  # idle and caught up, even with nobody there
    ],
)
def test_judge_follows_burrows_rules(points: Sequence[tuple[int, int]], owned: bool, status: str) -> None:
    assert judge(window(*points), owned, SIZE) == status


class FakeBroker:
    """Snapshots handed out in order; every partition key is ("escalation", topic, 0)."""

    def __init__(self, snapshots: list[Snapshot]) -> None:
        self.snapshots = snapshots

    def __call__(self, _sources: Mapping[str, Sequence[str]]) -> Snapshot:
        return self.snapshots.pop(0)


KEY = ("escalation", "interactions.redacted.v1", 0)


def snapshot(committed: int, end: int, oldest: float | None = None, owned: bool = True) -> Snapshot:
    return Snapshot(
        {KEY: committed},
        {KEY: end},
        {KEY: oldest} if oldest is not None else {},
        frozenset({KEY}) if owned else frozenset(),
    )


def test_monitor_exports_lag_seconds_and_a_one_hot_status(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, progress_window=SIZE)
    metrics = Metrics("review")
    clock = iter([100.0, 110.0, 120.0])
    monitor = ProgressMonitor(
        settings,
        metrics,
        read=FakeBroker([snapshot(5, 9, 70.0), snapshot(5, 9, 70.0), snapshot(5, 12, 70.0)]),
        clock=lambda: next(clock),
    )
    first = monitor.check()[0]
    assert (first.lag, first.lag_seconds, first.status) == (4, 30.0, "ok")
    monitor.check()
    last = monitor.check()[0]
    assert (last.lag, last.lag_seconds, last.status) == (7, 50.0, "stall")
    text = generate_latest(metrics.registry).decode()
    labels = 'partition="0",service="escalation",topic="interactions.redacted.v1"'
    assert f"flagstream_consumer_lag_records{{{labels}}} 7.0" in text
    assert f"flagstream_consumer_lag_seconds{{{labels}}} 50.0" in text
    status = 'flagstream_consumer_status{partition="0",service="escalation",status="%s",topic="%s"}'
    assert status % ("stall", "interactions.redacted.v1") + " 1.0" in text
    assert status % ("ok", "interactions.redacted.v1") + " 0.0" in text


def test_caught_up_partition_has_zero_lag_seconds(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, progress_window=SIZE)
    monitor = ProgressMonitor(settings, Metrics("review"), read=FakeBroker([snapshot(9, 9, 1.0)]))
    assert monitor.check()[0].lag_seconds == 0.0


def test_vanished_partitions_leave_the_export(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, progress_window=SIZE)
    metrics = Metrics("review")
    empty = Snapshot({}, {}, {}, frozenset())
    monitor = ProgressMonitor(settings, metrics, read=FakeBroker([snapshot(1, 2), empty]))
    monitor.check()
    assert "flagstream_consumer_lag_records{" in generate_latest(metrics.registry).decode()
    monitor.check()
    assert "flagstream_consumer_lag_records{" not in generate_latest(metrics.registry).decode()
    assert not monitor.windows

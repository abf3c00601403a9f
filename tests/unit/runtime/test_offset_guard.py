"""The stage's offset guard: a hole in a partition's offsets stops the worker, a replay does not."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP

from services.runtime.errors import FatalError
from services.runtime.stage import OffsetGuard

TASKS = TP("review.tasks.urgent.v1", 3)
CONSENT = TP("consent.events.v1", 0)


def app_at(generation: int, committed: dict[TP, int]) -> Any:
    """The two things the guard reads from a Faust app: its generation and the sought offsets."""
    offsets: defaultdict[TP, int | None] = defaultdict(lambda: None)
    offsets.update(committed)
    return SimpleNamespace(
        consumer_generation_id=generation, consumer=SimpleNamespace(_committed_offset=offsets)
    )


def check(guard: OffsetGuard, tp: TP, offset: int) -> None:
    asyncio.run(guard.check(tp, offset))


def committed_at(offset: int | None) -> Any:
    async def committed(tp: TP) -> int | None:
        return offset

    return committed


def test_consecutive_offsets_from_the_committed_one_pass() -> None:
    guard = OffsetGuard(app_at(1, {TASKS: 40}), skip_topics=set())
    for offset in range(40, 60):
        check(guard, TASKS, offset)


def test_a_first_record_past_the_committed_offset_stops_the_worker() -> None:
    guard = OffsetGuard(app_at(1, {TASKS: 40}), skip_topics=set())
    with pytest.raises(FatalError, match=r"offset 41 but 40 was next; 1 records were dropped"):
        check(guard, TASKS, 41)


def test_a_hole_after_some_records_stops_the_worker() -> None:
    guard = OffsetGuard(app_at(1, {TASKS: 0}), skip_topics=set())
    check(guard, TASKS, 0)
    check(guard, TASKS, 1)
    with pytest.raises(FatalError, match=r"\[3\]: record at offset 5 but 2 was next"):
        check(guard, TASKS, 5)


def test_a_replayed_record_is_not_a_hole() -> None:
    guard = OffsetGuard(app_at(1, {TASKS: 10}), skip_topics=set())
    check(guard, TASKS, 10)
    check(guard, TASKS, 11)
    check(guard, TASKS, 8)  # a redelivery (at least once): processed again, ids make it safe
    check(guard, TASKS, 9)


def test_a_new_generation_starts_again_at_the_committed_offset() -> None:
    app = app_at(1, {TASKS: 10})
    guard = OffsetGuard(app, skip_topics=set())
    check(guard, TASKS, 10)
    app.consumer_generation_id = 2  # rebalanced; another worker moved the partition on meanwhile
    app.consumer._committed_offset[TASKS] = 30
    check(guard, TASKS, 30)
    app.consumer_generation_id = 3
    with pytest.raises(FatalError):
        check(guard, TASKS, 31)


def test_before_faust_has_sought_the_broker_says_where_to_start() -> None:
    guard = OffsetGuard(app_at(1, {}), skip_topics=set(), committed=committed_at(40))
    with pytest.raises(FatalError, match="offset 67 but 40 was next"):
        check(guard, TASKS, 67)
    guard = OffsetGuard(app_at(1, {}), skip_topics=set(), committed=committed_at(40))
    check(guard, TASKS, 40)


def test_a_partition_never_committed_accepts_its_first_record() -> None:
    guard = OffsetGuard(app_at(1, {}), skip_topics=set(), committed=committed_at(None))
    check(guard, TASKS, 7)
    with pytest.raises(FatalError):
        check(guard, TASKS, 9)


def test_compacted_topics_may_have_holes() -> None:
    guard = OffsetGuard(app_at(1, {CONSENT: 0}), skip_topics={CONSENT.topic})
    check(guard, CONSENT, 0)
    check(guard, CONSENT, 17)  # compaction removed the records in between

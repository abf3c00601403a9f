"""The stage's offset guard: a hole in a partition's offsets is fetched again, a replay is handled, and
Faust never commits past the records the stage has finished (the commit fence)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from services.runtime import faust_app
from services.runtime.errors import FatalError
from services.runtime.faust_app import FencedConsumer, OffsetGuard, create_app
from services.runtime.settings import Settings

TASKS = TP("review.tasks.urgent.v1", 3)
CONSENT = TP("consent.events.v1", 0)


def app_at(generation: int, committed: dict[TP, int]) -> Any:
    """The two things the guard reads from a Faust app: its generation and the sought offsets."""
    offsets: defaultdict[TP, int | None] = defaultdict(lambda: None)
    offsets.update(committed)
    return SimpleNamespace(
        consumer_generation_id=generation, consumer=SimpleNamespace(_committed_offset=offsets)
    )


def check(guard: OffsetGuard, tp: TP, offset: int) -> bool:
    return asyncio.run(guard.check(tp, offset))


def committed_at(offset: int | None) -> Any:
    async def committed(tp: TP) -> int | None:
        return offset

    return committed


class Seeks:
    """The consumer's seeks, recorded; and the topics of the holes the guard reported."""

    def __init__(self) -> None:
        self.seeks: list[tuple[TP, int]] = []
        self.refetched: list[str] = []

    async def seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))


def guarded(app: Any, committed: Any = None, skip: set[str] | None = None) -> tuple[OffsetGuard, Seeks]:
    seeks = Seeks()
    guard = OffsetGuard(
        app,
        skip_topics=skip or set(),
        committed=committed,
        seek=seeks.seek,
        on_refetch=seeks.refetched.append,
    )
    return guard, seeks


def test_consecutive_offsets_from_the_committed_one_pass() -> None:
    guard, seeks = guarded(app_at(1, {TASKS: 40}))
    assert all(check(guard, TASKS, offset) for offset in range(40, 60))
    assert seeks.seeks == []


def test_a_first_record_past_the_committed_offset_is_fetched_again_from_it() -> None:
    guard, seeks = guarded(app_at(1, {TASKS: 40}))
    assert not check(guard, TASKS, 41)
    assert seeks.seeks == [(TASKS, 40)] and seeks.refetched == [TASKS.topic]


def test_at_a_hole_the_partition_is_sought_back_and_the_records_fetched_before_are_not_handled() -> None:
    guard, seeks = guarded(app_at(1, {TASKS: 0}))
    assert check(guard, TASKS, 0) and check(guard, TASKS, 1)
    assert not check(guard, TASKS, 5)  # 2, 3 and 4 were dropped
    assert seeks.seeks == [(TASKS, 2)]
    # the rest of what was fetched before the seek: not handled, and no second seek for them
    assert not any(check(guard, TASKS, offset) for offset in (6, 7, 8))
    assert seeks.seeks == [(TASKS, 2)]
    # fetched again from the first missing record: every one handled, in order, 5 to 8 included
    assert all(check(guard, TASKS, offset) for offset in range(2, 10))
    assert seeks.seeks == [(TASKS, 2)] and seeks.refetched == [TASKS.topic]


def test_a_hole_in_the_records_fetched_again_is_sought_again() -> None:
    guard, seeks = guarded(app_at(1, {TASKS: 0}))
    assert check(guard, TASKS, 0)
    assert not check(guard, TASKS, 5)
    assert check(guard, TASKS, 1) and check(guard, TASKS, 2)
    assert not check(guard, TASKS, 4)  # the fetch again dropped 3 as well
    assert seeks.seeks == [(TASKS, 1), (TASKS, 3)]
    assert check(guard, TASKS, 3) and check(guard, TASKS, 4)


def test_a_hole_does_not_hold_back_other_partitions() -> None:
    other = TP(TASKS.topic, 4)
    guard, seeks = guarded(app_at(1, {TASKS: 0, other: 7}))
    assert not check(guard, TASKS, 3)
    assert check(guard, other, 7) and check(guard, other, 8)
    assert seeks.seeks == [(TASKS, 0)]


def test_a_rebalance_ends_a_refetch_its_own_seek_replaces() -> None:
    app = app_at(1, {TASKS: 10})
    guard, seeks = guarded(app)
    assert not check(guard, TASKS, 12)
    app.consumer_generation_id = 2  # rebalanced; another worker moved the partition on meanwhile
    app.consumer._committed_offset[TASKS] = 30
    assert check(guard, TASKS, 30) and check(guard, TASKS, 31)
    assert seeks.seeks == [(TASKS, 10)]


def test_nothing_past_a_hole_is_finished_so_nothing_past_it_is_committed() -> None:
    guard, _ = guarded(app_at(1, {TASKS: 0}))
    guard.guard(TASKS.topic)
    for offset in (0, 1):
        assert check(guard, TASKS, offset)
        guard.done(TASKS, offset)
    assert not check(guard, TASKS, 5)
    assert guard.committable({TASKS: 6}) == {TASKS: 2}


def test_a_replayed_record_is_not_a_hole() -> None:
    guard, seeks = guarded(app_at(1, {TASKS: 10}))
    assert check(guard, TASKS, 10)
    assert check(guard, TASKS, 11)
    assert check(guard, TASKS, 8)  # a redelivery (at least once): processed again, ids make it safe
    assert check(guard, TASKS, 9)
    assert seeks.seeks == []


def test_a_new_generation_starts_again_at_the_committed_offset() -> None:
    app = app_at(1, {TASKS: 10})
    guard, seeks = guarded(app)
    assert check(guard, TASKS, 10)
    app.consumer_generation_id = 2  # rebalanced; another worker moved the partition on meanwhile
    app.consumer._committed_offset[TASKS] = 30
    assert check(guard, TASKS, 30)
    app.consumer_generation_id = 3
    assert not check(guard, TASKS, 31)
    assert seeks.seeks == [(TASKS, 30)]


def test_before_faust_has_sought_the_broker_says_where_to_start() -> None:
    guard, seeks = guarded(app_at(1, {}), committed=committed_at(40))
    assert not check(guard, TASKS, 67)
    assert seeks.seeks == [(TASKS, 40)]
    guard, seeks = guarded(app_at(1, {}), committed=committed_at(40))
    assert check(guard, TASKS, 40)


def test_a_partition_never_committed_accepts_its_first_record() -> None:
    guard, seeks = guarded(app_at(1, {}), committed=committed_at(None))
    assert check(guard, TASKS, 7)
    assert not check(guard, TASKS, 9)
    assert seeks.seeks == [(TASKS, 8)]


def test_compacted_topics_may_have_holes() -> None:
    guard, seeks = guarded(app_at(1, {CONSENT: 0}), skip={CONSENT.topic})
    assert check(guard, CONSENT, 0)
    assert check(guard, CONSENT, 17)  # compaction removed the records in between
    assert seeks.seeks == []


# The commit fence ------------------------------------------------------------------------------

JUDGMENTS = TP("review.judgments.v1", 3)


def handled(guard: OffsetGuard, tp: TP, offsets: range) -> None:
    for offset in offsets:
        check(guard, tp, offset)
        guard.done(tp, offset)


def test_the_fence_lets_through_what_the_stage_has_finished() -> None:
    guard = OffsetGuard(app_at(1, {JUDGMENTS: 10}), skip_topics=set())
    handled(guard, JUDGMENTS, range(10, 15))
    assert guard.committable({JUDGMENTS: 15}) == {JUDGMENTS: 15}
    assert guard.committable({JUDGMENTS: 12}) == {JUDGMENTS: 12}
    assert guard.fenced == 0


def test_records_faust_acked_without_the_stage_are_not_committed() -> None:
    """Faust acks records it skips during a rebalance; its commit would cover 10..14 unread."""
    guard = OffsetGuard(app_at(1, {JUDGMENTS: 8}), skip_topics=set())
    handled(guard, JUDGMENTS, range(8, 10))
    assert guard.committable({JUDGMENTS: 15}) == {JUDGMENTS: 10}
    assert guard.fenced == 1


def test_a_record_in_the_handler_is_not_finished() -> None:
    guard = OffsetGuard(app_at(1, {JUDGMENTS: 10}), skip_topics=set())
    handled(guard, JUDGMENTS, range(10, 12))
    check(guard, JUDGMENTS, 12)  # in the handler now, acked by nobody yet
    assert guard.committable({JUDGMENTS: 13}) == {JUDGMENTS: 12}


def test_what_was_finished_before_a_rebalance_may_still_be_committed_and_no_more() -> None:
    """A revocation commit that failed leaves finished records uncommitted; the next generation may
    commit them (before any record arrives), but not the records Faust skipped meanwhile."""
    app = app_at(1, {JUDGMENTS: 10})
    guard = OffsetGuard(app, skip_topics=set())
    handled(guard, JUDGMENTS, range(10, 20))
    app.consumer_generation_id = 2
    assert guard.committable({JUDGMENTS: 26}) == {JUDGMENTS: 20}
    assert guard.fenced == 1


def test_a_partition_another_worker_moved_on_starts_from_its_committed_offset() -> None:
    app = app_at(1, {JUDGMENTS: 10})
    guard = OffsetGuard(app, skip_topics=set())
    handled(guard, JUDGMENTS, range(10, 12))
    app.consumer_generation_id = 2
    app.consumer._committed_offset[JUDGMENTS] = 30  # another worker had it meanwhile
    handled(guard, JUDGMENTS, range(30, 33))
    assert guard.committable({JUDGMENTS: 33}) == {JUDGMENTS: 33}


def test_a_partition_this_worker_finished_nothing_of_is_not_committed() -> None:
    other = TP(JUDGMENTS.topic, 0)
    guard = OffsetGuard(app_at(1, {JUDGMENTS: 10, other: 0}), skip_topics=set())
    handled(guard, other, range(0, 1))  # the topic is guarded; partition 3 saw nothing here
    assert guard.committable({JUDGMENTS: 14}) == {}


def test_a_cut_that_would_not_move_the_committed_offset_commits_nothing() -> None:
    guard = OffsetGuard(app_at(1, {JUDGMENTS: 10}), skip_topics=set())
    handled(guard, JUDGMENTS, range(8, 10))  # a replay below the committed offset
    assert guard.committable({JUDGMENTS: 14}) == {}


def test_topics_the_stage_does_not_guard_pass_unchanged() -> None:
    guard = OffsetGuard(app_at(1, {CONSENT: 0}), skip_topics={CONSENT.topic})
    handled(guard, CONSENT, range(0, 3))
    other = TP("some.other.topic", 0)
    assert guard.committable({CONSENT: 40, other: 7}) == {CONSENT: 40, other: 7}


def test_every_service_app_commits_through_the_fence(tmp_path: Path) -> None:
    async def consumer_class() -> type:
        app = create_app("fence-test", Settings(data_dir=tmp_path))
        return type(app.consumer)

    assert asyncio.run(consumer_class()) is FencedConsumer


def test_never_committed_partitions_are_sought_to_their_start_after_a_rebalance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh, zero, committed = TP("t", 0), TP("t", 1), TP("t", 2)

    async def aiokafka_seek(self: Any) -> dict[TP, int | None]:  # seeks only offsets > 0
        return {fresh: None, zero: 0, committed: 12}

    monkeypatch.setattr(faust_aiokafka.Consumer, "seek_to_committed", aiokafka_seek)

    async def scenario() -> tuple[Any, list[TP]]:
        consumer: Any = create_app("seek-test", Settings(data_dir=tmp_path)).consumer
        consumer.assignment = lambda: {fresh, zero, committed}
        sought: list[TP] = []

        async def seek_to_beginning(*partitions: TP) -> None:
            sought.extend(partitions)

        consumer._thread.seek_to_beginning = seek_to_beginning
        return await consumer.seek_to_committed(), sought

    offsets, sought = asyncio.run(scenario())
    assert sought == [fresh, zero]
    assert offsets == {fresh: None, zero: 0, committed: 12}  # Faust reads them as before


def test_a_commit_made_while_faust_seeks_is_not_overwritten_by_the_offsets_it_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Faust's own perform_seek: it reads the committed offsets (4633), seeks, and while it awaits
    that the stage handles 4633..4673 and the commit timer commits 4642. Storing 4633 afterwards
    left Faust waiting for acks of offsets it had already committed."""
    tp = TP("t", 2)

    async def scenario() -> tuple[int | None, int | None]:
        consumer: Any = create_app("seek-race-test", Settings(data_dir=tmp_path)).consumer
        consumer.assignment = lambda: {tp}

        async def aiokafka_seek(self: Any) -> dict[TP, int | None]:
            read = {tp: 4633}  # what the broker said before the commit below
            for offset in range(4633, 4674):  # handled and acked while the seek is awaited
                consumer._acked_index[tp].add(offset)
                consumer._acked[tp].append(offset)
                if offset == 4641:  # the commit timer: Faust's own bookkeeping of a commit
                    assert consumer._new_offset(tp) == 4642
                    consumer._committed_offset[tp] = 4642
            return read

        monkeypatch.setattr(faust_aiokafka.Consumer, "seek_to_committed", aiokafka_seek)
        await consumer.perform_seek()
        return consumer._committed_offset[tp], consumer._new_offset(tp)

    committed, next_commit = asyncio.run(scenario())
    assert committed == 4642
    assert next_commit == 4674  # with 4633 stored over 4642: None, for good


def test_records_of_a_batch_fetched_before_a_seek_are_left_to_be_fetched_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A seek in the middle of a batch (a rebalance) makes the rest of it stale for that partition.

    Faust handed such records on, filtered them and stored their offset as read over the seek's, so
    the same records fetched again from the seek were dropped as read: a hole at every start.
    """
    a, b = TP("t", 0), TP("t", 1)
    batches = [[(a, 5), (a, 6), (a, 7), (b, 1)], [(a, 5), (a, 6)]]

    async def fetch(self: Any, timeout: float) -> Any:
        return batches.pop(0)

    async def faust_getmany(self: Any, timeout: float) -> Any:  # Faust's: one record at a time
        for tp, offset in await self._wait_next_records(timeout):
            yield tp, SimpleNamespace(offset=offset)

    async def aiokafka_seek(self: Any) -> dict[TP, int | None]:
        return {a: 5}

    monkeypatch.setattr(faust_aiokafka.Consumer, "_wait_next_records", fetch)
    monkeypatch.setattr(faust_aiokafka.Consumer, "getmany", faust_getmany)
    monkeypatch.setattr(faust_aiokafka.Consumer, "seek_to_committed", aiokafka_seek)

    async def scenario() -> tuple[list[tuple[TP, int]], list[tuple[TP, int]], Any, int]:
        consumer: Any = create_app("stale-test", Settings(data_dir=tmp_path)).consumer
        consumer.assignment = lambda: {a}
        first: list[tuple[TP, int]] = []
        async for tp, message in consumer.getmany(1.0):
            first.append((tp, message.offset))
            consumer._read_offset[tp] = message.offset  # what Faust does after each record
            if message.offset == 5:  # a rebalance seeks back while this record is handled
                await consumer.seek_to_committed()
        read_after = consumer._read_offset[a]
        second = [(tp, m.offset) async for tp, m in consumer.getmany(1.0)]
        return first, second, read_after, consumer.stale_skipped

    first, second, read_after, skipped = asyncio.run(scenario())
    assert first == [(a, 5), (b, 1)]  # 6 and 7 of the stale batch are not handed on; b was not sought
    assert read_after is None  # 5 was stored as read over the seek: cleared
    assert second == [(a, 5), (a, 6)]  # fetched again from the seek, all handed on
    assert skipped == 2


def test_a_refetched_hole_is_committed_in_one_go_not_one_record_per_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Faust records the hole it jumped over as a gap to count as acked; fetched again and acked,
    every record of it was in the acked list twice, and Faust's commit (its own `_new_offset`: the
    first run of consecutive offsets) moved by one record per commit."""
    sought: list[tuple[TP, int]] = []

    async def seek_in_thread(self: Any, tp: TP, offset: int) -> None:
        sought.append((tp, offset))

    monkeypatch.setattr(FencedConsumer, "_seek_in_thread", seek_in_thread)
    tp = TP("t", 0)

    async def scenario() -> int | None:
        consumer: Any = create_app("refetch-test", Settings(data_dir=tmp_path)).consumer
        consumer._committed_offset[tp] = 81
        await consumer._add_gap(tp, 82, 148)  # Faust read 148 right after 81: 82..148 "missing"

        def ack(offset: int) -> None:  # Faust's ack: once per offset above the committed one
            if offset not in consumer._acked_index[tp]:
                consumer._acked_index[tp].add(offset)
                consumer._acked[tp].append(offset)

        for offset in range(148, 161):  # handed over past the hole, not handled, acked by Faust
            ack(offset)
        await consumer.refetch(tp, 81)
        assert consumer._read_offset[tp] == 81  # read again from the seek, as Faust's seek sets it
        for offset in range(161, 171):  # queued before the seek, acked after it
            ack(offset)
        for offset in range(81, 171):  # fetched again from the hole, handled, acked
            ack(offset)
        return consumer._new_offset(tp)

    assert asyncio.run(scenario()) == 171
    assert sought == [(tp, 81)]


# Table updates before a commit ----------------------------------------------------------------


def test_a_commit_waits_for_the_table_updates_sent_before_it(tmp_path: Path) -> None:
    async def scenario() -> list[str]:
        app = create_app("changelog-test", Settings(data_dir=tmp_path))
        seen: list[str] = []
        update: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        app.changelog_pending.add(update)
        update.add_done_callback(app.changelog_pending.discard)

        async def broker_acknowledges() -> None:
            await asyncio.sleep(0.05)
            seen.append("acknowledged")
            update.set_result(None)

        task = asyncio.create_task(broker_acknowledges())
        await app.changelog_delivered()
        seen.append("commit")
        await task
        assert not app.changelog_pending
        return seen

    assert asyncio.run(scenario()) == ["acknowledged", "commit"]


def test_a_table_update_that_fails_stops_the_worker_before_the_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Stopped(BaseException):
        pass

    def stop_worker(name: str, exc: BaseException, app: object = None) -> None:
        raise Stopped(str(exc))

    monkeypatch.setattr(faust_app, "stop_worker", stop_worker)

    async def scenario() -> None:
        app = create_app("changelog-test", Settings(data_dir=tmp_path))
        update: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        update.set_exception(RuntimeError("MSG_SIZE_TOO_LARGE"))
        app.changelog_pending.add(update)
        await app.changelog_delivered()

    with pytest.raises(Stopped, match="table updates not delivered before a commit"):
        asyncio.run(scenario())


def test_a_source_topic_is_fenced_before_the_stage_has_seen_a_record_of_it() -> None:
    """A new worker whose first judgments Faust skipped and acked must not commit them."""
    guard = OffsetGuard(app_at(1, {JUDGMENTS: 8}), skip_topics={CONSENT.topic})
    guard.guard(JUDGMENTS.topic)
    guard.guard(CONSENT.topic)  # compacted: holes are normal, never fenced
    assert guard.committable({JUDGMENTS: 12, CONSENT: 40}) == {CONSENT: 40}


# Leaving the group when a worker stops itself ---------------------------------------------------


class _Coordinator:
    """What `leave_group` uses of aiokafka's group coordinator, on a loop of its own thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, answer_after: float = 0.0) -> None:
        async def future() -> asyncio.Future[None]:
            return loop.create_future()

        self._closing = asyncio.run_coroutine_threadsafe(future(), loop).result()
        self.answer_after = answer_after
        self.left_with_loop_closing: list[bool] = []

    async def _maybe_leave_group(self) -> None:
        await asyncio.sleep(self.answer_after)
        self.left_with_loop_closing.append(self._closing.done())


def _consumer_thread_loop() -> asyncio.AbstractEventLoop:
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    return loop


def _app_with(loop: asyncio.AbstractEventLoop | None, coordinator: Any) -> Any:
    thread = SimpleNamespace(thread_loop=loop, _consumer=SimpleNamespace(_coordinator=coordinator))
    return SimpleNamespace(consumer=SimpleNamespace(_thread=thread))


def test_a_worker_stopping_itself_leaves_its_group_after_stopping_the_join_loop() -> None:
    loop = _consumer_thread_loop()
    coordinator = _Coordinator(loop)
    try:
        assert faust_app.leave_group(_app_with(loop, coordinator))
    finally:
        loop.call_soon_threadsafe(loop.stop)
    assert coordinator.left_with_loop_closing == [True]  # it cannot join again before it exits


def test_a_broker_that_does_not_answer_the_leave_delays_the_stop_only_briefly() -> None:
    loop = _consumer_thread_loop()
    coordinator = _Coordinator(loop, answer_after=30.0)
    started = time.monotonic()
    try:
        assert not faust_app.leave_group(_app_with(loop, coordinator), timeout=0.2)
    finally:
        loop.call_soon_threadsafe(loop.stop)
    assert time.monotonic() - started < 5.0


def test_a_worker_whose_consumer_never_started_has_no_group_to_leave() -> None:
    assert not faust_app.leave_group(_app_with(None, None))


def test_other_faust_or_aiokafka_versions_refuse_to_start() -> None:
    faust_app.check_versions(lambda name: faust_app.PINNED[name])  # the pinned ones start
    other = {**faust_app.PINNED, "aiokafka": "0.15.0"}
    with pytest.raises(FatalError, match=r"aiokafka 0\.15\.0 \(pinned 0\.14\.0\)"):
        faust_app.check_versions(other.__getitem__)

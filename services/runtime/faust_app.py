"""Faust made safe for at-least-once: every workaround of Faust's and aiokafka's internals, in one place.

The stage (stage.py) runs the per-event loop; this module owns how a Faust worker consumes, keeps
tables and commits. Faust acks an event even when its agent raises, commits from several places
(its timer, a revocation, shutdown), and has dropped or skipped records around rebalances; each
entry below names what it works around, the upstream report where there is one, and the test that
proves it. They touch Faust's private attributes, so the versions are pinned (pyproject.toml) and
checked at start (`check_versions`): an upgrade is a deliberate act that reruns the fault suite
(`make test-reliability`) and the tests named here.

The workarounds (what Faust or aiokafka does; upstream reports; the tests that prove the fix):
- `CommitOrder`: Faust can commit offsets before the outputs and table updates of the records they
  cover are on the broker (`ProducerBuffer.flush` returns after 0.1 s without a send, and an update
  its drain task took is in neither queue). faust-streaming #273 (a flush before commit, still
  early), robinhood/faust #340. tests/unit/runtime/test_offset_guard.py (table updates), the fault
  suite (every fault).
- `OffsetGuard.committable`, the commit fence: Faust acks the records its stream skips during a
  rebalance and commits them; it commits past a gap in acks. faust-streaming #312/#313, #216.
  test_offset_guard.py; faults `sigkill_random_of_two`, `scale_1_3_1`.
- `OffsetGuard.check` + `FencedConsumer.refetch`, fetch a hole again: a fetch started before a
  rebalance (or at start) stores its read offset over the seek, and the records in between are
  filtered as read. faust-streaming #216, #221, #236. The partition is sought back to the first
  missing record, and Faust's gap and ack bookkeeping cut back to it (left, every refetched record
  counted twice and commits crawled one record at a time). test_offset_guard.py; the fault suite.
- `FencedConsumer.getmany`: the rest of a batch fetched before a seek was handed out, and the same
  records fetched again dropped as read (the #216 family). test_offset_guard.py (stale batch).
- `FencedConsumer.seek_to_committed`: aiokafka seeks only partitions committed past 0, so a
  never-committed partition kept a fetch position past records Faust dropped; and Faust's
  `perform_seek` stored the offsets it had read over a commit made while it awaited the seek, and
  its commits then stalled. test_offset_guard.py.
- `CommitWatchdog`: Faust records a failed commit as committed and never retries it, so a
  partition can stop committing for good. faust-streaming #318, #611. test_commit_watchdog.py.
- `CommitWatchdog._resync`: stalls with nothing in the handler after rebalances and restarts:
  records aiokafka fetched never reached the stream (the #216 family again, cause not pinned down),
  or acks went missing at a partition's head after a hole was fetched again, or a failed commit was
  recorded as done (#318). The partition is fetched again from the committed offset at half the
  stall time. test_commit_watchdog.py; tests/integration/test_escalation_service.py (a dropped
  record).
- `stop_worker` + `leave_group`: an exception reaching Faust acks its event (faust-streaming #315,
  #527, robinhood/faust #604) and wedges the worker, which then ignores SIGTERM; a worker that ends
  holds its partitions for the session timeout unless it leaves the group.
  tests/integration/test_stage_stop.py, test_worker_restarts.py.
- `Table._verify_source_topic_partitions`: Faust compared partition counts from metadata that had
  not arrived (0) and raised `PartitionsMismatch` on every write. test_stage_metadata.py.
- `METADATA_MAX_AGE_MS`: a topic unknown at the last metadata fetch got no partitions for Faust's
  300 s. test_stage_metadata.py.
- `Worker`, no terminal spinner: at log level WARNING or above, Faust's worker sets the root logger
  to DEBUG so that its spinner turns on every log record; every debug call of Faust and aiokafka
  (one per record sent) then builds a record, formats nothing and is dropped by the handler.
  tests/unit/runtime/test_faust_worker.py.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import os
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from importlib import metadata
from typing import TYPE_CHECKING, Any, NoReturn, cast

import faust
from faust.exceptions import PartitionsMismatch
from faust.sensors import Sensor
from faust.transport.drivers import aiokafka as faust_aiokafka

from services.runtime import exits, faults
from services.runtime.crashes import Origin, RecordFault, is_record_error
from services.runtime.errors import FatalError
from services.runtime.kafka import faust_credentials
from services.runtime.settings import Settings

if TYPE_CHECKING:
    from services.runtime.stage import Stage

log = logging.getLogger(__name__)

EXIT_CRASH = 70  # EX_SOFTWARE: the worker stopped itself; restart it
WATCHDOG_INTERVAL_SECONDS = 5.0

PINNED = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0", "mode-streaming": "0.7.1"}
"""The versions this module's workarounds were written and proven against (pyproject.toml pins them)."""


def check_versions(installed: Callable[[str], str] = metadata.version) -> None:
    """Refuse to start on Faust, aiokafka or mode versions other than the pinned ones."""
    wrong = {name: installed(name) for name in PINNED if installed(name) != PINNED[name]}
    if wrong:
        found = ", ".join(f"{name} {version} (pinned {PINNED[name]})" for name, version in wrong.items())
        raise FatalError(
            f"{found}: services/runtime/faust_app.py works around these libraries' internals; "
            f"upgrading them means rerunning the fault suite and updating PINNED and pyproject.toml"
        )


current_origin: contextvars.ContextVar[Origin | None] = contextvars.ContextVar("origin", default=None)
"""The input record being handled in this task: outputs and table updates are attributed to it, so
a delivery the broker refuses for the record's sake names the record (runtime/crashes.py)."""


class Table(faust.Table[Any, Any]):
    """A Faust table whose co-partitioning check trusts only metadata that has arrived.

    Before writing, Faust compares the partition counts of the event's topic and of the table's
    changelog as the consumer's group metadata snapshot has them. That snapshot lists a changelog
    with 0 partitions until the client has fetched its metadata (at start, and after some
    rebalances, for up to `metadata.max.age.ms`), and Faust raised `PartitionsMismatch` on every
    write meanwhile: the worker crashed and restarted into the same error. An unknown count (0) is
    not a mismatch: this check only compares two known counts, and only caches a passed check.
    Every topic, changelogs included, is created with `settings.partitions` before the worker
    starts (`worker.provision`), so a real mismatch means a topic was changed by hand: it stays
    fatal.
    """

    def _verify_source_topic_partitions(self, source_topic: str) -> None:
        if source_topic in self._verified_source_topics_for_partitions:
            return
        consumer = self.app.consumer
        source_n = consumer.topic_partitions(source_topic)
        change_n = consumer.topic_partitions(self.changelog_topic_name)
        if not source_n or not change_n:
            return  # metadata not there yet: check again at the next write
        if source_n != change_n:
            raise PartitionsMismatch(
                f"table {self.name}: {source_topic} has {source_n} partitions but its changelog "
                f"{self.changelog_topic_name} has {change_n}; they must be co-partitioned"
            )
        self._verified_source_topics_for_partitions.add(source_topic)

    def send_changelog(self, *args: Any, **kwargs: Any) -> Any:
        """Send a table update to the changelog; the app keeps its future until the broker has it."""
        future = super().send_changelog(*args, **kwargs)
        if isinstance(self.app, App):
            app = self.app
            app.changelog_pending.add(future)
            origin = current_origin.get()
            if origin is not None:
                app.changelog_origins[future] = origin

            def done(f: Any) -> None:
                app.changelog_pending.discard(f)
                if not f.cancelled() and f.exception() is None:
                    app.changelog_origins.pop(f, None)

            future.add_done_callback(done)
        return future


def stop_worker(name: str, exc: BaseException, app: Any = None) -> NoReturn:
    """End the process now, without committing: the supervisor restarts it and it resumes from
    the last committed offsets (at least once). Letting the exception reach Faust instead leaves
    the worker wedged: its consumer waits forever for the crashed agent and ignores SIGTERM.
    Given its `app`, the worker leaves its consumer group first (`leave_group`)."""
    log.critical("%s: stopping the worker after %s: %s", name, type(exc).__name__, exc)
    exits.record(exc)
    if app is not None:
        leave_group(app)
    logging.shutdown()
    os._exit(EXIT_CRASH)


LEAVE_TIMEOUT_SECONDS = 3.0


def leave_group(app: Any, timeout: float = LEAVE_TIMEOUT_SECONDS) -> bool:
    """Tell the group coordinator this worker is gone, so its partitions move now; True if it did.

    A worker that ends itself without leaving holds its partitions until its session times out
    (20 s), so each replacement of a worker that stops at start (a hole met again) would wait that
    long, and a few such restarts stall the stage. aiokafka's coordination loop is stopped first,
    so the worker does not join again before the process ends. Best effort, within `timeout`: when
    the broker does not answer, the session timeout still frees the partitions.
    """
    try:
        thread = app.consumer._thread
        loop = getattr(thread, "thread_loop", None)
        coordinator = getattr(getattr(thread, "_consumer", None), "_coordinator", None)
        if coordinator is None or loop is None or not loop.is_running():
            return False
        try:
            if asyncio.get_running_loop() is loop:
                return False  # on the consumer's own loop, waiting here would block the leave itself
        except RuntimeError:
            pass

        async def leave() -> None:
            if not coordinator._closing.done():
                coordinator._closing.set_result(None)
            await coordinator._maybe_leave_group()

        asyncio.run_coroutine_threadsafe(leave(), loop).result(timeout)
        return True
    except Exception as exc:  # the session timeout remains
        log.warning("could not leave the consumer group before stopping: %r", exc)
        return False


class Worker(faust.Worker):
    """Faust's worker without its terminal spinner, so the root logger keeps the configured level.

    With the spinner (Faust's default at WARNING and above) the root logger is set to DEBUG and each
    of the debug calls Faust and aiokafka make per record sent builds a log record for the spinner:
    about 4% of an escalation worker's samples under load. The spinner's cursor codes also went into
    the services' logs, which are files, not terminals.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spinner = None


class FencedConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer with the stage's commit fence in front of every offset commit.

    `_commit_offsets` is where every commit Faust makes passes (timer, revocation, shutdown), after
    it has turned acked offsets, and its gap bookkeeping, into the offsets to commit.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._seeks: defaultdict[Any, int] = defaultdict(int)
        """Seeks per partition so far: a batch fetched before the last one is stale."""
        self._batch_seeks: dict[Any, int] = {}
        """`_seeks` when the batch being handed out was fetched."""
        self.stale_skipped = 0
        """Records of stale batches not handed to Faust (they are fetched again from the seek)."""

    async def _commit_offsets(self, offsets: Mapping[Any, int], start_new_transaction: bool = True) -> bool:
        app = cast(App, self.app)
        if app.commit_order is not None:
            offsets = await app.commit_order.committable(offsets)
        elif offsets:
            await app.changelog_delivered()
        return await super()._commit_offsets(offsets, start_new_transaction=start_new_transaction)

    def _sought(self, partitions: Iterable[Any]) -> None:
        for tp in partitions:
            self._seeks[tp] += 1

    async def _wait_next_records(self, timeout: float) -> Any:
        fetched = await super()._wait_next_records(timeout)
        self._batch_seeks = dict(self._seeks)
        return fetched

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[Any, Any]]:
        """Faust's batches, less the records of partitions sought since the batch was fetched.

        Faust hands a batch out one record at a time, awaiting each record's handling, so a
        rebalance's seek back to the committed offsets can fall in the middle of a batch. The rest of
        the batch is then stale: Faust filtered and acked such records, and stored their offset as
        read over the seek's, so the same records fetched again after the seek were dropped as read
        already. The offset guard saw the hole and restarted the worker; a worker with a backlog met
        it again at every start, and the stage stalled. Skipped
        here, they are not lost: the seek moved the fetch position back to them. A seek during a
        record's own handling is followed by Faust storing that record's offset as read; the read
        offset is cleared then, so nothing after the seek is filtered.
        """
        skipped = 0
        async for tp, message in super().getmany(timeout):
            if faults.DROP_ID is not None and faults.drop_once(message.value):
                continue  # the reliability suite's stand-in for a record Faust lost (faults.py)
            fetched_at = self._batch_seeks.get(tp, 0)
            if self._seeks[tp] != fetched_at:
                skipped += 1
                continue
            yield tp, message
            if self._seeks[tp] != fetched_at:
                self._read_offset[tp] = None
        if skipped:
            self.stale_skipped += skipped
            log.info("%d records of a batch fetched before a seek left to be fetched again", skipped)

    async def seek(self, partition: Any, offset: int) -> None:
        self._sought([partition])
        await super().seek(partition, offset)

    async def refetch(self, tp: Any, offset: int) -> None:
        """Fetch `tp` again from `offset`, the first record of a hole (OffsetGuard.check).

        Faust's commit bookkeeping for the partition is cut back to `offset` first. When Faust's
        fetch loop jumped over the hole it recorded the missing offsets as a gap, to count as acked
        at the next commit; fetched again and acked when handled, each of them would then be in the
        list of acked offsets twice, and Faust's commit, which takes the first run of consecutive
        offsets, moved on by one record per commit, so a refetched hole of a hundred records took
        minutes to commit. Acks of records from `offset` on are
        dropped too: those records come again and are acked when the stage has handled them.

        The seek itself runs in the consumer's thread (`_seek_in_thread`), not through Faust's
        `seek`.
        """
        gap = self._gap.get(tp)
        if gap:
            gap.chop(offset, sys.maxsize)
        acked = self._acked.get(tp)
        if acked:
            later = [o for o in acked if o >= offset]
            acked[:] = [o for o in acked if o < offset]
            self._acked_index[tp].difference_update(later)
        self._sought([tp])
        await self._seek_in_thread(tp, offset)
        self._read_offset[tp] = offset if offset else None  # as Faust's seek does: read again from it

    async def _seek_in_thread(self, tp: Any, offset: int) -> None:
        """aiokafka's seek, made in the consumer's own thread.

        Faust's `seek` calls aiokafka's from the event loop's thread, while the consumer's thread may
        be taking a batch out of aiokafka's fetch buffers: the seek deletes the partition's buffer
        under it, and the fetch raised `KeyError` (`del self._records[tp]` in aiokafka's
        `fetched_records`), which crashed Faust's fetcher and the worker; the more partitions are
        fetched again at once, the likelier. In the consumer's thread the seek runs between two
        steps of the fetch, never inside one.
        """
        thread = self._thread

        async def seek() -> None:
            thread.seek(tp, offset)

        await thread.call_thread(seek)

    async def seek_to_committed(self) -> Mapping[Any, int]:
        """Seek every assigned partition to the group's committed offset, the never-committed ones too.

        Faust seeks back to the committed offsets after each rebalance, through aiokafka, which seeks
        only partitions committed past 0 (`if offset and offset > 0`). A partition the group has not
        committed yet keeps the worker's fetch position, which is past any record Faust dropped
        there, so those were never read again: review task partitions holding a few records stalled
        with lag until a run was cut short. They are sought to their first offset here; records this
        worker already handled come again, which every stage takes as the replay it is.
        """
        self._sought(self.assignment())  # before the seek: batches fetched from now on are not stale
        committed = dict(await super().seek_to_committed())
        fresh = [tp for tp, offset in committed.items() if not offset]
        if fresh:
            await self._thread.seek_to_beginning(*fresh)
        return self._not_behind_commits(committed)

    def _not_behind_commits(self, committed: dict[Any, int]) -> dict[Any, int]:
        """The committed offsets read for the seek, or the ones this worker committed since, if later.

        Faust's `perform_seek` stores what this returns as its own committed offsets after awaiting
        it; the seek and the read of the broker's offsets take a round trip or two, during which the
        stage handles the records fetched from the seek and the commit timer commits them. Storing
        the older offset over the newer one left Faust's record behind the broker's with the
        committed records' acks already cleared, and its commit waited for acks that never came
        (`min(acked) - committed > 1` in `_new_offset`), and the commit watchdog stopped the worker 30 s
        after its restart. Faust pops
        a partition's record when the partition is revoked, so one present here was committed by
        this worker in this assignment.
        """
        out = {}
        for tp, offset in committed.items():
            mine = self._committed_offset.get(tp)
            out[tp] = mine if mine is not None and offset is not None and mine > offset else offset
        return out


class Transport(faust_aiokafka.Transport):
    Consumer = FencedConsumer


class App(faust.App):
    """A Faust app whose consumer commits only what its stage has handled (see OffsetGuard), and only
    once the table updates those records made are on the broker (see `changelog_delivered`)."""

    commit_order: CommitOrder | None = None
    """The stage's commit order; an app without a stage only waits for its table updates."""
    crash_handler: Callable[[BaseException], NoReturn] | None = None
    """The stage's `crash` (it counts record faults); without a stage, `stop_worker`."""
    changelog_timeout: float = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.changelog_pending: set[asyncio.Future[Any]] = set()
        """Table updates handed to Faust's producer and not yet acknowledged by the broker."""
        self.changelog_origins: dict[Any, Origin] = {}
        """The input record each unacknowledged or failed table update was written for."""

    async def changelog_delivered(self) -> None:
        """Wait until every table update sent so far is acknowledged; stop the worker if one fails.

        Faust flushes its producer before committing offsets, but that flush does not cover every
        table update: `ProducerBuffer.flush` returns as soon as 0.1 s pass without a send, and the
        update its drain task has taken off the queue is in neither the queue nor aiokafka's
        batches. A commit could then precede the updates of the records it covers, and a worker
        killed right after it lost them: the state a replacement restores misses them, and no
        replay brings them back (review lost open tasks that way: their judgments waited forever).
        """
        pending = list(self.changelog_pending)
        if not pending:
            return
        try:
            await asyncio.wait_for(asyncio.gather(*pending), timeout=self.changelog_timeout)
        except Exception as exc:  # not delivered: committing now would lose the updates
            error: FatalError = FatalError(f"table updates not delivered before a commit: {exc!r}")
            for future in pending:  # one the broker refused for its record's sake: blame the record
                if future.done() and not future.cancelled() and is_record_error(future.exception()):
                    origin = self.changelog_origins.get(future)
                    if origin is not None:
                        error = RecordFault(f"a table update was refused: {future.exception()!r}", origin)
                        break
            (self.crash_handler or functools.partial(stop_worker, self.conf.id, app=self))(error)

    def _new_transport(self) -> Any:
        return Transport(self.conf.broker_consumer, self)


METADATA_MAX_AGE_MS = 5_000
"""How stale a worker's topic metadata may get; new topics and partitions are seen this soon."""


def create_app(service: str, settings: Settings, **options: Any) -> App:
    """A Faust app for one service: its own consumer group, topics declared elsewhere (the registry)."""
    check_versions()
    datadir = settings.data_dir / "faust" / settings.group(service)  # not the working directory
    datadir.mkdir(parents=True, exist_ok=True)  # Faust creates only the last level
    return App(
        settings.group(service),
        Table=Table,
        broker=f"kafka://{settings.kafka_bootstrap_servers}",
        broker_credentials=faust_credentials(settings),
        store="memory://",
        datadir=str(datadir),
        web_enabled=False,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        producer_acks=-1,
        producer_linger=settings.producer_linger_ms / 1000.0,
        consumer_auto_offset_reset="earliest",
        broker_commit_every=1000,
        broker_commit_interval=1.0,
        # A killed worker does not leave its group (one that stops itself does: leave_group), and
        # its partitions wait out this timeout. Faust's 60 s is as long as the suite's stall limit.
        broker_session_timeout=settings.session_timeout_seconds,
        # A topic the broker did not know at the consumer's metadata fetch (it was just created, or the
        # broker was still starting) stays unknown until the next fetch, and the group leader assigns
        # none of its partitions until then: with Faust's 300 s a whole stage can sit idle that long.
        consumer_metadata_max_age_ms=METADATA_MAX_AGE_MS,
        # The size contract (contracts/limits.py): table updates and sends up to the largest record.
        producer_max_request_size=settings.limits.producer_bytes,
        consumer_max_fetch_size=settings.limits.fetch_bytes,
        **options,
    )


async def broker_committed(app: faust.App, tps: set[Any]) -> Mapping[Any, int | None]:
    """The group's committed offsets as the broker has them, in one request each way.

    A partition the group never committed counts as committed at its first offset (where the
    consumer starts, `auto_offset_reset=earliest`): neither the broker's answer nor Faust's
    `_committed_offset` lists it, and the reliability suite's stalls were such partitions.
    """
    thread = cast(Any, app.consumer)._thread

    async def fetch() -> dict[Any, int | None]:
        client = thread._ensure_consumer()
        found = await client._coordinator.fetch_committed_offsets(list(tps))
        never = [tp for tp in tps if tp not in found]
        starts = await client.beginning_offsets(never) if never else {}
        return {tp: found[tp].offset if tp in found else starts.get(tp) for tp in tps}

    return cast(Mapping[Any, int | None], await thread.call_thread(fetch))


class OffsetGuard:
    """Keeps Faust from losing records: fetches a hole again, and fences its commits.

    Faust's fetch loop can drop records around a rebalance: a fetch started before the rebalance
    finishes after Faust has sought back to the committed offsets, and stores its own, later read
    offset over the seek, so the records in between are filtered as already read (faust-streaming
    issues #216, #221 describe the family). Faust then either never commits that partition again
    (its commit waits for the hole: the stall the reliability suite found with two review workers) or
    commits past it. The reliability suite lost five consecutive judgments, with no hole for a
    later record to give away.

    Two checks, per partition of a non-compacted topic (whose offsets are consecutive):
    - `check`, before the handler: the first record after a (re)assignment must be at the offset
      Faust sought to (its committed offset) or earlier, and every later one must follow the one
      before. At a hole the consumer is sought back to the first missing offset and the record is
      not handled; nor are the partition's records fetched before that seek (they were already in
      Faust's stream queue), until the first missing one comes again.
    - `committable`, the commit fence: Faust never commits past the records this stage has finished
      (`done`). Faust acks records it skips while a rebalance is under way
      (faust/streams.py: "we want to ack the filtered out message"), and after the rebalance it
      commits them with the partition's next records. If the worker dies, or the partition moves,
      before it reads them again, they are lost: the five judgments above. The fence commits only
      what was handled.
    Before, a hole stopped the worker (exit 70) and its replacement read the records again from the
    committed offset: a restart of 15-30 s each time, and the most common self-restart in the fault
    suite. If the missing records never come (the broker deleted them by retention), the commits of
    the partition stay where they are and the commit watchdog stops the worker, as it does for a
    commit the fence holds back for good.
    """

    def __init__(
        self,
        app: faust.App,
        skip_topics: set[str],
        committed: Callable[[Any], Awaitable[int | None]] | None = None,
        seek: Callable[[Any, int], Awaitable[None]] | None = None,
        on_refetch: Callable[[str], None] | None = None,
    ) -> None:
        self.app = app
        self.skip_topics = skip_topics
        self.committed = committed or self._broker_committed
        self.seek = seek or self._seek
        self.on_refetch = on_refetch
        """Called with the topic each time a hole is fetched again (a metric)."""
        self._generation: int | None = None
        self._next: dict[Any, int] = {}
        self._done: dict[Any, int] = {}
        self._refetching: dict[Any, int] = {}
        """Partitions sought back at a hole, and the offset they were sought to."""
        self._guarded: set[str] = set()
        self.fenced = 0
        """Commits the fence has cut back (records Faust acked without the stage handling them)."""

    async def _broker_committed(self, tp: Any) -> int | None:
        """The group's committed offset of `tp`, asked of the broker (Faust had not sought yet).

        Never committed: its first offset. Before, a partition's first records could be skipped
        unseen (Faust acks what it skips while a rebalance is under way), the stage's first record
        be taken as where the partition starts, and the fence let the skipped ones be committed.
        """
        return (await broker_committed(self.app, {tp})).get(tp)

    async def _seek(self, tp: Any, offset: int) -> None:
        """Move the consumer's fetch position of `tp` back to `offset` (FencedConsumer.refetch: the
        rest of a batch fetched before it is not handed out, Faust's read offset is reset, and its
        commit bookkeeping cut back to `offset`)."""
        await cast(Any, self.app.consumer).refetch(tp, offset)

    def guard(self, topic: str) -> None:
        """Fence the commits of `topic` (a stage's source) from the start, before any record of it.

        A worker whose first records of a partition Faust skips (a rebalance under way) and acks
        would otherwise commit them as a topic the stage has not seen: the judgments one
        sigkill-of-two run lost were committed that way by workers that never handled them.
        """
        if topic not in self.skip_topics:
            self._guarded.add(topic)

    async def check(self, tp: Any, offset: int) -> bool:
        """Whether the stage handles the record at `offset` of `tp`: False at a hole (the consumer is
        sought back to the first missing record) and for the partition's records past it until that
        record comes again."""
        if tp.topic in self.skip_topics:
            return True
        self._guarded.add(tp.topic)
        generation = self.app.consumer_generation_id
        if generation != self._generation:
            self._generation = generation
            self._next.clear()
            self._refetching.clear()  # the rebalance's own seek to the committed offsets replaces ours
        sought = self._refetching.get(tp)
        if sought is not None:
            if offset > sought:
                return False  # fetched before the seek; it comes again after the missing ones
            if offset == sought:
                del self._refetching[tp]
        expected = self._next.get(tp)
        if expected is None:  # first record since the assignment: Faust sought to the committed offset
            expected = cast(Any, self.app.consumer)._committed_offset.get(tp)
            if expected is None:  # ... or had not recorded it yet (records can come before the seek)
                expected = await self.committed(tp)
            if expected is not None:  # the group has committed what is before it: finished too
                self._done[tp] = max(self._done.get(tp, 0), expected)
        if expected is not None and offset > expected:
            log.warning(
                "%s[%d]: record at offset %d but %d was next; %d records were dropped by the consumer; "
                "fetching again from %d",
                tp.topic,
                tp.partition,
                offset,
                expected,
                offset - expected,
                expected,
            )
            await self.refetch(tp, expected)
            return False
        self._next[tp] = offset + 1
        return True

    async def refetch(self, tp: Any, offset: int) -> None:
        """Seek `tp` back to `offset` and let none of its records past it through until it comes."""
        self._next[tp] = offset
        self._refetching[tp] = offset
        await self.seek(tp, offset)
        if self.on_refetch is not None:
            self.on_refetch(tp.topic)

    def done(self, tp: Any, offset: int) -> None:
        """The stage has finished the record at `offset` (its outputs are with the producer).

        `check` lets no record past a hole, and starts each generation at the group's committed
        offset, so every offset below the highest finished one has been finished too, by this
        worker or (below the committed offset) by the group. That stays true across rebalances.
        """
        if tp.topic in self.skip_topics:
            return
        if offset + 1 > self._done.get(tp, 0):
            self._done[tp] = offset + 1

    def committable(self, offsets: Mapping[Any, int]) -> dict[Any, int]:
        """The commit fence: what Faust may commit of `offsets`, never past what the stage finished.

        An offset past the stage's finished records is cut back to them (and left out when that
        is not past the committed offset): the records in between are Faust's skipped or dropped
        ones. A skipped one is read again after the seek that ends a rebalance; a dropped one keeps
        the partition's committed offset where it is, and the commit watchdog restarts the worker.
        A guarded partition this worker has finished nothing of is left out. Topics that are not a
        stage's sources (compacted ones, Faust's own) pass unchanged.
        """
        committed = cast(Any, self.app.consumer)._committed_offset
        allowed: dict[Any, int] = {}
        for tp, offset in offsets.items():
            if tp.topic not in self._guarded:
                allowed[tp] = offset
                continue
            done = self._done.get(tp)
            if done is None:
                continue
            if offset > done:
                log.warning(
                    "%s[%d]: commit cut back from %d to %d: the consumer acked records the stage has "
                    "not handled",
                    tp.topic,
                    tp.partition,
                    offset,
                    done,
                )
                self.fenced += 1
                offset = done
            before = committed.get(tp)
            if before is None or offset > before:
                allowed[tp] = offset
        return allowed


Offsets = Callable[[set[Any]], Awaitable[Mapping[Any, int | None]]]


class CommitWatchdog:
    """Stops a worker whose commits stopped on a partition that has records to read.

    The reliability suite found Faust workers that, after rebalances, stay in the group with lag > 0
    and never commit again (with two review workers and SIGKILLs), while nothing is in their handler.
    One way in: Faust records an offset as committed even when the commit failed (a rebalance under
    way: `_commit_offsets` updates `_committed_offset` whatever `_commit` returned), so it never
    tries again; the broker's committed offset stays behind for good. So the watchdog reads the
    committed offsets from the broker, as the group's lag shows them, not from Faust.
    A worker cannot read what its own consumer lost track of, but its replacement starts at the
    committed offset: so, like a liveness probe, the worker ends itself (exit 70, nothing committed)
    and is restarted. A stall while an event is in the handler is that event's own slowness (it is
    logged, not ended: the event would be slow again after a restart).
    At half the stall time it first fetches the partition again from the committed offset, with
    Faust's bookkeeping for it reset (`_resync`), and only a stall that outlasts that stops the worker.
    """

    def __init__(
        self,
        stage: Stage,
        stall_seconds: float,
        *,
        ends: Offsets | None = None,
        committed: Offsets | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stage = stage
        self.stall_seconds = stall_seconds
        self.ends = ends or self._broker_ends
        self.committed = committed or functools.partial(broker_committed, stage.app)
        self.clock = clock
        self._since: dict[Any, tuple[int, float]] = {}
        self._warned: set[Any] = set()
        self._refetched: dict[Any, int] = {}
        """The committed offset each partition was last fetched again from (`_resync`)."""

    async def _resync(self, tp: Any, committed: int) -> bool:
        """Fetch a stalled partition again from the group's committed offset, Faust's bookkeeping reset.

        What stalls were seen with, nothing in the handler each time:
        - records fetched and never handed to the stream: Faust's committed offset is the broker's,
          nothing is acked, aiokafka's fetch position is past the committed offset (around the seek
          at the end of a recovery, after rebalances and restarts);
        - acks missing at the head of the partition after a hole was fetched again: Faust's committed
          offset is the broker's, the acked offsets start well past it, and Faust's commit waits for
          the ones in between for good (`min(acked) - committed > 1` in `_new_offset`);
        - Faust recording a commit that failed as done (faust-streaming #318, #611), so its own
          committed offset is ahead of the broker's and it never commits again.
        In each, the records from the committed offset on are fetched again (`OffsetGuard.refetch`:
        Faust's gap and acks from that offset are dropped, its committed offset set to the broker's),
        and the stage handles the ones it had already handled as the replays they are. A seek costs a
        round trip where a restart costs the worker's recovery. Once per committed offset: a stall
        that outlasts it stops the worker as before. A partition Faust holds back on purpose (paused,
        its buffer full) is left to the stall's end.
        """
        consumer = cast(Any, self.stage.app.consumer)
        if self._refetched.get(tp) == committed or self.stage.busy_since is not None:
            return False
        if tp in consumer._paused_partitions or tp in consumer._buffered_partitions:
            return False
        acked = sorted(consumer._acked.get(tp) or [])
        mine = consumer._committed_offset.get(tp)
        log.warning(
            "%s: %s[%d]: commits stalled at %d with nothing in the handler (Faust's committed offset %s, "
            "acked %s; %s); fetching again from %d",
            self.stage.service,
            tp.topic,
            tp.partition,
            committed,
            mine,
            f"{acked[0]}-{acked[-1]} ({len(acked)})" if acked else "none",
            fetch_state(consumer, tp),
            committed,
        )
        self._refetched[tp] = committed
        if mine is not None:
            consumer._committed_offset[tp] = committed  # the broker's: Faust acks nothing below its own
        await self.stage.offsets.refetch(tp, committed)
        return True

    async def _broker_ends(self, tps: set[Any]) -> Mapping[Any, int | None]:
        # The consumer's own high-water mark is only known for partitions it fetches, and a
        # partition Faust left paused is exactly what this looks for.
        return cast(Mapping[Any, int | None], await cast(Any, self.stage.app.consumer).highwaters(*tps))

    async def check(self) -> None:
        """Called by a Faust timer: crash if a stream partition's commits have stalled.

        An exception escaping a Faust timer ends the timer for good, silently: so none does.
        """
        try:
            await self._check()
        except Exception:
            log.exception("%s: commit watchdog round failed", self.stage.service)

    async def _check(self) -> None:
        app = self.stage.app
        consumer = cast(Any, app.consumer)
        if app.rebalancing or not app.flow_control.is_active():
            self._since.clear()  # a rebalance or recovery in progress is not a stall
            return
        assigned = {tp for tp in consumer.assignment() if not tp.topic.endswith("-changelog")}
        for tp in list(self._since):
            if tp not in assigned:
                del self._since[tp]
        if not assigned:
            return
        try:
            ends, committed = await asyncio.wait_for(
                asyncio.gather(self.ends(assigned), self.committed(assigned)),
                timeout=WATCHDOG_INTERVAL_SECONDS,
            )
        except Exception as exc:  # the broker is away: not this watchdog's business (nothing commits)
            log.info("%s: commit watchdog skipped a round: %r", self.stage.service, exc)
            self._since.clear()
            return
        now = self.clock()
        for tp in assigned:
            done, end = committed.get(tp), ends.get(tp)
            if done is None or end is None or end <= done:
                self._since.pop(tp, None)
                continue
            seen = self._since.get(tp)
            if seen is None or seen[0] != done:
                self._since[tp] = (done, now)
                self._warned.discard(tp)
                continue
            stalled = now - seen[1]
            if stalled < self.stall_seconds:
                if stalled >= self.stall_seconds / 2 and tp not in self._warned:
                    self._warned.add(tp)
                    log.warning(
                        "%s: %s[%d] committed offset %d has not moved for %.0fs (end offset %d)",
                        self.stage.service,
                        tp.topic,
                        tp.partition,
                        done,
                        stalled,
                        end,
                    )
                    if await self._resync(tp, done):
                        self._since[tp] = (done, now)  # the refetch gets a whole stall period
                continue
            acked = sorted(consumer._acked.get(tp) or [])
            state = (
                f"{tp.topic}[{tp.partition}]: committed offset {done} for {stalled:.0f}s with "
                f"end offset {end} (the consumer's own record: {consumer._committed_offset.get(tp)}); "
                f"acked {acked[:3]}{'…' if len(acked) > 3 else ''} ({len(acked)}), "
                f"read offset {consumer._read_offset.get(tp)}; {fetch_state(consumer, tp)}"
            )
            busy = self.stage.busy_since
            if busy is not None and time.monotonic() - busy >= self.stall_seconds:
                log.warning(
                    "%s: an event has been in the handler for %.0fs; %s",
                    self.stage.service,
                    time.monotonic() - busy,
                    state,
                )
                continue
            self.stage.crash(FatalError(f"commits stalled: {state}"))


def fetch_state(consumer: Any, tp: Any) -> str:
    """Where Faust and aiokafka stand on fetching one partition, for a stall's report: whether Faust
    hands its records out (active, paused, buffer full) and aiokafka's position and status."""
    try:
        faust_side = (
            f"faust: active {tp in (consumer._active_partitions or ())}, paused "
            f"{tp in consumer._paused_partitions}, buffer full {tp in consumer._buffered_partitions}"
        )
        assignment = consumer._thread._ensure_consumer()._subscription.subscription.assignment
        state = assignment.state_value(tp)
        if state is None:
            return f"{faust_side}; aiokafka: not assigned"
        return (
            f"{faust_side}; aiokafka: position {state._position}, status {state._status.name}, "
            f"paused {state.paused}, reset {state._reset_strategy}, highwater {state.highwater}"
        )
    except Exception as exc:  # a diagnostic: never the reason a stop fails
        return f"fetch state not readable ({type(exc).__name__})"


class CommitOrder(Sensor):
    """The one owner of commit order: outputs delivered, then table updates, then offsets committed.

    Faust commits from its timer, on revocation and at shutdown; every commit passes two hooks of
    this object, in this order:
    1. `on_commit_initiated`: Faust calls it synchronously right before it snapshots the acked
       offsets it will commit. The stage's producer is flushed here, so every output of an acked
       event is on the broker before that event's offset can be committed; an output that cannot be
       delivered stops the worker (nothing committed, the events are processed again).
    2. `committable` (from `FencedConsumer._commit_offsets`, where every commit passes): the commit
       fence cuts the offsets back to what the stage has finished (`OffsetGuard.committable`), then
       the table updates sent so far must be acknowledged (`App.changelog_delivered`).
    3. Faust commits what is left.
    """

    def __init__(
        self,
        app: App,
        flush: Callable[[], None],
        fence: Callable[[Mapping[Any, int]], dict[Any, int]],
        crash: Callable[[BaseException], NoReturn],
    ) -> None:
        super().__init__()
        self.app = app
        self.flush_outputs = flush
        self.fence_offsets = fence
        self.halt = crash  # not `crash`: a mode Service's own crash() is a coroutine

    def on_commit_initiated(self, consumer: Any) -> Any:
        """Step 1, called synchronously before Faust reads the acked offsets it commits."""
        try:
            self.flush_outputs()
        except FatalError as exc:
            self.halt(exc)
        return super().on_commit_initiated(consumer)

    async def committable(self, offsets: Mapping[Any, int]) -> dict[Any, int]:
        """Step 2: the offsets Faust may commit, once the table updates before them are delivered."""
        allowed = self.fence_offsets(offsets)
        if allowed:
            await self.app.changelog_delivered()
        return allowed

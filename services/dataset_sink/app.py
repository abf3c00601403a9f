"""Dataset sink: append resolved judgments to the four Delta datasets exactly once, and apply erasures.

A confluent-kafka consumer (not Faust: the Delta commit, not the Kafka offset, is the truth) of
review.resolved.v1 and datasets.erasures.v1. Each batch is one Delta commit per table that has rows,
each carrying a txn action per source partition; the other tables commit in parallel, then
safety_labels, which every written judgment has a row in, so its txn versions are the resume point of
review.resolved.v1 and the other tables skip what they already hold. Erasures delete the subjects'
rows from every table (one commit per table), then land in the erasure ledger (a Delta table outside
the dataset root, with its own txn actions).
See dataset_sink/writer.py for the protocol.

Test-only fault hook: FLAGSTREAM_FAULT=<point>:<n> makes the process SIGKILL itself at <point> on the
n-th batch that reaches it. Points: before_commit (no Delta commit of the batch yet), mid_write (the
other tables committed, safety_labels not), after_delta_commit (every Delta commit done, the Kafka
offsets not). Unset (the default) it does nothing; it is not a setting.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib.metadata import version as package_version
from typing import Any, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from services.contracts import AvroCodec, ErasureRequest, Record, ResolvedJudgment, utcnow
from services.dataset_sink.domain import (
    DEMONSTRATIONS,
    ERASURE_LEDGER,
    LEDGER_SCHEMAS,
    PREFERENCES,
    REFUSAL_AUDIT,
    SAFETY_LABELS,
    ErasedSubjects,
    assign_split,
    dataset_rows,
    ledger_row,
    split_key,
)
from services.dataset_sink.writer import (
    DatasetNotFoundError,
    DatasetWriter,
    DeltaDatasetWriter,
    filter_uncommitted,
    last_offsets,
    read_table,
)
from services.runtime.audit import audit_event, dead_letter_headers
from services.runtime.errors import DecodeError, RetryableError
from services.runtime.kafka import make_consumer, make_producer
from services.runtime.metrics import Metrics
from services.runtime.schema_registry import codec_for
from services.runtime.settings import Settings
from services.runtime.topics import AUDIT, ERASURES, RESOLVED, dlq
from services.runtime.worker import provision, serve_signals

SERVICE = "dataset_sink"
TABLE = SAFETY_LABELS
TABLES = (PREFERENCES, DEMONSTRATIONS, REFUSAL_AUDIT, SAFETY_LABELS)
"""Every table; a batch commits the first three in parallel, then safety_labels (the resume point)."""
MAX_COMMIT_ATTEMPTS = 5
FAULT_ENV = "FLAGSTREAM_FAULT"

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class _Item:
    """One consumed record of the current batch: where it came from and what it becomes."""

    topic: str
    partition: int
    offset: int
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    decision: str | None = None  # written / not_written; None for dead letters and erasures
    reason: str = "undecodable"
    resolved: ResolvedJudgment | None = None
    erasure: ErasureRequest | None = None


def _position(item: _Item) -> tuple[str, int, int]:
    return item.topic, item.partition, item.offset


class _Faults:
    """The test-only SIGKILL hook (see the module docstring); inert unless FLAGSTREAM_FAULT is set."""

    def __init__(self, spec: str | None) -> None:
        self.point, self.at = None, 0
        if spec:
            point, _, n = spec.partition(":")
            self.point, self.at = point, int(n or 1)
        self.seen: Counter[str] = Counter()

    def reach(self, point: str) -> None:
        if point != self.point:
            return
        self.seen[point] += 1
        if self.seen[point] == self.at:
            log.warning("%s: fault hook %s:%d, killing myself", SERVICE, point, self.at)
            os.kill(os.getpid(), signal.SIGKILL)


GROUP_COMMIT_ERRORS = frozenset(
    {
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.REBALANCE_IN_PROGRESS,
        KafkaError.ILLEGAL_GENERATION,
        KafkaError.UNKNOWN_MEMBER_ID,
        KafkaError._TRANSPORT,
        KafkaError._TIMED_OUT,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError._WAIT_COORD,
    }
)
"""Offset commit errors of a group that is restarting or rebalancing: the sink carries on."""


class DatasetSink:
    """The consume → batch → Delta commits → Kafka commit loop."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        *,
        writer: DatasetWriter | None = None,
        ledger: DatasetWriter | None = None,
        codec: AvroCodec | None = None,
        producer: Any = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.group = settings.group(SERVICE)
        self.writer = writer or DeltaDatasetWriter(settings.datasets_root, self.group)
        self.ledger = ledger or DeltaDatasetWriter(settings.ledger_root, self.group, schemas=LEDGER_SCHEMAS)
        self.codec = codec or codec_for(settings)
        self.topic = settings.topic(RESOLVED)
        self.erasure_topic = settings.topic(ERASURES)
        self.producer = producer if producer is not None else make_producer(settings)
        self.batch: list[_Item] = []
        self.batch_started = time.monotonic()
        self.pipeline_version = package_version("flagstream")
        self.erased = ErasedSubjects()
        self.last_vacuum = time.monotonic()
        self.commits_since_compaction: Counter[str] = Counter()
        self.faults = _Faults(os.environ.get(FAULT_ENV))
        self.pool = ThreadPoolExecutor(max_workers=len(TABLES) - 1, thread_name_prefix="delta-commit")
        # Resolution ids already in safety_labels, and those of the current batch: review emits at least
        # once, so the same resolution can arrive again at another offset, which the txn check cannot see.
        self.written: set[str] = set()
        self.in_batch: set[str] = set()
        self.uncommitted: list[TopicPartition] = []
        """Kafka offsets of committed Delta batches whose offset commit the group refused."""
        self.last_commit_try = time.monotonic()

    def run(self, stop: threading.Event) -> None:
        """Consume until stop is set; the last batch is committed before returning."""
        self.load_ledger()  # the written resolution ids come with the first assignment (_on_assign)
        consumer = make_consumer(self.settings, self.group)
        consumer.subscribe(
            [self.topic, self.erasure_topic], on_assign=self._on_assign, on_revoke=self._on_revoke
        )
        try:
            while not stop.is_set():
                self.metrics.health.beat()
                for msg in consumer.consume(num_messages=500, timeout=0.2):
                    if msg.error():
                        log.warning("%s: consume error %s", SERVICE, msg.error())
                        continue
                    self._take(msg)
                if self._due():
                    self.flush(consumer)
                elif self.uncommitted and time.monotonic() - self.last_commit_try >= 1.0:
                    self.commit_offsets(consumer, [])
                elif self._compaction_due():
                    self.compact()
                elif time.monotonic() - self.last_vacuum >= self.settings.vacuum_interval_seconds:
                    self.vacuum()
            self.flush(consumer)
        finally:
            try:
                consumer.close()  # commits nothing (auto commit is off), but leaves the group
            except KafkaException as exc:  # the broker is away: the group times the member out
                log.warning("%s: closing the consumer failed: %s", SERVICE, exc)
            self.producer.flush(30)
            self.pool.shutdown()

    def load_ledger(self) -> None:
        """Every erasure applied so far (by this or another sink instance)."""
        try:
            ledger = read_table(
                self.settings.ledger_root, ERASURE_LEDGER, columns=["subject_key", "requested_at"]
            )
        except DatasetNotFoundError:
            return
        for key, at in zip(
            ledger.column("subject_key").to_pylist(), ledger.column("requested_at").to_pylist(), strict=True
        ):
            self.erased.add(key, at)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Resume each partition after the later of its Kafka offset and its txn version in the table.

        It also reads the resolution ids safety_labels holds, at the first assignment and at every
        one after: another sink worker may have owned these partitions since, and a resolution
        review emits again after that worker wrote it would otherwise be written a second time.
        Every id is kept in memory (about 100 bytes each:
        ~1 GB per ten million rows); past that, bound it to the ids of recent versions.
        """
        if any(p.topic == self.topic for p in partitions):
            started = time.monotonic()
            self.written = self.writer.column_values(SAFETY_LABELS, "resolution_id")
            log.info(
                "%s: %d written resolution ids read in %.2fs",
                SERVICE,
                len(self.written),
                time.monotonic() - started,
            )
        in_table: dict[tuple[str, int], int] = {}
        for topic, writer, table in (
            (self.topic, self.writer, SAFETY_LABELS),
            (self.erasure_topic, self.ledger, ERASURE_LEDGER),
        ):
            mine = [p.partition for p in partitions if p.topic == topic]
            if mine:
                for partition, offset in writer.committed_offsets(table, topic, mine).items():
                    in_table[(topic, partition)] = offset
        in_kafka = {(p.topic, p.partition): p.offset for p in consumer.committed(partitions, timeout=30)}
        for p in partitions:
            key = (p.topic, p.partition)
            table_next = in_table[key] + 1 if key in in_table else -1
            kafka_next = in_kafka.get(key, -1)
            if max(table_next, kafka_next) >= 0:
                p.offset = max(table_next, kafka_next)
        log.info("%s: assigned %s", SERVICE, [(p.topic, p.partition, p.offset) for p in partitions])
        consumer.assign(partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.flush(consumer)
        revoked = {(p.topic, p.partition) for p in partitions}  # their next owner commits them now
        self.uncommitted = [tp for tp in self.uncommitted if (tp.topic, tp.partition) not in revoked]

    def _due(self) -> bool:
        if not self.batch:
            return False
        if len(self.batch) >= self.settings.sink_batch_rows:
            return True
        return time.monotonic() - self.batch_started >= self.settings.sink_batch_seconds

    def _decode(self, msg: Message, item: _Item, origin: str, model: type[Record]) -> Any:
        try:
            return self.codec.decode(msg.value() or b"", model)
        except DecodeError as exc:
            headers = dead_letter_headers(
                origin_topic=origin,
                partition=item.partition,
                offset=item.offset,
                error=exc,
                reason=exc.reason,
                service=SERVICE,
            )
            self.producer.produce(
                self.settings.topic(dlq(origin)), key=msg.key(), value=msg.value(), headers=dict(headers)
            )
            self.metrics.dead_lettered(origin, exc.reason)
            return None

    def _take(self, msg: Message) -> None:
        if not self.batch:
            self.batch_started = time.monotonic()
        item = _Item(str(msg.topic()), msg.partition() or 0, msg.offset() or 0)
        self.batch.append(item)
        started = time.perf_counter()
        if item.topic == self.erasure_topic:
            request = self._decode(msg, item, ERASURES, ErasureRequest)
            if request is not None:
                item.erasure = request
                # from now on this batch writes nothing of the subject's (flush re-checks earlier items)
                self.erased.add(
                    ledger_row(request, request.requested_at)["subject_key"], request.requested_at
                )
            return
        resolved = self._decode(msg, item, RESOLVED, ResolvedJudgment)
        if resolved is None:
            return
        task = resolved.task
        interaction = task.interaction
        if resolved.resolution_id in self.written or resolved.resolution_id in self.in_batch:
            item.reason = "duplicate_resolution"  # written (or decided) once already: no row, no audit
            return
        self.in_batch.add(resolved.resolution_id)
        item.resolved = resolved
        if task.is_gold:
            item.decision, item.reason = "not_written", "gold_task"
        elif not interaction.training_allowed:
            item.decision, item.reason = "not_written", "training_not_allowed"
        elif self.erased.blocks(interaction.subject_pseudonym, interaction.event_time):
            item.decision, item.reason = "not_written", "subject_erased"
        else:
            split = assign_split(
                split_key(resolved),
                salt=self.settings.split_salt.get_secret_value(),
                heldout_fraction=self.settings.heldout_fraction,
            )
            item.rows = dataset_rows(resolved, split=split)
            item.decision, item.reason = "written", TABLE
        self.metrics.latency.labels(SERVICE).observe(time.perf_counter() - started)

    def _audit(self, item: _Item) -> bytes:
        assert item.resolved is not None and item.decision is not None
        task = item.resolved.task
        interaction = task.interaction
        return self.codec.encode(
            audit_event(
                SERVICE,
                item.decision,
                item.reason,
                interaction_id=task.interaction_id,
                subject_pseudonym=interaction.subject_pseudonym,
                policy_versions={
                    "escalation": task.escalation_policy_version,
                    "redaction": interaction.redaction_policy_version,
                    "guardrail": interaction.guardrail_policy_version,
                    "rubric": task.rubric_version,
                },
                details={
                    "resolution_id": item.resolved.resolution_id,
                    "table": TABLE,
                    "tables": ",".join(t for t in TABLES if t in item.rows),
                },
            )
        )

    def _retry(self, what: str, attempt_once: Callable[[], T]) -> T:
        for attempt in range(1, MAX_COMMIT_ATTEMPTS + 1):
            try:
                return attempt_once()
            except RetryableError as exc:
                self.metrics.outcome("commit_failed", exc.reason)
                if attempt == MAX_COMMIT_ATTEMPTS:
                    raise
                log.warning("%s: %s failed (%s), attempt %d", SERVICE, what, exc.reason, attempt)
                time.sleep(0.2 * attempt)
        raise AssertionError("unreachable")

    def flush(self, consumer: Consumer) -> None:
        """Audits, then the Delta commits (other tables, safety_labels last), erasures, then Kafka offsets.

        Audits go first so that a crash after a Delta commit cannot lose them; a replay sends them
        again with the same event ids.
        """
        if not self.batch:
            return
        resolved = [i for i in self.batch if i.topic == self.topic]
        if resolved:  # erasures another sink instance applied since this one started
            self.load_ledger()
        for item in resolved:  # an erasure later in the batch covers this subject's earlier items too
            interaction = item.resolved.task.interaction if item.resolved else None
            if (
                item.rows
                and interaction
                and self.erased.blocks(interaction.subject_pseudonym, interaction.event_time)
            ):
                item.rows, item.decision, item.reason = {}, "not_written", "subject_erased"
        positions = {(i.topic, i.partition) for i in resolved}
        new = filter_uncommitted(
            resolved, self.writer.committed_positions(TABLE, positions), position=_position
        )
        for item in new:
            if item.decision is not None:
                self.producer.produce(self.settings.topic(AUDIT), value=self._audit(item))
        self.producer.flush(30)
        self.faults.reach("before_commit")
        # The other tables commit side by side (delta-rs does its I/O without the GIL), safety_labels
        # after all of them: its txn versions say the whole batch is in.
        others = [t for t in TABLES if t != SAFETY_LABELS]
        list(
            self.pool.map(
                lambda table: self._retry(
                    f"commit to {table}", functools.partial(self._commit, table, resolved, positions)
                ),
                others,
            )
        )
        self.faults.reach("mid_write")
        self._retry(
            f"commit to {SAFETY_LABELS}", functools.partial(self._commit, SAFETY_LABELS, resolved, positions)
        )
        for item in new:
            if item.decision is not None:
                self.metrics.outcome(item.decision, TABLE if item.decision == "written" else item.reason)
            elif item.reason == "duplicate_resolution":
                self.metrics.outcome("duplicate", item.reason)
        self.written.update(i.resolved.resolution_id for i in resolved if i.rows and i.resolved is not None)
        self.in_batch.clear()
        erasures = [i for i in self.batch if i.topic == self.erasure_topic]
        if erasures:
            self._retry("erasure", lambda: self._erase(erasures))
        self.faults.reach("after_delta_commit")
        last = last_offsets(map(_position, self.batch))
        self.commit_offsets(consumer, [TopicPartition(t, p, o + 1) for (t, p), o in last.items()])
        self.batch = []

    def commit_offsets(self, consumer: Consumer, offsets: list[TopicPartition]) -> None:
        """Commit Kafka offsets after the Delta commits; a commit the group refuses is not fatal.

        The Delta txn already holds these offsets, and a (re)assigned partition resumes after the
        later of its Kafka offset and its txn version (`_on_assign`), so a lost Kafka commit only
        makes the next start skip a little more work. While the broker restarts or the group
        rebalances the commit fails (`NOT_COORDINATOR`, `REBALANCE_IN_PROGRESS`, ...): the sink
        does not exit then: it logs, keeps the offsets, and commits them with
        the next batch or on its own a second later. Other errors still stop it.
        """
        pending = {(tp.topic, tp.partition): tp for tp in self.uncommitted}
        pending.update({(tp.topic, tp.partition): tp for tp in offsets})
        self.uncommitted = []
        self.last_commit_try = time.monotonic()
        try:
            consumer.commit(offsets=list(pending.values()), asynchronous=False)
        except KafkaException as exc:
            error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
            if error is None or (error.code() not in GROUP_COMMIT_ERRORS and not error.retriable()):
                raise
            self.uncommitted = list(pending.values())
            self.metrics.outcome("offset_commit_failed", error.name())
            log.warning("%s: offset commit failed (%s); the Delta txn holds the offsets", SERVICE, error)

    def _commit(self, table: str, items: list[_Item], positions: set[tuple[str, int]]) -> None:
        """Commit the rows this table does not hold yet, with their offsets, in one Delta commit."""
        kept = filter_uncommitted(
            items, self.writer.committed_positions(table, positions), position=_position
        )
        rows = [i.rows[table] for i in kept if table in i.rows]
        started = time.perf_counter()
        version = self.writer.write(table, rows, last_offsets(map(_position, kept)), self._metadata(rows))
        if version is not None:
            self.commits_since_compaction[table] += 1
            self.metrics.commit_seconds.labels(table).observe(time.perf_counter() - started)
            self.metrics.table_version.labels(table).set(version)
            self.metrics.rows.labels(table).inc(len(rows))

    def _erase(self, items: list[_Item]) -> None:
        """Delete the subjects' rows from every table, record the requests in the ledger, then vacuum."""
        committed = self.ledger.committed_positions(ERASURE_LEDGER, {(i.topic, i.partition) for i in items})
        kept = filter_uncommitted(items, committed, position=_position)
        requests = [i.erasure for i in kept if i.erasure is not None]
        if not requests:
            return
        subjects = {r.subject_pseudonym for r in requests}
        meta = {
            "pipeline_version": self.pipeline_version,
            "purpose": "erasure",
            "requests": str(len(requests)),
        }
        deleted: dict[str, int] = {}
        for table in TABLES:  # deleting twice is harmless, so a crash before the ledger commit is safe
            version, rows = self.writer.erase(table, subjects, meta)
            deleted[table] = rows
            if version is not None:
                self.metrics.table_version.labels(table).set(version)
                self.metrics.rows_erased.labels(table).inc(rows)
        for request in requests:
            self.producer.produce(
                self.settings.topic(AUDIT),
                value=self.codec.encode(
                    audit_event(
                        SERVICE,
                        "erased",
                        request.reason,
                        subject_pseudonym=request.subject_pseudonym,
                        details={"request_id": request.request_id, "scopes": ",".join(request.scopes)}
                        | {f"rows.{t}": str(n) for t, n in deleted.items()},
                    )
                ),
            )
            self.metrics.outcome("erased", "erasure_request")
        self.producer.flush(30)
        now = utcnow()
        self.ledger.write(
            ERASURE_LEDGER,
            [ledger_row(r, now) for r in requests],
            last_offsets(map(_position, kept)),
            {"pipeline_version": self.pipeline_version},
        )
        self.vacuum()

    def _compaction_due(self) -> bool:
        every = self.settings.sink_compact_commits
        return every > 0 and any(n >= every for n in self.commits_since_compaction.values())

    def compact(self) -> None:
        """Compact each table written `sink_compact_commits` times since its last compaction.

        Housekeeping, never worth stopping for: a failure (an erasure by another worker at the same
        moment) is logged and the table is tried again after as many commits more.
        """
        for table, commits in list(self.commits_since_compaction.items()):
            if commits < self.settings.sink_compact_commits:
                continue
            self.commits_since_compaction[table] = 0
            started = time.monotonic()
            try:
                replaced = self.writer.compact(table, {"pipeline_version": self.pipeline_version})
            except RetryableError as exc:
                log.warning("%s: compacting %s failed (%s); trying again later", SERVICE, table, exc)
                continue
            log.info(
                "%s: compacted %s: %d files replaced in %.2fs",
                SERVICE,
                table,
                replaced,
                time.monotonic() - started,
            )

    def vacuum(self) -> None:
        """Physically remove files older than the retention window that no newer version needs."""
        hours = int(self.settings.erasure_retention_hours)
        removed = {table: self.writer.vacuum(table, hours) for table in TABLES}
        self.last_vacuum = time.monotonic()
        log.info("%s: vacuum (retention %dh) removed %s", SERVICE, hours, removed)

    def _metadata(self, rows: list[dict[str, Any]]) -> dict[str, str]:
        def versions(column: str) -> str:
            return ",".join(sorted({str(r[column]) for r in rows if r.get(column) is not None}))

        splits = Counter(str(r.get("split")) for r in rows)
        return {
            "pipeline_version": self.pipeline_version,
            "escalation_policy_versions": versions("escalation_policy_version"),
            "redaction_policy_versions": versions("redaction_policy_version"),
            "guardrail_policy_versions": versions("guardrail_policy_version"),
            "rubric_versions": versions("rubric_version"),
            "rows_train": str(splits.get("train", 0)),
            "rows_heldout": str(splits.get("heldout", 0)),
        }


def run(settings: Settings) -> None:
    """Run the sink until SIGTERM/SIGINT."""
    metrics = Metrics(SERVICE)
    provision(settings)
    serve_signals(metrics, settings)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    DatasetSink(settings, metrics).run(stop)

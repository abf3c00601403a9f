"""The batch commit: audits, then the Delta commits (safety_labels last), erasures, then Kafka offsets.

Each table's commit carries a txn action per source partition (app id = group:topic:partition,
version = last offset), so a replayed batch is skipped per table; safety_labels, which every written
judgment has a row in, commits after the others, so its txn versions are the resume point.

Test-only fault points (runtime/faults.py: FLAGSTREAM_FAULT=<point>:<n> SIGKILLs the process the n-th
time a batch reaches <point>): before_commit (no Delta commit of the batch yet), mid_write (the other
tables committed, safety_labels not), after_delta_commit (every Delta commit done, the Kafka offsets
not).
"""

from __future__ import annotations

import functools
import logging
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from services.contracts import AvroCodec
from services.dataset_sink.batch import SERVICE, TABLE, TABLES, Batch, Item, position
from services.dataset_sink.housekeeping import Erasures, TableMaintenance
from services.dataset_sink.writer import DatasetWriter, filter_uncommitted, last_offsets
from services.runtime.errors import RetryableError
from services.runtime.faults import KillHook
from services.runtime.metrics import Metrics
from services.runtime.retry import RetryPolicy

log = logging.getLogger(__name__)
T = TypeVar("T")


COMMIT_RETRY = RetryPolicy(attempts=5, delay=0.2, backoff="linear")
"""A Delta commit that fails transiently (a conflict, the object store away) is tried 5 times in all."""


def retry_commit(what: str, attempt_once: Callable[[], T], metrics: Metrics) -> T:
    """attempt_once() under COMMIT_RETRY, each failure of it counted as a commit_failed outcome."""

    def counted() -> T:
        try:
            return attempt_once()
        except RetryableError as exc:
            metrics.outcome("commit_failed", exc.reason)
            raise

    return COMMIT_RETRY.call(f"{SERVICE}: {what}", counted)


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


@dataclass
class KafkaOffsets:
    """Kafka offset commits after the Delta commits; a commit the group refuses is kept and tried again.

    The Delta txn already holds these offsets, and a (re)assigned partition resumes after the later
    of its Kafka offset and its txn version, so a lost Kafka commit only makes the next start skip a
    little more work. While the broker restarts or the group rebalances the commit fails
    (`NOT_COORDINATOR`, `REBALANCE_IN_PROGRESS`, ...): the sink logs, keeps the offsets in
    `uncommitted`, and commits them with the next batch or on their own a second later. Other errors
    still stop it.
    """

    metrics: Metrics
    uncommitted: list[TopicPartition] = field(default_factory=list)
    last_try: float = field(default_factory=time.monotonic)

    def retry_due(self) -> bool:
        return bool(self.uncommitted) and time.monotonic() - self.last_try >= 1.0

    def commit(self, consumer: Consumer, offsets: list[TopicPartition]) -> None:
        pending = {(tp.topic, tp.partition): tp for tp in self.uncommitted}
        pending.update({(tp.topic, tp.partition): tp for tp in offsets})
        self.uncommitted = []
        self.last_try = time.monotonic()
        try:
            consumer.commit(offsets=list(pending.values()), asynchronous=False)
        except KafkaException as exc:
            error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
            if error is None or (error.code() not in GROUP_COMMIT_ERRORS and not error.retriable()):
                raise
            self.uncommitted = list(pending.values())
            self.metrics.outcome("offset_commit_failed", error.name())
            log.warning("%s: offset commit failed (%s); the Delta txn holds the offsets", SERVICE, error)

    def forget(self, partitions: list[TopicPartition]) -> None:
        """Drop the offsets of revoked partitions: their next owner commits them."""
        revoked = {(p.topic, p.partition) for p in partitions}
        self.uncommitted = [tp for tp in self.uncommitted if (tp.topic, tp.partition) not in revoked]


@dataclass
class BatchCommit:
    """Commits one batch: audits, Delta commits, erasures, Kafka offsets, in that order."""

    writer: DatasetWriter
    erasures: Erasures
    maintenance: TableMaintenance
    offsets: KafkaOffsets
    metrics: Metrics
    codec: AvroCodec
    producer: Any
    topic: str
    erasure_topic: str
    audit_topic: str
    faults: KillHook = field(default_factory=lambda: KillHook(None))
    pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(
            max_workers=len(TABLES) - 1, thread_name_prefix="delta-commit"
        )
    )

    def commit(self, batch: Batch, consumer: Consumer) -> set[str]:
        """Commit the batch; return the resolution ids it wrote.

        Audits go first so that a crash after a Delta commit cannot lose them; a replay sends them
        again with the same event ids.
        """
        resolved = batch.of(self.topic)
        if resolved:  # erasures another sink instance applied since this one started
            self.erasures.load_ledger()
        self.erasures.withhold(resolved)
        positions = {(i.topic, i.partition) for i in resolved}
        new = filter_uncommitted(
            resolved, self.writer.committed_positions(TABLE, positions), position=position
        )
        for item in new:
            if item.decision is not None:
                self.producer.produce(self.audit_topic, value=self.codec.encode(item.audit()))
        self.producer.flush(30)
        self.faults.reach("before_commit")
        self.write_tables(resolved, positions)
        for item in new:
            if item.decision is not None:
                self.metrics.outcome(item.decision, TABLE if item.decision == "written" else item.reason)
            elif item.reason == "duplicate_resolution":
                self.metrics.outcome("duplicate", item.reason)
        erasures = batch.of(self.erasure_topic)
        if erasures:
            retry_commit("erasure", lambda: self.erasures.apply(erasures), self.metrics)
        self.faults.reach("after_delta_commit")
        last = last_offsets(map(position, batch.items))
        self.offsets.commit(consumer, [TopicPartition(t, p, o + 1) for (t, p), o in last.items()])
        return {i.resolved.resolution_id for i in resolved if i.rows and i.resolved is not None}

    def write_tables(self, items: list[Item], positions: set[tuple[str, int]]) -> None:
        """The other tables side by side (delta-rs does its I/O without the GIL), safety_labels after
        all of them: its txn versions say the whole batch is in."""

        def commit(table: str) -> None:
            attempt = functools.partial(self.write_table, table, items, positions)
            retry_commit(f"commit to {table}", attempt, self.metrics)

        list(self.pool.map(commit, [t for t in TABLES if t != TABLE]))
        self.faults.reach("mid_write")
        commit(TABLE)

    def write_table(self, table: str, items: list[Item], positions: set[tuple[str, int]]) -> None:
        """Commit the rows this table does not hold yet, with their offsets, in one Delta commit."""
        kept = filter_uncommitted(items, self.writer.committed_positions(table, positions), position=position)
        rows = [i.rows[table] for i in kept if table in i.rows]
        started = time.perf_counter()
        meta = commit_metadata(rows, self.maintenance.pipeline_version)
        version = self.writer.write(table, rows, last_offsets(map(position, kept)), meta)
        if version is not None:
            self.maintenance.committed(table)
            self.metrics.commit_seconds.labels(table).observe(time.perf_counter() - started)
            self.metrics.table_version.labels(table).set(version)
            self.metrics.rows.labels(table).inc(len(rows))


def commit_metadata(rows: list[dict[str, Any]], pipeline_version: str) -> dict[str, str]:
    """The Delta commit info of a batch of rows: provenance versions and split counts."""

    def versions(column: str) -> str:
        return ",".join(sorted({str(r[column]) for r in rows if r.get(column) is not None}))

    splits = Counter(str(r.get("split")) for r in rows)
    return {
        "pipeline_version": pipeline_version,
        "escalation_policy_versions": versions("escalation_policy_version"),
        "redaction_policy_versions": versions("redaction_policy_version"),
        "guardrail_policy_versions": versions("guardrail_policy_version"),
        "rubric_versions": versions("rubric_version"),
        "rows_train": str(splits.get("train", 0)),
        "rows_heldout": str(splits.get("heldout", 0)),
    }

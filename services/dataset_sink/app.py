"""Dataset sink: append resolved judgments to the Delta datasets exactly once.

A confluent-kafka consumer (not Faust: the Delta commit, not the Kafka offset, is the truth).
Each batch is one Delta commit carrying a txn action per source partition; on assignment the
consumer resumes after the last offset the table holds. See dataset_sink/writer.py for the protocol.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from importlib.metadata import version as package_version
from typing import Any

from confluent_kafka import Consumer, Message, TopicPartition

from services.contracts import AvroCodec, ResolvedJudgment, default_codec
from services.dataset_sink.domain import assign_split, safety_label_row, split_key
from services.dataset_sink.writer import (
    DatasetWriter,
    DeltaDatasetWriter,
    filter_uncommitted,
    last_offsets,
)
from services.runtime.audit import audit_event, dead_letter_headers
from services.runtime.errors import DecodeError, RetryableError
from services.runtime.kafka import make_consumer, make_producer
from services.runtime.metrics import Metrics
from services.runtime.settings import Settings
from services.runtime.topics import AUDIT, RESOLVED, dlq
from services.runtime.worker import provision

SERVICE = "dataset_sink"
TABLE = "safety_labels"
MAX_COMMIT_ATTEMPTS = 5

log = logging.getLogger(__name__)


@dataclass
class _Item:
    """One consumed record of the current batch: where it came from and what it becomes."""

    topic: str
    partition: int
    offset: int
    row: dict[str, Any] | None = None
    reason: str = "undecodable"
    audits: list[bytes] = field(default_factory=list)


def _position(item: _Item) -> tuple[str, int, int]:
    return item.topic, item.partition, item.offset


class DatasetSink:
    """The consume → batch → Delta commit → Kafka commit loop."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        *,
        writer: DatasetWriter | None = None,
        codec: AvroCodec | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.group = settings.group(SERVICE)
        self.writer = writer or DeltaDatasetWriter(settings.datasets_dir, self.group)
        self.codec = codec or default_codec()
        self.topic = settings.topic(RESOLVED)
        self.producer = make_producer(settings)
        self.batch: list[_Item] = []
        self.batch_started = time.monotonic()
        self.pipeline_version = package_version("flagstream")

    def run(self, stop: threading.Event) -> None:
        """Consume until stop is set; the last batch is committed before returning."""
        consumer = make_consumer(self.settings, self.group)
        consumer.subscribe([self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        self._consumer = consumer
        try:
            while not stop.is_set():
                for msg in consumer.consume(num_messages=500, timeout=0.2):
                    if msg.error():
                        log.warning("%s: consume error %s", SERVICE, msg.error())
                        continue
                    self._take(msg)
                if self._due():
                    self.flush(consumer)
            self.flush(consumer)
        finally:
            consumer.close()
            self.producer.flush(30)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Resume each partition after the later of its Kafka offset and the table's txn version."""
        in_table = self.writer.committed_offsets(TABLE, self.topic, [p.partition for p in partitions])
        in_kafka = {p.partition: p.offset for p in consumer.committed(partitions, timeout=30)}
        for p in partitions:
            table_next = in_table[p.partition] + 1 if p.partition in in_table else -1
            kafka_next = in_kafka.get(p.partition, -1)
            if max(table_next, kafka_next) >= 0:
                p.offset = max(table_next, kafka_next)
        log.info("%s: assigned %s", SERVICE, [(p.partition, p.offset) for p in partitions])
        consumer.assign(partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.flush(consumer)

    def _due(self) -> bool:
        if not self.batch:
            return False
        if len(self.batch) >= self.settings.sink_batch_rows:
            return True
        return time.monotonic() - self.batch_started >= self.settings.sink_batch_seconds

    def _take(self, msg: Message) -> None:
        if not self.batch:
            self.batch_started = time.monotonic()
        item = _Item(str(msg.topic()), msg.partition() or 0, msg.offset() or 0)
        self.batch.append(item)
        started = time.perf_counter()
        try:
            resolved = self.codec.decode(msg.value() or b"", ResolvedJudgment)
        except DecodeError as exc:
            headers = dead_letter_headers(
                origin_topic=RESOLVED,
                partition=item.partition,
                offset=item.offset,
                error=exc,
                reason=exc.reason,
                service=SERVICE,
            )
            self.producer.produce(
                self.settings.topic(dlq(RESOLVED)), key=msg.key(), value=msg.value(), headers=dict(headers)
            )
            self.metrics.outcome("dead_lettered", exc.reason)
            return
        task = resolved.task
        interaction = task.interaction
        versions = {
            "escalation": task.escalation_policy_version,
            "redaction": interaction.redaction_policy_version,
            "guardrail": interaction.guardrail_policy_version,
            "rubric": task.rubric_version,
        }
        if task.is_gold:
            decision, reason = "not_written", "gold_task"
        elif not interaction.training_allowed:
            decision, reason = "not_written", "training_not_allowed"
        else:
            split = assign_split(
                split_key(resolved),
                salt=self.settings.split_salt.get_secret_value(),
                heldout_fraction=self.settings.heldout_fraction,
            )
            item.row = safety_label_row(resolved, split=split)
            decision, reason = "written", TABLE
        item.reason = reason
        item.audits.append(
            self.codec.encode(
                audit_event(
                    SERVICE,
                    decision,
                    reason,
                    interaction_id=task.interaction_id,
                    subject_pseudonym=interaction.subject_pseudonym,
                    policy_versions=versions,
                    details={"resolution_id": resolved.resolution_id, "table": TABLE},
                )
            )
        )
        self.metrics.latency.labels(SERVICE).observe(time.perf_counter() - started)

    def flush(self, consumer: Consumer) -> None:
        """Send the batch's audits, commit it to Delta (rows + txn offsets), then the Kafka offsets.

        Audits go first so that a crash after the Delta commit cannot lose them; a replay sends
        them again with the same event ids.
        """
        if not self.batch:
            return
        for attempt in range(1, MAX_COMMIT_ATTEMPTS + 1):
            positions = {(i.topic, i.partition) for i in self.batch}
            kept = filter_uncommitted(
                self.batch, self.writer.committed_positions(TABLE, positions), position=_position
            )
            for item in kept:
                for audit in item.audits:
                    self.producer.produce(self.settings.topic(AUDIT), value=audit)
            self.producer.flush(30)
            rows = [i.row for i in kept if i.row is not None]
            started = time.perf_counter()
            try:
                version = self.writer.write(
                    TABLE, rows, last_offsets(map(_position, kept)), self._metadata(rows)
                )
                break
            except RetryableError as exc:
                if attempt == MAX_COMMIT_ATTEMPTS:
                    raise
                log.warning("%s: commit failed (%s), attempt %d", SERVICE, exc.reason, attempt)
                time.sleep(0.2 * attempt)
        if version is not None:
            self.metrics.commit_seconds.labels(TABLE).observe(time.perf_counter() - started)
            self.metrics.table_version.labels(TABLE).set(version)
            self.metrics.rows.labels(TABLE).inc(len(rows))
        for item in kept:
            if item.row is not None:
                self.metrics.outcome("written", TABLE)
            elif item.audits:  # undecodable records were counted as dead-lettered when taken
                self.metrics.outcome("not_written", item.reason)
        last = last_offsets(map(_position, self.batch))
        consumer.commit(
            offsets=[TopicPartition(t, p, o + 1) for (t, p), o in last.items()], asynchronous=False
        )
        self.batch = []

    def _metadata(self, rows: list[dict[str, Any]]) -> dict[str, str]:
        def versions(column: str) -> str:
            return ",".join(sorted({str(r[column]) for r in rows if r.get(column) is not None}))

        return {
            "pipeline_version": self.pipeline_version,
            "escalation_policy_versions": versions("escalation_policy_version"),
            "redaction_policy_versions": versions("redaction_policy_version"),
            "guardrail_policy_versions": versions("guardrail_policy_version"),
        }


def run(settings: Settings) -> None:
    """Run the sink until SIGTERM/SIGINT."""
    metrics = Metrics(SERVICE)
    provision(settings)
    port = metrics.serve(settings.metrics_port)
    log.info("%s: metrics on http://127.0.0.1:%d/metrics", SERVICE, port)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    DatasetSink(settings, metrics).run(stop)

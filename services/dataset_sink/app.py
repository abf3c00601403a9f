"""Dataset sink: append resolved judgments to the four Delta datasets exactly once, and apply erasures.

A confluent-kafka consumer (not Faust: the Delta commit, not the Kafka offset, is the truth) of
review.resolved.v1 and datasets.erasures.v1. This module is the loop: consume, take each record into
the batch (batch.py), commit the batch when it is due (commit.py), and run housekeeping
(housekeeping.py: compaction, vacuum, erasure) when there is nothing to commit. Each batch is one
Delta commit per table that has rows, each carrying a txn action per source partition; safety_labels
commits last, so its txn versions are the resume point of review.resolved.v1. Erasures delete the
subjects' rows from every table, then land in the erasure ledger (a Delta table outside the dataset
root, with its own txn actions). See dataset_sink/writer.py for the protocol.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from importlib.metadata import version as package_version
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from services.contracts import AvroCodec
from services.dataset_sink.batch import SERVICE, TABLES, Batch, Intake
from services.dataset_sink.commit import BatchCommit, KafkaOffsets
from services.dataset_sink.domain import ERASURE_LEDGER, LEDGER_SCHEMAS, SAFETY_LABELS
from services.dataset_sink.housekeeping import Erasures, TableMaintenance
from services.dataset_sink.writer import DatasetWriter, DeltaDatasetWriter
from services.runtime import faults
from services.runtime.kafka import make_consumer, make_producer
from services.runtime.metrics import Metrics
from services.runtime.schema_registry import codec_for
from services.runtime.settings import Settings
from services.runtime.topics import AUDIT, ERASURES, RESOLVED
from services.runtime.worker import provision, serve_signals

__all__ = ["SERVICE", "TABLES", "DatasetSink", "run"]

log = logging.getLogger(__name__)


class DatasetSink:
    """The consume → batch → commit loop, with housekeeping between batches."""

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
        self.settings, self.metrics = settings, metrics
        self.group = settings.group(SERVICE)
        self.writer = writer or DeltaDatasetWriter(settings.datasets_root, self.group)
        self.ledger = ledger or DeltaDatasetWriter(settings.ledger_root, self.group, schemas=LEDGER_SCHEMAS)
        codec = codec or codec_for(settings)
        self.producer = producer if producer is not None else make_producer(settings)
        self.topic, self.erasure_topic = settings.topic(RESOLVED), settings.topic(ERASURES)
        audit_topic = settings.topic(AUDIT)
        self.maintenance = TableMaintenance(
            self.writer,
            package_version("flagstream"),
            compact_every=settings.sink_compact_commits,
            vacuum_seconds=settings.vacuum_interval_seconds,
            retention_hours=int(settings.erasure_retention_hours),
        )
        self.erasures = Erasures(
            self.writer,
            self.ledger,
            settings.ledger_root,
            self.maintenance,
            metrics,
            codec,
            self.producer,
            audit_topic,
        )
        self.intake = Intake(settings, metrics, codec, self.producer, self.erasures.erased)
        self.offsets = KafkaOffsets(metrics)
        self.batch_commit = BatchCommit(
            self.writer,
            self.erasures,
            self.maintenance,
            self.offsets,
            metrics,
            codec,
            self.producer,
            topic=self.topic,
            erasure_topic=self.erasure_topic,
            audit_topic=audit_topic,
            faults=faults.KILL,
        )

    def run(self, stop: threading.Event) -> None:
        """Consume until stop is set; the last batch is committed before returning."""
        self.erasures.load_ledger()  # the written resolution ids come with the first assignment
        consumer = make_consumer(self.settings, self.group)
        consumer.subscribe(
            [self.topic, self.erasure_topic], on_assign=self.on_assign, on_revoke=self.on_revoke
        )
        try:
            while not stop.is_set():
                self.metrics.health.beat()
                for msg in consumer.consume(num_messages=500, timeout=0.2):
                    if msg.error():
                        log.warning("%s: consume error %s", SERVICE, msg.error())
                        continue
                    self.take(msg)
                if self.intake.due():
                    self.flush(consumer)
                elif self.offsets.retry_due():
                    self.offsets.commit(consumer, [])
                elif self.maintenance.compaction_due():
                    self.maintenance.compact()
                elif self.maintenance.vacuum_due():
                    self.maintenance.vacuum()
            self.flush(consumer)
        finally:
            try:
                consumer.close()  # commits nothing (auto commit is off), but leaves the group
            except KafkaException as exc:  # the broker is away: the group times the member out
                log.warning("%s: closing the consumer failed: %s", SERVICE, exc)
            self.producer.flush(30)
            self.batch_commit.pool.shutdown()

    def take(self, msg: Message) -> None:
        self.intake.take(msg)

    def flush(self, consumer: Consumer) -> None:
        """Commit the current batch, if any, and start the next."""
        if not self.intake.batch.items:
            return
        written = self.batch_commit.commit(self.intake.batch, consumer)
        self.intake.written.update(written)
        self.intake.batch = Batch()

    def on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Resume each partition after the later of its Kafka offset and its txn version in the table.

        It also reads the resolution ids safety_labels holds, at the first assignment and at every
        one after: another sink worker may have owned these partitions since, and a resolution
        review emits again after that worker wrote it would otherwise be written a second time.
        Every id is kept in memory (about 100 bytes each:
        ~1 GB per ten million rows); past that, bound it to the ids of recent versions.
        """
        if any(p.topic == self.topic for p in partitions):
            started = time.monotonic()
            self.intake.written = self.writer.column_values(SAFETY_LABELS, "resolution_id")
            log.info(
                "%s: %d written resolution ids read in %.2fs",
                SERVICE,
                len(self.intake.written),
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

    def on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.flush(consumer)
        self.offsets.forget(partitions)


def run(settings: Settings) -> None:
    """Run the sink until SIGTERM/SIGINT."""
    metrics = Metrics(SERVICE)
    provision(settings)
    serve_signals(metrics, settings)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    DatasetSink(settings, metrics).run(stop)

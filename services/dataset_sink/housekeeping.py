"""Dataset housekeeping: compaction and vacuum of the tables, and erasure of subjects from them."""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.contracts import AvroCodec, utcnow
from services.dataset_sink.batch import SERVICE, TABLES, Item, position
from services.dataset_sink.domain import ERASURE_LEDGER, ErasedSubjects, ledger_row
from services.dataset_sink.writer import (
    DatasetNotFoundError,
    DatasetWriter,
    filter_uncommitted,
    last_offsets,
    read_table,
)
from services.runtime.audit import audit_event
from services.runtime.errors import RetryableError
from services.runtime.metrics import Metrics
from services.runtime.storage import StorageRoot

log = logging.getLogger(__name__)


@dataclass
class TableMaintenance:
    """Compaction after every `compact_every` commits of a table, vacuum every `vacuum_seconds`.

    Both are housekeeping the loop runs when it has no batch to commit.
    """

    writer: DatasetWriter
    pipeline_version: str
    compact_every: int
    vacuum_seconds: float
    retention_hours: int
    commits_since_compaction: Counter[str] = field(default_factory=Counter)
    last_vacuum: float = field(default_factory=time.monotonic)

    def committed(self, table: str) -> None:
        """Count a Delta commit of rows to a table."""
        self.commits_since_compaction[table] += 1

    def compaction_due(self) -> bool:
        every = self.compact_every
        return every > 0 and any(n >= every for n in self.commits_since_compaction.values())

    def vacuum_due(self) -> bool:
        return time.monotonic() - self.last_vacuum >= self.vacuum_seconds

    def compact(self) -> None:
        """Compact each table written `compact_every` times since its last compaction.

        Never worth stopping for: a failure (an erasure by another worker at the same moment) is
        logged and the table is tried again after as many commits more.
        """
        for table, commits in list(self.commits_since_compaction.items()):
            if commits < self.compact_every:
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
        hours = self.retention_hours
        removed = {table: self.writer.vacuum(table, hours) for table in TABLES}
        self.last_vacuum = time.monotonic()
        log.info("%s: vacuum (retention %dh) removed %s", SERVICE, hours, removed)


@dataclass
class Erasures:
    """Erasure requests: delete the subjects' rows from every table, audit, record them in the ledger.

    The ledger is a Delta table outside the dataset root with its own txn actions, so a replayed
    request is applied once. `erased` holds every subject erased so far, by any sink instance.
    """

    writer: DatasetWriter
    ledger: DatasetWriter
    ledger_root: StorageRoot | Path
    maintenance: TableMaintenance
    metrics: Metrics
    codec: AvroCodec
    producer: Any
    audit_topic: str
    erased: ErasedSubjects = field(default_factory=ErasedSubjects)

    def load_ledger(self) -> None:
        """Every erasure applied so far (by this or another sink instance)."""
        try:
            ledger = read_table(self.ledger_root, ERASURE_LEDGER, columns=["subject_key", "requested_at"])
        except DatasetNotFoundError:
            return
        keys, times = ledger.column("subject_key").to_pylist(), ledger.column("requested_at").to_pylist()
        for key, at in zip(keys, times, strict=True):
            self.erased.add(key, at)

    def withhold(self, items: list[Item]) -> None:
        """Write nothing of a subject erased after its items were taken (an erasure later in the batch)."""
        for item in items:
            interaction = item.resolved.task.interaction if item.resolved else None
            if (
                item.rows
                and interaction
                and self.erased.blocks(interaction.subject_pseudonym, interaction.event_time)
            ):
                item.rows, item.decision, item.reason = {}, "not_written", "subject_erased"

    def apply(self, items: list[Item]) -> None:
        """Delete the subjects' rows from every table, record the requests in the ledger, then vacuum."""
        committed = self.ledger.committed_positions(ERASURE_LEDGER, {(i.topic, i.partition) for i in items})
        kept = filter_uncommitted(items, committed, position=position)
        requests = [i.erasure for i in kept if i.erasure is not None]
        if not requests:
            return
        subjects = {r.subject_pseudonym for r in requests}
        pipeline_version = self.maintenance.pipeline_version
        meta = {"pipeline_version": pipeline_version, "purpose": "erasure", "requests": str(len(requests))}
        deleted: dict[str, int] = {}
        for table in TABLES:  # deleting twice is harmless, so a crash before the ledger commit is safe
            version, rows = self.writer.erase(table, subjects, meta)
            deleted[table] = rows
            if version is not None:
                self.metrics.table_version.labels(table).set(version)
                self.metrics.rows_erased.labels(table).inc(rows)
        for request in requests:
            event = audit_event(
                SERVICE,
                "erased",
                request.reason,
                subject_pseudonym=request.subject_pseudonym,
                details={"request_id": request.request_id, "scopes": ",".join(request.scopes)}
                | {f"rows.{t}": str(n) for t, n in deleted.items()},
            )
            self.producer.produce(self.audit_topic, value=self.codec.encode(event))
            self.metrics.outcome("erased", "erasure_request")
        self.producer.flush(30)
        now = utcnow()
        entries = [ledger_row(r, now) for r in requests]
        self.ledger.write(
            ERASURE_LEDGER, entries, last_offsets(map(position, kept)), {"pipeline_version": pipeline_version}
        )
        self.maintenance.vacuum()

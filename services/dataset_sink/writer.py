"""Dataset writers: append a batch of rows to a dataset table with its Kafka offsets in the same commit.

Exactly-once protocol (what the consumer loop does; docs/datasets.md, "exactly once"):

1. On partition assignment, ask `committed_offsets(table, topic, partitions)` for the last offset each
   partition has in the table, and seek each of those partitions to that offset + 1 (partitions
   missing from the answer resume from the Kafka group offset or the reset policy).
2. For every polled batch, drop the records the table already holds:
   `kept = filter_uncommitted(records, writer.committed_positions(table, tps), position=...)`. This
   guards against records fetched before the seek and against replays after a crash between the
   Delta commit and the Kafka offset commit.
3. `write(table, rows, offsets, metadata)` with the rows built from `kept` and
   `offsets = last_offsets(position(r) for r in kept)`: the last offset per (topic, partition) among
   the kept records, counting records that produced no row. The rows and one txn action per partition
   (app id ``group:topic:partition``, version = that offset) land in one Delta commit. A batch with
   no rows is a no-op and leaves the offsets where they were (its records are re-read after a crash).
4. Only then commit offset + 1 to Kafka; that commit feeds lag monitoring, the table is the truth.

`write` enforces the protocol at the table too: a batch whose every partition is already committed is
a no-op (an exact replay), a batch that overlaps partly raises `OffsetConflictError`, and so does a
concurrent commit to one of the batch's partitions by another writer (a zombie after a rebalance).
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, SchemaMismatchError

from services.dataset_sink.domain.rows import STATS_COLUMNS, TABLE_SCHEMAS, rows_to_arrow
from services.runtime.errors import FatalError, RetryableError, ValidationError
from services.runtime.storage import StorageRoot

log = logging.getLogger(__name__)

R = TypeVar("R")

SourcePartition = tuple[str, int]
"""(topic, partition) of a source record."""

ROW_COUNT_KEY = "row_count"
SOURCE_OFFSETS_KEY = "source_offsets"
"""Keys the writer adds to each commit's custom metadata (they override caller keys of the same name)."""

# Keys of a Delta commitInfo that are not custom metadata (Delta protocol + what delta-rs adds).
_COMMIT_INFO_KEYS = frozenset(
    {
        "timestamp",
        "inCommitTimestamp",
        "operation",
        "operationParameters",
        "operationMetrics",
        "engineInfo",
        "clientVersion",
        "version",
        "readVersion",
        "isolationLevel",
        "isBlindAppend",
        "userMetadata",
        "userId",
        "userName",
        "job",
        "notebook",
        "clusterId",
        "txnId",
    }
)


class OffsetConflictError(RetryableError):
    """Some of the batch's offsets are already in the table: re-read committed offsets, re-filter, retry."""

    reason = "offset_conflict"


class DatasetNotFoundError(FatalError):
    """No such dataset table (or table version) under the dataset root."""

    reason = "dataset_not_found"


def app_id(group: str, topic: str, partition: int) -> str:
    """The Delta txn application id of one source partition for one consumer group."""
    return f"{group}:{topic}:{partition}"


def last_offsets(positions: Iterable[tuple[str, int, int]]) -> dict[SourcePartition, int]:
    """The highest offset per (topic, partition) among (topic, partition, offset) positions."""
    last: dict[SourcePartition, int] = {}
    for topic, partition, offset in positions:
        key = (topic, partition)
        if offset > last.get(key, -1):
            last[key] = offset
    return last


def filter_uncommitted(
    records: Iterable[R],
    committed: Mapping[SourcePartition, int],
    *,
    position: Callable[[R], tuple[str, int, int]],
) -> list[R]:
    """Keep the records whose offset is past the committed offset of their (topic, partition)."""
    kept = []
    for record in records:
        topic, partition, offset = position(record)
        if offset > committed.get((topic, partition), -1):
            kept.append(record)
    return kept


def _already_committed(
    table: str, offsets: Mapping[SourcePartition, int], committed: Mapping[SourcePartition, int | None]
) -> bool:
    """True when every partition of the batch is committed up to its offset; raise on a partial overlap."""
    stale = {
        tp for tp, offset in offsets.items() if (done := committed.get(tp)) is not None and done >= offset
    }
    if not stale:
        return False
    if len(stale) == len(offsets):
        return True
    raise OffsetConflictError(
        f"batch for {table!r} overlaps offsets already committed for {sorted(stale)}; "
        "re-read committed offsets and filter the batch"
    )


def _arrow(table: str, rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    try:
        return rows_to_arrow(rows, schema)
    except (pa.ArrowException, TypeError, ValueError, KeyError) as exc:
        raise ValidationError(f"rows do not fit the {table!r} schema: {exc}") from exc


class DatasetWriter(ABC):
    """A sink for dataset tables that records source offsets atomically with the rows."""

    def __init__(self, schemas: Mapping[str, pa.Schema] = TABLE_SCHEMAS) -> None:
        self._schemas = schemas

    def schema(self, table: str) -> pa.Schema:
        """The Arrow schema of a known table."""
        try:
            return self._schemas[table]
        except KeyError:
            raise DatasetNotFoundError(f"unknown dataset table {table!r}") from None

    @abstractmethod
    def write(
        self,
        table: str,
        rows: list[dict[str, Any]],
        offsets: dict[SourcePartition, int],
        metadata: dict[str, str],
    ) -> int | None:
        """Append rows and advance each partition's offset in one commit; the new table version, or None.

        None means nothing was written: an empty batch, or a batch already committed in full.
        """

    @abstractmethod
    def committed_offsets(self, table: str, topic: str, partitions: Iterable[int]) -> dict[int, int]:
        """The last offset in `table` per partition of `topic`; partitions never written are absent."""

    @abstractmethod
    def erase(
        self, table: str, subjects: Collection[str], metadata: dict[str, str]
    ) -> tuple[int | None, int]:
        """Delete every row of these subject pseudonyms in one commit: (new version or None, rows deleted)."""

    @abstractmethod
    def vacuum(self, table: str, retention_hours: int) -> int:
        """Physically remove files no version younger than the retention needs; how many were removed."""

    @abstractmethod
    def compact(self, table: str, metadata: dict[str, str]) -> int:
        """Rewrite the latest version's small files into large ones in one commit: same rows, same
        offsets. How many files it replaced (0: nothing to do)."""

    @abstractmethod
    def column_values(self, table: str, column: str) -> set[str]:
        """The distinct values of a string column in the latest version (empty before the first write)."""

    def committed_positions(
        self, table: str, topic_partitions: Iterable[SourcePartition]
    ) -> dict[SourcePartition, int]:
        """`committed_offsets` for several topics at once, keyed by (topic, partition)."""
        by_topic: dict[str, list[int]] = defaultdict(list)
        for topic, partition in topic_partitions:
            by_topic[topic].append(partition)
        return {
            (topic, partition): offset
            for topic, partitions in by_topic.items()
            for partition, offset in self.committed_offsets(table, topic, partitions).items()
        }


def _commit_metadata(
    rows: list[dict[str, Any]], offsets: Mapping[SourcePartition, int], metadata: Mapping[str, str]
) -> dict[str, str]:
    source = {f"{topic}:{partition}": offset for (topic, partition), offset in sorted(offsets.items())}
    return {**metadata, ROW_COUNT_KEY: str(len(rows)), SOURCE_OFFSETS_KEY: json.dumps(source)}


class DeltaDatasetWriter(DatasetWriter):
    """Each dataset table is a Delta table `<root>/<table>`; offsets are txn actions of consumer `group`.

    The root is a local folder or an `s3://` prefix (`StorageRoot`); delta-rs does every read and write.
    """

    def __init__(
        self, root: StorageRoot | Path, group: str, *, schemas: Mapping[str, pa.Schema] = TABLE_SCHEMAS
    ) -> None:
        super().__init__(schemas)
        self.root = StorageRoot.of(root)
        self.group = group
        self._open: dict[str, DeltaTable] = {}

    def write(
        self,
        table: str,
        rows: list[dict[str, Any]],
        offsets: dict[SourcePartition, int],
        metadata: dict[str, str],
    ) -> int | None:
        """Append rows and advance each partition's offset in one Delta commit; the new version, or None."""
        if not rows:
            return None
        schema = self.schema(table)
        data = _arrow(table, rows, schema)
        try:
            delta = self._created(table)
            delta.update_incremental()
            committed = {
                tp: delta.transaction_version(app_id(self.group, *tp)) for tp in offsets
            }  # read in the snapshot the commit is checked against, so a concurrent txn fails the commit
            if _already_committed(table, offsets, committed):
                log.info("skipping a batch already committed to %s: %s", table, offsets)
                return None
            write_deltalake(
                delta,
                data,
                mode="append",
                commit_properties=CommitProperties(
                    app_transactions=[
                        Transaction(app_id(self.group, topic, partition), offset)
                        for (topic, partition), offset in sorted(offsets.items())
                    ],
                    custom_metadata=_commit_metadata(rows, offsets, metadata),
                ),
            )
            return int(delta.version())
        except CommitFailedError as exc:
            self._open.pop(table, None)
            raise OffsetConflictError(f"concurrent commit to {table!r}: {exc}") from exc
        except SchemaMismatchError as exc:
            raise FatalError(
                f"dataset table {table!r} on disk does not match the code's schema: {exc}"
            ) from exc
        except (DeltaError, OSError) as exc:
            self._open.pop(table, None)
            raise RetryableError(f"writing {table!r} failed: {exc}") from exc

    def committed_offsets(self, table: str, topic: str, partitions: Iterable[int]) -> dict[int, int]:
        """The last offset per partition from the table's txn actions for this group."""
        with self._failing(table, "reading offsets of"):
            delta = self._existing(table)
            if delta is None:
                return {}
            delta.update_incremental()
            found = {p: delta.transaction_version(app_id(self.group, topic, p)) for p in partitions}
        return {p: int(v) for p, v in found.items() if v is not None}

    def erase(
        self, table: str, subjects: Collection[str], metadata: dict[str, str]
    ) -> tuple[int | None, int]:
        """Delete the subjects' rows in one Delta commit, naming rows by resolution id.

        The delete predicate is recorded in the Delta log, which vacuum never rewrites: it names the
        rows' resolution ids, never the pseudonym.
        """
        if not subjects:
            return None, 0
        with self._failing(table, "erasing from"):
            delta = self._existing(table)
            if delta is None:
                return None, 0
            delta.update_incremental()
            # no filter pushdown: files that delta-rs rewrote hold string_view columns the scanner's
            # comparison kernels reject, so compare after reading the two small columns
            found = delta.to_pyarrow_table(columns=["resolution_id", "subject_pseudonym"])
            mask = pc.is_in(found.column("subject_pseudonym").cast(pa.string()), pa.array(sorted(subjects)))
            ids = sorted(set(found.filter(mask).column("resolution_id").cast(pa.string()).to_pylist()))
            if not ids:
                return None, 0
            quoted = ", ".join("'" + i.replace("'", "''") + "'" for i in ids)
            result = delta.delete(
                f"resolution_id IN ({quoted})",
                commit_properties=CommitProperties(
                    custom_metadata={**metadata, ROW_COUNT_KEY: str(-len(ids))}
                ),
            )
            return int(delta.version()), int(result.get("num_deleted_rows", len(ids)))

    def vacuum(self, table: str, retention_hours: int) -> int:
        """Delete unreferenced files older than the retention (the table's own minimum is not enforced)."""
        with self._failing(table, "vacuuming"):
            delta = self._existing(table)
            if delta is None:
                return 0
            delta.update_incremental()
            removed = delta.vacuum(
                retention_hours=retention_hours, dry_run=False, enforce_retention_duration=False
            )
            return len(removed)

    def compact(self, table: str, metadata: dict[str, str]) -> int:
        """Delta's OPTIMIZE (bin-packing compaction): the replaced files stay for time travel until vacuum.

        Each append adds a file, and the table's log state (held by every reader, and by this writer)
        grows with the live files: compaction keeps both small. It commits only file changes, so it
        cannot conflict with concurrent appends; against a concurrent erasure one of the two fails.
        """
        with self._failing(table, "compacting"):
            delta = self._existing(table)
            if delta is None:
                return 0
            delta.update_incremental()
            result = delta.optimize.compact(commit_properties=CommitProperties(custom_metadata=metadata))
            return int(result.get("numFilesRemoved", 0))

    def column_values(self, table: str, column: str) -> set[str]:
        """The distinct values of a string column in the latest version."""
        with self._failing(table, f"reading {column!r} of"):
            delta = self._existing(table)
            if delta is None:
                return set()
            delta.update_incremental()
            values = delta.to_pyarrow_table(columns=[column]).column(column).cast(pa.string())
        return {str(v) for v in pc.unique(values).to_pylist() if v is not None}

    @contextmanager
    def _failing(self, table: str, doing: str) -> Iterator[None]:
        """delta-rs errors as ours; the table's handle is dropped, so the next call opens it afresh."""
        try:
            yield
        except CommitFailedError as exc:
            self._open.pop(table, None)
            raise OffsetConflictError(f"concurrent commit to {table!r} while {doing} it: {exc}") from exc
        except (DeltaError, OSError) as exc:
            self._open.pop(table, None)
            raise RetryableError(f"{doing} {table!r} failed: {exc}") from exc

    def _existing(self, table: str) -> DeltaTable | None:
        """The cached handle of a table, None while it does not exist."""
        if table not in self._open:
            uri, options = str(self.root / table), self.root.delta_options
            if not DeltaTable.is_deltatable(uri, storage_options=options):
                return None
            self._open[table] = DeltaTable(uri, storage_options=options)
        return self._open[table]

    def _created(self, table: str) -> DeltaTable:
        """The handle of a table, creating it empty with its schema (version 0) on first use."""
        existing = self._existing(table)
        if existing is not None:
            return existing
        schema = self.schema(table)
        uri, options = str(self.root / table), self.root.delta_options
        description = (schema.metadata or {}).get(b"description", b"").decode() or None
        self.root.ensure()
        try:
            stats = ",".join(c for c in STATS_COLUMNS if c in schema.names)
            delta = DeltaTable.create(
                uri,
                schema,
                mode="ignore",
                name=table,
                description=description,
                configuration={"delta.dataSkippingStatsColumns": stats} if stats else None,
                storage_options=options,
            )
        except CommitFailedError:  # another writer created it first
            delta = DeltaTable(uri, storage_options=options)
        self._open[table] = delta
        return delta


# Offline readers (the `flagstream datasets` commands). A root is a StorageRoot, or a local folder.

Root = StorageRoot | Path
"""Where the tables are: a `StorageRoot` (local or s3://), or a local folder."""


def _open(root: Root, table: str, version: int | None = None) -> DeltaTable:
    """A table's snapshot; DatasetNotFoundError when there is no such table (or version)."""
    location = StorageRoot.of(root) / table
    uri, options = str(location), location.delta_options
    try:
        if not DeltaTable.is_deltatable(uri, storage_options=options):
            raise DatasetNotFoundError(f"no dataset table {table!r} under {StorageRoot.of(root)}")
        return DeltaTable(uri, version=version, storage_options=options)
    except (DeltaError, OSError) as exc:  # OSError: the store did not answer (or refused the credentials)
        if version is None or not isinstance(exc, DeltaError):
            raise RetryableError(f"reading {table!r} under {location} failed: {exc}") from exc
        raise DatasetNotFoundError(f"dataset table {table!r} has no version {version}: {exc}") from exc


def list_tables(root: Root) -> list[str]:
    """Names of the Delta tables directly under the dataset root, sorted."""
    location = StorageRoot.of(root)
    try:
        return [
            name
            for name in location.children()
            if DeltaTable.is_deltatable(str(location / name), storage_options=location.delta_options)
        ]
    except (DeltaError, OSError) as exc:
        raise RetryableError(f"listing the tables under {location} failed: {exc}") from exc


def table_history(root: Root, table: str) -> list[dict[str, Any]]:
    """Commits of a table, newest first: version, timestamp (UTC), operation, rows_written, metadata."""
    entries = []
    for info in _open(root, table).history():
        metrics = info.get("operationMetrics") or {}
        entries.append(
            {
                "version": int(info["version"]),
                "timestamp": datetime.fromtimestamp(int(info["timestamp"]) / 1000, UTC),
                "operation": str(info.get("operation", "")),
                "rows_written": int(metrics.get("num_added_rows", 0)),
                "metadata": {k: v for k, v in info.items() if k not in _COMMIT_INFO_KEYS},
            }
        )
    return sorted(entries, key=lambda entry: -entry["version"])


def read_table(
    root: Root,
    table: str,
    version: int | None = None,
    *,
    limit: int | None = None,
    columns: list[str] | None = None,
) -> pa.Table:
    """A table's rows as Arrow at its latest version or at `version` (time travel); at most `limit` rows."""
    snapshot = _open(root, table, version)
    if limit is not None:
        return snapshot.to_pyarrow_dataset().head(limit, columns=columns)
    return snapshot.to_pyarrow_table(columns=columns)


def table_version(root: Root, table: str) -> int:
    """The latest version of a table."""
    return int(_open(root, table).version())


def count_rows(root: Root, table: str, version: int | None = None) -> int:
    """Rows in a table version, from file statistics (exact for files this writer wrote)."""
    return int(_open(root, table, version).count())

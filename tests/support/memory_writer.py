"""The in-memory twin of `DeltaDatasetWriter` for unit tests: same versions, same offset rules, no files."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from services.dataset_sink.domain.rows import TABLE_SCHEMAS
from services.dataset_sink.writer import (
    DatasetWriter,
    SourcePartition,
    _already_committed,
    _arrow,
    _commit_metadata,
    app_id,
)


@dataclass
class _Commit:
    version: int
    timestamp: datetime
    operation: str
    rows: list[dict[str, Any]]
    metadata: dict[str, str]


@dataclass
class _MemoryTable:
    commits: list[_Commit] = field(default_factory=list)
    txn: dict[str, int] = field(default_factory=dict)
    live: list[dict[str, Any]] = field(default_factory=list)


class InMemoryDatasetWriter(DatasetWriter):
    """The in-memory twin of `DeltaDatasetWriter` for unit tests: same versions, same offset rules."""

    def __init__(self, group: str = "test", *, schemas: Mapping[str, pa.Schema] = TABLE_SCHEMAS) -> None:
        super().__init__(schemas)
        self.group = group
        self.tables: dict[str, _MemoryTable] = {}

    def write(
        self,
        table: str,
        rows: list[dict[str, Any]],
        offsets: dict[SourcePartition, int],
        metadata: dict[str, str],
    ) -> int | None:
        """Append rows and advance offsets in one step; the new version, or None."""
        if not rows:
            return None
        data = _arrow(table, rows, self.schema(table))
        memory = self.tables.get(table)
        if memory is None:
            memory = self.tables[table] = _MemoryTable()
            memory.commits.append(_Commit(0, datetime.now(UTC), "CREATE TABLE", [], {}))
        committed = {tp: memory.txn.get(app_id(self.group, *tp)) for tp in offsets}
        if _already_committed(table, offsets, committed):
            return None
        version = len(memory.commits)
        stored = data.to_pylist()  # what a reader gets back, after the schema's conversions
        memory.commits.append(
            _Commit(version, datetime.now(UTC), "WRITE", stored, _commit_metadata(rows, offsets, metadata))
        )
        memory.live.extend(stored)
        for (topic, partition), offset in offsets.items():
            memory.txn[app_id(self.group, topic, partition)] = offset
        return version

    def committed_offsets(self, table: str, topic: str, partitions: Iterable[int]) -> dict[int, int]:
        """The last offset per partition this twin recorded."""
        memory = self.tables.get(table)
        if memory is None:
            return {}
        found = {p: memory.txn.get(app_id(self.group, topic, p)) for p in partitions}
        return {p: v for p, v in found.items() if v is not None}

    def erase(
        self, table: str, subjects: Collection[str], metadata: dict[str, str]
    ) -> tuple[int | None, int]:
        """Drop the subjects' rows in one new version; (version or None, rows deleted)."""
        memory = self.tables.get(table)
        if memory is None:
            return None, 0
        kept = [r for r in memory.live if r.get("subject_pseudonym") not in subjects]
        deleted = len(memory.live) - len(kept)
        if not deleted:
            return None, 0
        version = len(memory.commits)
        memory.commits.append(_Commit(version, datetime.now(UTC), "DELETE", [], dict(metadata)))
        memory.live = kept
        return version, deleted

    def vacuum(self, table: str, retention_hours: int) -> int:
        """Nothing to remove: the twin keeps no files."""
        return 0

    def compact(self, table: str, metadata: dict[str, str]) -> int:
        """Nothing to compact: the twin keeps no files."""
        return 0

    def column_values(self, table: str, column: str) -> set[str]:
        """The distinct values of a column among the live rows."""
        return {str(r[column]) for r in self.rows(table) if r.get(column) is not None}

    def rows(self, table: str) -> list[dict[str, Any]]:
        """Every live row of `table`: the rows written, in commit order, less the erased ones."""
        memory = self.tables.get(table)
        return list(memory.live) if memory else []

    def version(self, table: str) -> int | None:
        """The latest version of `table`, None before its first write."""
        memory = self.tables.get(table)
        return memory.commits[-1].version if memory else None

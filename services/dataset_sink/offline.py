"""The `flagstream datasets` commands as functions returning printable plain data (str, int, list, dict)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from services.dataset_sink.writer import count_rows, list_tables, read_table, table_history, table_version


def plain(value: Any) -> Any:
    """A JSON-ready copy of a value: timestamps as ISO 8601, bytes as hex, containers recursively."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def list_datasets(root: Path) -> list[dict[str, Any]]:
    """`flagstream datasets list`: name, latest version, row count and last commit time of each table."""
    listing = []
    for name in list_tables(root):
        latest = table_history(root, name)[0]
        listing.append(
            {
                "name": name,
                "version": table_version(root, name),
                "rows": count_rows(root, name),
                "updated_at": plain(latest["timestamp"]),
            }
        )
    return listing


def dataset_history(root: Path, name: str) -> list[dict[str, Any]]:
    """`flagstream datasets history NAME`: one entry per commit, newest first."""
    return [plain(entry) for entry in table_history(root, name)]


def show_dataset(root: Path, name: str, version: int | None = None, *, limit: int = 10) -> dict[str, Any]:
    """`flagstream datasets show NAME [--version V]`: version, row count, schema and the first rows."""
    resolved = table_version(root, name) if version is None else version
    sample = read_table(root, name, resolved, limit=limit)
    return {
        "name": name,
        "version": resolved,
        "rows": count_rows(root, name, resolved),
        "schema": [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in sample.schema],
        "sample": plain(sample.to_pylist()),
    }

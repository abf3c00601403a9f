"""Erasure status and the guard on pinned exports, from the erasure ledger and the tables' history.

The dataset sink deletes a subject's rows from every table (one commit per table) and only then
writes the request to the erasure ledger (`<storage>/ledger/erasures`, a Delta table keyed by a
hash of the subject): a request in the ledger has been applied to every table. Delta keeps older
versions readable (time travel) until vacuum removes their files, so a version committed before an
erasure was applied may still hold the subject's rows: exporting such a pinned version is refused
unless asked for explicitly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.dataset_sink.domain import ERASURE_LEDGER
from services.dataset_sink.writer import DatasetNotFoundError, list_tables, read_table, table_history
from services.runtime.errors import FatalError
from services.runtime.settings import Settings


def applied_erasures(settings: Settings) -> list[dict[str, Any]]:
    """Every request of the erasure ledger (request id, scopes, reason, requested and applied times)."""
    try:
        rows = read_table(settings.ledger_root, ERASURE_LEDGER).to_pylist()
    except DatasetNotFoundError:
        return []
    return [{k: v for k, v in row.items() if k != "subject_key"} for row in rows]


def _committed_at(settings: Settings, table: str, version: int) -> datetime:
    for entry in table_history(settings.datasets_root, table):
        if entry["version"] == version:
            return entry["timestamp"]  # type: ignore[no-any-return]
    raise FatalError(f"dataset table {table!r} has no version {version}")


def erasure_status(settings: Settings, request_id: str) -> dict[str, Any]:
    """Whether a request was applied to every table, and which table versions predate it."""
    found = [row for row in applied_erasures(settings) if row["request_id"] == request_id]
    if not found:
        return {
            "request_id": request_id,
            "applied": False,
            "status": "pending: not in the erasure ledger yet (the dataset sink applies requests in "
            "order; check its lag on datasets.erasures.v1 with `flagstream status`), or an unknown id",
        }
    row = found[0]
    tables = []
    for table in list_tables(settings.datasets_root):
        history = table_history(settings.datasets_root, table)
        before = [h["version"] for h in history if h["timestamp"] < row["applied_at"]]
        tables.append(
            {
                "table": table,
                "latest_version": history[0]["version"],
                "versions_that_may_hold_erased_rows": f"<= {max(before)}" if before else "none",
            }
        )
    return {
        "request_id": request_id,
        "applied": True,
        "status": "applied to every table",
        "requested_at": row["requested_at"].isoformat(),
        "applied_at": row["applied_at"].isoformat(),
        "scopes": list(row["scopes"]),
        "reason": row["reason"],
        "tables": tables,
        "note": "older versions stay readable by time travel until vacuum removes their files "
        "(FLAGSTREAM_ERASURE_RETENTION_HOURS)",
    }


def erasures_after(settings: Settings, table: str, version: int) -> list[dict[str, Any]]:
    """Erasures applied after `version` of `table` was committed (that version may hold their rows)."""
    committed = _committed_at(settings, table, version)
    return [row for row in applied_erasures(settings) if row["applied_at"] > committed]

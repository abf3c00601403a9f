"""The `flagstream datasets` commands as functions returning printable plain data, and trainer exports."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

from services.dataset_sink.writer import (
    Root,
    count_rows,
    list_tables,
    read_table,
    table_history,
    table_version,
)
from services.runtime.errors import FatalError


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


def list_datasets(root: Root) -> list[dict[str, Any]]:
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


def dataset_history(root: Root, name: str) -> list[dict[str, Any]]:
    """`flagstream datasets history NAME`: one entry per commit, newest first."""
    return [plain(entry) for entry in table_history(root, name)]


def show_dataset(root: Root, name: str, version: int | None = None, *, limit: int = 10) -> dict[str, Any]:
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


FORMATS = ("jsonl", "parquet", "sft", "dpo")
"""Export formats: rows as JSON lines or Parquet, or the conversational shapes TRL's trainers read."""

TRAINER_TABLES = {"sft": "demonstrations", "dpo": "preferences"}
"""The table each trainer format is made from."""


def _rows_for(root: Root, name: str, version: int | None, split: str | None) -> tuple[int, Any]:
    resolved = table_version(root, name) if version is None else version
    table = read_table(root, name, resolved)
    if split is not None:
        table = table.filter(pc.equal(table.column("split"), split))
    return resolved, table


def sft_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """A demonstrations row in TRL's conversational SFT format: {"messages": [{"role", "content"}]}.

    Only the last (reviewer-written) assistant turn has `train` set; with TRL, train with
    `assistant_only_loss=True` (earlier assistant turns are rare in flagged chats and stay context).
    """
    return {
        "messages": [{"role": m["role"], "content": m["content"]} for m in row["messages"]],
        "id": row["resolution_id"],
        "split": row["split"],
    }


def dpo_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """A preferences row in TRL's conversational preference format (DPO, reward modelling)."""
    return {
        "prompt": [{"role": m["role"], "content": m["content"]} for m in row["prompt"]],
        "chosen": [{"role": "assistant", "content": row["chosen"]}],
        "rejected": [{"role": "assistant", "content": row["rejected"]}],
        "id": row["resolution_id"],
        "split": row["split"],
    }


def dataset_card(root: Root, name: str, version: int | None = None) -> dict[str, Any]:
    """A table version's card: counts per verdict, category and split, policy versions, agreement."""
    resolved, table = _rows_for(root, name, version, None)
    rows = table.to_pylist()

    def counts(values: Iterable[Any]) -> dict[str, int]:
        return dict(sorted(Counter(str(v) for v in values).items()))

    agreement = [float(r["agreement"]) for r in rows]
    card: dict[str, Any] = {
        "name": name,
        "version": resolved,
        "rows": len(rows),
        "splits": counts(r["split"] for r in rows),
        "verdicts": counts(r["verdict"] for r in rows if "verdict" in r),
        "categories": counts(c for r in rows for c in r.get("categories") or []),
        "methods": counts(r["method"] for r in rows),
        "agreement": {
            "mean": round(sum(agreement) / len(agreement), 4) if agreement else None,
            "unanimous_share": round(sum(a == 1.0 for a in agreement) / len(agreement), 4)
            if agreement
            else None,
        },
        "policy_versions": {
            column: counts(r[column] for r in rows)
            for column in (
                "guardrail_policy_version",
                "redaction_policy_version",
                "escalation_policy_version",
                "rubric_version",
            )
        },
        "models": counts(r["model_id"] for r in rows),
        "pseudonym_key_ids": counts(r["pseudonym_key_id"] for r in rows),
        "reviewers": len({p for r in rows for p in r["reviewer_pseudonyms"]}),
    }
    if name == "preferences":
        card["pair_sources"] = counts(r["pair_source"] for r in rows)
    return card


def export_dataset(
    root: Root,
    name: str,
    output: Path,
    *,
    fmt: str,
    version: int | None = None,
    split: str | None = None,
) -> dict[str, Any]:
    """`flagstream datasets export`: write one table version (one split) to `output`, with its card beside it.

    jsonl and parquet write the rows as stored; sft (demonstrations) and dpo (preferences) write the
    conversational records TRL's SFTTrainer and DPOTrainer/RewardTrainer load with `datasets`.
    """
    if fmt not in FORMATS:
        raise FatalError(f"unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")
    if fmt in TRAINER_TABLES and TRAINER_TABLES[fmt] != name:
        raise FatalError(f"--format {fmt} exports the {TRAINER_TABLES[fmt]} table, not {name}")
    if split is not None and split not in ("train", "heldout"):
        raise FatalError(f"unknown split {split!r}; choose train or heldout")
    resolved, table = _rows_for(root, name, version, split)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        pq.write_table(table, output)
    else:
        convert = {"sft": sft_record, "dpo": dpo_record}.get(fmt, plain)
        with output.open("w", encoding="utf-8") as out:
            for row in table.to_pylist():
                out.write(json.dumps(convert(row), ensure_ascii=False, default=str) + "\n")
    card = dataset_card(root, name, resolved) | {
        "export": {"format": fmt, "split": split, "rows": table.num_rows}
    }
    card_path = output.with_name(output.name + ".card.json")
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    return {
        "table": name,
        "version": resolved,
        "rows": table.num_rows,
        "path": str(output),
        "card": str(card_path),
    }

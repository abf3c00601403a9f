"""`flagstream trace INTERACTION_ID`: where one interaction went and why, from the audit topic and the
Delta tables, with the policy versions of each step.

The audit topic holds one event per decision of every stage (the gate's consent decision and entity
counts, escalation's queue, rule and score or why not, review's tasks, judgments and resolution, the
sink's write); the tables say which table, version and split the interaction's rows landed in. Only
identifiers, reason codes, counts and policy versions are printed: never message text, which stays
in the dataset rows themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.contracts import AuditEvent, default_codec
from services.runtime.errors import DecodeError, FatalError
from services.runtime.kafka import read_topic
from services.runtime.settings import Settings
from services.runtime.storage import StorageRoot
from services.runtime.topics import AUDIT

ROW_FIELDS = ("split", "queue", "verdict", "training_allowed", "resolution_id", "task_id")
"""Columns of a dataset row a trace shows (identifiers and labels, no text)."""

TERMINAL = {
    ("privacy_gate", "drop"): "dropped by the privacy gate",
    ("escalation", "not_escalated"): "not escalated to review",
    ("dataset_sink", "written"): "written to the datasets",
    ("dataset_sink", "not_written"): "resolved but not written to the datasets",
}


@dataclass
class Trace:
    """One interaction's path."""

    interaction_id: str
    steps: list[dict[str, Any]] = field(default_factory=list)
    """Audit events, oldest first."""
    rows: list[dict[str, Any]] = field(default_factory=list)
    """Dataset rows of the interaction: table, first version holding it, split and labels."""

    @property
    def outcome(self) -> str:
        """The interaction's end state so far, from its terminal audit event."""
        for step in reversed(self.steps):
            end = TERMINAL.get((step["service"], step["decision"]))
            if end:
                return end
        return "in flight (no terminal decision yet)" if self.steps else "unknown: no audit event has this id"


def _first_version_with(root: StorageRoot, table: str, interaction_id: str, latest: int) -> int:
    """The first table version holding the interaction (rows are appended; a binary search)."""
    from services.dataset_sink.writer import read_table

    def holds(version: int) -> bool:
        ids = read_table(root, table, version, columns=["interaction_id"]).column("interaction_id")
        return interaction_id in set(ids.to_pylist())

    low, high = 0, latest
    while low < high:
        middle = (low + high) // 2
        if holds(middle):
            high = middle
        else:
            low = middle + 1
    return low


def dataset_rows(root: StorageRoot, interaction_id: str) -> list[dict[str, Any]]:
    """Where the interaction's rows are in the latest version of each table."""
    import pyarrow.compute as pc

    from services.dataset_sink.writer import list_tables, read_table, table_version

    found = []
    for table in list_tables(root):
        latest = table_version(root, table)
        data = read_table(root, table)
        matches = data.filter(pc.equal(data.column("interaction_id"), interaction_id))
        if not matches.num_rows:
            continue
        first = _first_version_with(root, table, interaction_id, latest)
        for row in matches.to_pylist():
            found.append(
                {"table": table, "since_version": first, "latest_version": latest}
                | {k: row[k] for k in ROW_FIELDS if k in row}
            )
    return found


def trace(settings: Settings, interaction_id: str) -> Trace:
    """Every recorded step of one interaction."""
    if not interaction_id.strip():
        raise FatalError("an interaction id is needed")
    codec = default_codec()
    result = Trace(interaction_id)
    events: list[AuditEvent] = []
    for msg in read_topic(settings, settings.topic(AUDIT)):
        try:
            event = codec.decode(msg.value() or b"", AuditEvent)
        except DecodeError:
            continue
        if interaction_id in (event.interaction_id, event.details.get("interaction_id")):
            events.append(event)
    seen = set()
    for event in sorted(events, key=lambda e: e.occurred_at):
        if event.event_id in seen:  # a replayed stage audits again with the same id
            continue
        seen.add(event.event_id)
        result.steps.append(
            {
                "at": event.occurred_at.isoformat(),
                "service": event.service,
                "decision": event.decision,
                "reason": event.reason,
                "policy_versions": dict(sorted(event.policy_versions.items())),
                "details": dict(sorted(event.details.items())),
            }
        )
    result.rows = dataset_rows(settings.datasets_root, interaction_id)
    return result


def render(t: Trace) -> str:
    """The trace as text, one step per line."""
    lines = [f"interaction {t.interaction_id}: {t.outcome}", ""]
    for step in t.steps:
        versions = " ".join(f"{k}={v}" for k, v in step["policy_versions"].items())
        details = " ".join(f"{k}={v}" for k, v in step["details"].items())
        lines.append(f"{step['at'][:23]}  {step['service']:13} {step['decision']:16} {step['reason']}")
        if details:
            lines.append(f"{'':25}{details}")
        if versions:
            lines.append(f"{'':25}policies: {versions}")
    if t.rows:
        lines += ["", "datasets:"]
        for row in t.rows:
            labels = " ".join(f"{k}={row[k]}" for k in ROW_FIELDS if k in row)
            since = f"since v{row['since_version']} (latest v{row['latest_version']})"
            lines.append(f"  {row['table']:16} {since}  {labels}")
    elif t.steps:
        lines += ["", "datasets: no row of this interaction"]
    return "\n".join(lines)

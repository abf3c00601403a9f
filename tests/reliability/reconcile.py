"""The reconciler: account for every acknowledged interaction id in outcome topics, dead letters and Delta.

Given what the producer had acknowledged (interaction ids, and the keys of deliberately malformed
records), it reads the deployment's audit topic, every dead-letter topic, the intermediate topics and
the Delta tables, and reports per id:

- missing: acknowledged, but with no terminal outcome (or written without a Delta row);
- duplicated: more than one distinct terminal outcome, or more than one row in a Delta table;
- unexpected: an outcome, a row or an intermediate record of an id nobody produced.

Terminal outcomes are the audit decisions (privacy_gate, drop), (escalation, not_escalated),
(dataset_sink, written), (dataset_sink, not_written), and a dead letter of the record anywhere.
The same audit event twice (same event id: a replay) is one decision and only counted.
Intermediate topics may hold an id more than once only where the stage that reads them is idempotent
on that id (the table IDEMPOTENT below says which and why); those duplicates are counted and
reported, the others fail the run.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from services.contracts import (
    AuditEvent,
    FlaggedInteraction,
    Judgment,
    RedactedInteraction,
    ResolvedJudgment,
    ReviewTask,
    default_codec,
)
from services.dataset_sink.domain import DEMONSTRATIONS, PREFERENCES, REFUSAL_AUDIT, SAFETY_LABELS
from services.dataset_sink.writer import DatasetNotFoundError, read_table
from services.runtime.errors import DecodeError
from services.runtime.kafka import read_topic
from services.runtime.settings import REPO_ROOT, Settings
from services.runtime.topics import (
    AUDIT,
    ESCALATION_CANDIDATES,
    INTERACTIONS,
    JUDGMENTS,
    QUEUES,
    REDACTED,
    REGISTRY,
    RESOLVED,
    task_topic,
)

TERMINAL = frozenset(
    {
        ("privacy_gate", "drop"),
        ("escalation", "not_escalated"),
        ("dataset_sink", "written"),
        ("dataset_sink", "not_written"),
    }
)
TABLES = (PREFERENCES, DEMONSTRATIONS, REFUSAL_AUDIT, SAFETY_LABELS)
REPORT_DIR = REPO_ROOT / "var" / "reliability"
POISON_KEY_PREFIX = b"poison-"
"""Keys of the records the fault suite sends malformed on purpose (tests/reliability/poison.py)."""

IDEMPOTENT: dict[str, tuple[bool, str]] = {
    REDACTED: (
        True,
        "escalation derives the task id from the interaction id; allocate skips task ids in its "
        "`decided` table and re-sends audit events with the same event id",
    ),
    ESCALATION_CANDIDATES: (True, "allocate skips task ids in its `decided` table"),
    "review.tasks.*.v1": (True, "review skips task ids in its settled/open tables"),
    JUDGMENTS: (True, "review admits one vote per judgment id and reviewer"),
    RESOLVED: (
        True,
        "the dataset sink skips resolution ids safety_labels or the current batch already holds "
        "(and source offsets its Delta txn already holds)",
    ),
}


@dataclass
class Produced:
    """What the producer knows: acknowledged ids, ids whose delivery failed, malformed keys it sent."""

    acked: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    poison: dict[str, set[str]] = field(
        default_factory=dict
    )  # acked key -> accepted DLQ reasons (any if empty)
    poison_topic: dict[str, str] = field(default_factory=dict)  # key -> input topic, when not the ingress
    expected_dead: dict[str, set[str]] = field(default_factory=dict)  # valid id -> accepted DLQ reasons
    poison_rejected: dict[str, str] = field(default_factory=dict)  # key -> producer/broker error


@dataclass
class TopicDuplicates:
    """Ids seen more than once in one intermediate topic."""

    topic: str
    records: int
    distinct: int
    duplicates: int
    idempotent_downstream: bool
    why: str
    unexpected: int = 0


@dataclass
class Report:
    """The reconciliation of one run."""

    name: str
    events_acked: int
    events_unacked: int
    wall_seconds: float = 0.0
    faults: list[str] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    conflicting: dict[str, list[str]] = field(default_factory=dict)
    audit_replays: int = 0
    unexpected: list[str] = field(default_factory=list)
    dead_lettered_valid: list[str] = field(default_factory=list)
    unacked_but_processed: int = 0
    delta_rows: dict[str, int] = field(default_factory=dict)
    delta_duplicates: dict[str, int] = field(default_factory=dict)
    written_without_row: list[str] = field(default_factory=list)
    row_without_written: list[str] = field(default_factory=list)
    intermediate: list[TopicDuplicates] = field(default_factory=list)
    dead_letters: dict[str, dict[str, int]] = field(default_factory=dict)
    poison_found: dict[str, str] = field(default_factory=dict)
    expected_dead_found: dict[str, str] = field(default_factory=dict)
    poison_missing: list[str] = field(default_factory=list)
    poison_wrong_reason: dict[str, str] = field(default_factory=dict)
    poison_rejected: dict[str, str] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)
    trace: dict[str, list[str]] = field(default_factory=dict)
    """Where each missing id was last seen: topic[partition]@offset of its records, non-terminal audits."""

    @property
    def delta_duplicate_total(self) -> int:
        return sum(self.delta_duplicates.values())

    @property
    def intermediate_duplicates(self) -> int:
        return sum(t.duplicates for t in self.intermediate)

    def violations(self) -> list[str]:
        """What breaks the guarantees; empty when the run is clean."""
        found = []
        if self.missing:
            seen = {i: self.trace.get(i, []) for i in self.missing[:3]}
            found.append(f"{len(self.missing)} ids without a terminal outcome, e.g. (with trace) {seen}")
        if self.conflicting:
            found.append(
                f"{len(self.conflicting)} ids with several terminal outcomes: {_first(self.conflicting)}"
            )
        if self.dead_lettered_valid:
            found.append(
                f"{len(self.dead_lettered_valid)} valid acked ids dead-lettered, "
                f"e.g. {self.dead_lettered_valid[:3]}"
            )
        if self.unexpected:
            found.append(f"{len(self.unexpected)} ids nobody produced, e.g. {self.unexpected[:3]}")
        if self.delta_duplicate_total:
            found.append(f"duplicate Delta rows: {self.delta_duplicates}")
        if self.written_without_row:
            found.append(f"{len(self.written_without_row)} written ids without a Delta row")
        if self.row_without_written:
            found.append(f"{len(self.row_without_written)} Delta rows without a written audit")
        for topic in self.intermediate:
            if topic.duplicates and not topic.idempotent_downstream:
                found.append(
                    f"{topic.duplicates} duplicates in {topic.topic}, whose reader is not idempotent"
                )
            if topic.unexpected:
                found.append(f"{topic.unexpected} records of unknown ids in {topic.topic}")
        if self.poison_missing:
            found.append(f"malformed records not dead-lettered: {self.poison_missing}")
        if self.poison_wrong_reason:
            found.append(f"malformed records with an unexpected reason: {self.poison_wrong_reason}")
        return found

    def row(self) -> dict[str, Any]:
        """The summary line of this run."""
        return {
            "fault": self.name,
            "events": self.events_acked,
            "missing": len(self.missing) + len(self.written_without_row) + len(self.poison_missing),
            "dup_terminal": len(self.conflicting),
            "dup_delta": self.delta_duplicate_total,
            "dup_intermediate": self.intermediate_duplicates,
            "audit_replays": self.audit_replays,
            "unexpected": len(self.unexpected) + len(self.row_without_written),
            "dlq_valid": len(self.dead_lettered_valid),
            "dlq": sum(sum(r.values()) for r in self.dead_letters.values()),
            "kills": self.notes.get("kills", 0),
            "crashes": len(self.notes.get("crashes", [])),
            "wall_s": round(self.wall_seconds),
            "ok": not self.violations() and "drain_failure" not in self.notes,
        }

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["summary"] = self.row()
        data["violations"] = self.violations()
        for key in (
            "missing",
            "unexpected",
            "dead_lettered_valid",
            "written_without_row",
            "row_without_written",
        ):
            data[key] = data[key][:50]  # ids are random uuids; fifty say enough
        data["trace"] = dict(list(self.trace.items())[:50])
        return data

    def write(self, directory: Path = REPORT_DIR) -> Path:
        """Write the report as JSON under var/reliability/ (the latest run of each fault)."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.name}.json"
        path.write_text(json.dumps(self.to_json(), indent=2, sort_keys=True, default=str))
        return path


def _first(mapping: Mapping[str, Any]) -> Any:
    return next(iter(mapping.items()), None)


COLUMNS = (
    "fault",
    "events",
    "missing",
    "dup_terminal",
    "dup_delta",
    "dup_intermediate",
    "audit_replays",
    "unexpected",
    "dlq",
    "dlq_valid",
    "kills",
    "crashes",
    "wall_s",
    "ok",
)


def summary_table(reports: Iterable[Report | Mapping[str, Any]]) -> str:
    """A Markdown table, one line per run."""
    rows = [r.row() if isinstance(r, Report) else dict(r) for r in reports]
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(row.get(c, "")) for c in COLUMNS) + " |" for row in rows]
    return "\n".join(lines)


def reconcile(settings: Settings, produced: Produced, *, name: str) -> Report:
    """Read everything the deployment holds and account for every acknowledged id."""
    codec = default_codec()
    acked = produced.acked
    report = Report(name, events_acked=len(acked), events_unacked=len(produced.failed))
    terminal: dict[str, set[tuple[str, str]]] = defaultdict(set)
    seen_events: set[str] = set()
    outcome_counts: Counter[str] = Counter()
    dead_valid: set[str] = set()

    audits: dict[str, list[str]] = defaultdict(list)
    for msg in read_topic(settings, settings.topic(AUDIT), timeout=120):
        event = codec.decode(msg.value() or b"", AuditEvent)
        if event.interaction_id:
            audits[event.interaction_id].append(f"audit {event.service}:{event.decision}:{event.reason}")
        if (event.service, event.decision) not in TERMINAL or not event.interaction_id:
            continue
        if event.event_id in seen_events:
            report.audit_replays += 1
            continue
        seen_events.add(event.event_id)
        terminal[event.interaction_id].add((event.service, event.decision))
        outcome_counts[f"{event.service}:{event.decision}"] += 1

    # Dead letters: every DLQ topic; a dead-lettered id has a terminal outcome there.
    for spec in REGISTRY:
        if not spec.name.endswith(".dlq"):
            continue
        reasons: Counter[str] = Counter()
        for msg in read_topic(settings, settings.topic(spec.name), timeout=120):
            headers = {str(k): _text(v) for k, v in list(msg.headers() or [])}
            reason = headers.get("dlq.error.reason", "?")
            reasons[reason] += 1
            key = (msg.key() or b"").decode(errors="replace")
            origin = produced.poison_topic.get(key, INTERACTIONS)
            if spec.name == f"{origin}.dlq" and key in produced.poison:
                if key in report.poison_found:
                    report.notes.setdefault("poison_dead_lettered_twice", []).append(key[:80])
                report.poison_found[key] = reason
                accepted = produced.poison[key]
                if (accepted and reason not in accepted) or reason in ("", "?"):
                    report.poison_wrong_reason[key[:80]] = reason
                continue
            interaction_id = _interaction_id_of(codec, msg.value() or b"")
            if interaction_id is not None and interaction_id in produced.expected_dead:
                report.expected_dead_found[interaction_id] = reason
                if reason not in produced.expected_dead[interaction_id]:
                    report.poison_wrong_reason[interaction_id] = reason
                terminal[interaction_id].add(("dlq", spec.name))
                continue
            if interaction_id is not None:
                terminal[interaction_id].add(("dlq", spec.name))
                dead_valid.add(interaction_id)
                outcome_counts[f"dlq:{spec.name}"] += 1
        if reasons:
            report.dead_letters[spec.name] = dict(reasons)
    report.poison_missing = sorted(k[:80] for k in set(produced.poison) - set(report.poison_found))
    report.poison_missing += sorted(set(produced.expected_dead) - set(report.expected_dead_found))
    report.poison_rejected = dict(produced.poison_rejected)

    report.outcomes = dict(sorted(outcome_counts.items()))
    report.missing = sorted(acked - set(terminal))
    report.trace = {i: list(audits.get(i, [])) for i in report.missing}
    report.conflicting = {i: sorted(f"{s}:{d}" for s, d in o) for i, o in terminal.items() if len(o) > 1}
    foreign = set(terminal) - acked
    report.unacked_but_processed = len(foreign & produced.failed)
    report.unexpected = sorted(foreign - produced.failed)
    report.dead_lettered_valid = sorted(dead_valid & acked)

    written = {i for i, o in terminal.items() if ("dataset_sink", "written") in o}
    _reconcile_delta(settings, report, written)
    _reconcile_intermediate(settings, report, acked | produced.failed)
    if report.missing:
        _trace_ingress(settings, report)
    return report


def _trace_ingress(settings: Settings, report: Report) -> None:
    """Where the missing ids sit in the ingress topic, and how many records each partition holds.

    Tells a record the gate skipped (in the log, no outcome) from one the log does not hold.
    """
    codec = default_codec()
    topic = settings.topic(INTERACTIONS)
    per_partition: Counter[int] = Counter()
    for msg in read_topic(settings, topic, timeout=120):
        per_partition[msg.partition() or 0] += 1
        interaction = _interaction_id_of(codec, msg.value() or b"")
        if interaction in report.trace:
            report.trace[interaction].insert(0, f"{INTERACTIONS}[{msg.partition()}]@{msg.offset()}")
    report.notes["ingress_records_per_partition"] = dict(sorted(per_partition.items()))
    for seen in report.trace.values():
        if not any(s.startswith(INTERACTIONS) for s in seen):
            seen.insert(0, f"not in {INTERACTIONS}")


def _text(value: str | bytes | None) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value or ""


def _interaction_id_of(codec: Any, value: bytes) -> str | None:
    for model in (FlaggedInteraction, RedactedInteraction, ReviewTask, ResolvedJudgment):
        try:
            record = codec.decode(value, model)
        except DecodeError:
            continue
        if isinstance(record, ResolvedJudgment):
            return str(record.task.interaction_id)
        return str(record.interaction_id)
    return None


def _reconcile_delta(settings: Settings, report: Report, written: set[str]) -> None:
    for table in TABLES:
        try:
            data = read_table(settings.datasets_dir, table)
        except DatasetNotFoundError:
            report.delta_rows[table] = 0
            continue
        resolutions = data.column("resolution_id").to_pylist()
        report.delta_rows[table] = len(resolutions)
        report.delta_duplicates[table] = len(resolutions) - len(set(resolutions))
        if table == SAFETY_LABELS:
            ids = data.column("interaction_id").to_pylist()
            report.delta_duplicates["safety_labels.interaction_id"] = len(ids) - len(set(ids))
            report.written_without_row = sorted(written - set(ids))
            report.row_without_written = sorted(set(ids) - written)


def _reconcile_intermediate(settings: Settings, report: Report, known: set[str]) -> None:
    codec = default_codec()

    def count(topic_label: str, topics: list[str], model: Any, id_of: Any, interaction_of: Any) -> None:
        ids: Counter[str] = Counter()
        unexpected = 0
        for topic in topics:
            for msg in read_topic(settings, settings.topic(topic), timeout=120):
                value = msg.value() or b""
                if not value:
                    continue  # escalation's window ticks
                if (msg.key() or b"").startswith(POISON_KEY_PREFIX):
                    continue  # deliberately malformed, reconciled in its dead-letter topic
                try:
                    record = codec.decode(value, model)
                except DecodeError:
                    continue  # dead-lettered downstream, counted there
                interaction = interaction_of(record)
                if interaction is None:
                    continue  # gold tasks are nobody's data
                if interaction not in known:
                    unexpected += 1
                if interaction in report.trace:
                    report.trace[interaction].append(f"{topic}[{msg.partition()}]@{msg.offset()}")
                ids[id_of(record)] += 1
        idempotent, why = IDEMPOTENT[topic_label]
        records = sum(ids.values())
        report.intermediate.append(
            TopicDuplicates(topic_label, records, len(ids), records - len(ids), idempotent, why, unexpected)
        )

    def task_interaction(task: ReviewTask) -> str | None:
        return None if task.is_gold else task.interaction_id

    count(REDACTED, [REDACTED], RedactedInteraction, lambda r: r.interaction_id, lambda r: r.interaction_id)
    count(ESCALATION_CANDIDATES, [ESCALATION_CANDIDATES], ReviewTask, lambda r: r.task_id, task_interaction)
    count(
        "review.tasks.*.v1",
        [task_topic(q) for q in QUEUES],
        ReviewTask,
        lambda r: r.task_id,
        task_interaction,
    )
    count(
        JUDGMENTS,
        [JUDGMENTS],
        Judgment,
        lambda r: r.judgment_id,
        lambda r: None if r.interaction_id.startswith("gold-") else r.interaction_id,
    )
    count(
        RESOLVED,
        [RESOLVED],
        ResolvedJudgment,
        lambda r: r.resolution_id,
        lambda r: None if r.task.is_gold else r.task.interaction_id,
    )


def timed(started: float) -> float:
    """Seconds since a monotonic start."""
    return time.monotonic() - started


def main() -> None:
    """Print the summary table of the last report of every fault under var/reliability/."""
    rows = [
        json.loads(path.read_text())["summary"]
        for path in sorted(REPORT_DIR.glob("*.json"))
        if path.name != "summary.json"
    ]
    print(summary_table(rows))


if __name__ == "__main__":
    main()

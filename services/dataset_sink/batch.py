"""A sink batch: the consumed records, what each becomes, and the intake that decides it."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Message

from services.contracts import AuditEvent, AvroCodec, ErasureRequest, Record, ResolvedJudgment
from services.dataset_sink.domain import (
    DEMONSTRATIONS,
    PREFERENCES,
    REFUSAL_AUDIT,
    SAFETY_LABELS,
    ErasedSubjects,
    assign_split,
    dataset_rows,
    ledger_row,
    split_key,
)
from services.runtime import deadletter
from services.runtime.audit import audit_event, policy_versions
from services.runtime.errors import DecodeError
from services.runtime.metrics import Metrics
from services.runtime.settings import Settings
from services.runtime.topics import ERASURES, RESOLVED

SERVICE = "dataset_sink"
TABLE = SAFETY_LABELS
"""The table every written judgment has a row in: its txn versions are the resume point."""
TABLES = (PREFERENCES, DEMONSTRATIONS, REFUSAL_AUDIT, SAFETY_LABELS)
"""Every table; a batch commits the first three in parallel, then safety_labels (the resume point)."""

log = logging.getLogger(__name__)


@dataclass
class Item:
    """One consumed record of the current batch: where it came from and what it becomes."""

    topic: str
    partition: int
    offset: int
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    decision: str | None = None  # written / not_written; None for dead letters and erasures
    reason: str = "undecodable"
    resolved: ResolvedJudgment | None = None
    erasure: ErasureRequest | None = None

    @property
    def position(self) -> tuple[str, int, int]:
        return self.topic, self.partition, self.offset

    def audit(self) -> AuditEvent:
        """The audit event of a decided judgment (written or not, and why)."""
        assert self.resolved is not None and self.decision is not None
        task = self.resolved.task
        interaction = task.interaction
        return audit_event(
            SERVICE,
            self.decision,
            self.reason,
            interaction_id=task.interaction_id,
            subject_pseudonym=interaction.subject_pseudonym,
            policy_versions=policy_versions({}, interaction, task),
            details={
                "resolution_id": self.resolved.resolution_id,
                "table": TABLE,
                "tables": ",".join(t for t in TABLES if t in self.rows),
            },
        )


def position(item: Item) -> tuple[str, int, int]:
    """(topic, partition, offset) of an item, for writer.filter_uncommitted and last_offsets."""
    return item.position


@dataclass
class Batch:
    """The records consumed since the last commit, and the resolution ids they decided."""

    items: list[Item] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    resolution_ids: set[str] = field(default_factory=set)

    def of(self, topic: str) -> list[Item]:
        return [i for i in self.items if i.topic == topic]


@dataclass
class Intake:
    """Turns consumed records into batch items: decode, drop repeats, decide written or not and why.

    Review emits at least once, so the same resolution can arrive again at another offset, which the
    txn check cannot see: `written` (the resolution ids safety_labels holds) and the batch's own ids
    catch it. `erased` is shared with the erasures: an erasure taken into the batch blocks the
    subject's later records at once.
    """

    settings: Settings
    metrics: Metrics
    codec: AvroCodec
    producer: Any
    erased: ErasedSubjects
    written: set[str] = field(default_factory=set)
    batch: Batch = field(default_factory=Batch)

    def due(self) -> bool:
        """Whether the batch is full or old enough to commit."""
        if not self.batch.items:
            return False
        if len(self.batch.items) >= self.settings.sink_batch_rows:
            return True
        return time.monotonic() - self.batch.started >= self.settings.sink_batch_seconds

    def take(self, msg: Message) -> None:
        """Add one consumed record to the batch."""
        if not self.batch.items:
            self.batch.started = time.monotonic()
        item = Item(str(msg.topic()), msg.partition() or 0, msg.offset() or 0)
        self.batch.items.append(item)
        started = time.perf_counter()
        if item.topic == self.settings.topic(ERASURES):
            request = self._decode(msg, ERASURES, ErasureRequest)
            if request is not None:
                item.erasure = request
                # from now on this batch writes nothing of the subject's (the commit re-checks earlier items)
                self.erased.add(
                    ledger_row(request, request.requested_at)["subject_key"], request.requested_at
                )
            return
        resolved = self._decode(msg, RESOLVED, ResolvedJudgment)
        if resolved is None:
            return
        if resolved.resolution_id in self.written or resolved.resolution_id in self.batch.resolution_ids:
            item.reason = "duplicate_resolution"  # written (or decided) once already: no row, no audit
            return
        self.batch.resolution_ids.add(resolved.resolution_id)
        item.resolved = resolved
        self._decide(item, resolved)
        self.metrics.latency.labels(SERVICE).observe(time.perf_counter() - started)

    def _decide(self, item: Item, resolved: ResolvedJudgment) -> None:
        task = resolved.task
        interaction = task.interaction
        if task.is_gold:
            item.decision, item.reason = "not_written", "gold_task"
        elif not interaction.training_allowed:
            item.decision, item.reason = "not_written", "training_not_allowed"
        elif self.erased.blocks(interaction.subject_pseudonym, interaction.event_time):
            item.decision, item.reason = "not_written", "subject_erased"
        else:
            split = assign_split(
                split_key(resolved),
                salt=self.settings.split_salt.get_secret_value(),
                heldout_fraction=self.settings.heldout_fraction,
            )
            item.rows = dataset_rows(resolved, split=split)
            item.decision, item.reason = "written", TABLE

    def _decode(self, msg: Message, origin: str, model: type[Record]) -> Any:
        try:
            return self.codec.decode(msg.value() or b"", model)
        except DecodeError as exc:
            letter = deadletter.build(
                origin=origin,
                partition=msg.partition() or 0,
                offset=msg.offset() or 0,
                key=msg.key(),
                value=msg.value() or b"",
                error=exc,
                reason=exc.reason,
                service=SERVICE,
            )
            deadletter.send(letter, self._produce, self.settings, self.metrics)
            return None

    def _produce(
        self, topic: str, value: bytes, key: bytes | None, headers: Sequence[tuple[str, bytes]]
    ) -> None:
        self.producer.produce(topic, key=key, value=value, headers=dict(headers))

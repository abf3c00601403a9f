"""A simulated source partition log and the consumer loop's documented protocol, for writer tests."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sink_factories import make_resolved

from services.contracts.models import ResolvedJudgment
from services.dataset_sink.domain import SAFETY_LABELS, assign_split, safety_label_row, split_key
from services.dataset_sink.writer import DatasetWriter, filter_uncommitted, last_offsets

TOPIC = "review.resolved.v1"
GROUP = "flagstream-dataset-sink"

SourceRecord = tuple[str, int, int, ResolvedJudgment]
"""(topic, partition, offset, value) as the consumer hands it over."""


def partition_log(partitions: dict[int, int], topic: str = TOPIC) -> list[SourceRecord]:
    """Records of `topic`, `partitions[p]` of them in partition p, interleaved like a poll returns them."""
    records: list[SourceRecord] = []
    longest = max(partitions.values(), default=0)
    n = 0
    for offset in range(longest):
        for partition, count in sorted(partitions.items()):
            if offset < count:
                records.append((topic, partition, offset, make_resolved(n)))
                n += 1
    return records


def position(record: SourceRecord) -> tuple[str, int, int]:
    """Where a record sits in the source."""
    return record[0], record[1], record[2]


def rows_of(records: Iterable[SourceRecord]) -> list[dict[str, Any]]:
    """safety_labels rows of some records."""
    return [
        safety_label_row(r[3], split=assign_split(split_key(r[3]), salt="s", heldout_fraction=0.1))
        for r in records
    ]


def process_batch(writer: DatasetWriter, records: list[SourceRecord]) -> int | None:
    """What app.py does with a polled batch: drop committed records, write rows and offsets at once."""
    partitions = {(topic, partition) for topic, partition, _, _ in records}
    kept = filter_uncommitted(
        records, writer.committed_positions(SAFETY_LABELS, partitions), position=position
    )
    return writer.write(
        SAFETY_LABELS,
        rows_of(kept),
        last_offsets(position(r) for r in kept),
        {"service": "dataset_sink", "consumer_group": GROUP},
    )

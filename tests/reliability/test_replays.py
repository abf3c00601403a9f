"""Replays of a crashed stage, reproduced deterministically: its reader must stay idempotent on the id."""

from __future__ import annotations

import pytest
from reliability_support import Fleet, Watch, wait_for

from services.contracts import default_codec
from services.dataset_sink.domain import DEMONSTRATIONS, PREFERENCES, SAFETY_LABELS
from services.dataset_sink.writer import read_table
from services.runtime.kafka import make_producer
from services.runtime.settings import Settings
from services.runtime.topics import RESOLVED
from tests.support.samples import sample_resolved_judgment

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(600)]


def test_sink_writes_a_replayed_resolution_once(settings: Settings, fleet: Fleet) -> None:
    """The same resolved judgment twice on review.resolved.v1 (a review replay) is one row per table.

    A review worker killed between producing a resolution and committing its input produces it again;
    the sink skips resolution ids it already holds, so the second copy writes nothing.
    """
    resolved = sample_resolved_judgment()
    value = default_codec().encode(resolved)
    key = resolved.task.interaction.subject_pseudonym.encode()
    producer = make_producer(settings)
    for _ in range(2):
        producer.produce(settings.topic(RESOLVED), key=key, value=value)
    assert producer.flush(30) == 0
    fleet.start("dataset_sink")
    watch = Watch(settings)
    try:

        def consumed_both() -> bool:
            fleet.supervise()
            state = (watch.sample() or {}).get("dataset_sink")
            return state is not None and state.committed >= 2 and state.lag == 0

        wait_for(consumed_both, 240, "the dataset sink to commit both records", interval=1.0)
    finally:
        watch.close()
    for table in (SAFETY_LABELS, PREFERENCES, DEMONSTRATIONS):
        ids = read_table(settings.datasets_dir, table).column("resolution_id").to_pylist()
        assert ids == [resolved.resolution_id], f"{table}: {ids}"

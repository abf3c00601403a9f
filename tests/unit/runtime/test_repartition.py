"""Stage.repartition: a record off its id's partition is sent again by id, once, and counted."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest

from services.runtime.errors import DeadLetterError
from services.runtime.partitioning import partition_for
from services.runtime.settings import Settings
from services.runtime.stage import REPARTITIONED, Inbound, Outbound, Stage

PREFIX = "t-"
TOPIC = "review.judgments.v1"
KEY = b"task-42"


class Counted:
    def __init__(self) -> None:
        self.outcomes: list[tuple[str, str]] = []

    def outcome(self, outcome: str, reason: str = "", n: int = 1) -> None:
        self.outcomes.append((outcome, reason))


def stage(partitions: int | None) -> Any:
    """Just what `repartition` reads: the consumer's partition count, settings, metrics."""
    consumer = SimpleNamespace(topic_partitions=lambda topic: partitions)
    return SimpleNamespace(
        app=SimpleNamespace(consumer=consumer),
        settings=Settings(topic_prefix=PREFIX, partitions=4),
        metrics=Counted(),
    )


def inbound(partition: int, headers: dict[str, bytes] | None = None) -> Inbound:
    return Inbound(PREFIX + TOPIC, partition, 7, b"some-other-key", b"value", headers or {"h": b"1"})


def repartition(fake: Any, record: Inbound) -> Any:
    return cast(Any, Stage.repartition)(fake, record, KEY)


def test_a_record_on_its_ids_partition_is_handled_here() -> None:
    fake = stage(6)
    assert repartition(fake, inbound(partition_for(KEY, 6))) is None
    assert fake.metrics.outcomes == []


def test_a_misplaced_record_goes_again_to_the_same_topic_keyed_by_its_id() -> None:
    fake = stage(6)
    wrong = (partition_for(KEY, 6) + 1) % 6
    moved = repartition(fake, inbound(wrong))
    assert moved == [
        Outbound(TOPIC, b"value", key=KEY, headers=[("h", b"1"), (REPARTITIONED, str(wrong).encode())])
    ]
    assert fake.metrics.outcomes == [("repartitioned", TOPIC)]


def test_the_settings_count_stands_in_until_metadata_arrives() -> None:
    fake = stage(None)
    assert repartition(fake, inbound(partition_for(KEY, 4))) is None


def test_a_copy_still_misplaced_is_dead_lettered_not_sent_round_again() -> None:
    fake = stage(6)
    wrong = (partition_for(KEY, 6) + 1) % 6
    with pytest.raises(DeadLetterError) as raised:
        repartition(fake, inbound(wrong, {REPARTITIONED: b"0"}))
    assert raised.value.reason == "misplaced"
    assert fake.metrics.outcomes == []

"""watermarks() waits out a leader election and raises everything else at once."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from services.runtime.kafka import watermarks


class _Consumer:
    """Answers get_watermark_offsets from a script: an exception to raise or offsets to return."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls = 0

    def get_watermark_offsets(self, partition: TopicPartition, timeout: float) -> tuple[int, int]:
        self.calls += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[no-any-return]


def _error(code: int) -> KafkaException:
    # As librdkafka raises it from get_watermark_offsets: retriable() is False.
    return KafkaException(KafkaError(code, "Failed to get watermark offsets"))


def test_a_partition_without_a_leader_yet_is_asked_again() -> None:
    no_leader = _error(KafkaError.NOT_LEADER_FOR_PARTITION)
    consumer = _Consumer(no_leader, _error(KafkaError.LEADER_NOT_AVAILABLE), (0, 7))
    assert watermarks(consumer, TopicPartition("t", 0), timeout=10) == (0, 7)  # type: ignore[arg-type]
    assert consumer.calls == 3


def test_other_errors_are_raised_at_once() -> None:
    consumer = _Consumer(_error(KafkaError._AUTHENTICATION), (0, 7))
    with pytest.raises(KafkaException):
        watermarks(consumer, TopicPartition("t", 0), timeout=10)  # type: ignore[arg-type]
    assert consumer.calls == 1


def test_a_leader_that_never_comes_raises_after_the_timeout() -> None:
    consumer = _Consumer(_error(KafkaError.NOT_LEADER_FOR_PARTITION))
    with pytest.raises(KafkaException):
        watermarks(consumer, TopicPartition("t", 0), timeout=0.5)  # type: ignore[arg-type]
    assert consumer.calls >= 2

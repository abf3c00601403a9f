"""The dead-letter module: headers with the true origin, the dead-letter topic, truncation, counting."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from confluent_kafka import KafkaError, KafkaException

from services.runtime import deadletter
from services.runtime.errors import ValidationError
from services.runtime.metrics import Metrics
from services.runtime.settings import Settings
from services.runtime.topics import JUDGMENTS, dlq

SETTINGS = Settings(topic_prefix="t-")


def letter(value: bytes = b"value", **extra: str) -> deadletter.DeadLetter:
    return deadletter.build(
        origin=JUDGMENTS,
        partition=3,
        offset=41,
        key=b"task-1",
        value=value,
        error=ValidationError("x" * 5000, reason="wrong_queue"),
        reason="wrong_queue",
        service="review",
        policy_versions={"review": "r-7", "rubric": "2"},
        extra=list(extra.items()),
    )


def test_headers_name_origin_error_service_and_policies_in_order() -> None:
    built = letter(**{"dlq.crash.count": "3"})
    names = [name for name, _ in built.headers]
    assert names == [
        "dlq.origin.topic",
        "dlq.origin.partition",
        "dlq.origin.offset",
        "dlq.error.class",
        "dlq.error.reason",
        "dlq.error.message",
        "dlq.service",
        "dlq.policy.review",
        "dlq.policy.rubric",
        "dlq.crash.count",
    ]
    values = dict(built.headers)
    assert values["dlq.origin.topic"] == JUDGMENTS.encode()
    assert (values["dlq.origin.partition"], values["dlq.origin.offset"]) == (b"3", b"41")
    assert values["dlq.error.class"] == b"ValidationError"
    assert values["dlq.error.reason"] == b"wrong_queue"
    assert values["dlq.error.message"] == b"x" * deadletter.MESSAGE_CHARS
    assert values["dlq.policy.review"] == b"r-7"
    assert built.topic == dlq(JUDGMENTS)
    assert (built.partition, built.offset, built.key) == (3, 41, b"task-1")


class Producer:
    """Records what it is handed; refuses values over `limit` bytes as librdkafka does."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self.sent: list[tuple[str, bytes, bytes | None, dict[str, bytes]]] = []

    def __call__(
        self, topic: str, value: bytes, key: bytes | None, headers: Sequence[tuple[str, bytes]]
    ) -> None:
        if self.limit is not None and len(value) > self.limit:
            raise KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
        self.sent.append((topic, value, key, dict(headers)))


def dead_letters(metrics: Metrics) -> float:
    return (
        metrics.registry.get_sample_value(
            "flagstream_dead_letters_total",
            {"service": "review", "topic": JUDGMENTS, "reason": "wrong_queue"},
        )
        or 0.0
    )


def test_send_produces_to_the_prefixed_dead_letter_topic_and_counts() -> None:
    produce, metrics = Producer(), Metrics("review")
    deadletter.send(letter(), produce, SETTINGS, metrics)
    ((topic, value, key, headers),) = produce.sent
    assert topic == "t-" + dlq(JUDGMENTS)
    assert (value, key) == (b"value", b"task-1")
    assert deadletter.TRUNCATED_FROM not in headers
    assert dead_letters(metrics) == 1


def test_an_oversized_value_is_cut_to_its_prefix_with_its_length() -> None:
    big = b"v" * (deadletter.VALUE_PREFIX + 10)
    produce, metrics = Producer(limit=deadletter.VALUE_PREFIX), Metrics("review")
    deadletter.send(letter(big), produce, SETTINGS, metrics)
    ((_, value, _, headers),) = produce.sent
    assert value == big[: deadletter.VALUE_PREFIX]
    assert headers[deadletter.TRUNCATED_FROM] == str(len(big)).encode()
    assert headers["dlq.origin.offset"] == b"41"
    assert dead_letters(metrics) == 1


def test_other_producer_errors_propagate_uncounted() -> None:
    def refuse(*_: object) -> None:
        raise KafkaException(KafkaError(KafkaError._MSG_TIMED_OUT))

    metrics = Metrics("review")
    with pytest.raises(KafkaException):
        deadletter.send(letter(), refuse, SETTINGS, metrics)
    assert dead_letters(metrics) == 0

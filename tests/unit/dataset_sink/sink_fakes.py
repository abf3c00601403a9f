"""Broker-free stand-ins for the sink tests: consumed messages, a recording producer, consumers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from services.contracts import AuditEvent, default_codec
from services.runtime.topics import AUDIT

CODEC = default_codec()


@dataclass
class FakeMessage:
    _topic: str
    _partition: int
    _offset: int
    _value: bytes

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes:
        return self._value

    def key(self) -> bytes | None:
        return None

    def error(self) -> None:
        return None


@dataclass
class FakeProducer:
    sent: list[tuple[str, bytes]] = field(default_factory=list)
    headers: list[dict[str, bytes]] = field(default_factory=list)

    def produce(self, topic: str, value: bytes, headers: dict[str, bytes] | None = None, **_: Any) -> None:
        self.sent.append((topic, value))
        self.headers.append(dict(headers or {}))

    def flush(self, *_: Any) -> int:
        return 0

    def audits(self) -> list[AuditEvent]:
        return [CODEC.decode(v, AuditEvent) for t, v in self.sent if t.endswith(AUDIT)]


@dataclass
class FakeConsumer:
    commits: list[list[Any]] = field(default_factory=list)

    def commit(self, offsets: list[Any], asynchronous: bool) -> None:
        self.commits.append(offsets)


@dataclass
class AssigningConsumer(FakeConsumer):
    """Enough of a consumer for `on_assign`: nothing committed in Kafka yet."""

    assigned: list[TopicPartition] = field(default_factory=list)

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        return [TopicPartition(p.topic, p.partition, -1001) for p in partitions]

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.assigned = partitions


@dataclass
class RefusingConsumer:
    """A consumer whose group refuses offset commits with `error` until told otherwise."""

    error: int
    commits: list[list[Any]] = field(default_factory=list)
    refuse: bool = True

    def commit(self, offsets: list[Any], asynchronous: bool) -> None:
        if self.refuse:
            raise KafkaException(KafkaError(self.error))
        self.commits.append(offsets)

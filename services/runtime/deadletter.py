"""Dead letters: the one way a service sends a record it cannot process to `<origin>.dlq`.

A dead letter is the record's original key and value bytes, sent to the dead-letter topic of the
registry topic it was read from, with headers that say where it came from and why it failed:

    dlq.origin.topic       registry name of the origin topic (unprefixed)
    dlq.origin.partition   partition of the record in the origin topic
    dlq.origin.offset      offset of the record in that partition
    dlq.error.class        the exception's class name
    dlq.error.reason       the reason label (DeadLetterError.reason, "too_large", "unexpected:<class>")
    dlq.error.message      the exception's message, at most 1,000 characters
    dlq.service            the service that dead-lettered it
    dlq.policy.<name>      the version of each policy the service ran under
    dlq.value.truncated_from  only when the value was cut to VALUE_PREFIX bytes: its full length

`flagstream dlq` (services/ops/dlq.py) lists, shows and replays dead letters by these headers: the
origin partition and offset are how a person finds the original record and how a replay is audited,
so a dead letter always carries the true position of the record it holds. -1 and -1 mean the
record was not read from Kafka (a Label Studio annotation, origin `label_studio:<queue>`) or its
position was never recorded (a judgment review kept in a table in its older JSON form). The error
message can quote the record, which is why a dead-letter topic is as restricted as its origin.

Use:

    letter = deadletter.build(
        origin=RESOLVED, partition=msg.partition(), offset=msg.offset(), key=msg.key(),
        value=msg.value(), error=exc, reason=exc.reason, service=SERVICE,
        policy_versions=versions,
    )
    deadletter.send(letter, produce, settings, metrics)   # produce(topic, value, key, headers)

`send` produces to the prefixed dead-letter topic, cuts an oversized value to its first
VALUE_PREFIX bytes (the origin offset names the rest) and counts the dead letter in
flagstream_dead_letters_total.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from confluent_kafka import KafkaError, KafkaException

from services.runtime.metrics import Metrics
from services.runtime.settings import Settings
from services.runtime.topics import dlq

ORIGIN_TOPIC = "dlq.origin.topic"
ORIGIN_PARTITION = "dlq.origin.partition"
ORIGIN_OFFSET = "dlq.origin.offset"
ERROR_CLASS = "dlq.error.class"
ERROR_REASON = "dlq.error.reason"
ERROR_MESSAGE = "dlq.error.message"
SERVICE = "dlq.service"
POLICY_PREFIX = "dlq.policy."
TRUNCATED_FROM = "dlq.value.truncated_from"
CRASH_COUNT = "dlq.crash.count"
CRASH_ERROR_CLASS = "dlq.crash.error.class"

MESSAGE_CHARS = 1000
"""Characters of the error message kept in its header (headers stay small)."""
VALUE_PREFIX = 256 * 1024
"""Bytes of an oversized record kept in its dead letter (see `send`)."""

Headers = list[tuple[str, bytes]]
"""A list, as confluent-kafka's produce() takes headers (a list or a dict, not a tuple)."""
Produce = Callable[[str, bytes, bytes | None, Sequence[tuple[str, bytes]]], None]
"""produce(prefixed topic, value, key, headers): hands one record to a producer; may raise KafkaException."""


@dataclass(frozen=True)
class DeadLetter:
    """One record on its way to its dead-letter topic."""

    origin: str
    """Registry name (unprefixed) of the topic the record was read from."""
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    reason: str
    headers: Headers

    @property
    def topic(self) -> str:
        """Registry name (unprefixed) of the dead-letter topic."""
        return dlq(self.origin)

    def truncated(self, limit: int = VALUE_PREFIX) -> DeadLetter:
        """This dead letter with only the first `limit` bytes of its value, its full length in a header."""
        return replace(
            self,
            value=self.value[:limit],
            headers=[*self.headers, (TRUNCATED_FROM, str(len(self.value)).encode())],
        )


def build(
    *,
    origin: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes,
    error: BaseException,
    reason: str,
    service: str,
    policy_versions: Mapping[str, str] | None = None,
    extra: Sequence[tuple[str, str]] = (),
) -> DeadLetter:
    """The dead letter of the record at `origin`[`partition`]@`offset` that failed with `error`:
    its headers as in the module doc, `extra` ones last."""
    items = [
        (ORIGIN_TOPIC, origin),
        (ORIGIN_PARTITION, str(partition)),
        (ORIGIN_OFFSET, str(offset)),
        (ERROR_CLASS, type(error).__name__),
        (ERROR_REASON, reason),
        (ERROR_MESSAGE, str(error)[:MESSAGE_CHARS]),
        (SERVICE, service),
        *((f"{POLICY_PREFIX}{name}", version) for name, version in (policy_versions or {}).items()),
        *extra,
    ]
    headers = [(name, text.encode()) for name, text in items]
    return DeadLetter(origin, partition, offset, key, value, reason, headers)


def send(letter: DeadLetter, produce: Produce, settings: Settings, metrics: Metrics) -> None:
    """Produce `letter` to its prefixed dead-letter topic and count it.

    A record that came in compressed under the broker's limit can be over the producer's
    (uncompressed) message.max.bytes: then the first VALUE_PREFIX bytes are dead-lettered instead.
    """
    topic = settings.topic(letter.topic)
    try:
        produce(topic, letter.value, letter.key, letter.headers)
    except KafkaException as error:
        if not too_large(error):
            raise
        cut = letter.truncated()
        produce(topic, cut.value, cut.key, cut.headers)
    metrics.dead_lettered(letter.origin, letter.reason)


def too_large(exc: BaseException) -> bool:
    """Whether the producer refused a record for its size (MSG_SIZE_TOO_LARGE, raised by produce())."""
    return isinstance(exc, KafkaException) and exc.args[0].code() == KafkaError.MSG_SIZE_TOO_LARGE

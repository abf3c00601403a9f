"""The size contract: how large a record may be at each step, all derived from one setting.

One number, `max_record_bytes` (M, default 1 MiB), is the largest encoded interaction Flagstream
accepts. Everything else follows from it, so that no stage can make a record larger than the next
hop accepts:

- the gate dead-letters an interaction over M bytes, or with more messages, candidates or signals
  than the caps below, as `too_large`; it also refuses to send a redacted interaction over M bytes
  (placeholders can be longer than what they replace), so nothing after the gate exceeds M;
- a review task is the redacted interaction plus at most `ENVELOPE` bytes of routing fields;
- a reviewer's judgment (its corrected reply included) is at most M / 8; review dead-letters a
  larger one as `too_large`;
- a resolution is a task plus a corrected reply; review's open-task state is a task plus its
  judgments; so every data topic, table changelog included, takes `topic_bytes` = 2M + 2·ENVELOPE;
- dead-letter topics take `dlq_topic_bytes`: a record of its origin's size plus its headers;
- producers may send `producer_bytes`, consumers fetch `fetch_bytes` per partition: both cover the
  largest dead letter and the protocol's framing.

Tables keep compact forms (raw Avro bytes behind a short header, `runtime/packed.py`), never base64
of whole tasks, so a table update is no larger than the record it came from.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.runtime.errors import ValidationError

KIB = 1024
ENVELOPE = 64 * KIB
"""What a task or a resolution adds around the interaction and the reviewer's text."""
HEADER_ROOM = 64 * KIB
"""Record headers (a dead letter's reason and error message) and the protocol's framing."""
MAX_MESSAGES = 512
MAX_CANDIDATES = 16
MAX_SIGNALS = 64
MAX_WAITING_JUDGMENTS = 32
"""Judgments kept for one task id that has not arrived yet; more are dead-lettered."""


@dataclass(frozen=True)
class SizeLimits:
    """Byte limits of records, topics, producers and consumers for one `max_record_bytes`."""

    record_bytes: int
    """M: the largest encoded interaction, raw at the gate's input or redacted at its output."""

    @property
    def judgment_bytes(self) -> int:
        """The largest encoded judgment review accepts (a reviewer's corrected reply included)."""
        return self.record_bytes // 8

    @property
    def topic_bytes(self) -> int:
        """max.message.bytes of every data topic and table changelog."""
        return 2 * self.record_bytes + 2 * ENVELOPE

    @property
    def dlq_topic_bytes(self) -> int:
        """max.message.bytes of every dead-letter topic: an origin record plus dead-letter headers."""
        return self.topic_bytes + HEADER_ROOM

    @property
    def producer_bytes(self) -> int:
        """message.max.bytes of every producer (librdkafka and Faust's aiokafka)."""
        return self.dlq_topic_bytes + HEADER_ROOM

    @property
    def fetch_bytes(self) -> int:
        """max.partition.fetch.bytes of every consumer: one whole largest record per fetch."""
        return self.producer_bytes

    def describe(self) -> dict[str, int]:
        """Every limit by name, for docs, `flagstream limits` and logs."""
        return {
            "max_record_bytes": self.record_bytes,
            "max_messages": MAX_MESSAGES,
            "max_candidates": MAX_CANDIDATES,
            "max_signals": MAX_SIGNALS,
            "judgment_bytes": self.judgment_bytes,
            "topic_max_message_bytes": self.topic_bytes,
            "dlq_topic_max_message_bytes": self.dlq_topic_bytes,
            "producer_message_max_bytes": self.producer_bytes,
            "consumer_fetch_bytes": self.fetch_bytes,
        }


def check_interaction(
    limits: SizeLimits, encoded_bytes: int, messages: int, candidates: int, signals: int, *, what: str
) -> None:
    """Raise ValidationError(`too_large`) if an interaction breaks the size contract.

    Counts and sizes only: the message never quotes the record, which may hold personal data.
    """
    problems = []
    if encoded_bytes > limits.record_bytes:
        problems.append(f"{encoded_bytes} bytes > max_record_bytes {limits.record_bytes}")
    for field, count, cap in (
        ("messages", messages, MAX_MESSAGES),
        ("candidates", candidates, MAX_CANDIDATES),
        ("signals", signals, MAX_SIGNALS),
    ):
        if count > cap:
            problems.append(f"{count} {field} > {cap}")
    if problems:
        raise ValidationError(f"{what} over the size contract: {'; '.join(problems)}", reason="too_large")

"""Poison for every input topic of every stage: the same classes of malformed record on each.

Each record is (topic, key, value, headers, accepted dead-letter reasons); an empty reason set accepts
any reason (the class is about not crashing, not about which check names it). Keys are unique per
record, so the reconciler finds each in its topic's dead-letter topic by key.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from services.contracts import (
    AuditEvent,
    ConsentEvent,
    ErasureRequest,
    Judgment,
    RedactedInteraction,
    ResolvedJudgment,
    ReviewTask,
    default_codec,
)
from services.contracts.models import Record
from services.runtime.topics import (
    CONSENT,
    ERASURES,
    ESCALATION_CANDIDATES,
    JUDGMENTS,
    REDACTED,
    RESOLVED,
    task_topic,
)
from tests.support import samples

Poison = tuple[str, bytes, bytes | None, list[tuple[str, bytes]], set[str]]
"""(registry topic, key, value, headers, accepted reasons)."""

MARK_TIME = datetime(2001, 9, 9, 1, 46, 40, tzinfo=UTC)  # 1_000_000_000_000 ms: an unmistakable varint


def _varint(n: int) -> bytes:
    """Avro's zig-zag varint of a long."""
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while True:
        byte = z & 0x7F
        z >>= 7
        if z:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    shift = z = 0
    while True:
        byte = data[at]
        at += 1
        z |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return (z >> 1) ^ -(z & 1), at


def garbage_headers(rng: random.Random) -> list[tuple[str, bytes]]:
    """Many headers with random names and binary values, some named like Flagstream's own."""
    headers = [(f"x-{rng.randrange(10**9)}", rng.randbytes(rng.randrange(0, 200))) for _ in range(40)]
    return [*headers, ("escalation.kind", b"\xff\x00"), ("dlq.error.reason", b"forged"), ("", b"")]


def classes(
    model: type[Record], valid: Record, timestamp: str, rng: random.Random
) -> list[tuple[str, bytes, set[str]]]:
    """The malformed-record classes for one model, from a valid record of it."""
    codec = default_codec()
    encoded = codec.encode(valid)
    header, body = encoded[:10], encoded[10:]
    # Every top-level record starts with a string id: its length varint, then its bytes.
    length, start = _read_varint(body, 0)
    rest = body[start + length :]
    marked = codec.encode(valid.model_copy(update={timestamp: MARK_TIME}))
    mark = _varint(1_000_000_000_000)
    assert marked.count(mark) == 1, "the timestamp mark must be unique in the encoding"
    wrong = AuditEvent if model is not AuditEvent else Judgment
    other = codec.encode(samples.sample_audit_event() if wrong is AuditEvent else samples.sample_judgment())
    return [
        ("empty", b"", {"empty"}),
        ("random-bytes", b"\xff" + rng.randbytes(300), {"unknown_magic"}),
        ("unknown-fingerprint", b"\xc3\x01" + rng.randbytes(8) + body, {"unknown_fingerprint"}),
        ("confluent-unknown-id", b"\x00\x00\x00\x30\x39" + body, {"unknown_schema_id"}),
        ("truncated", encoded[: len(encoded) // 2], {"truncated", "malformed_body"}),
        ("truncated-header", encoded[:6], {"truncated"}),
        ("trailing-bytes", encoded + b"\x00\x01", {"trailing_bytes"}),
        ("wrong-schema", other, {"schema_mismatch"}),
        ("invalid-utf8", header + _varint(16) + b"\xff\xfe\xfd" + b"\x80" * 13 + rest, {"malformed_body"}),
        ("huge-varint-length", header + _varint(2**60) + rest, set()),
        ("negative-length", header + _varint(-(2**40)) + rest, set()),
        ("out-of-range-timestamp", marked.replace(mark, _varint(2**62)), set()),
    ]


def _topic_poison(
    topic: str, short: str, model: type[Record], valid: Record, timestamp: str, rng: random.Random
) -> list[Poison]:
    out: list[Poison] = []
    for kind, value, reasons in classes(model, valid, timestamp, rng):
        out.append((topic, f"poison-{short}-{kind}".encode(), value, [], reasons))
    out.append((topic, f"poison-{short}-null".encode(), None, [], {"empty"}))  # a tombstone
    # A huge key and garbage headers around an undecodable body: the dead letter must still be written.
    out.append(
        (topic, f"poison-{short}-huge-key-".encode() + b"k" * 200_000, b"\xff" + rng.randbytes(64), [], set())
    )
    out.append((topic, f"poison-{short}-garbage-headers".encode(), b"\xff", garbage_headers(rng), set()))
    return out


def every_input(judgment_limit: int, seed: int = 13) -> list[Poison]:
    """Poison for the inputs of the gate (consent), escalation, review and the dataset sink.

    The ingress topic's classes are in test_faults.poison_records and the size-limit test.
    """
    rng = random.Random(seed)
    task = samples.sample_review_task()
    records: list[Poison] = []
    records += _topic_poison(
        CONSENT, "consent", ConsentEvent, samples.sample_consent_event(), "event_time", rng
    )
    records += _topic_poison(
        REDACTED, "redacted", RedactedInteraction, samples.sample_redacted_interaction(), "event_time", rng
    )
    records += _topic_poison(task_topic(task.queue), "task", ReviewTask, task, "created_at", rng)
    records += _topic_poison(JUDGMENTS, "judgment", Judgment, samples.sample_judgment(), "submitted_at", rng)
    records += _topic_poison(
        RESOLVED, "resolved", ResolvedJudgment, samples.sample_resolved_judgment(), "resolved_at", rng
    )
    records += _topic_poison(
        ERASURES, "erasure", ErasureRequest, samples.sample_erasure_request(), "requested_at", rng
    )
    # Escalation's internal topic: a key that is no queue, and a queue key with forged headers.
    records.append((ESCALATION_CANDIDATES, b"poison-candidate-no-queue", b"\xff", [], {"unknown_queue"}))
    # A judgment over its size limit (a reviewer's text is bounded: max_record_bytes / 8).
    huge = samples.sample_judgment(rationale="r" * (judgment_limit + 10))
    records.append(
        (JUDGMENTS, b"poison-judgment-over-limit", default_codec().encode(huge), [], {"too_large"})
    )
    return records


def describe(records: list[Poison]) -> dict[str, Any]:
    """Counts per topic, for the report."""
    counts: dict[str, int] = {}
    for topic, *_ in records:
        counts[topic] = counts.get(topic, 0) + 1
    return counts

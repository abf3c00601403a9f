"""The topic registry: names, restriction of raw-data topics, dead letters for every input."""

from __future__ import annotations

from services.contracts.limits import ENVELOPE, SizeLimits
from services.runtime.topics import (
    BY_NAME,
    CONSENT,
    INTERACTIONS,
    JUDGMENTS,
    QUEUES,
    REDACTED,
    REGISTRY,
    RESOLVED,
    RESTRICTED,
    dlq,
    task_topic,
)


def test_names_are_unique_and_versioned() -> None:
    names = [spec.name for spec in REGISTRY]
    assert len(names) == len(set(names))
    assert all(".v1" in name for name in names)


def test_only_raw_data_topics_are_restricted_and_short_lived() -> None:
    assert {INTERACTIONS, dlq(INTERACTIONS), CONSENT, dlq(CONSENT)} == RESTRICTED
    for name in RESTRICTED - {CONSENT}:
        assert BY_NAME[name].retention_ms <= 3 * 24 * 3600 * 1000


def test_every_consumed_topic_has_a_dead_letter_topic() -> None:
    consumed = [INTERACTIONS, CONSENT, REDACTED, JUDGMENTS, RESOLVED, *(task_topic(q) for q in QUEUES)]
    assert all(dlq(name) in BY_NAME for name in consumed)


def test_compacted_topics_have_no_retention_limit() -> None:
    consent = BY_NAME[CONSENT].configs(SizeLimits(1_048_576))
    assert consent["cleanup.policy"] == "compact"
    assert "retention.ms" not in consent


def test_every_topic_takes_what_the_stage_before_it_may_send() -> None:
    """The size contract: data topics take a task or resolution, dead-letter topics one more header
    block, and producers and consumers handle the largest dead letter."""
    limits = SizeLimits(1_048_576)
    for spec in BY_NAME.values():
        size = int(spec.configs(limits)["max.message.bytes"])
        if spec.name.endswith(".dlq"):
            origin = BY_NAME[spec.name.removesuffix(".dlq")]
            assert size > int(origin.configs(limits)["max.message.bytes"]), spec.name
        else:
            # a resolution: a task (interaction + envelope) and a corrected reply (a judgment)
            assert size >= limits.record_bytes + limits.judgment_bytes + 2 * ENVELOPE, spec.name
        assert limits.producer_bytes > size
        assert limits.fetch_bytes >= limits.producer_bytes

"""The topic registry: names, restriction of raw-data topics, dead letters for every input."""

from __future__ import annotations

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
    consent = BY_NAME[CONSENT].configs()
    assert consent["cleanup.policy"] == "compact"
    assert "retention.ms" not in consent

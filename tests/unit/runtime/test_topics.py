"""The topic registry: names, restriction of raw-data topics, dead letters for every input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from services.contracts.limits import ENVELOPE, SizeLimits
from services.review.domain import load_review_policy
from services.runtime.errors import PolicyError
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
    unknown_queues,
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


def _policy(name: str) -> dict[str, Any]:
    return yaml.safe_load((Path(__file__).parents[3] / "deploy" / "policies" / name).read_text())


def test_the_escalation_policy_defines_exactly_the_queues_that_have_topics() -> None:
    """QUEUES is the one list: a queue added to (or dropped from) the policy alone fails here."""
    assert sorted(_policy("escalation.yaml")["queues"]) == sorted(QUEUES)


def test_the_review_policy_names_only_queues_that_have_topics() -> None:
    review = _policy("review.yaml")
    named = [*review.get("gold_rates", {}), *(item["queue"] for item in review.get("gold", []))]
    assert named and unknown_queues(named) == []
    assert unknown_queues(["urgent", "no_such_queue"]) == ["no_such_queue"]


def test_a_review_policy_with_an_unknown_queue_is_refused(tmp_path: Path) -> None:
    policy = _policy("review.yaml")
    policy["gold_rates"]["no_such_queue"] = 0.0
    path = tmp_path / "review.yaml"
    path.write_text(yaml.safe_dump(policy))
    with pytest.raises(PolicyError, match="no_such_queue"):
        load_review_policy(path)

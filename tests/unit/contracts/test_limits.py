"""The size contract: one setting, every limit derived, and the gate's check."""

from __future__ import annotations

import pytest

from services.contracts.limits import MAX_CANDIDATES, MAX_MESSAGES, SizeLimits, check_interaction
from services.runtime.errors import ValidationError
from services.runtime.settings import Settings

LIMITS = SizeLimits(1_048_576)


def test_limits_follow_the_one_setting() -> None:
    small, large = Settings(max_record_bytes=65_536).limits, Settings(max_record_bytes=4_194_304).limits
    assert small.record_bytes == 65_536 and large.record_bytes == 4_194_304
    assert large.topic_bytes > small.topic_bytes
    for limits in (small, large, LIMITS):
        assert limits.record_bytes < limits.topic_bytes < limits.dlq_topic_bytes < limits.producer_bytes
        assert limits.fetch_bytes >= limits.producer_bytes


def test_an_interaction_at_the_limit_passes_and_one_byte_more_does_not() -> None:
    check_interaction(LIMITS, LIMITS.record_bytes, MAX_MESSAGES, MAX_CANDIDATES, 1, what="interaction")
    with pytest.raises(ValidationError) as error:
        check_interaction(LIMITS, LIMITS.record_bytes + 1, 1, 0, 1, what="interaction")
    assert error.value.reason == "too_large"
    assert str(LIMITS.record_bytes + 1) in str(error.value)


@pytest.mark.parametrize(
    ("messages", "candidates", "field"), [(MAX_MESSAGES + 1, 0, "messages"), (1, 17, "candidates")]
)
def test_too_many_items_are_too_large_and_named(messages: int, candidates: int, field: str) -> None:
    with pytest.raises(ValidationError, match=field) as error:
        check_interaction(LIMITS, 1000, messages, candidates, 1, what="interaction")
    assert error.value.reason == "too_large"

"""Self-restart causes survive the restart they cause; dead letters are counted by topic and reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import generate_latest

from services.runtime import exits
from services.runtime.errors import FatalError, RetryableError
from services.runtime.metrics import Metrics
from services.runtime.settings import Settings


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (FatalError("commits stalled: t[0]: committed offset 3 for 31s"), "commit_stall"),
        (
            FatalError("t[1]: record at offset 9 but 4 was next; 5 records were dropped by the consumer"),
            "offset_hole",
        ),
        (FatalError("table updates not delivered before a commit: x"), "changelog_undelivered"),
        (FatalError("gate: 0 outputs still queued and 2 not delivered ([...])"), "delivery_failed"),
        (FatalError("poison record", reason="crash_loop"), "crash_loop"),
        (RetryableError("broker away"), "retries_exhausted"),
        (FatalError("something else"), "fatal"),
        (ZeroDivisionError("bug"), "unexpected"),
    ],
)
def test_cause_of_maps_errors_to_a_fixed_vocabulary(error: BaseException, cause: str) -> None:
    assert exits.cause_of(error) == cause
    assert cause in exits.CAUSES


def test_restarts_are_counted_by_the_next_worker(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, topic_prefix="t-")
    exits.load(settings, Metrics("review"))  # the first worker: nothing recorded yet
    exits.record(FatalError("commits stalled: review.judgments.v1[2]"))
    exits.record(FatalError("commits stalled: review.judgments.v1[3]"))
    exits.record(FatalError("x[0]: 2 records were dropped by the consumer"))
    assert exits.exits_file(settings, "review").read_text().count("commit_stall") == 2

    restarted = Metrics("review")
    exits.load(settings, restarted)
    text = generate_latest(restarted.registry).decode()
    assert 'flagstream_worker_restarts_total{cause="commit_stall",service="review"} 2.0' in text
    assert 'flagstream_worker_restarts_total{cause="offset_hole",service="review"} 1.0' in text
    assert 'flagstream_worker_restarts_total{cause="crash_loop",service="review"} 0.0' in text


def test_dead_letters_by_topic_and_reason_never_free_text() -> None:
    metrics = Metrics("privacy_gate")
    metrics.dead_lettered("flagged.interactions.v1", "unknown_magic")
    metrics.dead_lettered("flagged.interactions.v1", "unexpected:KeyError")
    metrics.dead_lettered("flagged.interactions.v1", "ana@example.com broke it")
    text = generate_latest(metrics.registry).decode()
    base = 'flagstream_dead_letters_total{reason="%s",service="privacy_gate",topic="flagged.interactions.v1"}'
    assert base % "unknown_magic" + " 1.0" in text
    assert base % "unexpected" + " 1.0" in text
    assert base % "other" + " 1.0" in text
    assert "example.com" not in text.replace('reason="ana@example.com broke it"', "")
    assert (
        'flagstream_events_total{outcome="dead_lettered",reason="unknown_magic",service="privacy_gate"} 1.0'
        in text
    )

"""The retry policy: what it retries, how often, how long it waits, and how it stops."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from services.runtime import retry
from services.runtime.errors import DeadLetterError, RetryableError
from services.runtime.retry import RetryPolicy, RetryStopped


class Flaky:
    """Fails with `error` the first `failures` calls, then returns the number of calls."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures, self.calls = failures, 0
        self.error = error or RetryableError("broker away")

    def __call__(self) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return self.calls


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits, recorded instead of slept."""
    waits: list[float] = []
    monkeypatch.setattr(retry.time, "sleep", waits.append)

    async def no_wait(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(retry.asyncio, "sleep", no_wait)
    return waits


@pytest.mark.parametrize(
    ("backoff", "waits"),
    [
        ("constant", [1.0, 1.0, 1.0, 1.0]),
        ("linear", [1.0, 2.0, 3.0, 4.0]),
        ("exponential", [1.0, 2.0, 4.0, 8.0]),
    ],
)
def test_waits_grow_by_the_backoff(backoff: Any, waits: list[float]) -> None:
    policy = RetryPolicy(attempts=5, delay=1.0, backoff=backoff)
    assert [policy.wait(n) for n in range(1, 5)] == waits


def test_waits_are_capped() -> None:
    policy = RetryPolicy(attempts=None, delay=0.5, max_delay=3.0)
    assert [policy.wait(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_a_transient_failure_is_retried_until_it_succeeds(slept: list[float]) -> None:
    seen: list[tuple[int, float]] = []
    flaky = Flaky(2)
    result = RetryPolicy(attempts=3, delay=0.2, backoff="linear").call(
        "commit", flaky, on_retry=lambda exc, failures, wait: seen.append((failures, wait))
    )
    assert result == 3
    assert slept == [0.2, 0.4]
    assert seen == [(1, 0.2), (2, 0.4)]


def test_the_last_failure_propagates_once_the_attempts_are_spent(slept: list[float]) -> None:
    flaky = Flaky(10)
    with pytest.raises(RetryableError):
        RetryPolicy(attempts=3, delay=0.2).call("commit", flaky)
    assert flaky.calls == 3
    assert len(slept) == 2


def test_other_errors_are_not_retried(slept: list[float]) -> None:
    flaky = Flaky(1, DeadLetterError("bad record"))
    with pytest.raises(DeadLetterError):
        RetryPolicy(attempts=5, delay=0.2).call("handle", flaky)
    assert flaky.calls == 1
    assert slept == []


def test_unbounded_retries_end_when_stopped() -> None:
    stop = threading.Event()
    calls = 0

    def fail() -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            stop.set()
        raise RetryableError("away")

    with pytest.raises(RetryStopped):
        RetryPolicy(attempts=None, delay=0.0).call("poll", fail, stop=stop)
    assert calls == 3


def test_a_stopped_call_does_not_start() -> None:
    stop = threading.Event()
    stop.set()
    flaky = Flaky(0)
    with pytest.raises(RetryStopped):
        RetryPolicy(attempts=None, delay=0.0).call("poll", flaky, stop=stop)
    assert flaky.calls == 0


def test_async_calls_retry_with_the_same_policy(slept: list[float]) -> None:
    flaky = Flaky(2)

    async def handle() -> int:
        return flaky()

    policy = RetryPolicy(attempts=6, delay=0.2)
    assert asyncio.run(policy.call_async("handle", handle)) == 3
    assert slept == [0.2, 0.4]


def test_nonsense_policies_are_refused() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0, delay=1.0)
    with pytest.raises(ValueError):
        RetryPolicy(attempts=1, delay=-1.0)

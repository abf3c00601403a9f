"""The one retry policy: how often and how patiently a transient failure is tried again.

A `RetryPolicy` calls a function until it returns, retrying only the exceptions in `retry_on`
(`RetryableError` by default: a broker or disk that is away for a moment, errors.py). Any other
exception, and the last retryable one once `attempts` calls have failed, propagates unchanged, so
the caller's own handling (dead letter, skip, crash) is the same with or without retries.

Between attempts it waits `delay` seconds after the first failure, then, by `backoff`:
`constant` (delay, delay, ...), `linear` (delay, 2·delay, 3·delay, ...) or `exponential`
(delay, 2·delay, 4·delay, ...), never more than `max_delay`. `attempts=None` retries until the
`stop` event given to `call` is set (a service loop that must wait out an outage but still shut
down promptly); then `call` raises `RetryStopped`.

    policy = RetryPolicy(attempts=5, delay=0.2, backoff="linear")
    table = policy.call("commit to safety_labels", commit)             # blocking: time.sleep / stop.wait
    outputs = await policy.call_async("handle", lambda: handle(record))  # asyncio.sleep between tries

`on_retry(exc, failures, wait)` runs after each failure that will be retried (before the wait), for a
metric or a beat. Every retry is logged at WARNING with `what`, the attempt, and the error's class
and reason, never its message (which can quote the record being handled).
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from services.runtime.errors import RetryableError

log = logging.getLogger(__name__)

T = TypeVar("T")
Backoff = Literal["constant", "linear", "exponential"]
OnRetry = Callable[[BaseException, int, float], None]
"""Called as on_retry(error, failures so far, seconds about to be waited)."""


class RetryStopped(Exception):
    """`call` gave up because its stop event was set while it was retrying."""


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to call, what to retry and how long to wait in between (see the module doc)."""

    attempts: int | None
    """Calls in all (the first one included); None: until the stop event is set."""
    delay: float
    """Seconds waited after the first failure."""
    backoff: Backoff = "exponential"
    max_delay: float = math.inf
    retry_on: tuple[type[BaseException], ...] = (RetryableError,)

    def __post_init__(self) -> None:
        if self.attempts is not None and self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, not {self.attempts}")
        if self.delay < 0:
            raise ValueError(f"delay must not be negative, not {self.delay}")

    def wait(self, failures: int) -> float:
        """Seconds to wait after `failures` (1, 2, ...) failed attempts, before the next one."""
        if self.backoff == "constant":
            seconds = self.delay
        elif self.backoff == "linear":
            seconds = self.delay * failures
        else:
            seconds = self.delay * 2.0 ** (failures - 1)
        return min(seconds, self.max_delay)

    def _next_wait(self, what: str, exc: BaseException, failures: int, on_retry: OnRetry | None) -> float:
        """The wait before the next attempt, or re-raise `exc` when the attempts are spent."""
        if self.attempts is not None and failures >= self.attempts:
            raise exc
        seconds = self.wait(failures)
        if on_retry is not None:
            on_retry(exc, failures, seconds)
        of = "" if self.attempts is None else f" of {self.attempts}"
        # The class and reason only: a message can quote the record being handled (personal data).
        why = f"{type(exc).__name__}: {getattr(exc, 'reason', '')}"
        log.warning("%s failed (%s), attempt %d%s; retrying in %.1f s", what, why, failures, of, seconds)
        return seconds

    def call(
        self,
        what: str,
        fn: Callable[[], T],
        *,
        on_retry: OnRetry | None = None,
        stop: threading.Event | None = None,
    ) -> T:
        """fn(), retried per the policy; blocks the thread while waiting (on `stop` if given)."""
        failures = 0
        while True:
            if stop is not None and stop.is_set():
                raise RetryStopped(what)
            try:
                return fn()
            except self.retry_on as exc:
                failures += 1
                seconds = self._next_wait(what, exc, failures, on_retry)
            if stop is None:
                time.sleep(seconds)
            elif stop.wait(seconds):
                raise RetryStopped(what)

    async def call_async(
        self, what: str, fn: Callable[[], Awaitable[T]], *, on_retry: OnRetry | None = None
    ) -> T:
        """await fn(), retried per the policy; waits with asyncio.sleep (the event loop runs on)."""
        if self.attempts is None:
            raise ValueError("call_async needs a bounded number of attempts")
        failures = 0
        while True:
            try:
                return await fn()
            except self.retry_on as exc:
                failures += 1
                seconds = self._next_wait(what, exc, failures, on_retry)
            await asyncio.sleep(seconds)

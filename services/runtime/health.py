"""Liveness and readiness of a service process, served beside /metrics as /healthz and /readyz.

A service beats from the loop that does its work (a Faust timer on the worker's event loop; the
dataset sink's consume loop). Ready: it has beaten within `STALE_SECONDS`, so it has started and
its loop turns. Live: it has not stopped beating for longer than that (a process still starting,
which has never beaten, counts as live: Kubernetes' startup probe covers a start that never ends).
A loop blocked for longer (a hung broker call, a deadlock) fails liveness and the pod is restarted;
the commit watchdog (runtime/faust_app.py) covers a loop that turns without committing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

STALE_SECONDS = 120.0
"""Longer than any single blocking step a loop takes on purpose (a Delta commit, compaction, vacuum)."""

BEAT_SECONDS = 5.0
"""How often the Faust services beat (runtime/worker.py)."""


class Health:
    """The heartbeat of one service process."""

    def __init__(self, stale_seconds: float = STALE_SECONDS, clock: Callable[[], float] = time.monotonic):
        self._stale = stale_seconds
        self._clock = clock
        self._last: float | None = None
        self._lock = threading.Lock()

    def beat(self) -> None:
        """The service's loop turned."""
        with self._lock:
            self._last = self._clock()

    def _age(self) -> float | None:
        with self._lock:
            return None if self._last is None else self._clock() - self._last

    def live(self) -> bool:
        """Starting, or beating within the stale window."""
        age = self._age()
        return age is None or age <= self._stale

    def ready(self) -> bool:
        """Started and beating within the stale window."""
        age = self._age()
        return age is not None and age <= self._stale

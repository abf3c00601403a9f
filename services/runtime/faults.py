"""Test-only fault hooks of the reliability suite, all here; inert unless their environment variables are set.

A Faust stage calls `before_record` for each input record (only when `ARMED`: one bool test per
record otherwise); a service with commit points of its own (the dataset sink) calls `KILL.reach`.

FLAGSTREAM_FAULT_SLOW_ID=<id> makes a Faust stage hold any input record whose bytes contain <id>
(an interaction id is stored verbatim in its Avro body) for FLAGSTREAM_FAULT_SLOW_SECONDS (default
600) before handling it, after logging `fault hook: holding`. The record is in flight for that long:
its offset is not committed, so a worker killed meanwhile processes it again after its restart.
FLAGSTREAM_FAULT_SLOW_SERVICE limits the hook to one service (default privacy_gate).

FLAGSTREAM_FAULT_CRASH_ID=<id> makes a Faust stage raise `InjectedCrash` on any input record whose
bytes contain <id>, every time it meets it: a record that deterministically stops a worker, as a panic
in native code would (PyO3's PanicException is a BaseException too, past every `except Exception`).
FLAGSTREAM_FAULT_CRASH_SERVICE limits it to one service (default escalation).

FLAGSTREAM_FAULT_DROP_ID=<id> makes a Faust worker's consumer drop the first fetched record whose bytes
contain <id>, once, after logging `fault hook: dropping`: the record is taken from aiokafka and never
handed to the stream, as Faust has done around its seek at the end of a recovery. Nothing fetches it
again unless the worker notices (the commit watchdog's refetch).

FLAGSTREAM_FAULT=<point>:<n> makes the process SIGKILL itself the n-th time it reaches <point>
(`KILL.reach(point)`; n defaults to 1), after logging `fault hook <point>:<n>, killing myself`. The
dataset sink's points are before_commit, mid_write and after_delta_commit (dataset_sink/commit.py).

These are not settings: nothing reads them but this module, and an unset variable costs one `is None`
test per record.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections import Counter

log = logging.getLogger(__name__)

SLOW_ID_ENV = "FLAGSTREAM_FAULT_SLOW_ID"
SLOW_SECONDS_ENV = "FLAGSTREAM_FAULT_SLOW_SECONDS"
SLOW_SERVICE_ENV = "FLAGSTREAM_FAULT_SLOW_SERVICE"
HOLDING = "fault hook: holding"

SLOW_ID: bytes | None = os.environ.get(SLOW_ID_ENV, "").encode() or None
SLOW_SECONDS = float(os.environ.get(SLOW_SECONDS_ENV) or 600.0)
SLOW_SERVICE = os.environ.get(SLOW_SERVICE_ENV) or "privacy_gate"

CRASH_ID_ENV = "FLAGSTREAM_FAULT_CRASH_ID"
CRASH_SERVICE_ENV = "FLAGSTREAM_FAULT_CRASH_SERVICE"
CRASHING = "fault hook: crashing on"

CRASH_ID: bytes | None = os.environ.get(CRASH_ID_ENV, "").encode() or None
CRASH_SERVICE = os.environ.get(CRASH_SERVICE_ENV) or "escalation"

DROP_ID_ENV = "FLAGSTREAM_FAULT_DROP_ID"
DROPPING = "fault hook: dropping"

DROP_ID: bytes | None = os.environ.get(DROP_ID_ENV, "").encode() or None

KILL_ENV = "FLAGSTREAM_FAULT"

ARMED = SLOW_ID is not None or CRASH_ID is not None
"""Whether a per-record hook is set (a stage calls `before_record` only then)."""


class InjectedCrash(BaseException):
    """Raised by the crash hook; not an Exception, so no handler's `except Exception` takes it."""


def crash_if_marked(service: str, value: bytes) -> None:
    """Raise InjectedCrash on the record the crash hook names (see the module docstring)."""
    if CRASH_ID is None or service != CRASH_SERVICE or CRASH_ID not in value:
        return
    log.warning("%s %s (%s)", CRASHING, CRASH_ID.decode(), service)
    raise InjectedCrash(f"fault hook: deterministic crash on {CRASH_ID.decode()}")


async def hold_if_slow(service: str, value: bytes) -> None:
    """Sleep before handling the record the slow-id hook names (see the module docstring)."""
    if SLOW_ID is None or service != SLOW_SERVICE or SLOW_ID not in value:
        return
    log.warning("%s %s for %.0f s (%s)", HOLDING, SLOW_ID.decode(), SLOW_SECONDS, service)
    await asyncio.sleep(SLOW_SECONDS)


async def before_record(service: str, value: bytes) -> None:
    """The per-record hooks, in order: hold the slow record, then crash on the marked one."""
    await hold_if_slow(service, value)
    crash_if_marked(service, value)


def drop_once(value: bytes | None) -> bool:
    """Whether the consumer drops this fetched record: the first one carrying the drop id."""
    global DROP_ID
    if DROP_ID is None or value is None or DROP_ID not in value:
        return False
    log.warning("%s %s", DROPPING, DROP_ID.decode())
    DROP_ID = None
    return True


class KillHook:
    """SIGKILL this process the n-th time it reaches a named point (FLAGSTREAM_FAULT=<point>:<n>)."""

    def __init__(self, spec: str | None) -> None:
        self.point: str | None = None
        self.at = 0
        if spec:
            point, _, n = spec.partition(":")
            self.point, self.at = point, int(n or 1)
        self.seen: Counter[str] = Counter()

    def reach(self, point: str) -> None:
        """Count a pass through `point`; the n-th pass through the named point kills the process."""
        if point != self.point:
            return
        self.seen[point] += 1
        if self.seen[point] == self.at:
            log.warning("fault hook %s:%d, killing myself", point, self.at)
            os.kill(os.getpid(), signal.SIGKILL)


KILL = KillHook(os.environ.get(KILL_ENV))

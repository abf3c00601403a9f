"""Self-restarts of a worker (exit 70), by cause, counted across the restarts they cause.

A worker that stops itself to be restarted cannot count that in its own metrics: the process is
gone. So `record` appends the cause to a file in the deployment's data folder just before the exit,
and the next worker of the service loads the counts into `flagstream_worker_restarts_total` when it
starts. Prometheus then sees the counter step up across the restart. Causes are a fixed vocabulary.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path

from services.runtime.metrics import Metrics
from services.runtime.settings import Settings

log = logging.getLogger(__name__)

CAUSES = (
    "commit_stall",
    "offset_hole",
    "delivery_failed",
    "changelog_undelivered",
    "partitions_mismatch",
    "crash_loop",
    "record_fault",
    "retries_exhausted",
    "fatal",
    "unexpected",
)
"""Why a worker stopped itself; the label values of flagstream_worker_restarts_total."""

_MESSAGE_CAUSES = (
    ("commits stalled", "commit_stall"),
    ("records were dropped by the consumer", "offset_hole"),
    ("table updates not delivered", "changelog_undelivered"),
    ("not delivered", "delivery_failed"),
)

_path: Path | None = None


def exits_file(settings: Settings, service: str) -> Path:
    """Where a service's workers record why they stopped themselves."""
    return settings.data_dir / "workers" / f"{settings.group(service)}.exits"


def cause_of(exc: BaseException) -> str:
    """The cause of a self-restart, from the error that made the worker stop."""
    reason = getattr(exc, "reason", None)
    if reason in CAUSES and reason != "fatal":  # a specific reason the error was raised with
        return str(reason)
    name = type(exc).__name__
    if name == "PartitionsMismatch":
        return "partitions_mismatch"
    message = str(exc)
    for marker, cause in _MESSAGE_CAUSES:
        if marker in message:
            return cause
    if name == "RetryableError" or reason == "transient":
        return "retries_exhausted"
    if name.endswith("FatalError") or reason == "fatal":
        return "fatal"
    return "unexpected"


def load(settings: Settings, metrics: Metrics) -> None:
    """Count the earlier self-restarts of this service and record the next ones in the same file."""
    global _path
    _path = exits_file(settings, metrics.service)
    counts = dict.fromkeys(CAUSES, 0)
    if _path.exists():
        for line in _path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1] in counts:
                counts[parts[1]] += 1
    for cause, n in counts.items():
        metrics.restarts.labels(metrics.service, cause).inc(n)  # every cause exported, zeros too


def record(exc: BaseException) -> None:
    """Append the cause of the self-restart under way (no-op in a process that did not `load`)."""
    if _path is None:
        return
    with contextlib.suppress(OSError):  # the exit must go on whatever the disk says
        _path.parent.mkdir(parents=True, exist_ok=True)
        with _path.open("a") as out:
            out.write(f"{time.time():.3f} {cause_of(exc)}\n")

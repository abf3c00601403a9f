"""Crash loops: a record that keeps stopping a worker is dead-lettered instead of met again forever.

A worker stops itself (exit 70, nothing committed) when it cannot finish a record safely; its
replacement starts at the committed offset and meets the same record first. When the record itself is
the cause, that is a crash loop: the stage halts for all traffic behind it. So each stop whose cause is
a record (`RecordFault`) is written down in a `CrashJournal` before the process ends, and a record that
has stopped the service `crash_loop_limit` times is dead-lettered with reason `crash_loop` (its last
error, the service and the count in headers) at its next reading, and the stage goes on.

What counts as the record's fault:
- something raised from its handler that is not an Exception (a PyO3 panic in the native detectors,
  the fault suite's `InjectedCrash`); an ordinary Exception is dead-lettered at once (`unexpected:…`);
- the broker refused one of its outputs or table updates for what the record is (too large, invalid
  or corrupt record), not for where the broker is.
What still stops a worker every time, without a mark, because no record is to blame and dead-lettering
would only drain good traffic into dead-letter topics: the broker unreachable or timing out (outputs
not delivered, transient errors after retries), a hole in the offsets Faust hands over, commits that
stall, partition counts that disagree, an invalid policy or settings. A process killed from outside
(SIGKILL, the OOM killer, a segfault) leaves no mark either: it cannot be told from an operator's kill.

The journal is a small JSON file beside the worker's Faust data (`data_dir/faust/<group>/`), shared by
the workers of a service on one machine; a record whose partition moves to a worker on another machine
is counted again there, so a crash loop ends after at most `limit` stops per machine.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.runtime.errors import DeadLetterError, FatalError

log = logging.getLogger(__name__)

Origin = tuple[str, int, int]
"""(full topic name, partition, offset) of an input record."""

MAX_MARKS = 1000
"""Marks kept at most; the oldest go first (a crash loop is over long before)."""

# librdkafka delivery errors and aiokafka exceptions that mean "this record", not "this broker".
RECORD_ERROR_CODES = frozenset(
    {"MSG_SIZE_TOO_LARGE", "INVALID_RECORD", "CORRUPT_MESSAGE", "RECORD_LIST_TOO_LARGE", "INVALID_MSG"}
)
RECORD_EXCEPTIONS = frozenset(
    {"MessageSizeTooLargeError", "RecordTooLargeError", "CorruptRecordException", "InvalidRecordError"}
)


def is_record_error(error: Any) -> bool:
    """Whether a delivery error (librdkafka KafkaError or an aiokafka exception) blames the record."""
    name = getattr(error, "name", None)
    if callable(name):  # confluent_kafka.KafkaError
        return str(name()).lstrip("_") in RECORD_ERROR_CODES
    return type(error).__name__ in RECORD_EXCEPTIONS


class RecordFault(FatalError):
    """The worker must stop, and the record at `origin` is why (counted in the CrashJournal)."""

    reason = "record_fault"

    def __init__(self, message: str, origin: Origin, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.origin = origin
        self.cause = cause


class CrashLoopError(DeadLetterError):
    """A record that stopped its service's workers too often; dead-lettered instead of handled."""

    reason = "crash_loop"


@dataclass(frozen=True)
class Mark:
    """How often a record stopped the service, and its last error."""

    count: int
    error_class: str
    message: str


def _key(origin: Origin) -> str:
    topic, partition, offset = origin
    return f"{topic}|{partition}|{offset}"


class CrashJournal:
    """Records that stopped a service's workers, on local disk (see the module docstring)."""

    def __init__(self, path: Path, limit: int) -> None:
        self.path = path
        self._name = str(path)
        self.limit = limit
        self._seen: tuple[int, int] | None = None
        """(mtime_ns, size) of the file when this worker last read or wrote it."""
        self.marks: dict[str, Mark] = self._read()
        if self.marks:
            log.warning("crash journal %s: %d records stopped workers before", path, len(self.marks))

    def _stamp(self) -> tuple[int, int] | None:
        try:
            stat = os.stat(self._name)
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def _refresh(self) -> None:
        """Take in what other workers wrote since this one last looked (one stat when nothing did).

        Workers of a service on one machine start at different times, and the one a crashing
        record's partition moves to was often started before the crashes; without this it would
        meet the record with the marks it read at start and stop once more itself."""
        if self._stamp() != self._seen:
            self._merge()

    def _read(self) -> dict[str, Mark]:
        self._seen = self._stamp()
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:  # a torn or foreign file: start afresh, loudly
            log.error("crash journal %s unreadable (%r); starting empty", self.path, exc)
            return {}
        return {
            key: Mark(int(m["count"]), str(m["error_class"]), str(m["message"])) for key, m in raw.items()
        }

    def _write(self) -> None:
        marks = dict(list(self.marks.items())[-MAX_MARKS:])
        payload = {key: vars(mark) for key, mark in marks.items()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(payload, indent=0))
        os.replace(tmp, self.path)  # atomic: a reader sees the old file or the new one
        self._seen = self._stamp()

    def record(self, origin: Origin, error: BaseException) -> Mark:
        """Count one stop caused by the record at `origin`, durably, before the process ends."""
        self._merge()
        key = _key(origin)
        before = self.marks.pop(key, None)
        mark = Mark((before.count if before else 0) + 1, type(error).__name__, str(error)[:500])
        self.marks[key] = mark
        self._write()
        return mark

    def exhausted(self, origin: Origin) -> Mark | None:
        """The record's mark if it has stopped the service `limit` times, else None."""
        self._refresh()
        if not self.marks:
            return None
        mark = self.marks.get(_key(origin))
        return mark if mark is not None and mark.count >= self.limit else None

    def forget(self, origins: Iterable[Origin]) -> None:
        """Drop the marks of records that are now processed (a transient stop, not a crash loop).

        A dead-lettered record keeps its mark (up to MAX_MARKS), so that a worker stopped before its
        offset is committed dead-letters it again at once instead of meeting it `limit` more times.

        Called right after `exhausted` for the same records, which took in the file's news."""
        if not self.marks:
            return
        keys = [_key(origin) for origin in origins if _key(origin) in self.marks]
        if not keys:
            return
        self._merge()
        for key in keys:
            self.marks.pop(key, None)
        self._write()

    def _merge(self) -> None:
        """Take in marks other workers of the service wrote since this one read the file."""
        merged = self._read()
        for key, mark in self.marks.items():
            if key not in merged or merged[key].count < mark.count:
                merged[key] = mark
        self.marks = merged

"""The crash journal: records that stop workers are counted durably and dead-lettered at the limit."""

from __future__ import annotations

from pathlib import Path

from confluent_kafka import KafkaError

from services.runtime.crashes import CrashJournal, is_record_error

ORIGIN = ("flagged.interactions.v1", 2, 41)


def test_a_record_is_exhausted_after_limit_stops_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "crash-marks.json"
    for stop in range(1, 4):
        journal = CrashJournal(path, limit=3)  # a fresh process each time: only the file carries over
        assert journal.exhausted(ORIGIN) is None
        mark = journal.record(ORIGIN, RuntimeError(f"boom {stop}"))
        assert mark.count == stop
    mark = CrashJournal(path, limit=3).exhausted(ORIGIN)
    assert mark is not None and mark.count == 3
    assert mark.error_class == "RuntimeError" and mark.message == "boom 3"
    assert CrashJournal(path, limit=3).exhausted(("flagged.interactions.v1", 2, 42)) is None


def test_two_workers_sharing_the_journal_add_up(tmp_path: Path) -> None:
    path = tmp_path / "crash-marks.json"
    first, second = CrashJournal(path, limit=2), CrashJournal(path, limit=2)
    first.record(ORIGIN, ValueError("a"))
    second.record(ORIGIN, ValueError("b"))  # read the first worker's mark before writing its own
    assert CrashJournal(path, limit=2).exhausted(ORIGIN) is not None


def test_a_handled_record_is_forgotten(tmp_path: Path) -> None:
    path = tmp_path / "crash-marks.json"
    journal = CrashJournal(path, limit=1)
    journal.record(ORIGIN, ValueError("a"))
    journal.forget([ORIGIN])
    assert CrashJournal(path, limit=1).exhausted(ORIGIN) is None


def test_an_unreadable_journal_starts_empty(tmp_path: Path) -> None:
    path = tmp_path / "crash-marks.json"
    path.write_text("{torn")
    assert CrashJournal(path, limit=1).marks == {}


def test_only_errors_about_the_record_blame_it() -> None:
    assert is_record_error(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
    assert is_record_error(KafkaError(KafkaError.INVALID_RECORD))
    assert not is_record_error(KafkaError(KafkaError._MSG_TIMED_OUT))
    assert not is_record_error(KafkaError(KafkaError._TRANSPORT))

    class MessageSizeTooLargeError(Exception):  # aiokafka's, by name
        pass

    assert is_record_error(MessageSizeTooLargeError())
    assert not is_record_error(TimeoutError())


def test_a_worker_started_before_the_crashes_sees_them(tmp_path: Path) -> None:
    """The partition of a crashing record moves to a worker that read the journal long before."""
    path = tmp_path / "crash-marks.json"
    early = CrashJournal(path, limit=2)
    for stop in range(2):
        CrashJournal(path, limit=2).record(ORIGIN, ValueError(f"stop {stop}"))
    mark = early.exhausted(ORIGIN)
    assert mark is not None and mark.count == 2
    early.forget([ORIGIN])  # processed by the early worker after all: gone for every worker
    assert CrashJournal(path, limit=2).exhausted(ORIGIN) is None

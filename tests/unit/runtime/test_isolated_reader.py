"""The progress reader runs in a child process: a native abort there costs one round, not the worker."""

from __future__ import annotations

import os
from multiprocessing.connection import Connection

import pytest

from services.runtime.progress import IsolatedReader, Snapshot
from services.runtime.settings import Settings


def answer_or_abort(settings: Settings, conn: Connection) -> None:
    """A stand-in for the broker reads: aborts the process (as librdkafka's assertion does) on demand."""
    while True:
        try:
            sources = conn.recv()
        except EOFError:
            return
        if "abort" in sources:
            os.abort()
        if "fail" in sources:
            conn.send(RuntimeError("KafkaException(_TRANSPORT)"))
            continue
        key = (next(iter(sources)), "flagged.interactions.v1", 0)
        conn.send(Snapshot({key: 7}, {key: 9}, {}, frozenset({key})))


def test_an_abort_in_the_reader_fails_one_round_and_the_next_round_starts_a_new_reader() -> None:
    reader = IsolatedReader(Settings(), timeout=30, target=answer_or_abort)
    try:
        first = reader.read({"privacy_gate": ["flagged.interactions.v1"]})
        assert first.committed == {("privacy_gate", "flagged.interactions.v1", 0): 7}
        pid = reader._process.pid
        with pytest.raises(ConnectionError, match="exit code -6"):  # SIGABRT
            reader.read({"abort": []})
        with pytest.raises(RuntimeError, match="_TRANSPORT"):  # an error is an error, not a dead child
            reader.read({"fail": []})
        again = reader.read({"review": ["review.judgments.v1"]})
        assert again.ends == {("review", "flagged.interactions.v1", 0): 9}
        assert reader._process.pid != pid
    finally:
        reader.close()
    assert reader._process is None

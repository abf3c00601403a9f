"""Review's table values: open tasks and waiting judgments packed, legacy JSON still read."""

from __future__ import annotations

import base64
import json

from services.review.app import OpenTask, _pack_waiting, _waiting


def test_an_open_task_round_trips_with_its_votes_and_stays_near_its_size() -> None:
    task = b"\xc3\x01" + bytes(1_000_000)
    state = OpenTask(task, "borderline", 1.0, 2.0, [(b"j1", "rev-a"), (b"j2", "rev-b")])
    packed = state.packed()
    assert len(packed) - len(task) < 200  # base64 in JSON made it a third larger
    assert OpenTask.unpacked(packed) == state


def test_a_legacy_open_task_reads() -> None:
    legacy = {
        "task": base64.b64encode(b"task").decode(),
        "queue": "urgent",
        "created_at": 1.0,
        "deadline": 5.0,
        "votes": [{"judgment": base64.b64encode(b"j").decode(), "reviewer": "rev"}],
    }
    state = OpenTask.unpacked(json.dumps(legacy).encode())
    assert state == OpenTask(b"task", "urgent", 1.0, 5.0, [(b"j", "rev")])


def test_waiting_judgments_keep_their_origin() -> None:
    items = [(b"j1", (3, 17)), (b"j2", (0, 4))]
    assert _waiting(_pack_waiting(items)) == items
    assert _waiting(json.dumps([base64.b64encode(b"old").decode()]).encode()) == [(b"old", (-1, -1))]
    assert _waiting(None) == []

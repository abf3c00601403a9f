"""The escalation worker's in-memory window mirror: rebuilt from the window table after a restart."""

from __future__ import annotations

import base64
import json

from services.escalation.app import _pending_entry, _WindowState
from services.escalation.domain import EscalationPolicy
from services.runtime.packed import pack


def _entry(queue: str, partition: int, arrived: float, fp: str | None = "0:a,1:b") -> bytes:
    return pack({"q": queue, "v": 0.5, "f": fp, "a": arrived, "p": partition, "m": {}}, [b"task"])


def test_a_window_entry_is_the_task_bytes_and_a_short_header() -> None:
    """Not base64 in JSON: an entry about a task near the size limit stays within the limit."""
    task = bytes(range(256)) * 4000
    entry = _entry("policy_review", 0, 1.0).replace(b"task", b"")  # header only, then the real task
    packed = pack({"q": "policy_review", "v": 0.5, "f": None, "a": 1.0, "p": 0, "m": {}}, [task])
    assert len(packed) - len(task) < 200 and len(entry) < 200
    header, restored = _pending_entry(packed)
    assert restored == task and header["q"] == "policy_review"


def test_a_legacy_json_entry_still_reads() -> None:
    legacy = {"q": "borderline", "v": 0.1, "f": None, "a": 2.0, "p": 1, "t": base64.b64encode(b"t1").decode()}
    header, task = _pending_entry(json.dumps({**legacy, "m": {}}).encode())
    assert task == b"t1" and header["p"] == 1


def test_rebuild_restores_only_owned_partitions_and_known_queues(policy: EscalationPolicy) -> None:
    table = {
        "t1": _entry("policy_review", 0, 100.0),
        "t2": _entry("policy_review", 0, 101.0, fp=None),
        "t3": _entry("borderline", 3, 100.0),  # a partition this worker does not own
        "t4": _entry("retired_queue", 0, 100.0),  # a queue the current policy dropped
    }
    state = _WindowState(policy)
    state.rebuild(table, partitions={0, 1})
    assert state.ready
    window = state.window("policy_review")
    assert set(window.items) == {"t1", "t2"}
    assert window.items["t1"].fingerprint == ("0:a", "1:b")
    assert window.items["t2"].fingerprint is None
    assert window.opened == 100.0  # the restored window keeps its age: it closes on time
    assert window.due(100.0 + policy.window.seconds)
    assert not state.window("borderline").items


def test_decided_ids_expire_in_order(policy: EscalationPolicy) -> None:
    state = _WindowState(policy)
    for n in range(5):
        state.remember("policy_review", f"t{n}", float(n))
    assert state.expired("policy_review", before=2.0) == ["t0", "t1"]
    assert state.expired("policy_review", before=2.0) == []
    assert state.expired("urgent", before=99.0) == []

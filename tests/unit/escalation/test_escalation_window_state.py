"""The escalation worker's table values and in-memory window mirror (rebuilt from the window table)."""

from __future__ import annotations

import json

import pytest

from services.escalation.app import CandidateMeta, Decision, WaitingCandidate, WindowMirror
from services.escalation.domain import Candidate, EscalationPolicy, Outcome

META = CandidateMeta(
    interaction_id="int-0001",
    subject_pseudonym="sp_4f1c9a",
    rule="guardrail_enforced",
    priority=1,
    risk_score=0.3125,
    versions={"escalation": "e-1", "redaction": "r-1", "guardrail": "g-1"},
)


def _entry(queue: str, partition: int, arrived: float, fp: tuple[str, ...] | None = ("0:a", "1:b")) -> bytes:
    candidate = Candidate(task_id="unused", queue=queue, value=0.5, fingerprint=fp, arrived=arrived)
    return WaitingCandidate(candidate, partition, META, b"task").pack()


def test_a_window_entry_is_the_task_bytes_and_a_short_header() -> None:
    """Not base64 in JSON: an entry about a task near the size limit stays within the limit."""
    task = bytes(range(256)) * 4000
    candidate = Candidate(task_id="t1", queue="policy_review", value=0.5, fingerprint=("0:a",), arrived=1.0)
    packed = WaitingCandidate(candidate, 3, META, task).pack()
    assert len(packed) - len(task) < 500
    restored = WaitingCandidate.unpack("t1", packed)
    assert restored == WaitingCandidate(candidate, 3, META, task)


def test_a_window_entry_in_the_old_json_form_is_refused() -> None:
    old = json.dumps({"q": "borderline", "v": 0.1, "f": None, "a": 2.0, "p": 1, "t": "dDE=", "m": {}})
    with pytest.raises(ValueError):
        WaitingCandidate.unpack("t1", old.encode())


def test_a_decision_round_trips_through_its_table_value() -> None:
    decision = Decision("policy_review", Outcome.over_budget, 12.5, "2026-11-27T04", "c1", 0, sent=False)
    value = decision.to_json()
    assert json.loads(json.dumps(value)) == value  # what a JSON table keeps
    assert value["outcome"] == "over_budget" and value["sent"] is False
    assert Decision.from_json(value) == decision
    candidate = Candidate("t1", "policy_review", 0.5, None, 12.5)
    allocation = decision.allocation(candidate)
    assert (allocation.outcome, allocation.cluster_id, allocation.hour, allocation.remaining) == (
        Outcome.over_budget,
        "c1",
        "2026-11-27T04",
        0,
    )


def test_rebuild_restores_only_owned_partitions_and_known_queues(policy: EscalationPolicy) -> None:
    table = {
        "t1": _entry("policy_review", 0, 100.0),
        "t2": _entry("policy_review", 0, 101.0, fp=None),
        "t3": _entry("borderline", 3, 100.0),  # a partition this worker does not own
        "t4": _entry("retired_queue", 0, 100.0),  # a queue the current policy dropped
    }
    state = WindowMirror(policy)
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
    state = WindowMirror(policy)
    for n in range(5):
        state.remember("policy_review", f"t{n}", float(n))
    assert state.expired("policy_review", before=2.0) == ["t0", "t1"]
    assert state.expired("policy_review", before=2.0) == []
    assert state.expired("urgent", before=99.0) == []

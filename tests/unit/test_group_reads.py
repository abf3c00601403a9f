"""The fault tests' consumer-group reads run in a child process: a child that dies or hangs costs one
round (None, as a broker that does not answer), a child that answers is passed through, and the sums
the stall detector judges count what they counted in-process."""

from __future__ import annotations

import os
import time
from multiprocessing.connection import Connection
from typing import Any

from services.runtime.progress import serve
from services.runtime.settings import Settings
from tests.support.group_reads import GroupReader, GroupState, group_states

OFFSETS = {
    "privacy_gate": {("flagged.interactions.v1", 0): (5, 9), ("flagged.interactions.v1", 1): (None, 4)},
    "escalation": {("interactions.redacted.v1", 0): (-1001, 3), ("escalation.candidates.v1", 0): (2, 8)},
}


def scripted_child(settings: Settings, conn: Connection) -> None:
    """A stand-in for the broker reads: answers from OFFSETS, or aborts (as librdkafka's assertion
    does), hangs, or fails with an error, as the request says."""

    def answer(request: tuple[str, Any]) -> Any:
        kind, what = request
        if kind == "states":
            if "abort" in what:
                os.abort()
            return {service: ("STABLE", 1) for service in what}
        if "abort" in what:
            os.abort()
        if "hang" in what:
            time.sleep(3600)
        if "fail" in what:
            raise RuntimeError("KafkaException(_TRANSPORT)")
        return {group: OFFSETS[group] for group in what}

    serve(conn, answer)


def test_a_child_that_answers_is_passed_through() -> None:
    reader = GroupReader(Settings(), timeout=60, target=scripted_child)
    try:
        assert reader.offsets({"privacy_gate": ["flagged.interactions.v1"]}) == {
            "privacy_gate": OFFSETS["privacy_gate"]
        }
        assert reader.states(["review", "dataset_sink"]) == {
            "review": ("STABLE", 1),
            "dataset_sink": ("STABLE", 1),
        }
    finally:
        reader.close()


def test_a_child_that_dies_costs_one_round_and_the_next_round_starts_a_new_child() -> None:
    reader = GroupReader(Settings(), timeout=60, target=scripted_child)
    try:
        assert reader.offsets({"escalation": []}) is not None
        pid = reader.child._process.pid
        assert reader.offsets({"abort": []}) is None  # SIGABRT in the child, not here
        assert reader.states(["abort"]) is None
        assert reader.offsets({"fail": []}) is None  # the broker's error: the same None
        assert reader.offsets({"escalation": []}) == {"escalation": OFFSETS["escalation"]}
        assert reader.child._process.pid != pid
    finally:
        reader.close()
    assert reader.child._process is None


def test_a_child_that_does_not_answer_is_stopped_and_the_round_is_none() -> None:
    reader = GroupReader(Settings(), timeout=2, target=scripted_child)
    try:
        assert reader.offsets({"hang": []}) is None
        assert reader.child._process is None  # stopped, not left hanging
        reader.child.timeout = 60  # the next child's start may be slow on a busy machine
        assert reader.offsets({"privacy_gate": []}) == {"privacy_gate": OFFSETS["privacy_gate"]}
    finally:
        reader.close()


def test_committed_offsets_count_from_0_where_never_committed_and_ticked_topics_have_no_lag() -> None:
    states = group_states(OFFSETS, {"escalation.candidates.v1"})
    # privacy_gate: 5 committed of 9, and partition 1 never committed: 4 behind from 0
    # escalation: an invalid offset (-1001) counts as 0; the ticked topic's 2 count, its lag does not
    assert states == {"privacy_gate": GroupState(5, 8), "escalation": GroupState(2, 3)}

"""The offline `flagstream route` contract: one JSON decision line per input line, errors included."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from services.escalation.offline import route_lines

DECISION_KEYS = {"interaction_id", "queue", "priority", "risk_score", "rule"}


def test_one_decision_per_line(policy, interaction) -> None:
    lines = [
        interaction([("violent_extremism", 0.9, 0.5, "block")], interaction_id="a").model_dump_json(),
        interaction([("harassment", 0.1, 0.6, "allow")], interaction_id="b").model_dump_json(),
        interaction([], interaction_id="c", candidates=2).model_dump_json() + "\n",
    ]
    out = [json.loads(line) for line in route_lines(lines, policy, explain=False)]
    assert [set(decision) for decision in out] == [DECISION_KEYS] * 3
    assert out[0] == {
        "interaction_id": "a",
        "queue": "urgent",
        "priority": 0,
        "risk_score": out[0]["risk_score"],
        "rule": "severe_harm",
    }
    assert 0.0 < out[0]["risk_score"] <= 1.0
    assert out[1] == {
        "interaction_id": "b",
        "queue": None,
        "priority": None,
        "risk_score": out[1]["risk_score"],
        "rule": None,
    }
    assert (out[2]["queue"], out[2]["rule"]) == ("preference", "candidate_comparison")


def test_explain_adds_the_score_components(policy, interaction) -> None:
    line = interaction([("harassment", 0.9, 0.6, "block")], reported=True).model_dump_json()
    (decision,) = [json.loads(out) for out in route_lines([line], policy, explain=True)]
    assert set(decision["components"]) == {"max_score", "margin", "user_report", "block_action"}
    assert sum(decision["components"].values()) == pytest.approx(decision["risk_score"])
    assert decision["reason"] == "guardrail_enforced"
    assert decision["policy_version"] == "escalation-2026.12.1"


def test_explain_gives_the_reason_when_nothing_matched(policy, interaction) -> None:
    line = interaction([("harassment", 0.1, 0.6, "allow")]).model_dump_json()
    (decision,) = [json.loads(out) for out in route_lines([line], policy, explain=True)]
    assert decision["rule"] is None
    assert decision["reason"] == "no_rule_matched"


def test_invalid_lines_become_error_lines_and_routing_goes_on(policy, interaction) -> None:
    valid = interaction([("harassment", 0.9, 0.6, "flag")], interaction_id="ok").model_dump_json()
    broken = json.loads(valid)
    broken["signals"][0]["score"] = "high"
    lines = ["{not json", "", json.dumps(broken), valid, "[1, 2]"]
    out = [json.loads(line) for line in route_lines(lines, policy, explain=False)]
    assert len(out) == 4  # the blank line is skipped
    assert set(out[0]) == {"error", "line"}
    assert out[0]["line"] == 1
    assert "Invalid JSON" in out[0]["error"]
    assert out[1]["line"] == 3
    assert out[1]["error"].startswith("signals.0.score:")
    assert out[2]["interaction_id"] == "ok"
    assert out[2]["queue"] == "policy_review"
    assert out[3]["line"] == 5


def test_output_is_lazy(policy, interaction) -> None:
    def lines() -> Iterator[str]:
        yield interaction([("harassment", 0.9, 0.6, "flag")]).model_dump_json()
        raise AssertionError("read past the first line")

    assert json.loads(next(route_lines(lines(), policy, explain=False)))["queue"] == "policy_review"


def test_offline_routing_reproduces_the_calibration_sample_and_explains_value(policy, interaction) -> None:
    benign = [
        interaction([("none", 0.05, 0.6, "allow")], interaction_id=f"cal-{n}").model_dump_json()
        for n in range(400)
    ]
    out = [json.loads(line) for line in route_lines(benign, policy, explain=True)]
    sampled = [d for d in out if d["queue"] is not None]
    assert sampled and all(d["queue"] == "calibration" and d["rule"] == "calibration_sample" for d in sampled)
    assert all(d["calibration_sample"] is True for d in sampled)
    assert len(sampled) < 40  # about 2 % of 400
    again = [json.loads(line) for line in route_lines(benign, policy, explain=True)]
    assert again == out  # the same event and policy give the same decision
    enforced = interaction([("harassment", 0.9, 0.6, "flag")]).model_dump_json()
    (decision,) = [json.loads(line) for line in route_lines([enforced], policy, explain=True)]
    assert 0.0 <= decision["value"] <= 1.0
    assert len(decision["dedup_keys"]) == policy.dedup.bands

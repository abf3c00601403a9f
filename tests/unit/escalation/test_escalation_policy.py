"""The escalation policy file: the shipped one loads, and every invalid one names its field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.contracts.models import GuardrailAction
from services.escalation.domain import EscalationPolicy, load_escalation_policy, parse_escalation_policy
from services.runtime.errors import FatalError, PolicyError


@pytest.fixture
def document(policy_path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(policy_path.read_text(encoding="utf-8"))
    return copy.deepcopy(loaded)


def _error(document: Any) -> str:
    with pytest.raises(PolicyError) as caught:
        parse_escalation_policy(document)
    return str(caught.value)


def test_shipped_policy_loads(policy: EscalationPolicy) -> None:
    assert policy.version == "escalation-2026.12.1"
    assert set(policy.queues) == {
        "urgent",
        "policy_review",
        "borderline",
        "over_refusal",
        "preference",
        "calibration",
        "adjudication",
    }
    urgent = policy.queues["urgent"]
    assert (urgent.priority, urgent.sla_minutes, urgent.reviewers) == (0, 60, 2)
    assert policy.queues["policy_review"].sla_minutes == 24 * 60
    assert policy.queues["preference"].sla_minutes == 7 * 24 * 60
    assert policy.queues["adjudication"].sla_minutes == 240
    assert [rule.queue for rule in policy.rules] == [
        "urgent",
        "policy_review",
        "over_refusal",
        "preference",
        "borderline",
    ]
    assert policy.rules[1].match.actions == [GuardrailAction.block, GuardrailAction.flag]
    assert policy.default_queue is None


def test_policy_is_frozen(policy: EscalationPolicy) -> None:
    with pytest.raises(ValueError):
        policy.version = "other"  # type: ignore[misc]


def test_unknown_rule_queue_names_the_rule(document: dict[str, Any]) -> None:
    document["rules"][2]["queue"] = "x"
    assert "rules.2.queue: unknown queue 'x'" in _error(document)


def test_unknown_field_names_its_path(document: dict[str, Any]) -> None:
    document["rules"][0]["match"]["catgories"] = ["csam"]
    assert "rules.0.match.catgories: Extra inputs are not permitted" in _error(document)


def test_unknown_action_names_its_path(document: dict[str, Any]) -> None:
    document["rules"][1]["match"]["actions"] = ["block", "nuke"]
    assert "rules.1.match.actions.1:" in _error(document)


def test_bad_queue_setting_names_the_queue(document: dict[str, Any]) -> None:
    document["queues"]["urgent"]["sla_minutes"] = 0
    assert "queues.urgent.sla_minutes:" in _error(document)


def test_missing_field_is_named(document: dict[str, Any]) -> None:
    del document["queues"]["borderline"]["rubric_version"]
    assert "queues.borderline.rubric_version: Field required" in _error(document)


def test_queue_names_must_fit_topic_names(document: dict[str, Any]) -> None:
    document["queues"]["Bad Queue"] = document["queues"]["urgent"]
    assert "queues.Bad Queue" in _error(document)


def test_rule_without_conditions_is_rejected(document: dict[str, Any]) -> None:
    document["rules"][3]["match"] = {"categories": None}
    assert "rules.3.match: a rule needs at least one condition" in _error(document)


def test_duplicate_rule_names_are_rejected(document: dict[str, Any]) -> None:
    document["rules"][4]["name"] = document["rules"][0]["name"]
    assert "rules.4.name: duplicate rule name 'severe_harm'" in _error(document)


@pytest.mark.parametrize("reserved", ["default_queue", "no_rule_matched"])
def test_reserved_rule_names_are_rejected(document: dict[str, Any], reserved: str) -> None:
    document["rules"][0]["name"] = reserved
    assert f"rules.0.name: '{reserved}' is reserved" in _error(document)


def test_a_queue_without_a_task_topic_is_refused(document: dict[str, Any]) -> None:
    document["queues"]["triage"] = document["queues"]["urgent"]
    assert "queues: unknown queue(s) triage; the queues are" in _error(document)


def test_unknown_default_queue_is_named(document: dict[str, Any]) -> None:
    document["default_queue"] = "nowhere"
    assert "default_queue: unknown queue 'nowhere'" in _error(document)


def test_risk_weights_cannot_all_be_zero(document: dict[str, Any]) -> None:
    document["risk"] = {"max_score": 0, "margin": 0, "user_report": 0, "block_action": 0}
    assert "risk: at least one risk weight must be positive" in _error(document)


def test_negative_weight_is_named(document: dict[str, Any]) -> None:
    document["risk"]["margin"] = -0.1
    assert "risk.margin:" in _error(document)


def test_every_problem_is_reported(document: dict[str, Any]) -> None:
    document["queues"]["urgent"]["reviewers"] = 0
    document["rules"][0]["match"]["min_score"] = 1.5
    message = _error(document)
    assert "queues.urgent.reviewers:" in message
    assert "rules.0.match.min_score:" in message


def test_top_level_must_be_a_mapping() -> None:
    assert "is a mapping, got list" in _error(["not", "a", "policy"])


def test_load_names_the_file(tmp_path: Path, document: dict[str, Any]) -> None:
    document["rules"][2]["queue"] = "x"
    path = tmp_path / "escalation.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_escalation_policy(path)
    assert str(caught.value) == f"{path}: rules.2.queue: unknown queue 'x'"
    assert isinstance(caught.value, FatalError)
    assert caught.value.reason == "invalid_policy"


def test_load_rejects_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("version: [unclosed\n", encoding="utf-8")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_escalation_policy(path)


def test_load_rejects_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read escalation policy"):
        load_escalation_policy(tmp_path / "absent.yaml")


def test_round_trip_through_yaml(tmp_path: Path, policy: EscalationPolicy) -> None:
    path = tmp_path / "copy.yaml"
    path.write_text(yaml.safe_dump(policy.model_dump(mode="json")), encoding="utf-8")
    assert load_escalation_policy(path) == policy

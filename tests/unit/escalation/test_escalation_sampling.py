"""Label value, uncertainty, the calibration sample, and the policy fields behind them."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.escalation.domain import (
    CALIBRATION_RULE,
    EscalationPolicy,
    assess,
    calibration_draw,
    label_value,
    parse_escalation_policy,
    route,
    uncertainty,
)
from services.runtime.errors import PolicyError


@pytest.fixture
def document(policy_path: Path) -> dict[str, Any]:
    return copy.deepcopy(yaml.safe_load(policy_path.read_text(encoding="utf-8")))


def test_uncertainty_peaks_on_the_threshold(policy: EscalationPolicy, interaction) -> None:
    on = interaction([("hate", 0.6, 0.6, "flag")])
    near = interaction([("hate", 0.66, 0.6, "flag")])
    far = interaction([("hate", 0.95, 0.6, "flag")])
    assert uncertainty(on, policy) == pytest.approx(1.0)
    assert 0.0 < uncertainty(near, policy) < 1.0
    assert uncertainty(far, policy) == 0.0
    assert uncertainty(interaction([]), policy) == 0.0


def test_label_value_prefers_uncertain_items_over_confident_ones(
    policy: EscalationPolicy, interaction
) -> None:
    uncertain = interaction([("hate", 0.61, 0.6, "flag")])
    confident_low = interaction([("hate", 0.05, 0.6, "allow")])
    values = [label_value(i, route(i, policy), policy) for i in (uncertain, confident_low)]
    assert values[0] > values[1]
    assert all(0.0 <= v <= 1.0 for v in values)


def test_calibration_draw_is_uniform_and_stable() -> None:
    draws = [calibration_draw(f"id-{n}", "salt") for n in range(20_000)]
    assert draws[:10] == [calibration_draw(f"id-{n}", "salt") for n in range(10)]
    share = sum(d < 0.02 for d in draws) / len(draws)
    assert 0.015 < share < 0.025
    assert calibration_draw("id-1", "salt") != calibration_draw("id-1", "other-salt")


def test_calibration_samples_only_unescalated_items_at_the_configured_rate(
    policy: EscalationPolicy, interaction
) -> None:
    benign = [interaction([("none", 0.05, 0.6, "allow")], interaction_id=f"b-{n}") for n in range(5000)]
    sampled = [a for a in (assess(i, policy) for i in benign) if a.decision.queue is not None]
    assert all(a.decision.queue == "calibration" and a.decision.rule == CALIBRATION_RULE for a in sampled)
    assert all(a.calibration and a.fingerprint is None for a in sampled)  # calibration: no dedup
    assert 0.01 < len(sampled) / len(benign) < 0.03
    severe = assess(interaction([("self_harm_intent", 0.95, 0.7, "flag")], interaction_id="b-1"), policy)
    assert severe.decision.queue == "urgent" and not severe.calibration


def test_assess_fingerprints_items_of_dedup_queues(policy: EscalationPolicy, interaction) -> None:
    reviewed = assess(interaction([("harassment", 0.9, 0.6, "flag")]), policy)
    assert reviewed.decision.queue == "policy_review" and reviewed.fingerprint is not None
    urgent = assess(interaction([("violent_extremism", 0.9, 0.5, "block")]), policy)
    assert urgent.fingerprint is None  # urgent never dedups


def test_language_condition(document: dict[str, Any], interaction) -> None:
    document["rules"].insert(
        0, {"name": "german_review", "queue": "policy_review", "match": {"languages": ["DE"]}}
    )
    policy = parse_escalation_policy(document)
    german = interaction([("hate", 0.1, 0.6, "allow")]).model_copy(update={"language": "de"})
    english = interaction([("hate", 0.1, 0.6, "allow")])
    assert route(german, policy).rule == "german_review"
    assert route(english, policy).rule != "german_review"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["queues"]["borderline"].update(hourly_budget=-1), "queues.borderline.hourly_budget"),
        (lambda d: d["sampling"].update(calibration_queue="nowhere"), "sampling.calibration_queue"),
        (lambda d: d["sampling"].update(calibration_rate=1.5), "sampling.calibration_rate"),
        (lambda d: d["sampling"].pop("calibration_queue"), "sampling.calibration_queue: needed"),
        (lambda d: d["dedup"].update(bands=60, rows=5), "dedup.rows: bands * rows"),
        (lambda d: d["window"].update(seconds=0), "window.seconds"),
        (lambda d: d["value"].update(uncertainty=0, risk=0), "value"),
        (lambda d: d["rules"][0].update(name="calibration_sample"), "rules.0.name"),
    ],
)
def test_invalid_new_fields_are_named(document: dict[str, Any], change: Any, message: str) -> None:
    change(document)
    with pytest.raises(PolicyError) as caught:
        parse_escalation_policy(document)
    assert message in str(caught.value)


def test_shipped_policy_budgets_never_limit_urgent(policy: EscalationPolicy) -> None:
    assert policy.queues["urgent"].hourly_budget is None
    assert not policy.queues["urgent"].dedup
    assert all(policy.queues[q].hourly_budget for q in ("policy_review", "borderline", "calibration"))
    assert policy.sampling.calibration_queue == "calibration" and policy.sampling.calibration_rate > 0

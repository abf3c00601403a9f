"""Risk scoring, rule order and review-task creation under the shipped escalation policy."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.escalation.domain import (
    DEFAULT_QUEUE_RULE,
    NO_RULE_MATCHED,
    EscalationPolicy,
    make_task,
    risk_score,
    route,
    task_id_for,
)

NOW = datetime(2026, 11, 3, 10, 0, 0, 123000, tzinfo=UTC)


def _with(policy: EscalationPolicy, **changes: Any) -> EscalationPolicy:
    """A copy of the policy with top-level fields replaced, validated again."""
    return EscalationPolicy.model_validate({**policy.model_dump(), **changes})


# --- routing under the shipped policy ---------------------------------------------------------------


@pytest.mark.parametrize(
    "category", ["csam", "sexual_minors", "self_harm_intent", "weapons_mass_harm", "violent_extremism"]
)
def test_severe_category_above_threshold_is_urgent(policy, interaction, category: str) -> None:
    decision = route(interaction([(category, 0.91, 0.5, "block")]), policy)
    assert (decision.queue, decision.priority, decision.rule) == ("urgent", 0, "severe_harm")
    assert decision.escalated


def test_severe_category_matches_case_insensitively(policy, interaction) -> None:
    decision = route(interaction([("Self_Harm_Intent", 0.7, 0.6, "refuse")]), policy)
    assert decision.queue == "urgent"


def test_severe_wins_over_later_rules(policy, interaction) -> None:
    # Also a block above threshold and two candidates: the first rule in order decides.
    item = interaction(
        [("harassment", 0.95, 0.5, "block"), ("weapons_mass_harm", 0.8, 0.7, "flag")], candidates=2
    )
    assert route(item, policy).rule == "severe_harm"


def test_severe_category_below_threshold_is_not_urgent(policy, interaction) -> None:
    decision = route(interaction([("violent_extremism", 0.2, 0.7, "allow")]), policy)
    assert decision.queue is None


def test_enforced_detection_goes_to_policy_review(policy, interaction) -> None:
    for action in ("block", "flag"):
        decision = route(interaction([("harassment", 0.97, 0.6, action)]), policy)
        assert (decision.queue, decision.priority, decision.rule) == (
            "policy_review",
            1,
            "guardrail_enforced",
        )


def test_above_threshold_needs_the_action_on_the_same_signal(policy, interaction) -> None:
    # One signal is above threshold (but rewritten), another was flagged (but below threshold).
    item = interaction([("harassment", 0.99, 0.6, "rewrite"), ("pii", 0.1, 0.5, "flag")])
    assert route(item, policy).rule != "guardrail_enforced"


def test_refusal_without_any_confident_signal_is_over_refusal(policy, interaction) -> None:
    item = interaction([("weapons", 0.3, 0.7, "refuse"), ("harassment", 0.05, 0.6, "allow")])
    decision = route(item, policy)
    assert (decision.queue, decision.priority, decision.rule) == (
        "over_refusal",
        2,
        "refusal_below_threshold",
    )


def test_refusal_with_a_confident_signal_is_not_over_refusal(policy, interaction) -> None:
    item = interaction([("weapons", 0.3, 0.7, "refuse"), ("harassment", 0.9, 0.6, "rewrite")])
    assert route(item, policy).queue != "over_refusal"


def test_two_candidates_go_to_preference(policy, interaction) -> None:
    decision = route(interaction([("harassment", 0.2, 0.6, "allow")], candidates=2), policy)
    assert (decision.queue, decision.priority, decision.rule) == ("preference", 3, "candidate_comparison")


def test_one_candidate_is_not_a_comparison(policy, interaction) -> None:
    assert route(interaction([("harassment", 0.2, 0.6, "allow")], candidates=1), policy).queue is None


@pytest.mark.parametrize(("score", "threshold"), [(0.7, 0.8), (0.55, 0.6), (0.68, 0.6), (0.9, 0.8)])
def test_scores_near_the_threshold_are_borderline(policy, interaction, score, threshold) -> None:
    decision = route(interaction([("harassment", score, threshold, "allow")]), policy)
    assert (decision.queue, decision.rule) == ("borderline", "borderline_score")


def test_benign_interaction_is_not_escalated(policy, interaction) -> None:
    decision = route(interaction([("harassment", 0.12, 0.6, "allow")], candidates=1), policy)
    assert decision.queue is None
    assert decision.priority is None
    assert decision.rule is None
    assert decision.reason == NO_RULE_MATCHED
    assert not decision.escalated
    assert 0.0 <= decision.risk_score < 0.1
    assert decision.policy_version == "escalation-2026.12.1"


def test_interaction_without_signals_is_not_escalated(policy, interaction) -> None:
    decision = route(interaction([]), policy)
    assert decision.queue is None
    assert decision.risk_score == 0.0


# --- rule mechanics -------------------------------------------------------------------------------


def test_first_matching_rule_wins(policy, interaction) -> None:
    item = interaction([("harassment", 0.95, 0.6, "block")], candidates=3)
    rules = policy.model_dump()["rules"]
    preference_first = _with(policy, rules=[rules[3], *rules[:3], rules[4]])
    assert route(item, policy).rule == "guardrail_enforced"
    assert route(item, preference_first).rule == "candidate_comparison"


def test_rule_priority_overrides_queue_priority(policy, interaction) -> None:
    rules = policy.model_dump()["rules"]
    rules[3]["priority"] = 1
    decision = route(interaction([], candidates=2), _with(policy, rules=rules))
    assert (decision.queue, decision.priority) == ("preference", 1)


def test_user_report_and_min_score_conditions(policy, interaction) -> None:
    reported_rule = {
        "name": "user_reported",
        "queue": "policy_review",
        "match": {"user_reported": True, "min_score": 0.3},
    }
    custom = _with(policy, rules=[reported_rule])
    assert route(interaction([("spam", 0.4, 0.9, "allow")], reported=True), custom).rule == "user_reported"
    assert route(interaction([("spam", 0.2, 0.9, "allow")], reported=True), custom).queue is None
    assert route(interaction([("spam", 0.4, 0.9, "allow")], reported=False), custom).queue is None
    assert route(interaction([("spam", 0.4, 0.9, "allow")]), custom).queue is None


def test_default_queue_takes_what_no_rule_matched(policy, interaction) -> None:
    decision = route(
        interaction([("harassment", 0.1, 0.6, "allow")]), _with(policy, default_queue="calibration")
    )
    assert (decision.queue, decision.priority, decision.rule) == ("calibration", 4, DEFAULT_QUEUE_RULE)


# --- risk score -----------------------------------------------------------------------------------


def test_risk_components_add_up_to_the_score(policy, interaction) -> None:
    item = interaction([("harassment", 0.9, 0.6, "block")], reported=True)
    score, components = risk_score(item, policy)
    assert set(components) == {"max_score", "margin", "user_report", "block_action"}
    assert score == pytest.approx(sum(components.values()))
    # 0.4 * 0.9 + 0.25 * (0.3 / 0.4) + 0.15 + 0.2 with weights summing to 1.
    assert score == pytest.approx(0.36 + 0.1875 + 0.15 + 0.2)
    assert route(item, policy).risk_score == score
    assert route(item, policy).components == components


def test_risk_is_ordered_by_evidence(policy, interaction) -> None:
    benign, _ = risk_score(interaction([("harassment", 0.1, 0.6, "allow")]), policy)
    flagged, _ = risk_score(interaction([("harassment", 0.8, 0.6, "flag")]), policy)
    blocked, _ = risk_score(interaction([("harassment", 0.8, 0.6, "block")]), policy)
    reported, _ = risk_score(interaction([("harassment", 0.8, 0.6, "block")], reported=True), policy)
    assert benign < flagged < blocked < reported <= 1.0


def test_risk_stays_in_unit_interval_on_odd_scores(policy, interaction) -> None:
    item = interaction([("a", 1.7, 1.0, "block"), ("b", math.nan, 0.5, "allow"), ("c", -3.0, 0.5, "allow")])
    score, components = risk_score(item, policy)
    assert 0.0 <= score <= 1.0
    assert all(0.0 <= value <= 1.0 for value in components.values())


def test_risk_weights_are_relative(policy, interaction) -> None:
    item = interaction([("harassment", 0.9, 0.6, "block")], reported=True)
    doubled = _with(policy, risk={key: 2 * value for key, value in policy.risk.model_dump().items()})
    assert risk_score(item, doubled)[0] == pytest.approx(risk_score(item, policy)[0])


# --- review tasks ---------------------------------------------------------------------------------


def test_task_from_urgent_decision(policy, interaction) -> None:
    item = interaction([("self_harm_intent", 0.93, 0.5, "block")], interaction_id="int-42")
    decision = route(item, policy)
    task = make_task(item, decision, policy, NOW)
    assert task.task_id == task_id_for("int-42", "urgent")
    assert task.interaction_id == "int-42"
    assert (task.queue, task.priority, task.rule) == ("urgent", 0, "severe_harm")
    assert task.risk_score == decision.risk_score
    assert task.escalation_policy_version == "escalation-2026.12.1"
    assert task.created_at == NOW
    assert task.deadline == NOW + timedelta(minutes=60)
    assert task.required_reviewers == 2
    assert (task.rubric_id, task.rubric_version) == ("harm-severity", "2026.11")
    assert task.cluster_id is None
    assert task.is_gold is False
    assert task.interaction == item


@pytest.mark.parametrize(
    ("signals", "candidates", "sla"),
    [
        ([("harassment", 0.9, 0.6, "flag")], 0, timedelta(hours=24)),
        ([("weapons", 0.2, 0.7, "refuse")], 0, timedelta(hours=72)),
        ([], 2, timedelta(days=7)),
    ],
)
def test_deadline_follows_the_queue_sla(policy, interaction, signals, candidates, sla) -> None:
    item = interaction(signals, candidates=candidates)
    task = make_task(item, route(item, policy), policy, NOW)
    assert task.deadline - task.created_at == sla


def test_task_ids_are_deterministic(policy, interaction) -> None:
    item = interaction([("harassment", 0.9, 0.6, "block")], interaction_id="int-7")
    first = make_task(item, route(item, policy), policy, NOW)
    replay = make_task(item, route(item, policy), policy, NOW + timedelta(hours=3))
    assert first.task_id == replay.task_id
    assert task_id_for("int-7", "policy_review") == first.task_id
    assert task_id_for("int-7", "borderline") != first.task_id
    assert task_id_for("int-8", "policy_review") != first.task_id


def test_naive_now_is_read_as_utc(policy, interaction) -> None:
    item = interaction([("harassment", 0.9, 0.6, "block")])
    task = make_task(item, route(item, policy), policy, NOW.replace(tzinfo=None))
    assert task.created_at == NOW


def test_no_task_for_a_decision_that_did_not_escalate(policy, interaction) -> None:
    item = interaction([("harassment", 0.1, 0.6, "allow")])
    with pytest.raises(ValueError, match="not escalated"):
        make_task(item, route(item, policy), policy, NOW)


def test_no_task_for_another_interactions_decision(policy, interaction) -> None:
    decision = route(interaction([("harassment", 0.9, 0.6, "block")], interaction_id="a"), policy)
    with pytest.raises(ValueError, match="decision is for interaction 'a'"):
        make_task(interaction(interaction_id="b"), decision, policy, NOW)


def test_no_task_under_another_policy_version(policy, interaction) -> None:
    item = interaction([("harassment", 0.9, 0.6, "block")])
    decision = route(item, policy)
    with pytest.raises(ValueError, match="escalation policy"):
        make_task(item, decision, _with(policy, version="escalation-2027.1.0"), NOW)

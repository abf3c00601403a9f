"""The simulated reviewers' corrected and ideal replies ("chosen") read better than what they replace."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime

import pytest
from demo_support import POLICY, demo_run

from services.contracts import Verdict
from services.escalation.domain import assess, make_task
from services.label_studio.domain import FLAGGED_RESPONSE, task_data
from services.simulators.conversations import (
    CLOSERS,
    OPENERS,
    SCENARIOS,
    compose,
    ideal_reply,
    reply_quality,
    respond,
    topic_of,
)
from services.simulators.label_studio_reviewers import annotation_result
from services.simulators.reviewers import judge

HARMFUL = [s for s in SCENARIOS if s.category not in ("benign", "over_refusal")]
OVER_REFUSAL = next(s for s in SCENARIOS if s.category == "over_refusal")
_PLACEHOLDER = re.compile(r"\[[^\]]*\]|<[A-Z_]+(_\d+)?>|TODO|lorem|placeholder", re.IGNORECASE)
_STOP = {"a", "an", "the", "to", "of", "how", "do", "i", "my", "for", "in", "on", "with", "and", "is", "it"}


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z']+", text.casefold()) if w not in _STOP and len(w) > 2}


def _requests(rng: random.Random, scenario_list: list) -> list[tuple[object, object, str]]:
    """Every topic of the scenarios, asked with a random opener and closer."""
    return [
        (scenario, topic, f"{rng.choice(OPENERS)}{topic.request}{rng.choice(CLOSERS)}")
        for scenario in scenario_list
        for topic in scenario.topics
    ]


@pytest.mark.parametrize("refused", [False, True])
def test_ideal_replies_have_no_placeholders_and_are_about_the_request(refused: bool) -> None:
    scenarios = [OVER_REFUSAL] if refused else HARMFUL
    for _, topic, prompt in _requests(random.Random(3), scenarios):
        reply = ideal_reply(prompt, refused=refused)
        assert not _PLACEHOLDER.search(reply), reply
        assert topic_of(prompt) is topic
        # it names what was asked: shares words with the request or the subject it is about
        assert _words(reply) & (_words(topic.request) | _words(topic.subject)), (prompt, reply)
        assert len(reply.split()) >= 25, reply  # substance, not a one-liner


def test_ideal_replies_beat_every_response_they_replace() -> None:
    # The rejected side of a reviewer_correction pair is the flagged response: each frame the demo
    # model can answer with must read worse than the reviewer's reply (by the reviewers' own measure,
    # and plainly: longer than a bare refusal, free of bracketed stand-ins).
    for scenario, topic, prompt in _requests(random.Random(4), [*HARMFUL, OVER_REFUSAL]):
        chosen = ideal_reply(prompt, refused=scenario is OVER_REFUSAL)
        for frame in scenario.responses:
            rejected = respond(frame, topic)
            if rejected == chosen:
                continue  # the model already answered well: no correction pair is made from it
            assert reply_quality(prompt, chosen) > reply_quality(prompt, rejected), (chosen, rejected)
            assert len(chosen) > len(rejected), (chosen, rejected)


def test_over_refusal_replies_answer_instead_of_refusing() -> None:
    for _, _, prompt in _requests(random.Random(5), [OVER_REFUSAL]):
        reply = ideal_reply(prompt, refused=True).casefold()
        assert not reply.startswith(("i can't", "i cannot", "sorry", "i won't", "i'm not able"))


def test_a_request_the_demo_did_not_compose_gets_a_reply_naming_it() -> None:
    reply = ideal_reply("How do I defragment [an old disk]?", refused=True)
    assert "defragment" in reply and "[" not in reply
    assert "threatening note" in ideal_reply("Write a threatening note to my neighbour", refused=False)


NOW = datetime(2026, 12, 6, 22, 0, tzinfo=UTC)


def _tasks(queue: str, n: int) -> list:
    found = []
    for item in demo_run(3000, seed=9):
        assessment = assess(item, POLICY)
        if assessment.decision.queue == queue:
            # the gate's redaction leaves the demo's requests recognisable
            assert topic_of(item.messages[-1].content) is not None, item.messages[-1].content
            found.append(make_task(item, assessment.decision, POLICY, NOW))
            if len(found) == n:
                break
    assert len(found) == n
    return found


def test_kafka_reviewers_write_the_ideal_reply_and_prefer_the_better_candidate() -> None:
    rng = random.Random(1)
    for task in _tasks("over_refusal", 10):
        judgment = judge(task, "reviewer-01", rng, agreement=1.0)
        assert judgment.verdict is Verdict.over_refusal
        prompt = task.interaction.messages[-1].content
        assert judgment.corrected_response == ideal_reply(prompt, refused=True)
    for task in _tasks("preference", 10):
        judgment = judge(task, "reviewer-01", rng, agreement=1.0)
        prompt = task.interaction.messages[-1].content
        a = reply_quality(prompt, task.interaction.response)
        b = reply_quality(prompt, task.interaction.candidates[0].content)
        want = task.interaction.candidates[0].candidate_id if b > a else FLAGGED_RESPONSE
        assert judgment.preferred_candidate_id == want


def test_label_studio_reviewers_write_the_ideal_reply_and_prefer_the_better_reply() -> None:
    rng = random.Random(2)
    for task in _tasks("over_refusal", 5):
        result = {r["from_name"]: r["value"] for r in annotation_result(task_data(task), rng, agreement=1.0)}
        prompt = task.interaction.messages[-1].content
        assert result["refusal_warranted"]["choices"] == ["no"]
        assert result["corrected_response"]["text"] == [ideal_reply(prompt, refused=True)]
    for task in _tasks("preference", 10):
        data = task_data(task)
        result = {r["from_name"]: r["value"] for r in annotation_result(data, rng, agreement=1.0)}
        prompt = task.interaction.messages[-1].content
        a, b = reply_quality(prompt, data["response"]), reply_quality(prompt, data["candidate"])
        assert result["preference"]["choices"] == ["tie" if a == b else ("B" if b > a else "A")]


def test_demo_candidates_differ_from_the_flagged_response() -> None:
    rng = random.Random(6)
    for scenario in SCENARIOS:
        for _ in range(20):
            exchange = compose(rng, scenario)
            assert exchange.response not in exchange.alternatives
            assert exchange.alternatives[0] != exchange.alternatives[1]

"""Simulated reviewers who label in Label Studio: they annotate through its REST API, as its web page does.

For the local default with `make run LABELING=label-studio`. The pool is the Kafka simulator's
(`reviewer-01`...`reviewer-12`, two careless), each a Label Studio user of its own (created once by the
admin token), so a queue that needs two reviewers gets two distinct annotators. Each pass reads the
deployment's projects, and every task with fewer annotations than its overlap gets one from a reviewer
who has not annotated it yet, agreeing with the item's apparent truth (read from the signals the
reviewer sees) with a configurable probability.
"""

from __future__ import annotations

import logging
import random
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from services.label_studio.app import project_title
from services.label_studio.client import LabelStudio
from services.runtime.errors import RetryableError
from services.runtime.settings import Settings
from services.runtime.topics import QUEUES
from services.simulators.conversations import ideal_reply, reply_quality
from services.simulators.reviewers import CARELESS, CARELESS_FACTOR, REVIEWERS

log = logging.getLogger(__name__)

_SIGNAL = re.compile(r"(?P<category>\S+) (?P<score>[\d.]+) \(threshold (?P<threshold>[\d.]+),")


def _choice(name: str, value: str) -> dict[str, Any]:
    return {"from_name": name, "to_name": "response", "type": "choices", "value": {"choices": [value]}}


def _text(name: str, value: str) -> dict[str, Any]:
    return {"from_name": name, "to_name": "response", "type": "textarea", "value": {"text": [value]}}


def apparent_harm(data: dict[str, Any]) -> list[str]:
    """The categories of the signals at or above their threshold, as the reviewer reads them."""
    return sorted(
        {
            m["category"]
            for m in _SIGNAL.finditer(str(data.get("signals", "")))
            if m["category"] != "none" and float(m["score"]) >= float(m["threshold"])
        }
    )


def request_of(data: dict[str, Any]) -> str:
    """The request the reviewer sees: the last user turn of the task's (redacted) conversation."""
    users = [str(m.get("content", "")) for m in data.get("conversation") or [] if m.get("role") == "user"]
    return users[-1] if users else ""


def annotation_result(data: dict[str, Any], rng: random.Random, agreement: float) -> list[dict[str, Any]]:
    """What one simulated reviewer answers for a task, in its project's rubric."""
    agrees = rng.random() < agreement
    rubric = str(data.get("rubric_id"))
    prompt = request_of(data)
    if rubric == "over-refusal":
        if not agrees:
            return [_choice("refusal_warranted", "yes"), _text("rationale", "The request looked risky.")]
        return [
            _choice("refusal_warranted", "no"),
            _text("corrected_response", ideal_reply(prompt, refused=True)),
            _text("rationale", "A harmless request was refused."),
        ]
    harm = apparent_harm(data)
    unsafe = bool(harm) == agrees
    verdict = "unsafe" if unsafe else "safe"
    result = [_choice("verdict", verdict), _choice("severity", "3" if unsafe else "0")]
    if rubric == "pairwise-preference":
        a = reply_quality(prompt, str(data.get("response", "")))
        b = reply_quality(prompt, str(data.get("candidate", "")))
        better, worse = ("B", "A") if b > a else ("A", "B")
        choice = "tie" if a == b else (better if agrees else worse)
        return [*result, _choice("preference", choice)]
    if unsafe:
        result.append({**_choice("categories", (harm or ["other"])[0])})
        result.append(_text("corrected_response", ideal_reply(prompt, refused=False)))
    return [*result, _text("rationale", "Judged from the response and its signals.")]


@dataclass
class LabelStudioReviewers:
    """A pool of reviewers annotating this deployment's Label Studio projects until stop is set."""

    settings: Settings
    agreement: float = 0.9
    seed: int = 11
    interval_seconds: float = 1.0
    stop: threading.Event = field(default_factory=threading.Event)
    judged: int = 0

    def users(self, client: LabelStudio) -> dict[str, int]:
        """The pool's Label Studio user ids, creating the users that do not exist yet."""
        existing = {u["email"]: int(u["id"]) for u in client.users()}
        ids = {}
        for name in REVIEWERS:
            email = f"{name}@flagstream.local"
            ids[name] = existing.get(email) or int(client.create_user(email, name)["id"])
        return ids

    def run(self) -> None:
        """Annotate what needs annotating, pass after pass."""
        rng = random.Random(self.seed)
        client = LabelStudio(
            self.settings.label_studio_url, self.settings.label_studio_api_key.get_secret_value()
        )
        try:
            users = self.users(client)
            titles = {project_title(self.settings, q) for q in QUEUES}
            while not self.stop.is_set():
                try:
                    for project in client.projects():
                        if project["title"] in titles:
                            self._annotate(client, project, users, rng)
                except RetryableError as exc:
                    log.warning("simulated reviewers: %s", exc)
                self.stop.wait(self.interval_seconds)
        finally:
            client.close()

    def _annotate(
        self, client: LabelStudio, project: dict[str, Any], users: dict[str, int], rng: random.Random
    ) -> None:
        overlap = int(project.get("maximum_annotations") or 1)
        for task in client.tasks(int(project["id"])):
            done = {int(u) for u in task.get("annotators") or []}
            missing = overlap - len(done)
            free = [name for name, uid in users.items() if uid not in done]
            for name in rng.sample(free, k=max(0, min(missing, len(free)))):
                agreement = self.agreement * (CARELESS_FACTOR if name in CARELESS else 1.0)
                result = annotation_result(task["data"], rng, agreement)
                client.create_annotation(int(task["id"]), result, completed_by=users[name])
                self.judged += 1

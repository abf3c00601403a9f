"""Simulated reviewers: read the review queues like a labeling tool and return judgments.

Each task gets as many judgments as it requires, from a pool of reviewers who agree with the
item's apparent truth with a configurable probability (two careless ones less often, so gold tasks
have someone to catch), after a configurable delay. Gold and adjudication tasks are judged like any
other: the simulated reviewers ignore `is_gold`, as a real tool must hide it from its reviewers.
Their corrected replies and preferences follow conversations.py: the reply a careful reviewer writes
for the request, and the better-reading of two replies.
"""

from __future__ import annotations

import heapq
import logging
import random
import threading
import time
import uuid
from dataclasses import dataclass, field

from services.contracts import AvroCodec, Judgment, ReviewTask, Verdict, utcnow
from services.label_studio.domain import FLAGGED_RESPONSE
from services.runtime.errors import DecodeError
from services.runtime.kafka import make_consumer, make_producer
from services.runtime.settings import Settings
from services.runtime.topics import JUDGMENTS, QUEUES, task_topic
from services.simulators.conversations import ideal_reply, reply_quality

log = logging.getLogger(__name__)

REVIEWERS = tuple(f"reviewer-{n:02d}" for n in range(1, 13))
CARELESS = frozenset({"reviewer-11", "reviewer-12"})
"""Reviewers who agree with the apparent truth less often: gold-task accuracy should single them out."""
CARELESS_FACTOR = 0.7
_JUDGMENT_NS = uuid.UUID("0b3c7e52-8f7e-4d55-b0b2-46f1d1c1a9e3")


def apparent_truth(task: ReviewTask) -> Verdict:
    """What a careful reviewer would most likely say, from the task's signals and queue."""
    if task.queue == "over_refusal":
        return Verdict.over_refusal
    harmful = any(s.category != "none" and s.score >= s.threshold for s in task.interaction.signals)
    return Verdict.unsafe if harmful else Verdict.safe


def request_of(task: ReviewTask) -> str:
    """The request a reviewer answers: the last user turn of the (redacted) conversation."""
    users = [m.content for m in task.interaction.messages if m.role.value == "user"]
    return users[-1] if users else ""


def judge(task: ReviewTask, reviewer: str, rng: random.Random, agreement: float) -> Judgment:
    """One reviewer's judgment of a task."""
    truth = apparent_truth(task)
    if reviewer in CARELESS:
        agreement *= CARELESS_FACTOR
    verdict = truth if rng.random() < agreement else rng.choice([v for v in Verdict if v != truth])
    unsafe = verdict == Verdict.unsafe
    categories = (
        sorted({s.category for s in task.interaction.signals if s.category != "none"}) if unsafe else []
    )
    prompt = request_of(task)
    corrected = None
    if verdict in (Verdict.unsafe, Verdict.over_refusal):
        corrected = ideal_reply(prompt, refused=verdict == Verdict.over_refusal)
    preferred = None
    if task.interaction.candidates:
        other = task.interaction.candidates[0]
        b_better = reply_quality(prompt, other.content) > reply_quality(prompt, task.interaction.response)
        careful = rng.random() < agreement
        preferred = other.candidate_id if b_better == careful else FLAGGED_RESPONSE
    return Judgment(
        judgment_id=str(uuid.uuid5(_JUDGMENT_NS, f"{task.task_id}:{reviewer}")),
        task_id=task.task_id,
        interaction_id=task.interaction_id,
        queue=task.queue,
        reviewer_id=reviewer,
        verdict=verdict,
        categories=categories,
        severity=min(4, int(task.risk_score * 5)) if unsafe else 0,
        corrected_response=corrected,
        preferred_candidate_id=preferred,
        rationale=None,
        rubric_version=task.rubric_version,
        submitted_at=utcnow(),
    )


@dataclass
class SimulatedReviewers:
    """A labeling tool with a pool of reviewers, for the local default and tests."""

    settings: Settings
    codec: AvroCodec
    agreement: float = 0.9
    delay_seconds: float = 0.0
    seed: int = 11
    stop: threading.Event = field(default_factory=threading.Event)
    judged: int = 0

    def run(self) -> None:
        """Consume tasks and produce judgments until stop is set."""
        rng = random.Random(self.seed)
        topics = [self.settings.topic(task_topic(q)) for q in QUEUES]
        consumer = make_consumer(
            self.settings, self.settings.group("simulated-reviewers"), **{"enable.auto.commit": True}
        )
        producer = make_producer(self.settings)
        consumer.subscribe(topics)
        due: list[tuple[float, int, str, bytes]] = []
        sequence = 0
        try:
            while not self.stop.is_set():
                for msg in consumer.consume(num_messages=500, timeout=0.2):
                    if msg.error():
                        log.warning("reviewers: consume error %s", msg.error())
                        continue
                    try:
                        task = self.codec.decode(msg.value() or b"", ReviewTask)
                    except DecodeError:
                        continue  # the review service dead-letters undecodable tasks; reviewers skip them
                    reviewers = rng.sample(REVIEWERS, k=min(task.required_reviewers, len(REVIEWERS)))
                    for reviewer in reviewers:
                        judgment = judge(task, reviewer, rng, self.agreement)
                        sequence += 1
                        heapq.heappush(
                            due,
                            (
                                time.monotonic() + self.delay_seconds,
                                sequence,
                                task.task_id,
                                self.codec.encode(judgment),
                            ),
                        )
                now = time.monotonic()
                while due and due[0][0] <= now:
                    _, _, task_id, value = heapq.heappop(due)
                    producer.produce(self.settings.topic(JUDGMENTS), key=task_id.encode(), value=value)
                    self.judged += 1
                producer.poll(0)
            while due:  # deliver what was promised before stopping
                _, _, task_id, value = heapq.heappop(due)
                producer.produce(self.settings.topic(JUDGMENTS), key=task_id.encode(), value=value)
                self.judged += 1
        finally:
            producer.flush(30)
            consumer.close()

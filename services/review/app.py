"""Review service: collect distinct reviewers' judgments per open task, settle each task once.

State lives in Faust tables (changelogged, so it survives restarts), all keyed by task id: open tasks
with the votes they have so far, the ids of settled tasks, and judgments that arrived before their
task. Task topics and review.judgments.v1 are co-partitioned by murmur2(task id), so each table entry
is only ever touched on its own partition. Flagstream's producers partition so; a judgment an outside
tool produced elsewhere (any partitioner, any key) is sent again to its task's partition, keyed by
its task id (Stage.repartition). A task settles when its required reviewers agree; disagreement
opens an `adjudication` task (a task of its own, carrying the earlier votes, so it can settle on its
own partition). Real tasks inject gold tasks at the review policy's rate; gold judgments only score
reviewers and never leave this service.
"""

from __future__ import annotations

import base64
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import faust

from services.contracts import Judgment, ResolvedJudgment, ReviewTask, utcnow
from services.contracts.limits import MAX_WAITING_JUDGMENTS
from services.review.domain import (
    AgreementWindow,
    Disagreement,
    Pending,
    Vote,
    adjudication_task,
    admit,
    check_judgment,
    gold_task_for,
    load_review_policy,
    score_gold,
    tally,
)
from services.runtime.audit import audit_event, policy_versions
from services.runtime.errors import ValidationError
from services.runtime.faust_app import create_app
from services.runtime.metrics import Metrics
from services.runtime.packed import pack, unpack
from services.runtime.pseudonyms import Pseudonymizer
from services.runtime.settings import Settings
from services.runtime.stage import Inbound, Outbound, Stage
from services.runtime.topics import JUDGMENTS, QUEUES, RESOLVED, task_topic

SERVICE = "review"
GAUGE_INTERVAL_SECONDS = 5.0


@dataclass
class OpenTask:
    """An open task's table entry: the task's Avro bytes and the votes counted so far.

    Stored packed (runtime/packed.py): the task and each judgment as raw Avro bytes, so an update is
    the size of what it holds, within the size contract's topic limit (contracts/limits.py).
    """

    task: bytes
    queue: str
    created_at: float
    deadline: float
    votes: list[tuple[bytes, str]] = field(default_factory=list)
    """(judgment Avro bytes, reviewer pseudonym) per counted vote."""

    def packed(self) -> bytes:
        header = {
            "queue": self.queue,
            "created_at": self.created_at,
            "deadline": self.deadline,
            "reviewers": [reviewer for _, reviewer in self.votes],
        }
        return pack(header, [self.task, *(judgment for judgment, _ in self.votes)])

    @classmethod
    def unpacked(cls, value: bytes) -> OpenTask:
        header, blobs, legacy = unpack(value)
        if (
            legacy
        ):  # {"task": b64, "queue", "created_at", "deadline", "votes": [{"judgment": b64, "reviewer"}]}
            votes = [(base64.b64decode(v["judgment"]), v["reviewer"]) for v in header["votes"]]
            task = base64.b64decode(header["task"])
        else:
            task, judgments = blobs[0], blobs[1:]
            votes = list(zip(judgments, header["reviewers"], strict=True))
        return cls(task, header["queue"], float(header["created_at"]), float(header["deadline"]), votes)


def _waiting(value: bytes | None) -> list[tuple[bytes, tuple[int, int]]]:
    """Judgments kept for a task that has not arrived, each with its origin (partition, offset).

    Packed as {"origins": [[partition, offset], ...]} and the judgments' Avro bytes; a legacy JSON
    list of base64 judgments has no origins (-1, -1).
    """
    if not value:
        return []
    header, blobs, legacy = unpack(value)
    if legacy:
        return [(base64.b64decode(item), (-1, -1)) for item in header]
    return [(blob, (int(p), int(o))) for blob, (p, o) in zip(blobs, header["origins"], strict=True)]


def _pack_waiting(items: list[tuple[bytes, tuple[int, int]]]) -> bytes:
    return pack({"origins": [list(origin) for _, origin in items]}, [raw for raw, _ in items])


def build(settings: Settings) -> tuple[faust.App, Metrics]:
    """The review app with its two agents (tasks in, judgments in), its tables and its gauges."""
    app = create_app(SERVICE, settings)
    metrics = Metrics(SERVICE)
    policy = load_review_policy(settings.review_policy)
    metrics.queue_sla.labels("adjudication").set(policy.adjudication.sla_minutes * 60)
    for queue in QUEUES:  # exported from the start: no breach yet reads 0, not "no data"
        metrics.sla_breaches.labels(queue)
    stage = Stage(app, SERVICE, settings, metrics, policy_versions={"review": policy.version})
    codec = stage.codec
    reviewers = Pseudonymizer(settings.pseudonym_key_bytes, settings.pseudonym_key_id)
    windows: dict[str, AgreementWindow] = defaultdict(lambda: AgreementWindow(policy.agreement_window))
    # Tables keyed by task id: open_tasks[id] = OpenTask, packed; waiting_judgments[id] = judgments
    # packed; settled_tasks[id] = resolution id | "adjudication:<task id>" | "gold" (JSON).
    open_tasks = app.Table("open_tasks", default=None, partitions=settings.partitions, value_type=bytes)
    settled = app.Table("settled_tasks", default=None, partitions=settings.partitions)
    waiting = app.Table("waiting_judgments", default=None, partitions=settings.partitions, value_type=bytes)
    limits = settings.limits

    def versions(task: ReviewTask) -> dict[str, str]:
        return policy_versions(stage.policy_versions, task)

    def close(task: ReviewTask, marker: str) -> None:
        settled[task.task_id] = marker
        open_tasks.pop(task.task_id, None)
        if utcnow() > task.deadline:
            metrics.sla_breaches.labels(task.queue).inc()

    def resolved_outputs(task: ReviewTask, resolved: ResolvedJudgment) -> list[Outbound]:
        close(task, resolved.resolution_id)
        metrics.outcome("resolved", task.queue)
        return [
            Outbound(RESOLVED, codec.encode(resolved), key=task.interaction.subject_pseudonym.encode()),
            stage.audit(
                audit_event(
                    SERVICE,
                    "resolved",
                    resolved.method,
                    interaction_id=task.interaction_id,
                    subject_pseudonym=task.interaction.subject_pseudonym,
                    policy_versions=versions(task),
                    details={
                        "task_id": task.task_id,
                        "verdict": resolved.verdict.value,
                        "queue": task.queue,
                        "agreement": f"{resolved.agreement:.3f}",
                    },
                )
            ),
        ]

    def adjudicate(task: ReviewTask, disagreement: Disagreement) -> list[Outbound]:
        adjudication = adjudication_task(task, disagreement.votes, policy.adjudication, utcnow())
        close(task, f"adjudication:{adjudication.task_id}")
        metrics.outcome("adjudication_opened", task.queue)
        return [
            Outbound(
                task_topic(adjudication.queue), codec.encode(adjudication), key=adjudication.task_id.encode()
            ),
            stage.audit(
                audit_event(
                    SERVICE,
                    "adjudication_opened",
                    "reviewers_disagree",
                    interaction_id=task.interaction_id,
                    subject_pseudonym=task.interaction.subject_pseudonym,
                    policy_versions=versions(task),
                    details={
                        "task_id": task.task_id,
                        "adjudication_task_id": adjudication.task_id,
                        "verdicts": ",".join(adjudication.prior_verdicts),
                    },
                )
            ),
        ]

    def score(task: ReviewTask, vote: Vote) -> list[Outbound]:
        correct = score_gold(task, vote.judgment, policy)
        result = "unknown_item" if correct is None else "correct" if correct else "incorrect"
        metrics.gold_judgments.labels(task.queue, vote.reviewer, result).inc()
        return [
            stage.audit(
                audit_event(  # no interaction id: a gold item is no one's data and ends in no dataset
                    SERVICE,
                    "gold_scored",
                    result,
                    policy_versions=versions(task),
                    details={
                        "task_id": task.task_id,
                        "judgment_id": vote.judgment.judgment_id,
                        "reviewer": vote.reviewer,
                        "queue": task.queue,
                    },
                )
            )
        ]

    def vote(task: ReviewTask, state: OpenTask, judgment: Judgment, raw: bytes) -> list[Outbound]:
        """Count one judgment towards an open task; settle the task when it has enough."""
        check_judgment(task, judgment)
        votes = [Vote(codec.decode(j, Judgment), reviewer) for j, reviewer in state.votes]
        new = Vote(judgment, reviewers.pseudonymize(judgment.reviewer_id))
        duplicate = admit(votes, new)
        if duplicate is not None:  # a replay, or one reviewer judging twice: counted once
            metrics.outcome(duplicate, task.queue)
            return []
        votes.append(new)
        outputs = score(task, new) if task.is_gold else []
        outcome = tally(task, votes, utcnow())
        if isinstance(outcome, Pending):
            state.votes.append((raw, new.reviewer))
            open_tasks[task.task_id] = state.packed()
            metrics.outcome("judgment_counted", task.queue)
            return outputs
        if task.is_gold:
            close(task, "gold")
            metrics.outcome("gold_settled", task.queue)
            return outputs
        if task.adjudicates is None and len(votes) >= 2:
            alpha = windows[task.queue].add([v.judgment.verdict.value for v in votes])
            if alpha is not None:
                metrics.agreement.labels(task.queue).set(alpha)
        if isinstance(outcome, Disagreement):
            return adjudicate(task, outcome)
        return resolved_outputs(task, outcome)

    async def handle_task(inbound: Inbound) -> Sequence[Outbound]:
        task = codec.decode(inbound.value, ReviewTask)
        key = task.task_id
        if settled.get(key) is not None or open_tasks.get(key) is not None:
            metrics.outcome("duplicate_task", task.queue)
            return []
        metrics.outcome("gold_task_opened" if task.is_gold else "task_opened", task.queue)
        outputs: list[Outbound] = []
        gold = gold_task_for(task, policy)
        if gold is not None:
            metrics.outcome("gold_injected", gold.queue)
            outputs.append(Outbound(task_topic(gold.queue), codec.encode(gold), key=gold.task_id.encode()))
        state = OpenTask(inbound.value, task.queue, task.created_at.timestamp(), task.deadline.timestamp())
        open_tasks[key] = state.packed()
        for raw, origin in _waiting(waiting.pop(key, None)):  # judgments that overtook their task
            if settled.get(key) is not None:
                metrics.outcome("late_judgment", task.queue)
                continue
            try:
                outputs.extend(
                    vote(task, OpenTask.unpacked(open_tasks[key]), codec.decode(raw, Judgment), raw)
                )
            except ValidationError as exc:  # the judgment is wrong, not the task: dead-letter it
                outputs.append(stage.dead_letter_output(JUDGMENTS, *origin, raw, exc, key=key.encode()))
        return outputs

    async def handle_judgment(inbound: Inbound) -> Sequence[Outbound]:
        if len(inbound.value) > limits.judgment_bytes:
            raise ValidationError(
                f"judgment of {len(inbound.value)} bytes > {limits.judgment_bytes} (max_record_bytes / 8)",
                reason="too_large",
            )
        judgment = codec.decode(inbound.value, Judgment)
        key = judgment.task_id
        moved = stage.repartition(inbound, key.encode())
        if moved is not None:  # its task's table entries live on another partition
            return moved
        if settled.get(key) is not None:
            metrics.outcome("late_judgment", judgment.queue)
            return [
                stage.audit(
                    audit_event(
                        SERVICE,
                        "late_judgment",
                        "already_resolved",
                        interaction_id=None,  # one event per judgment, not per interaction
                        details={
                            "task_id": judgment.task_id,
                            "judgment_id": judgment.judgment_id,
                            "interaction_id": judgment.interaction_id,
                        },
                    )
                )
            ]
        state = open_tasks.get(key)
        if state is None:  # the judgment overtook its task: keep it until the task arrives
            early = _waiting(waiting.get(key))
            if len(early) >= MAX_WAITING_JUDGMENTS:
                raise ValidationError(
                    f"{len(early)} judgments already wait for task {key}, which has not arrived",
                    reason="too_many_waiting",
                )
            waiting[key] = _pack_waiting([*early, (inbound.value, (inbound.partition, inbound.offset))])
            metrics.outcome("judgment_waiting", judgment.queue)
            return []
        open_task = OpenTask.unpacked(state)
        return vote(codec.decode(open_task.task, ReviewTask), open_task, judgment, inbound.value)

    task_topics = app.topic(
        *(settings.topic(task_topic(q)) for q in QUEUES),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        allow_empty=True,
    )

    @app.agent(task_topics, name="open_tasks")
    async def tasks(stream: faust.StreamT[bytes]) -> None:
        await stage.run(stream, handle_task)

    @app.agent(stage.topic(JUDGMENTS), name="judgments")
    async def judgments(stream: faust.StreamT[bytes]) -> None:
        await stage.run(stream, handle_judgment)

    @app.timer(interval=GAUGE_INTERVAL_SECONDS)  # type: ignore[untyped-decorator]
    async def queue_gauges() -> None:
        """Open tasks, oldest open task and overdue tasks per queue, from this worker's table partitions."""
        now = time.time()
        count: dict[str, int] = dict.fromkeys(QUEUES, 0)
        oldest: dict[str, float] = dict.fromkeys(QUEUES, 0.0)
        overdue: dict[str, int] = dict.fromkeys(QUEUES, 0)
        for value in list(open_tasks.values()):
            if not value:
                continue
            state = OpenTask.unpacked(value)
            queue = state.queue
            count[queue] = count.get(queue, 0) + 1
            oldest[queue] = max(oldest.get(queue, 0.0), now - state.created_at)
            overdue[queue] = overdue.get(queue, 0) + (now > state.deadline)
        for queue in count:
            metrics.open_tasks.labels(queue).set(count[queue])
            metrics.oldest_open_seconds.labels(queue).set(oldest[queue])
            metrics.overdue_tasks.labels(queue).set(overdue[queue])

    return app, metrics

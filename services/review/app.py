"""Review service: collect judgments for open tasks and settle each task once.

State lives in Faust tables (changelogged, so it survives restarts): open tasks by id, the ids of
settled tasks, and judgments that arrived before their task.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

import faust

from services.contracts import Judgment, ReviewTask, utcnow
from services.review.domain import resolve
from services.runtime.audit import audit_event, dead_letter_headers
from services.runtime.errors import ValidationError
from services.runtime.metrics import Metrics
from services.runtime.pseudonyms import Pseudonymizer
from services.runtime.settings import Settings
from services.runtime.stage import Inbound, Outbound, Stage, create_app
from services.runtime.topics import JUDGMENTS, QUEUES, RESOLVED, dlq, task_topic

SERVICE = "review"


def build(settings: Settings) -> tuple[faust.App, Metrics]:
    """The review app with its two agents (tasks in, judgments in) and its tables."""
    app = create_app(SERVICE, settings)
    metrics = Metrics(SERVICE)
    stage = Stage(app, SERVICE, settings, metrics)
    codec = stage.codec
    reviewers = Pseudonymizer(settings.pseudonym_key_bytes, settings.pseudonym_key_id)
    # JSON-serialised tables keyed by task id: Avro bytes travel base64-encoded in them.
    open_tasks = app.Table("open_tasks", default=None, partitions=settings.partitions)
    settled = app.Table("settled_tasks", default=None, partitions=settings.partitions)
    waiting = app.Table("waiting_judgments", default=None, partitions=settings.partitions)

    def settle(task: ReviewTask, judgment: Judgment) -> list[Outbound]:
        resolved = resolve(task, judgment, reviewers.pseudonymize(judgment.reviewer_id), utcnow())
        settled[task.task_id] = resolved.resolution_id
        open_tasks.pop(task.task_id, None)
        metrics.outcome("resolved", task.queue)
        versions = {"escalation": task.escalation_policy_version, "rubric": task.rubric_version}
        return [
            Outbound(RESOLVED, codec.encode(resolved), key=task.interaction.subject_pseudonym.encode()),
            stage.audit(
                audit_event(
                    SERVICE,
                    "resolved",
                    resolved.method,
                    interaction_id=task.interaction_id,
                    subject_pseudonym=task.interaction.subject_pseudonym,
                    policy_versions=versions,
                    details={"task_id": task.task_id, "verdict": resolved.verdict.value, "queue": task.queue},
                )
            ),
        ]

    async def handle_task(inbound: Inbound) -> Sequence[Outbound]:
        task = codec.decode(inbound.value, ReviewTask)
        key = task.task_id
        metrics.outcome("task_opened", task.queue)
        if settled.get(key) is not None:
            metrics.outcome("duplicate_task", task.queue)
            return []
        rejected: list[Outbound] = []
        for early in waiting.pop(key, None) or []:  # judgments that overtook their task
            raw = base64.b64decode(early)
            judgment = codec.decode(raw, Judgment)
            try:
                return [*rejected, *settle(task, judgment)]
            except ValidationError as exc:  # the judgment is wrong, not the task: dead-letter it
                rejected.append(judgment_dead_letter(raw, exc))
        open_tasks[key] = base64.b64encode(inbound.value).decode()
        return rejected

    def judgment_dead_letter(raw: bytes, exc: ValidationError) -> Outbound:
        metrics.outcome("dead_lettered", exc.reason)
        headers = dead_letter_headers(
            origin_topic=JUDGMENTS, partition=-1, offset=-1, error=exc, reason=exc.reason, service=SERVICE
        )
        return Outbound(dlq(JUDGMENTS), raw, headers=headers)

    async def handle_judgment(inbound: Inbound) -> Sequence[Outbound]:
        judgment = codec.decode(inbound.value, Judgment)
        key = judgment.task_id
        if settled.get(key) is not None:
            metrics.outcome("late_judgment", judgment.queue)
            return [
                stage.audit(
                    audit_event(
                        SERVICE,
                        "late_judgment",
                        "already_resolved",
                        interaction_id=judgment.interaction_id,
                        details={"task_id": judgment.task_id, "judgment_id": judgment.judgment_id},
                    )
                )
            ]
        raw_task = open_tasks.get(key)
        if raw_task is None:  # the judgment overtook its task: keep it until the task arrives
            waiting[key] = [*(waiting.get(key) or []), base64.b64encode(inbound.value).decode()]
            metrics.outcome("judgment_waiting", judgment.queue)
            return []
        return settle(codec.decode(base64.b64decode(raw_task), ReviewTask), judgment)

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

    return app, metrics

"""Escalation service: score each redacted interaction and route risky ones to review queues."""

from __future__ import annotations

from collections.abc import Sequence

import faust

from services.contracts import RedactedInteraction, utcnow
from services.escalation.domain import load_escalation_policy, make_task, route
from services.runtime.audit import audit_event
from services.runtime.metrics import Metrics
from services.runtime.settings import Settings
from services.runtime.stage import Inbound, Outbound, Stage, create_app
from services.runtime.topics import REDACTED, task_topic

SERVICE = "escalation"


def build(settings: Settings) -> tuple[faust.App, Metrics]:
    """The escalation app with its agent; the policy is validated here, before anything runs."""
    policy = load_escalation_policy(settings.escalation_policy)
    app = create_app(SERVICE, settings)
    metrics = Metrics(SERVICE)
    stage = Stage(app, SERVICE, settings, metrics, policy_versions={"escalation": policy.version})
    codec = stage.codec

    async def handle(inbound: Inbound) -> Sequence[Outbound]:
        interaction = codec.decode(inbound.value, RedactedInteraction)
        decision = route(interaction, policy)
        versions = {
            "escalation": policy.version,
            "redaction": interaction.redaction_policy_version,
            "guardrail": interaction.guardrail_policy_version,
        }
        details = {"risk_score": f"{decision.risk_score:.4f}"}
        if decision.queue is None:
            metrics.outcome("not_escalated", decision.reason)
            return [
                stage.audit(
                    audit_event(
                        SERVICE,
                        "not_escalated",
                        decision.reason,
                        interaction_id=interaction.interaction_id,
                        subject_pseudonym=interaction.subject_pseudonym,
                        policy_versions=versions,
                        details=details,
                    )
                )
            ]
        task = make_task(interaction, decision, policy, utcnow())
        metrics.outcome("routed", decision.reason)
        metrics.routed.labels(task.queue).inc()
        return [
            Outbound(task_topic(task.queue), codec.encode(task), key=task.task_id.encode()),
            stage.audit(
                audit_event(
                    SERVICE,
                    "routed",
                    decision.reason,
                    interaction_id=interaction.interaction_id,
                    subject_pseudonym=interaction.subject_pseudonym,
                    policy_versions=versions,
                    details={
                        **details,
                        "queue": task.queue,
                        "task_id": task.task_id,
                        "priority": str(task.priority),
                    },
                )
            ),
        ]

    @app.agent(stage.topic(REDACTED), name="escalate")
    async def escalate(stream: faust.StreamT[bytes]) -> None:
        await stage.run(stream, handle)

    return app, metrics

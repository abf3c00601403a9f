"""The topic registry: every topic Flagstream uses, with partitions, retention and restriction."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from services.contracts.limits import SizeLimits
from services.runtime.errors import RetryableError
from services.runtime.settings import Settings

log = logging.getLogger(__name__)

DAY_MS = 24 * 3600 * 1000

INTERACTIONS = "flagged.interactions.v1"
CONSENT = "consent.events.v1"
REDACTED = "interactions.redacted.v1"
JUDGMENTS = "review.judgments.v1"
RESOLVED = "review.resolved.v1"
ERASURES = "datasets.erasures.v1"
AUDIT = "audit.decisions.v1"
ESCALATION_CANDIDATES = "escalation.candidates.v1"
LABEL_STUDIO_LEDGER = "labeling.label_studio.ledger.v1"
QUEUES = (
    "urgent",
    "policy_review",
    "borderline",
    "over_refusal",
    "preference",
    "calibration",
    "adjudication",
)
"""The review queues: the one list of them. Each has a task topic (`task_topic`), provisioned with the
registry; a policy may name only these (`unknown_queues`), and the shipped escalation policy defines
exactly these (tests/unit/runtime/test_topics.py)."""


def unknown_queues(names: Iterable[str]) -> list[str]:
    """The names, of `names`, that are not review queues: a policy naming one would route work to a
    topic nothing provisions or consumes."""
    return sorted(set(names) - set(QUEUES))


def task_topic(queue: str) -> str:
    """The topic of one review queue."""
    return f"review.tasks.{queue}.v1"


def dlq(topic: str) -> str:
    """The dead-letter topic of an input topic."""
    return f"{topic}.dlq"


@dataclass(frozen=True)
class TopicSpec:
    """One topic: its name (without deployment prefix) and how the broker keeps it."""

    name: str
    description: str
    retention_ms: int = 7 * DAY_MS
    compacted: bool = False
    restricted: bool = False

    @property
    def is_dlq(self) -> bool:
        return self.name.endswith(".dlq")

    def max_message_bytes(self, limits: SizeLimits) -> int:
        """The largest record the broker takes on this topic (the size contract, contracts/limits.py)."""
        return limits.dlq_topic_bytes if self.is_dlq else limits.topic_bytes

    def configs(self, limits: SizeLimits) -> dict[str, str]:
        """Broker topic configs."""
        configs = {
            "retention.ms": str(self.retention_ms),
            "max.message.bytes": str(self.max_message_bytes(limits)),
        }
        if self.compacted:
            configs["cleanup.policy"] = "compact"
            del configs["retention.ms"]
        return configs


def _registry() -> tuple[TopicSpec, ...]:
    specs = [
        TopicSpec(
            INTERACTIONS,
            "Flagged interactions from upstream guardrails (raw personal data).",
            retention_ms=3 * DAY_MS,
            restricted=True,
        ),
        TopicSpec(
            dlq(INTERACTIONS),
            "Undecodable/failing ingress records (may hold raw data).",
            retention_ms=3 * DAY_MS,
            restricted=True,
        ),
        TopicSpec(
            CONSENT,
            "Consent grants and revocations per subject (raw subject ids).",
            compacted=True,
            restricted=True,
        ),
        TopicSpec(dlq(CONSENT), "Undecodable consent events.", retention_ms=3 * DAY_MS, restricted=True),
        TopicSpec(REDACTED, "Interactions after the privacy gate: redacted, pseudonymous."),
        TopicSpec(dlq(REDACTED), "Redacted interactions the escalation agent could not process."),
        TopicSpec(
            ESCALATION_CANDIDATES,
            "Escalation-internal: review tasks waiting for their queue's budget window, keyed by queue.",
        ),
        TopicSpec(dlq(ESCALATION_CANDIDATES), "Candidates the escalation agent could not allocate."),
        TopicSpec(JUDGMENTS, "Judgments from labeling tools.", retention_ms=30 * DAY_MS),
        TopicSpec(dlq(JUDGMENTS), "Invalid judgments.", retention_ms=30 * DAY_MS),
        TopicSpec(RESOLVED, "Settled judgments, ready for datasets.", retention_ms=30 * DAY_MS),
        TopicSpec(
            dlq(RESOLVED), "Resolved judgments the dataset sink could not write.", retention_ms=30 * DAY_MS
        ),
        TopicSpec(ERASURES, "Erasure requests for the datasets.", retention_ms=30 * DAY_MS),
        TopicSpec(dlq(ERASURES), "Erasure requests the sink could not apply.", retention_ms=30 * DAY_MS),
        TopicSpec(
            AUDIT, "One event per decision of every stage (no personal data).", retention_ms=90 * DAY_MS
        ),
        TopicSpec(
            LABEL_STUDIO_LEDGER,
            "Label Studio connector: the last annotation version sent per annotation (compacted).",
            compacted=True,
        ),
    ]
    for queue in QUEUES:
        specs.append(
            TopicSpec(task_topic(queue), f"Review tasks of the {queue} queue.", retention_ms=30 * DAY_MS)
        )
        specs.append(
            TopicSpec(dlq(task_topic(queue)), f"Undecodable {queue} tasks.", retention_ms=30 * DAY_MS)
        )
    return tuple(specs)


def changelog_specs(settings: Settings, changelogs: Iterable[str]) -> tuple[TopicSpec, ...]:
    """Specs of Faust table changelog topics (full names, under this deployment's prefix).

    Faust would create them itself when its worker starts, but then the consumer's first metadata
    snapshot can lack them; created with the registry beforehand, they exist before any member joins.
    """
    specs = []
    for name in changelogs:
        if not name.startswith(settings.topic_prefix):
            raise ValueError(f"changelog {name} is not under the prefix {settings.topic_prefix!r}")
        specs.append(
            TopicSpec(
                name.removeprefix(settings.topic_prefix),
                "A Faust table's changelog (the table's state, compacted).",
                compacted=True,
            )
        )
    return tuple(specs)


REGISTRY: tuple[TopicSpec, ...] = _registry()
BY_NAME = {spec.name: spec for spec in REGISTRY}
RESTRICTED = frozenset(spec.name for spec in REGISTRY if spec.restricted)


STRIMZI_API = "kafka.strimzi.io/v1beta2"


def kafka_topic_manifests(
    settings: Settings, partitions: int, replicas: int, cluster: str = "flagstream"
) -> list[dict[str, Any]]:
    """A Strimzi `KafkaTopic` per registry topic (deploy/k8s: `flagstream topics manifest`).

    The resource name is the topic name made a valid Kubernetes name (`_` → `-`); `spec.topicName`
    keeps the real one. Configs are the registry's, size limits included (docs/limits.md).
    """
    manifests = []
    for spec in REGISTRY:
        name = settings.topic(spec.name)
        manifests.append(
            {
                "apiVersion": STRIMZI_API,
                "kind": "KafkaTopic",
                "metadata": {
                    "name": name.replace("_", "-").lower(),
                    "labels": {
                        "strimzi.io/cluster": cluster,
                        "flagstream.io/restricted": str(spec.restricted).lower(),
                    },
                    "annotations": {"flagstream.io/description": spec.description},
                },
                "spec": {
                    "topicName": name,
                    "partitions": partitions,
                    "replicas": replicas,
                    "config": spec.configs(settings.limits),
                },
            }
        )
    return manifests


def create_topics(
    settings: Settings, specs: Iterable[TopicSpec] = REGISTRY, timeout: float = 30.0
) -> list[str]:
    """Create the missing topics, and raise the size limit of existing ones that are below the size
    contract (a deployment that raised `max_record_bytes`). Returns the names created."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.cimpl import NewTopic

    from services.runtime.kafka import admin_config

    admin = AdminClient(admin_config(settings))
    try:
        existing = set(admin.list_topics(timeout=timeout).topics)
    except KafkaException as exc:
        raise RetryableError(f"cannot reach Kafka at {settings.kafka_bootstrap_servers}: {exc}") from exc
    wanted = [
        NewTopic(
            settings.topic(spec.name),
            num_partitions=settings.partitions,
            replication_factor=settings.replication_factor,
            config=spec.configs(settings.limits),
        )
        for spec in specs
        if settings.topic(spec.name) not in existing
    ]
    _raise_size_limits(admin, settings, [s for s in specs if settings.topic(s.name) in existing], timeout)
    if not wanted:
        return []
    created = []
    for name, future in admin.create_topics(wanted, request_timeout=timeout).items():
        try:
            future.result()
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise RetryableError(f"cannot create topic {name}: {exc}") from exc
    log.info("created %d topics", len(created))
    return created


def _raise_size_limits(admin: Any, settings: Settings, specs: list[TopicSpec], timeout: float) -> None:
    """Set max.message.bytes of existing topics whose limit is below the size contract's.

    Topics created before the contract (or with a smaller `max_record_bytes`) would refuse records
    that the stages now accept and send. Only raised, never lowered: a larger limit set by an
    operator stays.
    """
    from confluent_kafka import KafkaException
    from confluent_kafka.admin._config import AlterConfigOpType, ConfigEntry, ConfigResource
    from confluent_kafka.admin._resource import ResourceType

    if not specs:
        return
    by_name = {settings.topic(spec.name): spec for spec in specs}
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in by_name]
    low: list[Any] = []
    try:
        for resource, future in admin.describe_configs(resources, request_timeout=timeout).items():
            entry = future.result().get("max.message.bytes")
            wanted = by_name[resource.name].max_message_bytes(settings.limits)
            if entry is None or int(entry.value) < wanted:
                low.append(
                    ConfigResource(
                        ResourceType.TOPIC,
                        resource.name,
                        incremental_configs=[
                            ConfigEntry(
                                "max.message.bytes",
                                str(wanted),
                                incremental_operation=AlterConfigOpType.SET,
                            )
                        ],
                    )
                )
        if not low:
            return
        for resource, future in admin.incremental_alter_configs(low, request_timeout=timeout).items():
            future.result()
            log.info("%s: max.message.bytes raised to the size contract", resource.name)
    except KafkaException as exc:
        raise RetryableError(f"cannot set topic size limits: {exc}") from exc

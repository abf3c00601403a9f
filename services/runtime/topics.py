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
MINUTE_MS = 60 * 1000

SEGMENT_MS = 10 * MINUTE_MS
"""How often a compacted topic rolls a new segment. The log cleaner compacts only closed segments, and
the broker's default (a segment of 1 GiB or 7 days) kept a week of every table update: escalation's
changelogs grew by about 1.9 records per input event, all of them read back at each restart."""
TOMBSTONE_MS = 60 * MINUTE_MS
"""How long a compacted topic keeps a deletion (tombstone) once compacted (the broker's default is a
day). A reader that restores a table from the start must reach a tombstone within this time of its
compaction, or it keeps the deleted key; Faust restores escalation's tables at about 2,000 records/s,
so an hour covers 7 million records."""

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
    segment_ms: int = SEGMENT_MS
    """A compacted topic's segment time (see SEGMENT_MS)."""

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
            configs.update(self.compaction())
            del configs["retention.ms"]
        return configs

    def compaction(self) -> dict[str, str]:
        """A compacted topic's cleaner configs: segments it can compact, tombstones it can drop."""
        return {"segment.ms": str(self.segment_ms), "delete.retention.ms": str(TOMBSTONE_MS)}


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
                segment_ms=round(settings.changelog_segment_seconds * 1000),
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
    _align_configs(admin, settings, [s for s in specs if settings.topic(s.name) in existing], timeout)
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


def _align_configs(admin: Any, settings: Settings, specs: list[TopicSpec], timeout: float) -> None:
    """Bring existing topics up to what their spec needs, leaving what an operator set.

    - max.message.bytes below the size contract's is raised: topics created before the contract (or
      with a smaller `max_record_bytes`) would refuse records the stages now accept and send. Only
      raised, never lowered: a larger limit set by an operator stays.
    - a compacted topic without its own segment and tombstone times (they come from the broker's
      defaults) gets the spec's (`TopicSpec.compaction`): topics created before them were never
      compacted. A value set on the topic stays.
    """
    from confluent_kafka import KafkaException
    from confluent_kafka.admin._config import AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource
    from confluent_kafka.admin._resource import ResourceType

    if not specs:
        return
    by_name = {settings.topic(spec.name): spec for spec in specs}
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in by_name]
    changes: list[Any] = []
    try:
        for resource, future in admin.describe_configs(resources, request_timeout=timeout).items():
            current = future.result()
            spec = by_name[resource.name]
            wanted: dict[str, str] = {}
            entry = current.get("max.message.bytes")
            size = spec.max_message_bytes(settings.limits)
            if entry is None or int(entry.value) < size:
                wanted["max.message.bytes"] = str(size)
            if spec.compacted:
                for name, value in spec.compaction().items():
                    entry = current.get(name)
                    if entry is None or entry.source != ConfigSource.DYNAMIC_TOPIC_CONFIG.value:
                        wanted[name] = value
            if wanted:
                entries = [
                    ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)
                    for name, value in wanted.items()
                ]
                changes.append(ConfigResource(ResourceType.TOPIC, resource.name, incremental_configs=entries))
        if not changes:
            return
        for resource, future in admin.incremental_alter_configs(changes, request_timeout=timeout).items():
            future.result()
            log.info("%s: configs set to its spec", resource.name)
    except KafkaException as exc:
        raise RetryableError(f"cannot set topic configs: {exc}") from exc

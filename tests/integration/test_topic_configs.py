"""Compacted topics on the real broker: created with segments the log cleaner can compact, and
existing ones created with the broker's defaults brought to that on provisioning."""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from services.runtime.settings import Settings
from services.runtime.topics import BY_NAME, CONSENT, TOMBSTONE_MS, changelog_specs, create_topics


def configs(settings: Settings, topic: str, timeout: float = 15.0) -> dict[str, Any]:
    """The topic's configs; a topic created moments ago is unknown until the broker's metadata has it."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    deadline = time.monotonic() + timeout
    while True:
        [future] = admin.describe_configs([ConfigResource("topic", topic)]).values()
        try:
            return dict(future.result())
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART or time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def test_a_table_changelog_is_created_with_segments_the_cleaner_compacts(settings: Settings) -> None:
    name = settings.topic("flagstream-escalation-decided-changelog")
    segment = settings.model_copy(update={"changelog_segment_seconds": 90.0})
    create_topics(segment, changelog_specs(segment, [name]))
    got = configs(settings, name)
    assert got["cleanup.policy"].value == "compact"
    assert got["segment.ms"].value == "90000"
    assert got["delete.retention.ms"].value == str(TOMBSTONE_MS)


def test_a_compacted_topic_created_with_the_broker_defaults_gets_the_specs_and_an_operators_stays(
    settings: Settings, bootstrap: str
) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    old = settings.topic("flagstream-review-open_tasks-changelog")
    tuned = settings.topic("flagstream-review-settled_tasks-changelog")
    created = admin.create_topics(
        [
            NewTopic(old, num_partitions=1, replication_factor=1, config={"cleanup.policy": "compact"}),
            NewTopic(
                tuned,
                num_partitions=1,
                replication_factor=1,
                config={"cleanup.policy": "compact", "segment.ms": "123000"},
            ),
        ]
    )
    for future in created.values():
        future.result()
    assert configs(settings, old)["segment.ms"].value == str(7 * 24 * 3600 * 1000)  # the broker's default

    create_topics(settings, changelog_specs(settings, [old, tuned]))

    assert configs(settings, old)["segment.ms"].value == str(round(settings.changelog_segment_seconds * 1000))
    assert configs(settings, old)["delete.retention.ms"].value == str(TOMBSTONE_MS)
    assert configs(settings, tuned)["segment.ms"].value == "123000"  # set on the topic: kept
    assert configs(settings, tuned)["delete.retention.ms"].value == str(TOMBSTONE_MS)


def test_the_registrys_compacted_topics_are_provisioned_with_the_cleaner_configs(settings: Settings) -> None:
    got = configs(settings, settings.topic(CONSENT))  # the settings fixture provisioned the registry
    assert got["segment.ms"].value == str(BY_NAME[CONSENT].segment_ms)
    assert got["delete.retention.ms"].value == str(TOMBSTONE_MS)

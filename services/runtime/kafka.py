"""confluent-kafka clients with Flagstream's delivery settings: idempotent producers, acks=all."""

from __future__ import annotations

from typing import Any

from confluent_kafka import Consumer, Producer

from services.runtime.settings import Settings


def producer_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """Idempotent, acks=all, small linger for batching."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        # Faust's aiokafka reads lz4 through cramjam (a dependency), like upstream producers may send.
        "compression.type": "lz4",
    }
    config.update(overrides)
    return config


def make_producer(settings: Settings, **overrides: Any) -> Producer:
    """An idempotent producer."""
    return Producer(producer_config(settings, **overrides))


def make_consumer(settings: Settings, group: str, **overrides: Any) -> Consumer:
    """A consumer that starts at the earliest offset and commits only when told to."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "enable.partition.eof": False,
    }
    config.update(overrides)
    return Consumer(config)

"""confluent-kafka clients with Flagstream's delivery settings: idempotent producers, acks=all."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from services.runtime.errors import FatalError
from services.runtime.settings import Settings

_probe_log = logging.getLogger("flagstream.kafka.probe")
_probe_log.disabled = True  # librdkafka's connection retries are noise: the probe's result says it


def require_kafka(settings: Settings, timeout: float | None = None) -> None:
    """Fail fast, in one line, when no broker answers at the bootstrap servers within `timeout`
    (default `settings.kafka_connect_timeout_seconds`), instead of librdkafka retrying for minutes."""
    wait = settings.kafka_connect_timeout_seconds if timeout is None else timeout
    config: dict[str, Any] = {**admin_config(settings), "logger": _probe_log}
    admin = AdminClient(config)
    try:
        admin.list_topics(timeout=wait)
    except KafkaException as exc:
        raise FatalError(
            f"cannot reach Kafka at {settings.kafka_bootstrap_servers} after {wait:.0f} s"
        ) from exc


def security_config(settings: Settings) -> dict[str, Any]:
    """librdkafka's connection security from the settings: nothing for PLAINTEXT."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return {}
    config: dict[str, Any] = {"security.protocol": protocol}
    if protocol.startswith("SASL_"):
        if settings.kafka_sasl_username is None or settings.kafka_sasl_password is None:
            raise FatalError(
                f"FLAGSTREAM_KAFKA_SECURITY_PROTOCOL={protocol} needs FLAGSTREAM_KAFKA_SASL_USERNAME and "
                "FLAGSTREAM_KAFKA_SASL_PASSWORD"
            )
        config["sasl.mechanism"] = settings.kafka_sasl_mechanism
        config["sasl.username"] = settings.kafka_sasl_username
        config["sasl.password"] = settings.kafka_sasl_password.get_secret_value()
    if protocol.endswith("SSL") and settings.kafka_ssl_ca_file is not None:
        config["ssl.ca.location"] = str(settings.kafka_ssl_ca_file)
    return config


def faust_credentials(settings: Settings) -> Any:
    """The same security for Faust's aiokafka clients (`broker_credentials`), or None for PLAINTEXT."""
    import ssl

    import faust

    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    security = security_config(settings)  # validates the SASL settings
    context = None
    if protocol.endswith("SSL"):
        cafile = None if settings.kafka_ssl_ca_file is None else str(settings.kafka_ssl_ca_file)
        context = ssl.create_default_context(cafile=cafile)
    if protocol == "SSL":
        return faust.SSLCredentials(context)
    return faust.SASLCredentials(
        username=security["sasl.username"],
        password=security["sasl.password"],
        mechanism=settings.kafka_sasl_mechanism,
        ssl_context=context,
    )


def admin_config(settings: Settings) -> dict[str, Any]:
    """An AdminClient's configuration."""
    return {"bootstrap.servers": settings.kafka_bootstrap_servers, **security_config(settings)}


def producer_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """Idempotent, acks=all, batches lingering `settings.producer_linger_ms`."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": settings.producer_linger_ms,
        # Faust's aiokafka reads lz4 through cramjam (a dependency), like upstream producers may send.
        "compression.type": "lz4",
        # Same partition for the same key as Java and aiokafka (Faust) producers: co-partitioning.
        "partitioner": "murmur2_random",
        # The size contract (contracts/limits.py): the largest dead letter, with room for framing.
        "message.max.bytes": settings.limits.producer_bytes,
        **security_config(settings),
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
        "max.partition.fetch.bytes": settings.limits.fetch_bytes,
        **security_config(settings),
    }
    config.update(overrides)
    return Consumer(config)


# What a partition answers while its leader is being elected: right after its topic is created, or
# while leadership moves. librdkafka raises these from get_watermark_offsets with retriable() False
# (the flag is only set on errors from its newer APIs), so they are named here.
_LEADER_MOVING = frozenset(
    {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE, KafkaError.UNKNOWN_TOPIC_OR_PART}
)


def watermarks(consumer: Consumer, partition: TopicPartition, timeout: float = 30.0) -> tuple[int, int]:
    """A partition's low and high offsets, retrying while its leader is being elected (until
    `timeout`); any other error is raised at once."""
    deadline = time.monotonic() + timeout
    while True:
        left = max(1.0, deadline - time.monotonic())
        try:
            low, high = consumer.get_watermark_offsets(partition, timeout=left)
            return low, high
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            moving = isinstance(error, KafkaError) and (error.code() in _LEADER_MOVING or error.retriable())
            if not moving or time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


def read_topic(settings: Settings, topic: str, timeout: float = 30.0) -> list[Message]:
    """Every record of a topic, from the beginning to the end it has now (for audits and tests)."""
    consumer = make_consumer(settings, f"{settings.topic_prefix}reader-{uuid.uuid4().hex[:8]}")
    try:
        metadata = consumer.list_topics(topic, timeout=timeout).topics[topic]
        ends = {}
        for partition in metadata.partitions:
            low, high = watermarks(consumer, TopicPartition(topic, partition), timeout=timeout)
            if high > low:
                ends[partition] = high
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        records: list[Message] = []
        deadline = time.monotonic() + timeout
        while ends and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=1000, timeout=0.5):
                if msg.error():
                    continue
                records.append(msg)
                partition, offset = msg.partition(), msg.offset()
                if partition in ends and offset is not None and offset + 1 >= ends[partition]:
                    del ends[partition]
        if ends:
            raise TimeoutError(f"{topic}: partitions {sorted(ends)} not read to their end in {timeout}s")
        return records
    finally:
        consumer.close()

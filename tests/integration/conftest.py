"""Integration fixtures: the real local broker, a unique topic prefix per test, services as processes."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from services.runtime.settings import Settings
from services.runtime.worker import provision


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def bootstrap() -> str:
    """The broker `make test` started (or KAFKA_BOOTSTRAP_SERVERS); fail loudly when there is none."""
    servers = Settings().kafka_bootstrap_servers
    try:
        AdminClient({"bootstrap.servers": servers}).list_topics(timeout=10)
    except Exception as exc:
        pytest.fail(f"no Kafka broker at {servers} ({exc}); run the tests with `make test`")
    return servers


@pytest.fixture
def settings(bootstrap: str, tmp_path: Path) -> Iterator[Settings]:
    """Settings of an isolated deployment: its own topic prefix, data folder and pseudonym key."""
    prefix = f"it-{uuid.uuid4().hex[:8]}-"
    deployment = Settings(
        kafka_bootstrap_servers=bootstrap,
        topic_prefix=prefix,
        data_dir=tmp_path / "data",
        pseudonym_key="integration-test-key-0123456789abcdef",  # type: ignore[arg-type]
        pseudonym_key_id="it-1",
        sink_batch_seconds=0.5,
    )
    provision(deployment)
    yield deployment
    admin = AdminClient({"bootstrap.servers": bootstrap})
    mine = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix)]
    if mine:
        for future in admin.delete_topics(mine, operation_timeout=30).values():
            future.result()


def env_of(settings: Settings) -> dict[str, str]:
    """The environment that makes a child process use these settings."""
    assert settings.pseudonym_key is not None
    return {
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "FLAGSTREAM_TOPIC_PREFIX": settings.topic_prefix,
        "FLAGSTREAM_DATA_DIR": str(settings.data_dir),
        "FLAGSTREAM_PSEUDONYM_KEY": settings.pseudonym_key.get_secret_value(),
        "FLAGSTREAM_PSEUDONYM_KEY_ID": settings.pseudonym_key_id,
        "FLAGSTREAM_SINK_BATCH_SECONDS": str(settings.sink_batch_seconds),
        "FLAGSTREAM_LOG_LEVEL": "INFO",
    }

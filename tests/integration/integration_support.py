"""Helpers of the integration tests (a module name of its own: `conftest` is ambiguous across folders)."""

from __future__ import annotations

import socket

from services.runtime.settings import Settings


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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

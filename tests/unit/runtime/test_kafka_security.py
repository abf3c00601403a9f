"""Kafka client security from settings: the same principal for librdkafka and Faust's aiokafka clients.

Checked here as configuration; the local broker and the test suites connect with PLAINTEXT.
"""

from __future__ import annotations

from pathlib import Path

import faust
import pytest

from services.runtime.errors import FatalError
from services.runtime.kafka import admin_config, faust_credentials, producer_config, security_config
from services.runtime.settings import Settings


def test_plaintext_adds_nothing() -> None:
    settings = Settings()
    assert security_config(settings) == {}
    assert faust_credentials(settings) is None
    assert "security.protocol" not in producer_config(settings)


def test_sasl_ssl_reaches_every_client(tmp_path: Path) -> None:
    settings = Settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username="flagstream-privacy-gate",
        kafka_sasl_password="s3cret",  # type: ignore[arg-type]
        kafka_ssl_ca_file=None,
    )
    expected = {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "flagstream-privacy-gate",
        "sasl.password": "s3cret",
    }
    assert security_config(settings) == expected
    assert expected.items() <= producer_config(settings).items()
    assert expected.items() <= admin_config(settings).items()
    credentials = faust_credentials(settings)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol.value == "SASL_SSL" and credentials.mechanism.value == "SCRAM-SHA-512"
    assert credentials.username == "flagstream-privacy-gate" and credentials.password == "s3cret"


def test_sasl_without_a_password_is_a_clear_error() -> None:
    settings = Settings(kafka_security_protocol="SASL_SSL", kafka_sasl_username="x")
    with pytest.raises(FatalError, match="FLAGSTREAM_KAFKA_SASL_PASSWORD"):
        security_config(settings)

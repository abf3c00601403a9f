"""Settings: every field is documented in the README, the pseudonym key comes from env or file, and
the clients take what they are given."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.runtime.errors import FatalError
from services.runtime.faust_app import create_app
from services.runtime.kafka import producer_config
from services.runtime.settings import DEV_PSEUDONYM_KEY, REPO_ROOT, Settings


def env_name(field: str) -> str:
    """The variable a setting is documented under: its first alias (KAFKA_BOOTSTRAP_SERVERS,
    LABEL_STUDIO_URL, ...) when it has one, else FLAGSTREAM_<NAME>."""
    alias = Settings.model_fields[field].validation_alias
    choices = getattr(alias, "choices", None)
    if choices:
        return str(choices[0])
    return f"FLAGSTREAM_{field.upper()}"


def test_readme_documents_every_setting() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    missing = [env_name(f) for f in Settings.model_fields if f"`{env_name(f)}`" not in readme]
    assert not missing, f"settings missing from the README's configuration table: {missing}"


def test_every_setting_has_a_description() -> None:
    assert all(field.description for field in Settings.model_fields.values())


def test_key_comes_from_env_then_file_then_dev_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLAGSTREAM_PSEUDONYM_KEY", raising=False)
    assert Settings().pseudonym_key_bytes == DEV_PSEUDONYM_KEY.encode()
    key_file = tmp_path / "key"
    key_file.write_text("k" * 40 + "\n")
    monkeypatch.setenv("FLAGSTREAM_PSEUDONYM_KEY_FILE", str(key_file))
    assert Settings().pseudonym_key_bytes == b"k" * 40
    monkeypatch.setenv("FLAGSTREAM_PSEUDONYM_KEY", "e" * 32)
    assert Settings().pseudonym_key_bytes == b"e" * 32


def test_unreadable_key_file_is_fatal_and_names_the_setting(tmp_path: Path) -> None:
    settings = Settings(pseudonym_key_file=tmp_path / "absent")
    with pytest.raises(FatalError, match="pseudonym_key_file"):
        _ = settings.pseudonym_key_bytes


def test_bootstrap_servers_env_without_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka-a:9092,kafka-b:9092")
    settings = Settings()
    assert settings.kafka_bootstrap_servers == "kafka-a:9092,kafka-b:9092"
    assert settings.topic("x.v1") == "x.v1"
    assert Settings(topic_prefix="t-").group("review") == "t-flagstream-review"


def test_every_producer_lingers_as_the_setting_says(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """librdkafka's producers (outputs) and Faust's (table changelogs) batch alike."""
    monkeypatch.delenv("FLAGSTREAM_PRODUCER_LINGER_MS", raising=False)
    settings = Settings(data_dir=tmp_path, topic_prefix="unit-linger-", producer_linger_ms=40)
    assert producer_config(settings)["linger.ms"] == 40
    assert create_app("review", settings).conf.producer_linger == pytest.approx(0.040)
    default = Settings(data_dir=tmp_path)
    assert producer_config(default)["linger.ms"] == default.producer_linger_ms == 5

"""Storage roots: URIs, delta-rs options per commit mode, no secret in a repr, objects of a local root."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from services.runtime.errors import FatalError
from services.runtime.settings import Settings
from services.runtime.storage import ObjectExistsError, S3Access, StorageRoot

SECRET = "wJalrXUtnFEMI-unit-test-secret"


def test_uris_and_local_paths() -> None:
    root = StorageRoot.of("s3://bucket/some/prefix/")
    assert (root.uri, root.is_remote) == ("s3://bucket/some/prefix", True)
    assert str(root / "datasets" / "safety_labels") == "s3://bucket/some/prefix/datasets/safety_labels"
    assert StorageRoot.of("s3://bucket").uri == "s3://bucket"
    local = StorageRoot.of(Path("rel/dir"))
    assert not local.is_remote and local.path.is_absolute() and local.delta_options is None
    with pytest.raises(FatalError, match="only local folders and s3://"):
        StorageRoot.of("gs://bucket/x")
    with pytest.raises(FatalError, match="no bucket"):
        StorageRoot.of("s3:///x")
    with pytest.raises(FatalError, match="not a local folder"):
        _ = root.path


@pytest.mark.parametrize(
    ("mode", "expected", "absent"),
    [
        ("conditional_put", {"aws_conditional_put": "etag"}, {"AWS_S3_ALLOW_UNSAFE_RENAME"}),
        (
            "dynamodb",
            {"AWS_S3_LOCKING_PROVIDER": "dynamodb", "DELTA_DYNAMO_TABLE_NAME": "locks"},
            {"aws_conditional_put"},
        ),
        ("unsafe_rename", {"AWS_S3_ALLOW_UNSAFE_RENAME": "true"}, {"aws_conditional_put"}),
    ],
)
def test_delta_options_per_commit_mode(mode: str, expected: dict[str, str], absent: set[str]) -> None:
    access = S3Access(
        endpoint_url="http://127.0.0.1:38333",
        allow_http=True,
        commit_mode=mode,  # type: ignore[arg-type]
        dynamodb_table="locks",
        access_key_id=SecretStr("id"),
        secret_access_key=SecretStr(SECRET),
    )
    options = access.delta_options()
    assert expected.items() <= options.items()
    assert not absent & options.keys()
    assert options["AWS_ENDPOINT_URL"] == "http://127.0.0.1:38333"
    assert options["AWS_ALLOW_HTTP"] == "true"
    assert options["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"] == "false"  # path style by default
    assert options["AWS_SECRET_ACCESS_KEY"] == SECRET


def test_no_secret_in_the_settings_or_the_root_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLAGSTREAM_STORAGE_ROOT", "s3://bucket/flagstream")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDUNITTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    settings = Settings()
    assert settings.aws_secret_access_key is not None
    assert settings.aws_secret_access_key.get_secret_value() == SECRET
    assert settings.datasets_root.uri == "s3://bucket/flagstream/datasets"
    assert settings.ledger_root.uri == "s3://bucket/flagstream/ledger"
    assert settings.datasets_root.delta_options is not None
    for text in (repr(settings), str(settings), repr(settings.storage), repr(settings.datasets_root)):
        assert SECRET not in text and "AKIDUNITTEST" not in text
    with pytest.raises(FatalError):
        _ = settings.datasets_dir  # no local folder to hand out


def test_local_root_lists_folders_and_creates_objects_once(tmp_path: Path) -> None:
    root = StorageRoot.of(tmp_path / "storage")
    assert root.children() == [] and root.read("tags/a.json") is None  # nothing created by looking
    assert not (tmp_path / "storage").exists()
    root.create("tags/a.json", b"1")
    with pytest.raises(ObjectExistsError):
        root.create("tags/a.json", b"2")
    (tmp_path / "storage" / "datasets" / "t").mkdir(parents=True)
    assert root.children() == ["datasets", "tags"]
    assert root.read("tags/a.json") == b"1"
    assert list(root.objects(".json")) == [("tags/a.json", 1)]

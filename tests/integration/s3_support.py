"""The local S3-compatible store of the integration tests: S3Proxy started by scripts/s3.sh."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from services.runtime.settings import REPO_ROOT, Settings
from services.runtime.storage import S3Access, StorageRoot

SCRIPT = REPO_ROOT / "scripts" / "s3.sh"
BUCKET = "flagstream"


@dataclass(frozen=True)
class S3Server:
    """A running S3Proxy: its endpoint, credentials, and the folder its filesystem backend writes."""

    endpoint: str
    backend: Path
    identity: str
    credential: str

    def access(self, credential: str | None = None) -> S3Access:
        """How to reach it (with another secret to try a wrong one)."""
        return S3Access(
            endpoint_url=self.endpoint,
            allow_http=True,
            access_key_id=SecretStr(self.identity),
            secret_access_key=SecretStr(credential or self.credential),
        )

    def root(self, name: str | None = None) -> StorageRoot:
        """A fresh prefix in the bucket."""
        return StorageRoot.of(f"s3://{BUCKET}/{name or uuid.uuid4().hex[:12]}", self.access())

    def deploy(self, settings: Settings) -> Settings:
        """These settings with datasets, ledger and tags under a prefix of their own in the bucket."""
        prefix = settings.topic_prefix.strip("-") or uuid.uuid4().hex[:12]
        return settings.model_copy(
            update={
                "storage_root": f"s3://{BUCKET}/{prefix}",
                "s3_endpoint_url": self.endpoint,
                "s3_allow_http": True,
                "aws_access_key_id": SecretStr(self.identity),
                "aws_secret_access_key": SecretStr(self.credential),
            }
        )

    def folder(self, root: StorageRoot) -> Path:
        """The backend folder holding the objects under an s3:// root (what the bucket really stores)."""
        bucket, _, key = root.uri.removeprefix("s3://").partition("/")
        return self.backend / bucket / key

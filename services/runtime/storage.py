"""Where the Delta datasets live: a local folder or an S3-compatible bucket, behind one interface.

delta-rs opens a table from a URI and a dict of storage options, so a `StorageRoot` is a URI plus
the access it needs: `root / "safety_labels"` is a table's root, `root.delta_options` what delta-rs
gets. The few things delta-rs does not do for us (list the tables under a root, write and read the
small tag files) go through obstore, the Python binding of the same Rust `object_store` crate that
delta-rs does its I/O with, so both see one store with one configuration. Nothing here uses
os.path, shutil or glob on a table: on S3 there is no folder to look at.

Credentials are SecretStr from the settings; a root's repr shows its URI only.

Commits to S3 are made atomic by the store, not by a rename (S3 has none): with conditional put,
delta-rs writes `_delta_log/<version>.json` with `If-None-Match: *`, so of two writers committing
the same version one gets 412 and retries against the newer log (see docs/storage.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import SecretStr

from services.runtime.errors import FatalError, FlagstreamError, RetryableError

if TYPE_CHECKING:
    from obstore.store import LocalStore, S3Store

CommitMode = Literal["conditional_put", "dynamodb", "unsafe_rename"]
"""How delta-rs makes a commit to S3 exclusive (see `S3Access.delta_options`)."""


class StorageError(RetryableError):
    """The object store did not answer as it should (unreachable, refused credentials, ...)."""

    reason = "storage_error"


class ObjectExistsError(FatalError):
    """An object written with create-only semantics exists already."""

    reason = "object_exists"


@dataclass(frozen=True)
class S3Access:
    """How to reach an S3-compatible store: endpoint, addressing, commit mode and credentials.

    Credentials left unset fall back to what object_store finds itself (AWS_* variables, an
    instance profile, web identity in a pod).
    """

    endpoint_url: str | None = None
    region: str = "us-east-1"
    allow_http: bool = False
    virtual_hosted_style: bool = False
    commit_mode: CommitMode = "conditional_put"
    dynamodb_table: str = "delta_log"
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None

    def delta_options(self) -> dict[str, str]:
        """delta-rs storage options (object_store keys plus delta-rs's own locking keys).

        conditional_put: `aws_conditional_put=etag`, commits are create-if-absent PUTs; the store must
        honour `If-None-Match: *` (AWS S3 since 2024-11, MinIO, R2, S3Proxy 4.x).
        dynamodb: delta-rs's DynamoDB lock table `dynamodb_table` orders the commits (AWS only).
        unsafe_rename: no exclusion at all: only for stores with neither, under the single-writer rule.
        """
        options = {
            "AWS_REGION": self.region,
            "AWS_ALLOW_HTTP": str(self.allow_http).lower(),
            "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": str(self.virtual_hosted_style).lower(),
        }
        if self.endpoint_url:
            options["AWS_ENDPOINT_URL"] = self.endpoint_url
        if self.commit_mode == "conditional_put":
            options["aws_conditional_put"] = "etag"
        elif self.commit_mode == "dynamodb":
            options["AWS_S3_LOCKING_PROVIDER"] = "dynamodb"
            options["DELTA_DYNAMO_TABLE_NAME"] = self.dynamodb_table
        else:
            options["AWS_S3_ALLOW_UNSAFE_RENAME"] = "true"
        for key, secret in (
            ("AWS_ACCESS_KEY_ID", self.access_key_id),
            ("AWS_SECRET_ACCESS_KEY", self.secret_access_key),
            ("AWS_SESSION_TOKEN", self.session_token),
        ):
            if secret is not None:
                options[key] = secret.get_secret_value()
        return options

    def store(self, bucket_url: str) -> S3Store:
        """An obstore S3 store for `s3://bucket/prefix`, configured like delta-rs's."""
        from obstore.store import S3Store

        config: dict[str, str | bool] = {
            "region": self.region,
            "virtual_hosted_style_request": self.virtual_hosted_style,
        }
        if self.endpoint_url:
            config["endpoint"] = self.endpoint_url
        if self.commit_mode == "conditional_put":
            config["conditional_put"] = "etag"
        for key, secret in (
            ("access_key_id", self.access_key_id),
            ("secret_access_key", self.secret_access_key),
            ("session_token", self.session_token),
        ):
            if secret is not None:
                config[key] = secret.get_secret_value()
        return S3Store.from_url(bucket_url, config=config, client_options={"allow_http": self.allow_http})  # type: ignore[arg-type]


@dataclass(frozen=True)
class StorageRoot:
    """A folder of Delta tables and small objects: a local path or `s3://bucket/prefix`."""

    uri: str
    s3: S3Access | None = field(default=None, repr=False, compare=False)

    @classmethod
    def of(cls, location: StorageRoot | Path | str, s3: S3Access | None = None) -> StorageRoot:
        """A root from a URI or a local path (relative paths are made absolute)."""
        if isinstance(location, StorageRoot):
            return location
        text = str(location)
        if "://" in text:
            scheme, _, rest = text.partition("://")
            if scheme != "s3":
                raise FatalError(f"storage root {text!r}: only local folders and s3:// URIs are supported")
            if not rest.split("/", 1)[0]:
                raise FatalError(f"storage root {text!r} names no bucket")
            return cls(f"s3://{rest.strip('/')}", s3 or S3Access())
        return cls(str(Path(text).expanduser().absolute()))

    @property
    def is_remote(self) -> bool:
        """True for an object store root (s3://)."""
        return self.uri.startswith("s3://")

    @property
    def path(self) -> Path:
        """The local folder of a local root."""
        if self.is_remote:
            raise FatalError(f"{self.uri} is not a local folder")
        return Path(self.uri)

    @property
    def delta_options(self) -> dict[str, str] | None:
        """The storage options delta-rs needs to open tables under this root (None for a local root)."""
        return self.s3.delta_options() if self.s3 is not None else None

    def __truediv__(self, name: str) -> StorageRoot:
        return StorageRoot(f"{self.uri}/{name.strip('/')}", self.s3)

    def __str__(self) -> str:
        return self.uri

    def ensure(self) -> None:
        """Create a local root's folder (an object store needs none)."""
        if not self.is_remote:
            self.path.mkdir(parents=True, exist_ok=True)

    def _store(self, create: bool = False) -> LocalStore | S3Store | None:
        from obstore.store import LocalStore

        if self.is_remote:
            assert self.s3 is not None
            return self.s3.store(self.uri)
        if not create and not self.path.is_dir():
            return None
        return LocalStore(self.path, mkdir=create)

    def children(self) -> list[str]:
        """Names of the folders (common prefixes) directly under the root, sorted."""
        import obstore

        with _store_errors(self):
            store = self._store()
            if store is None:
                return []
            listed = obstore.list_with_delimiter(store, None)
        return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in listed["common_prefixes"])

    def objects(self, suffix: str = "") -> Iterator[tuple[str, int]]:
        """(relative key, size) of every object under the root whose key ends with `suffix`."""
        import obstore

        with _store_errors(self):
            store = self._store()
            if store is None:
                return
            for chunk in obstore.list(store, None):
                for meta in chunk:
                    if str(meta["path"]).endswith(suffix):
                        yield str(meta["path"]), int(meta["size"])

    def read(self, key: str) -> bytes | None:
        """An object's bytes, None when it does not exist."""
        import obstore

        with _store_errors(self):
            store = self._store()
            if store is None:
                return None
            try:
                return bytes(obstore.get(store, key).bytes())
            except FileNotFoundError:
                return None

    def create(self, key: str, data: bytes) -> None:
        """Write an object that must not exist yet (create-if-absent; ObjectExistsError if it does).

        Locally the file is created exclusively; on S3 the PUT carries `If-None-Match: *`, so two
        writers of one key cannot both succeed (with commit mode conditional_put; in the other modes
        the check and the write are two requests).
        """
        import obstore
        from obstore.exceptions import AlreadyExistsError, PreconditionError

        with _store_errors(self):
            store = self._store(create=True)
            assert store is not None
            if (
                self.s3 is not None
                and self.s3.commit_mode != "conditional_put"
                and self.read(key) is not None
            ):
                raise ObjectExistsError(f"{self.uri}/{key} exists already")
            try:
                obstore.put(store, key, data, mode="create")
            except (AlreadyExistsError, PreconditionError) as exc:
                raise ObjectExistsError(f"{self.uri}/{key} exists already") from exc


@contextmanager
def _store_errors(root: StorageRoot) -> Iterator[None]:
    """Object store failures as StorageError, naming the root, never the credentials."""
    from obstore.exceptions import BaseError

    try:
        yield
    except (FlagstreamError, FileNotFoundError):
        raise
    except (BaseError, OSError) as exc:
        raise StorageError(f"object store at {root.uri}: {type(exc).__name__}: {exc}") from exc

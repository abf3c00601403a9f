"""Integration fixtures: the real local broker, a unique topic prefix per test."""

from __future__ import annotations

import os
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from integration_support import free_port
from label_studio_support import ReviewerClient, delete_projects, label_studio_server
from s3_support import SCRIPT, S3Server

from services.runtime.settings import Settings
from services.runtime.worker import provision


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


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A local S3-compatible store (S3Proxy, scripts/s3.sh) for the session: own folder, port, secret."""
    state = tmp_path_factory.mktemp("s3")
    identity, credential = "it-identity", f"it-secret-{secrets.token_hex(16)}"
    env = {
        **os.environ,
        "FLAGSTREAM_S3_DIR": str(state),
        "S3_PORT": str(free_port()),
        "S3PROXY_IDENTITY": identity,
        "S3PROXY_CREDENTIAL": credential,
    }
    subprocess.run([SCRIPT, "up"], env=env, check=True, timeout=600)
    try:
        yield S3Server(f"http://127.0.0.1:{env['S3_PORT']}", state / "data", identity, credential)
    finally:
        subprocess.run([SCRIPT, "down"], env=env, check=True, timeout=60)


@pytest.fixture(params=["local", "s3"])
def deployment(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """`settings` with the datasets on the local disk, or in a bucket of the session's S3 store."""
    if request.param == "local":
        return settings
    server: S3Server = request.getfixturevalue("s3_server")
    return server.deploy(settings)


@pytest.fixture(scope="module")
def label_studio() -> Iterator[ReviewerClient]:
    """The local Label Studio (or LABEL_STUDIO_URL's), for the modules that talk to one."""
    yield from label_studio_server()


@pytest.fixture
def cleanup(label_studio: ReviewerClient, settings: Settings) -> Iterator[None]:
    """Delete the projects a test's connector made."""
    yield
    delete_projects(label_studio, settings)

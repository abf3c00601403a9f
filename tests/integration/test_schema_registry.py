"""The schema registry for real: Apicurio Registry (Confluent-compatible API) started for this module.

Upstream producers that use confluent-kafka's AvroSerializer register their schema and send
Confluent-framed records; the codec resolves those ids through the registry, and the privacy gate
processes the records instead of dead-lettering them. `flagstream schemas register|check` keeps every
subject BACKWARD compatible and refuses an incompatible change.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext
from integration_support import env_of, free_port
from test_privacy_consent import OLD_GRANT, Gate, flagged, redacted

from services.contracts import AvroCodec, FlaggedInteraction, Judgment, default_codec
from services.contracts.codec import SCHEMA_DIR
from services.local import wait_until
from services.runtime import schema_registry
from services.runtime.errors import DecodeError
from services.runtime.kafka import make_producer, read_topic
from services.runtime.settings import REPO_ROOT, Settings
from services.runtime.topics import INTERACTIONS, JUDGMENTS, dlq

pytestmark = pytest.mark.integration

SCRIPT = REPO_ROOT / "scripts" / "registry.sh"


@pytest.fixture(scope="module")
def registry_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A registry of this module's own (state in a temporary folder, a free port), stopped afterwards."""
    env = {
        **os.environ,
        "FLAGSTREAM_REGISTRY_DIR": str(tmp_path_factory.mktemp("registry")),
        "REGISTRY_PORT": str(free_port()),
    }
    env.pop("FLAGSTREAM_SCHEMA_REGISTRY_URL", None)
    subprocess.run([SCRIPT, "up"], env=env, check=True, timeout=600)
    try:
        yield subprocess.run(
            [SCRIPT, "url"], env=env, check=True, capture_output=True, text=True
        ).stdout.strip()
    finally:
        subprocess.run([SCRIPT, "down"], env=env, check=True, timeout=60)


@pytest.fixture
def deployment(settings: Settings, registry_url: str) -> Settings:
    """This test's deployment (own topic prefix, so own subjects) pointed at the registry."""
    return settings.model_copy(update={"schema_registry_url": registry_url})


def upstream_serializer(settings: Settings, schema: str) -> AvroSerializer:
    """What an upstream guardrail runs: confluent-kafka's AvroSerializer, registering its schema."""
    return AvroSerializer(schema_registry.client(settings), schema)


def evolved(schema: str, field: dict[str, Any]) -> str:
    """The schema with one more top-level field."""
    document = json.loads(schema)
    document["fields"].append(field)
    return json.dumps(document)


TENANT = {"name": "tenant", "type": ["null", "string"], "default": None, "doc": "Upstream tenant."}


def framed(settings: Settings, schema: str, record: FlaggedInteraction, **extra: Any) -> bytes:
    context = SerializationContext(settings.topic(INTERACTIONS), MessageField.VALUE)
    value: bytes = upstream_serializer(settings, schema)({**record.model_dump(), **extra}, context)
    return value


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return response.status == 200
    except OSError:  # refused while starting, or 503 (HTTPError)
        return False


def test_confluent_serializer_records_decode_through_the_registry(deployment: Settings) -> None:
    reports = schema_registry.register(deployment, default_codec())
    assert {report.status for report in reports} == {"registered"}
    codec = AvroCodec(registry=schema_registry.RegistrySchemas(schema_registry.client(deployment), "it"))
    shipped = default_codec().registry_schema(FlaggedInteraction)
    record = flagged("subject-registry", OLD_GRANT, OLD_GRANT.updated_at)

    # The producer on the shipped schema: the id is the one `register` gave the subject.
    same = framed(deployment, shipped, record)
    assert same[0] == 0
    registered = schema_registry.client(deployment).get_latest_version(
        schema_registry.subject(deployment, INTERACTIONS)
    )
    assert struct.unpack(">I", same[1:5])[0] == registered.schema_id
    assert codec.decode(same, FlaggedInteraction) == record

    # A producer a version ahead (one more optional field): registered by the serializer itself,
    # read with the registry's writer schema and resolved into the shipped one.
    ahead = framed(deployment, evolved(shipped, TENANT), record, tenant="acme")
    assert struct.unpack(">I", ahead[1:5])[0] != registered.schema_id
    assert codec.decode(ahead, FlaggedInteraction) == record

    # An id the registry never gave out is still a dead letter, with its reason.
    with pytest.raises(DecodeError) as unknown:
        codec.decode(b"\x00" + struct.pack(">I", 987_654) + same[5:], FlaggedInteraction)
    assert unknown.value.reason == "unknown_schema_id"
    # A registry id of another record is a mismatch, not a misread.
    with pytest.raises(DecodeError) as mismatch:
        codec.decode(same, Judgment)
    assert mismatch.value.reason == "schema_mismatch"


def test_an_incompatible_schema_change_is_refused(deployment: Settings, tmp_path: Path) -> None:
    assert all(report.ok for report in schema_registry.register(deployment, default_codec()))
    judgments = schema_registry.subject(deployment, JUDGMENTS)
    registry = schema_registry.client(deployment)
    assert registry.get_compatibility(judgments) == "BACKWARD"
    versions = registry.get_versions(judgments)

    # A field added without a default: old judgments on the topic could not be read with it.
    changed = tmp_path / "schemas"
    shutil.copytree(SCHEMA_DIR, changed)
    path = changed / "io.flagstream.Judgment.avsc"
    document = json.loads(path.read_text())
    document["fields"].append({"name": "team", "type": "string", "doc": "Reviewer team."})
    path.write_text(json.dumps(document))

    env = {
        **os.environ,
        **env_of(deployment),
        "FLAGSTREAM_SCHEMA_REGISTRY_URL": str(deployment.schema_registry_url),
    }
    for command in ("check", "register"):
        done = subprocess.run(
            [sys.executable, "-m", "services.cli", "schemas", command, "--schemas", str(changed)],
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 1, done.stdout + done.stderr
        line = next(line for line in done.stdout.splitlines() if judgments in line)
        assert line.startswith("incompatible") and "fields added without a default: team" in line
        assert "BACKWARD compatible" in done.stderr
    assert registry.get_versions(judgments) == versions  # all or nothing: nothing registered

    # The registry enforces the level itself: a producer registering the change directly is refused.
    with pytest.raises(SchemaRegistryError) as refused:
        registry.register_schema(judgments, Schema(AvroCodec(changed).registry_schema(Judgment), "AVRO"))
    assert refused.value.http_status_code == 409

    # A compatible change (an optional field with a default) registers as the next version.
    document["fields"][-1] = {**TENANT, "name": "team"}
    path.write_text(json.dumps(document))
    reports = {r.subject: r for r in schema_registry.register(deployment, AvroCodec(changed))}
    assert reports[judgments].status == "registered"
    assert registry.get_versions(judgments) == [*versions, versions[-1] + 1]


def test_the_gate_processes_confluent_framed_records(deployment: Settings, tmp_path: Path) -> None:
    assert all(report.ok for report in schema_registry.register(deployment, default_codec()))
    shipped = default_codec().registry_schema(FlaggedInteraction)
    records = [
        flagged(f"subject-{n}-{uuid.uuid4().hex[:6]}", OLD_GRANT, OLD_GRANT.updated_at) for n in range(3)
    ]
    producer = make_producer(deployment)
    topic = deployment.topic(INTERACTIONS)
    producer.produce(topic, key=b"a", value=framed(deployment, shipped, records[0]))
    producer.produce(
        topic, key=b"b", value=framed(deployment, evolved(shipped, TENANT), records[1], tenant="t")
    )
    unknown = framed(deployment, shipped, records[2])
    producer.produce(topic, key=b"c", value=b"\x00" + struct.pack(">I", 987_655) + unknown[5:])
    assert producer.flush(30) == 0

    gate = Gate(
        deployment,
        tmp_path / "gate.log",
        {"FLAGSTREAM_SCHEMA_REGISTRY_URL": str(deployment.schema_registry_url)},
    )
    try:
        gate.wait({"keep": 2, "dead_lettered": 1})
        # The worker's readiness probe (runtime/health.py) says so too: its event loop beats.
        assert wait_until(lambda: ready(gate.port), timeout=20, interval=0.5)
    finally:
        gate.stop()
    out = redacted(deployment)
    assert set(out) == {records[0].interaction_id, records[1].interaction_id}
    letters = read_topic(deployment, deployment.topic(dlq(INTERACTIONS)))
    assert len(letters) == 1
    assert dict(letters[0].headers() or [])["dlq.error.reason"] == b"unknown_schema_id"

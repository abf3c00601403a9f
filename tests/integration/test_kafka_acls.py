"""The deploy/k8s KafkaUsers' ACLs on a real broker that authenticates (SASL SCRAM-SHA-512) and authorizes.

The module starts a Kafka broker of its own (the same Maven jars as scripts/kafka.sh, KRaft, one
node) with SCRAM users for every KafkaUser of deploy/k8s/base/kafka/users.yaml and exactly those
ACLs. The privacy gate runs as its principal with FLAGSTREAM_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT
and processes an interaction; other principals are refused the raw topic.
"""

from __future__ import annotations

import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)
from integration_support import free_port
from test_privacy_consent import OLD_GRANT, Gate, flagged, redacted

from services.contracts import default_codec
from services.runtime.settings import REPO_ROOT, Settings
from services.runtime.topics import INTERACTIONS, create_topics

pytestmark = pytest.mark.integration

USERS = REPO_ROOT / "deploy" / "k8s" / "base" / "kafka" / "users.yaml"
POM = REPO_ROOT / "deploy" / "kafka" / "pom.xml"
LIBS = REPO_ROOT / "var" / "kafka-sasl" / "libs"
ADMIN = "admin"
MECHANISM = "SCRAM-SHA-512"


def password(user: str) -> str:
    return f"{user}-secret-0123456789"


def kafka_users() -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(USERS.read_text()) if doc and doc["kind"] == "KafkaUser"]


def fetch_jars() -> None:
    stamp = LIBS / ".stamp"
    if stamp.exists() and stamp.stat().st_mtime > POM.stat().st_mtime:
        return
    LIBS.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={LIBS}",
            "-DincludeScope=runtime",
        ],
        check=True,
        timeout=600,
    )
    stamp.touch()


PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller}
listeners=SASL_PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=SASL_PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=SASL_PLAINTEXT
sasl.enabled.mechanisms={mechanism}
sasl.mechanism.inter.broker.protocol={mechanism}
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=\
org.apache.kafka.common.security.scram.ScramLoginModule required username="{admin}" password="{secret}";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
# The controller listener is PLAINTEXT on loopback: its principal is ANONYMOUS (only the node itself).
super.users=User:{admin};User:ANONYMOUS
allow.everyone.if.no.acl.found=false
log.dirs={data}
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0
"""


def client(bootstrap: str, user: str) -> dict[str, str]:
    return {
        "bootstrap.servers": bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": MECHANISM,
        "sasl.username": user,
        "sasl.password": password(user),
    }


def acl_bindings(user: dict[str, Any]) -> list[AclBinding]:
    """The Strimzi `simple` ACLs of one KafkaUser as Kafka ACL bindings."""
    bindings = []
    for acl in user["spec"]["authorization"]["acls"]:
        resource = acl["resource"]
        pattern = (
            ResourcePatternType.PREFIXED
            if resource.get("patternType") == "prefix"
            else ResourcePatternType.LITERAL
        )
        for operation in acl["operations"]:
            bindings.append(
                AclBinding(
                    ResourceType[resource["type"].upper()],
                    resource["name"],
                    pattern,
                    f"User:{user['metadata']['name']}",
                    "*",
                    AclOperation["ALL" if operation == "All" else _upper_snake(operation)],
                    AclPermissionType.ALLOW,
                )
            )
    return bindings


def _upper_snake(name: str) -> str:
    return "".join(f"_{c}" if c.isupper() and i else c for i, c in enumerate(name)).upper()


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A SASL/ACL broker of this module's own; yields its bootstrap address."""
    fetch_jars()
    home = tmp_path_factory.mktemp("sasl-kafka")
    port, controller = free_port(), free_port()
    properties = home / "server.properties"
    secret = password(ADMIN)
    properties.write_text(
        PROPERTIES.format(
            port=port,
            controller=controller,
            mechanism=MECHANISM,
            admin=ADMIN,
            secret=secret,
            data=home / "data",
        )
    )
    classpath = f"{LIBS}/*"
    scram = [
        f"--add-scram={MECHANISM}=[name={name},password={password(name)}]"
        for name in [ADMIN, *(u["metadata"]["name"] for u in kafka_users())]
    ]
    subprocess.run(
        [
            "java",
            "-cp",
            classpath,
            "kafka.tools.StorageTool",
            "format",
            "-t",
            str(uuid.uuid4().hex[:22]),
            "-c",
            str(properties),
            *scram,
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    log = (home / "broker.log").open("wb")
    broker = subprocess.Popen(
        [
            "java",
            "-Xmx512m",
            f"-Dlog4j2.configurationFile={REPO_ROOT / 'deploy' / 'kafka' / 'log4j2.yaml'}",
            "-cp",
            classpath,
            "kafka.Kafka",
            str(properties),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    bootstrap = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while not _listening(port):  # before any client: librdkafka logs every refused connection
            assert broker.poll() is None, (home / "broker.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the SASL broker did not listen in 90 s"
            time.sleep(0.5)
        admin = AdminClient(client(bootstrap, ADMIN))
        while True:
            assert broker.poll() is None, (home / "broker.log").read_text()[-3000:]
            try:
                admin.list_topics(timeout=5)
                break
            except KafkaException:
                assert time.monotonic() < deadline, "the SASL broker did not start in 90 s"
                time.sleep(1)
        # What Strimzi's operators do: the registry's topics, then every KafkaUser's ACLs.
        create_topics(_as(bootstrap, ADMIN))
        bindings = [binding for user in kafka_users() for binding in acl_bindings(user)]
        for future in admin.create_acls(bindings, request_timeout=30).values():
            future.result()
        # The authorizer applies new ACLs once their metadata record is published: wait for it.
        upstream = AdminClient(client(bootstrap, "guardrails"))
        while INTERACTIONS not in upstream.list_topics(timeout=5).topics:
            assert time.monotonic() < deadline + 60, "the ACLs did not take effect"
            time.sleep(0.5)
        yield bootstrap
    finally:
        broker.terminate()
        try:
            broker.wait(30)
        except subprocess.TimeoutExpired:
            broker.kill()
            broker.wait()
        log.close()


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _as(bootstrap: str, user: str, data_dir: Path | None = None) -> Settings:
    return Settings(
        kafka_bootstrap_servers=bootstrap,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_username=user,
        kafka_sasl_password=password(user),  # type: ignore[arg-type]
        data_dir=data_dir or Path("/nonexistent"),
        pseudonym_key="acl-test-key-0123456789abcdef0123",  # type: ignore[arg-type]
        pseudonym_key_id="acl-1",
    )


def test_the_gate_runs_under_its_acls_and_its_output_arrives(sasl_broker: str, tmp_path: Path) -> None:
    record = flagged(f"subject-acl-{uuid.uuid4().hex[:6]}", OLD_GRANT, OLD_GRANT.updated_at)
    upstream = Producer({**client(sasl_broker, "guardrails"), "enable.idempotence": True, "acks": "all"})
    failures: list[KafkaError] = []
    upstream.produce(
        INTERACTIONS,
        key=b"k",
        value=default_codec().encode(record),
        on_delivery=lambda error, _: failures.append(error) if error else None,
    )
    assert upstream.flush(30) == 0
    assert not failures  # flush() also counts a refused record as done

    gate_settings = _as(sasl_broker, "flagstream-privacy-gate", tmp_path / "data")
    env = {
        "FLAGSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "FLAGSTREAM_KAFKA_SASL_MECHANISM": MECHANISM,
        "FLAGSTREAM_KAFKA_SASL_USERNAME": "flagstream-privacy-gate",
        "FLAGSTREAM_KAFKA_SASL_PASSWORD": password("flagstream-privacy-gate"),
    }
    gate = Gate(gate_settings, tmp_path / "gate.log", env)
    try:
        gate.wait({"keep": 1}, timeout=120)
    finally:
        gate.stop()
    assert set(redacted(_as(sasl_broker, ADMIN))) == {record.interaction_id}


@pytest.mark.parametrize("user", ["flagstream-escalation", "labeling-tools", "guardrails", "keda"])
def test_no_other_principal_reads_the_raw_topic(sasl_broker: str, user: str) -> None:
    consumer = Consumer(
        {**client(sasl_broker, user), "group.id": f"flagstream-{user}", "auto.offset.reset": "earliest"}
    )
    try:
        consumer.assign([TopicPartition(INTERACTIONS, 0, 0)])
        deadline = time.monotonic() + 20
        error = None
        while error is None and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is not None:
                assert msg.error() is not None, f"{user} read a raw interaction"
                error = msg.error()
        assert error is not None and error.code() in (
            KafkaError.TOPIC_AUTHORIZATION_FAILED,
            KafkaError.GROUP_AUTHORIZATION_FAILED,
        ), error
    finally:
        consumer.close()


def test_the_broker_refuses_unknown_credentials(sasl_broker: str) -> None:
    admin = AdminClient({**client(sasl_broker, "guardrails"), "sasl.password": "wrong"})
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=5)

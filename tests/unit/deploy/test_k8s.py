"""deploy/k8s: the KafkaTopics are the topic registry, core kinds validate, only the gate reads raw data.

Kubernetes' own schemas (kubernetes-validate) check the core kinds; the Strimzi and KEDA resources
are checked here for what Flagstream relies on.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from services.runtime.metrics import SERVICE_PORTS
from services.runtime.settings import REPO_ROOT, Settings
from services.runtime.topics import REGISTRY, RESTRICTED

K8S = REPO_ROOT / "deploy" / "k8s"
BASE = K8S / "base"
TOPICS = BASE / "kafka" / "topics.yaml"
CORE_KINDS = {
    "ConfigMap",
    "Deployment",
    "PersistentVolumeClaim",
    "PodDisruptionBudget",
    "Secret",
    "Service",
    "ServiceAccount",
}
KUBERNETES_VERSION = "1.32.0"
DEPLOYMENTS = {service: service.replace("_", "-") for service in SERVICE_PORTS}


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def base_documents() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    return [doc for resource in kustomization["resources"] for doc in documents(BASE / resource)]


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for doc in base_documents() if doc["kind"] == kind]


def test_committed_topic_manifests_are_the_commands_output() -> None:
    header = TOPICS.read_text().splitlines()[0]
    found = re.search(r"`flagstream topics manifest([^`]*)`", header)
    assert found, header
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLAGSTREAM_")}
    output = subprocess.run(
        [sys.executable, "-m", "services.cli", "topics", "manifest", *found.group(1).split()],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert output == TOPICS.read_text(), "deploy/k8s topics drifted from the registry: run `make k8s-topics`"


def test_the_kafka_topics_are_the_registry() -> None:
    topics = {doc["spec"]["topicName"]: doc for doc in documents(TOPICS)}
    assert list(topics) == [spec.name for spec in REGISTRY]
    limits = Settings().limits
    for spec in REGISTRY:
        assert topics[spec.name]["spec"]["config"] == spec.configs(limits)
        assert topics[spec.name]["metadata"]["labels"]["strimzi.io/cluster"] == "flagstream"
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", topics[spec.name]["metadata"]["name"])


@pytest.mark.parametrize("path", sorted(BASE.rglob("*.yaml")), ids=lambda p: str(p.relative_to(K8S)))
def test_core_kinds_validate_against_kubernetes_schemas(path: Path) -> None:
    for doc in documents(path):
        if doc.get("kind") in CORE_KINDS:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def reads(acl: dict[str, Any], topic: str) -> bool:
    resource = acl["resource"]
    if resource["type"] != "topic" or not {"Read", "All"} & set(acl["operations"]):
        return False
    if resource.get("patternType", "literal") == "prefix":
        return topic.startswith(resource["name"])
    return resource["name"] in (topic, "*")


def test_only_the_gates_principal_reads_restricted_topics() -> None:
    readers: dict[str, set[str]] = {topic: set() for topic in RESTRICTED}
    for user in of_kind("KafkaUser"):
        for acl in user["spec"]["authorization"]["acls"]:
            for topic in RESTRICTED:
                if reads(acl, topic):
                    readers[topic].add(user["metadata"]["name"])
    assert readers["flagged.interactions.v1"] == {"flagstream-privacy-gate"}
    assert readers["consent.events.v1"] == {"flagstream-privacy-gate"}
    assert all(names <= {"flagstream-privacy-gate"} for names in readers.values()), readers


def test_every_service_runs_with_probes_requests_a_budget_and_its_own_principal() -> None:
    deployments = {doc["metadata"]["name"]: doc for doc in of_kind("Deployment")}
    budgets = {
        doc["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]
        for doc in of_kind("PodDisruptionBudget")
    }
    users = {doc["metadata"]["name"] for doc in of_kind("KafkaUser")}
    assert set(deployments) == set(DEPLOYMENTS.values())
    for service, name in DEPLOYMENTS.items():
        pod = deployments[name]["spec"]["template"]["spec"]
        container = pod["containers"][0]
        assert container["args"] == ["worker", service]
        env = {item["name"]: item for item in container["env"]}
        assert env["FLAGSTREAM_METRICS_PORT"]["value"] == str(SERVICE_PORTS[service])
        assert container["ports"] == [{"name": "http", "containerPort": SERVICE_PORTS[service]}]
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert name in budgets
        principal = env["FLAGSTREAM_KAFKA_SASL_USERNAME"]["value"]
        assert principal in users
        assert env["FLAGSTREAM_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == principal
        assert "FLAGSTREAM_PSEUDONYM_KEY" not in env  # never a literal: the key is a Secret's file
    for name in ("privacy-gate", "review"):  # the services that pseudonymize
        pod = deployments[name]["spec"]["template"]["spec"]
        secrets = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
        assert "flagstream-pseudonym-key" in secrets
        env = {item["name"]: item for item in pod["containers"][0]["env"]}
        assert env["FLAGSTREAM_PSEUDONYM_KEY_FILE"]["value"].startswith("/var/run/secrets/flagstream/")
    assert deployments["dataset-sink"]["spec"]["strategy"]["type"] == "Recreate"  # one writer per table


def overlay_value(overlay: str, kind: str, path: str) -> Any:
    """The value an overlay's JSON patch replaces at `path` in every resource of `kind`."""
    kustomization = yaml.safe_load((K8S / "overlays" / overlay / "kustomization.yaml").read_text())
    for patch in kustomization.get("patches", []):
        if patch["target"]["kind"] == kind:
            for op in yaml.safe_load(patch["patch"]):
                if op["path"] == path:
                    return op["value"]
    return None


@pytest.mark.parametrize("overlay", ["local", "production"])
def test_autoscaling_stops_at_the_partition_count(overlay: str) -> None:
    scaled = of_kind("ScaledObject")
    assert {doc["spec"]["scaleTargetRef"]["name"] for doc in scaled} == {
        "privacy-gate",
        "escalation",
        "review",
    }
    partitions = (
        overlay_value(overlay, "KafkaTopic", "/spec/partitions") or documents(TOPICS)[0]["spec"]["partitions"]
    )
    for doc in scaled:
        most = (
            overlay_value(overlay, "ScaledObject", "/spec/maxReplicaCount") or doc["spec"]["maxReplicaCount"]
        )
        assert most == partitions
        trigger = doc["spec"]["triggers"][0]
        assert trigger["type"] == "kafka" and trigger["metadata"]["allowIdleConsumers"] == "false"
        assert (
            trigger["metadata"]["consumerGroup"] == f"flagstream-{doc['metadata']['name'].replace('-', '_')}"
        )

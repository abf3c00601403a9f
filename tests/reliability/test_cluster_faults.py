"""Faults of a replicated cluster under load: brokers of a three-node KRaft cluster die and return
while the pipeline runs, and every acknowledged id is reconciled as in test_faults.py.

The module starts a cluster of its own through scripts/kafka_cluster.sh (clients on
RELIABILITY_CLUSTER_PORT+0..2, default 22092-22094; controllers on +100: 22192-22194; data under
var/kafka-cluster-reliability), fresh at each session, and stops it at the end. Topics have
replication factor 3, `min.insync.replicas=2` and no unclean leader election (the production
settings, deploy/kafka/cluster.properties); producers use acks=all. Each broker operation runs
while the test's supervisor keeps restarting workers that exit on their own.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from reconcile import Report
from reliability_support import Cluster, Fleet, Traffic, delete_topics, provision_isolated
from test_faults import during, finish, start_pipeline

from services.runtime.settings import REPO_ROOT, Settings
from services.runtime.topics import INTERACTIONS, JUDGMENTS

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(900)]

PORT = int(os.environ.get("RELIABILITY_CLUSTER_PORT", "22092"))
DIRECTORY = REPO_ROOT / "var" / "kafka-cluster-reliability"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """The module's own three-node cluster, from fresh storage; stopped at the end."""
    if PORT in (9092, 19092):
        pytest.fail("the cluster faults kill brokers: never point them at the shared or suite broker")
    nodes = Cluster(PORT, PORT + 100, DIRECTORY)
    nodes.down()  # nodes a crashed earlier session left running (by their recorded pids)
    for node_dir in DIRECTORY.glob("node-*"):  # fresh storage; the jars in libs/ stay
        shutil.rmtree(node_dir)
    (DIRECTORY / "cluster.id").unlink(missing_ok=True)
    nodes.up()
    yield nodes
    nodes.down()


@pytest.fixture
def settings(cluster: Cluster, run_dir: Path) -> Iterator[Settings]:
    """A deployment on the cluster, replication factor 3 (overrides conftest's single-broker one)."""
    for node in cluster.nodes:  # a failed test may have left a node down
        if not cluster.running(node):
            cluster.start(node)
    prefix = f"relc-{uuid.uuid4().hex[:8]}-"
    deployment = Settings(
        kafka_bootstrap_servers=cluster.bootstrap,
        topic_prefix=prefix,
        data_dir=run_dir / "data",
        pseudonym_key="reliability-test-key-0123456789abcdef",
        pseudonym_key_id="rel-1",
        sink_batch_seconds=0.5,
        replication_factor=3,
    )
    provision_isolated(deployment)
    yield deployment
    if os.environ.get("FLAGSTREAM_KEEP_TOPICS"):
        return
    for node in cluster.nodes:
        if not cluster.running(node):
            cluster.start(node)
    delete_topics(cluster.bootstrap, prefix)


def supervised(fleet: Fleet, operation: Callable[[], Any]) -> Any:
    """Run a blocking broker operation in a thread while restarting workers that exit on their own."""
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["value"] = operation()
        except BaseException as exc:  # re-raised below, in the test's thread
            result["error"] = exc

    thread = threading.Thread(target=run, name="broker-operation", daemon=True)
    thread.start()
    while thread.is_alive():
        fleet.supervise()
        thread.join(0.5)
    if "error" in result:
        raise result["error"]
    return result.get("value")


class Operations:
    """The broker operations of one test, each timed and noted on the fleet's timeline."""

    def __init__(self, cluster: Cluster, settings: Settings, fleet: Fleet) -> None:
        self.cluster = cluster
        self.settings = settings
        self.fleet = fleet
        self.timings: list[dict[str, Any]] = []

    def _timed(self, what: str, node: int, operation: Callable[[], Any]) -> float:
        started = time.monotonic()
        supervised(self.fleet, operation)
        seconds = time.monotonic() - started
        self.timings.append({"node": node, "what": what, "seconds": round(seconds, 1)})
        self.fleet.note(f"node {node}: {what} ({seconds:.1f}s)")
        return seconds

    def kill(self, node: int, why: str) -> None:
        self.fleet.note(f"node {node} ({why}): SIGKILL pid {self.cluster.pid(node)}")
        self._timed("killed", node, lambda: self.cluster.kill(node))

    def stop(self, node: int) -> None:
        self._timed("clean stop (controlled shutdown)", node, lambda: self.cluster.stop(node))

    def start(self, node: int) -> None:
        self._timed("started, serving clients", node, lambda: self.cluster.start(node))
        self._timed(
            "every replica in sync again",
            node,
            lambda: self.cluster.wait_in_sync(self.settings.topic_prefix),
        )

    def leader_of(self, topic: str) -> int:
        node = self.cluster.leader(self.settings.topic(topic), 0)
        self.fleet.note(f"{topic}[0] is led by node {node}")
        return node

    def notes(self) -> dict[str, Any]:
        return {"broker_operations": self.timings}


def test_partition_leaders_sigkilled(
    cluster: Cluster, settings: Settings, fleet: Fleet, record_report: list[Report]
) -> None:
    """The leader of the ingress topic's partition 0 is SIGKILLed mid-run and restarted 10 s later;
    once every replica is in sync again, the leader of the judgments topic's partition 0 likewise."""
    started = time.monotonic()
    start_pipeline(fleet)
    traffic = Traffic.fresh(settings, 2400, rate=40).start()
    ops = Operations(cluster, settings, fleet)

    def kill_leader_of(topic: str) -> Callable[[], None]:
        def step() -> None:
            node = ops.leader_of(topic)
            ops.kill(node, f"leader of {topic}[0]")
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                fleet.supervise()
                time.sleep(0.5)
            ops.start(node)

        return step

    during(traffic, fleet, [(10.0, kill_leader_of(INTERACTIONS)), (35.0, kill_leader_of(JUDGMENTS))])
    report = finish("cluster_leaders_sigkilled", settings, fleet, traffic, started, record_report)
    report.notes |= ops.notes()


def test_one_broker_down_for_a_minute(
    cluster: Cluster, settings: Settings, fleet: Fleet, record_report: list[Report]
) -> None:
    """The active controller's node is SIGKILLed mid-run, stays down 60 s (its replicas leave the
    in-sync sets, the controller quorum elects another leader) and comes back."""
    started = time.monotonic()
    start_pipeline(fleet)
    traffic = Traffic.fresh(settings, 2700, rate=30).start()
    ops = Operations(cluster, settings, fleet)
    down: list[int] = []

    def kill() -> None:
        node = cluster.controller()
        down.append(node)
        ops.kill(node, "active controller")

    during(traffic, fleet, [(10.0, kill), (70.0, lambda: ops.start(down[0]))])
    report = finish("cluster_broker_down_60s", settings, fleet, traffic, started, record_report)
    report.notes |= ops.notes()


def test_rolling_restart_under_load(
    cluster: Cluster, settings: Settings, fleet: Fleet, record_report: list[Report]
) -> None:
    """Each node in turn is stopped cleanly, started, and waited for until every replica is in sync
    again, before the next one, while interactions flow."""
    started = time.monotonic()
    start_pipeline(fleet)
    traffic = Traffic.fresh(settings, 2700, rate=30).start()
    ops = Operations(cluster, settings, fleet)

    def roll() -> None:
        for node in cluster.nodes:
            ops.stop(node)
            ops.start(node)
        fleet.note(f"rolling restart done; producer sent {traffic.sent} of {len(traffic.records)}")

    during(traffic, fleet, [(10.0, roll)])
    report = finish("cluster_rolling_restart", settings, fleet, traffic, started, record_report)
    report.notes |= ops.notes()

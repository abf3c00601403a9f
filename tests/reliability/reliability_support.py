"""Machinery of the fault tests: their own broker, a fleet of worker processes, traffic, drain and stalls.

Everything here kills by pid only, and every wait is bounded in time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from reconcile import TERMINAL, Produced

from services.contracts import AuditEvent, default_codec
from services.runtime.kafka import make_consumer, make_producer
from services.runtime.metrics import PIPELINE as SERVICES
from services.runtime.settings import REPO_ROOT, Settings
from services.runtime.topics import (
    AUDIT,
    CONSENT,
    ERASURES,
    ESCALATION_CANDIDATES,
    INTERACTIONS,
    JUDGMENTS,
    QUEUES,
    REDACTED,
    RESOLVED,
    task_topic,
)
from services.runtime.worker import provision
from services.simulators.traffic import Produced as Record
from services.simulators.traffic import generate
from tests.support.group_reads import GroupReader, GroupState, group_states

log = logging.getLogger(__name__)

KAFKA_SH = REPO_ROOT / "scripts" / "kafka.sh"
KAFKA_CLUSTER_SH = REPO_ROOT / "scripts" / "kafka_cluster.sh"
NO_TOPIC = "<none>"  # a prefix no topic name has (they are [a-zA-Z0-9._-]): cluster metadata without topics
STALL_SECONDS = 60.0

# Consumer groups (by service) and the topics whose lag they own.
TASK_TOPICS = tuple(task_topic(q) for q in QUEUES)
GROUP_TOPICS: dict[str, tuple[str, ...]] = {
    "privacy_gate": (INTERACTIONS, CONSENT),
    "escalation": (REDACTED, ESCALATION_CANDIDATES),
    "review": (*TASK_TOPICS, JUDGMENTS),
    "dataset_sink": (RESOLVED, ERASURES),
    "simulated-reviewers": TASK_TOPICS,
}
TICKED = {ESCALATION_CANDIDATES}  # escalation's own timer writes ticks there: lag flickers, never settles


class Stalled(AssertionError):
    """Committed offsets did not move while lag was positive for STALL_SECONDS."""


# The broker -------------------------------------------------------------------------------------


@dataclass
class Broker:
    """A broker of the reliability suite's own, managed through scripts/kafka.sh (never the shared one)."""

    port: int
    controller_port: int
    directory: Path

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
        env |= {
            "KAFKA_PORT": str(self.port),
            "KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "FLAGSTREAM_KAFKA_DIR": str(self.directory),
        }
        return env

    def _script(self, command: str, timeout: float = 180.0) -> None:
        subprocess.run([str(KAFKA_SH), command], env=self._env(), check=True, timeout=timeout)

    def running(self) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True

    def pid(self) -> int | None:
        try:
            return int((self.directory / "broker.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def up(self) -> None:
        self._script("up")
        wait_for(lambda: _reachable(self.bootstrap), 90, "the reliability broker to answer")

    def down(self) -> None:
        """Clean stop: SIGTERM, controlled shutdown (kafka.sh down)."""
        self._script("down")

    def kill(self) -> None:
        """Hard stop: SIGKILL of the broker's pid, no shutdown at all."""
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not _alive(pid), 30, f"broker pid {pid} to die")

    def restart(self, *, hard: bool, downtime: float = 5.0) -> None:
        """Stop the broker (SIGKILL when hard, else clean), keep it down for `downtime`, start it again."""
        self.kill() if hard else self.down()
        time.sleep(downtime)
        self.up()


@dataclass
class Cluster:
    """A three-node KRaft cluster of the suite's own, managed through scripts/kafka_cluster.sh.

    Node n (1-3) listens on `port + n - 1`, its controller on `controller_port + n - 1`; data, logs and
    pids under `directory/node-<n>`. Nodes are killed by their recorded pid.
    """

    port: int
    controller_port: int
    directory: Path
    nodes: tuple[int, ...] = (1, 2, 3)

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{self.port + n - 1}" for n in self.nodes)

    def _script(self, *args: str, timeout: float = 240.0) -> None:
        env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
        env |= {
            "KAFKA_CLUSTER_PORT": str(self.port),
            "KAFKA_CLUSTER_CONTROLLER_PORT": str(self.controller_port),
            "FLAGSTREAM_KAFKA_CLUSTER_DIR": str(self.directory),
        }
        subprocess.run([str(KAFKA_CLUSTER_SH), *args], env=env, check=True, timeout=timeout)

    def pid(self, node: int) -> int | None:
        try:
            return int((self.directory / f"node-{node}" / "broker.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def running(self, node: int) -> bool:
        pid = self.pid(node)
        return pid is not None and _alive(pid)

    def up(self) -> None:
        self._script("up")
        wait_for(lambda: self.brokers() == set(self.nodes), 120, "all three brokers registered")

    def down(self) -> None:
        self._script("down")

    def start(self, node: int) -> None:
        """Start one node and wait until it serves clients."""
        self._script("start", str(node))

    def stop(self, node: int) -> None:
        """Clean stop of one node: SIGTERM, controlled shutdown (leadership moves first)."""
        self._script("stop", str(node))

    def kill(self, node: int) -> None:
        """SIGKILL of one node's pid: no shutdown at all."""
        pid = self.pid(node)
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not _alive(pid), 30, f"node {node} (pid {pid}) to die")

    def describe(self, prefix: str) -> dict[str, Any] | None:
        """The cluster's metadata: registered broker ids, the active controller, and leader, replicas
        and in-sync replicas of each partition of the topics starting with `prefix` and of
        `__consumer_offsets`; None when it cannot be read now.

        Read in a child process: librdkafka can crash the process whose admin client has requests in
        flight while brokers restart (librdkafka issue #4605; it took down a worker and the test
        process itself), and the test process must outlive what it observes.
        """
        try:
            done = subprocess.run(
                [sys.executable, "-c", _DESCRIBE, self.bootstrap, prefix],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return None
        if done.returncode != 0:
            log.info("cluster metadata not readable now (exit %d): %s", done.returncode, done.stderr[-300:])
            return None
        described: dict[str, Any] = json.loads(done.stdout)
        return described

    def brokers(self) -> set[int]:
        """Ids of the brokers the cluster's metadata lists (registered and not fenced)."""
        described = self.describe(NO_TOPIC)
        return set() if described is None else set(described["brokers"])

    def controller(self) -> int:
        """The node that is the active controller now."""
        described = self.describe(NO_TOPIC)
        assert described is not None, "cluster metadata not readable"
        return int(described["controller"])

    def leader(self, topic: str, partition: int = 0) -> int:
        """The node that leads a partition now."""
        described = self.describe(topic)
        assert described is not None, "cluster metadata not readable"
        leader = described["partitions"][f"{topic}[{partition}]"]["leader"]
        assert leader in self.nodes, f"{topic}[{partition}] has no leader ({leader})"
        return int(leader)

    def under_replicated(self, prefix: str) -> list[str] | None:
        """Partitions of the deployment's topics (names starting with `prefix`) and of the group
        offsets topic whose in-sync replicas are fewer than their replicas, or that have no leader;
        None when the metadata cannot be read or a node is not registered."""
        described = self.describe(prefix)
        if described is None or set(described["brokers"]) != set(self.nodes):
            return None
        return [
            f"{name} isr {part['isrs']} of {part['replicas']}"
            for name, part in described["partitions"].items()
            if part["leader"] < 0 or len(part["isrs"]) < len(part["replicas"])
        ]

    def wait_in_sync(self, prefix: str, timeout: float = 180.0) -> float:
        """Wait until every node serves and every replica of the deployment's topics is in sync again;
        the seconds it took."""
        started = time.monotonic()

        def in_sync() -> bool:
            return self.under_replicated(prefix) == []

        wait_for(in_sync, timeout, f"all replicas of {prefix}* in sync", interval=1.0)
        return time.monotonic() - started


_DESCRIBE = """
import json, sys
from confluent_kafka.admin import AdminClient
bootstrap, prefix = sys.argv[1], sys.argv[2]
admin = AdminClient({"bootstrap.servers": bootstrap})
metadata = admin.list_topics(timeout=10)
partitions = {
    f"{name}[{p}]": {"leader": part.leader, "replicas": part.replicas, "isrs": part.isrs}
    for name, topic in metadata.topics.items()
    if name.startswith((prefix, "__consumer_offsets"))
    for p, part in topic.partitions.items()
}
controller = admin.describe_cluster(request_timeout=10).result(timeout=15).controller.id
print(json.dumps({"brokers": sorted(metadata.brokers), "controller": controller, "partitions": partitions}))
"""
"""Prints the cluster's metadata as JSON (`Cluster.describe`); argv: bootstrap servers, topic prefix."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    # a zombie (our own child not reaped yet) counts as dead
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except OSError:
        return False


_REACHABLE = """
import sys
from confluent_kafka.admin import AdminClient
AdminClient({"bootstrap.servers": sys.argv[1]}).list_topics(timeout=5)
"""
"""Exits 0 when the brokers answer a metadata request (`_reachable`); argv: bootstrap servers."""


def _reachable(bootstrap: str) -> bool:
    """Whether the brokers answer; asked by a child process, as `Cluster.describe` does."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", _REACHABLE, bootstrap], capture_output=True, timeout=30, check=False
        )
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


_CALL = """
import os, pickle, sys, traceback
function, args = pickle.load(sys.stdin.buffer)
try:
    function(*args)
except BaseException:
    traceback.print_exc()
    sys.stderr.flush()
    os._exit(1)  # now: the clients' log lines at interpreter exit would bury the traceback
"""
"""Calls the pickled (function, args) read from stdin (`isolated`); a failure's traceback ends stderr."""


def isolated(what: str, function: Callable[..., None], *args: Any, timeout: float = 300.0) -> None:
    """Run function(*args) in a child Python process and wait for it; fail naming `what`, with the
    end of the child's output, if it does not succeed.

    For the harness's admin work (creating and deleting topics): librdkafka can crash the process
    whose admin client has requests in flight while brokers start or restart (see `Cluster.describe`),
    and the test process must outlive it. `function` is pickled by reference: a module-level function
    of an importable module (the repository root and this folder are on the child's path).
    """
    path = [str(REPO_ROOT), str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in path if p)}
    try:
        done = subprocess.run(
            [sys.executable, "-c", _CALL],
            input=pickle.dumps((function, args)),
            capture_output=True,
            env=env,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        output = (exc.stderr or b"").decode(errors="replace")
        raise AssertionError(
            f"{what}: no result after {timeout:.0f}s; its stderr ends: {output[-2000:]}"
        ) from None
    if done.returncode != 0:
        output = done.stderr.decode(errors="replace")
        raise AssertionError(f"{what} failed (exit {done.returncode}); its stderr ends: {output[-2000:]}")


def _delete_topics(bootstrap: str, prefix: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    mine = [t for t in admin.list_topics(timeout=30).topics if t.startswith(prefix)]
    if mine:
        for future in admin.delete_topics(mine, operation_timeout=60).values():
            with contextlib.suppress(Exception):
                future.result()


def delete_topics(bootstrap: str, prefix: str) -> None:
    """Delete a deployment's topics (best effort: the broker is the suite's own), in a child process."""
    isolated(f"deleting the topics {prefix}*", _delete_topics, bootstrap, prefix)


def provision_isolated(settings: Settings) -> None:
    """Create a deployment's topics (`provision`, which waits for the brokers) in a child process."""
    isolated(f"provisioning the topics {settings.topic_prefix}*", provision, settings)


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.5) -> None:
    """Poll until predicate() holds; fail naming `what` after the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


# The workers ------------------------------------------------------------------------------------


@dataclass
class Worker:
    """One service process."""

    service: str
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    expected_exit: bool = False


@dataclass
class Fleet:
    """Worker processes of one deployment: any number per service, killed and restarted by pid.

    Workers run with their cwd in a scratch folder and metrics on any free port. Their group session
    timeout is the services' default (`FLAGSTREAM_SESSION_TIMEOUT_SECONDS`, 20 s): Faust's own 60 s
    would make a SIGKILLed worker's partitions wait as long as the stall limit.
    `supervise()` restarts workers that died on their own (as a process supervisor would) and counts
    those crashes.
    """

    env: Mapping[str, str]
    run_dir: Path
    workers: list[Worker] = field(default_factory=list)
    started: int = 0
    kills: int = 0
    crashes: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    t0: float = field(default_factory=time.monotonic)

    def note(self, what: str) -> None:
        self.events.append(f"{time.monotonic() - self.t0:6.1f}s {what}")

    def start(self, service: str, extra_env: Mapping[str, str] | None = None) -> Worker:
        """Start one more worker of a service (or the simulated reviewers: service 'reviewers')."""
        self.started += 1
        name = f"{service}-{self.started}"
        args = ["simulate-reviewers"] if service == "reviewers" else ["worker", service]
        env = {
            **os.environ,
            **self.env,
            "FLAGSTREAM_METRICS_PORT": "0",
            "PYTHONUNBUFFERED": "1",
            # a worker that dies of a signal (SIGSEGV, SIGABRT in a native library) leaves every
            # thread's Python stack in its log
            "PYTHONFAULTHANDLER": "1",
            **(extra_env or {}),
        }
        self.run_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.run_dir / f"{name}.log"
        with log_path.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "services.cli", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.run_dir,
            )
        worker = Worker(service, name, process, log_path)
        self.workers.append(worker)
        return worker

    def of(self, service: str) -> list[Worker]:
        return [w for w in self.workers if w.service == service and w.process.poll() is None]

    def kill(self, worker: Worker) -> None:
        """SIGKILL one worker by pid and reap it."""
        worker.expected_exit = True
        if worker.process.poll() is None:
            worker.process.send_signal(signal.SIGKILL)
            worker.process.wait(30)
        self.kills += 1
        self.note(f"SIGKILL {worker.name} (pid {worker.process.pid})")

    def stop(self, worker: Worker, timeout: float = 45.0) -> None:
        """SIGTERM one worker; SIGKILL it if it is still up after the timeout."""
        worker.expected_exit = True
        if worker.process.poll() is None:
            worker.process.send_signal(signal.SIGTERM)
            try:
                worker.process.wait(timeout)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait(30)
        self.note(f"SIGTERM {worker.name}")

    def kill_random(
        self, service: str, rng: random.Random, extra_env: Mapping[str, str] | None = None
    ) -> Worker:
        """SIGKILL a random live worker of a service and start its replacement."""
        victim = rng.choice(self.of(service))
        self.kill(victim)
        replacement = self.start(service, extra_env)
        self.note(f"restarted as {replacement.name}")
        return replacement

    def scale(self, service: str, count: int) -> None:
        """Start or cleanly stop workers until `count` run."""
        live = self.of(service)
        while len(live) < count:
            live.append(self.start(service))
        for worker in live[count:]:
            self.stop(worker)
        self.note(f"scaled {service} to {count}")

    def supervise(self) -> None:
        """Restart any worker that exited without being told to, and record it as a crash."""
        for worker in list(self.workers):
            code = worker.process.poll()
            if code is not None and not worker.expected_exit:
                worker.expected_exit = True
                self.crashes.append(f"{worker.name} exited {code}")
                self.note(f"{worker.name} exited {code} on its own: restarting")
                self.start(worker.service)

    def stop_all(self) -> None:
        for worker in self.workers:
            worker.expected_exit = True
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 45
        for worker in self.workers:
            try:
                worker.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait(30)

    def all_logs(self) -> str:
        return "".join(w.log.read_text(errors="replace") for w in self.workers)

    def logs(self, service: str) -> str:
        return "".join(w.log.read_text(errors="replace") for w in self.workers if w.service == service)


# Traffic ----------------------------------------------------------------------------------------


_BROKER_COUNTERS = {
    "request_retries": "txretries",
    "request_errors": "txerrs",
    "request_timeouts": "req_timeouts",
    "connects": "connects",
    "disconnects": "disconnects",
}
"""The producer's counters the fault reports note, by librdkafka's statistics name."""


@dataclass
class Traffic:
    """Produces demo interactions (fresh ids) at a fixed rate in a thread; keeps what was acknowledged."""

    settings: Settings
    records: list[Record]
    rate: float
    extra: list[tuple[bytes, bytes, set[str]]] = field(default_factory=list)  # (key, value, reasons)
    producer_overrides: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, Any] = field(default_factory=dict)  # by interaction id: list of (name, bytes)
    produced: Produced = field(default_factory=Produced)
    sent: int = 0
    delivery_seconds: list[float] = field(default_factory=list)
    """Per acknowledged record: seconds from produce() to its delivery report (retries included)."""
    delivery_errors: Counter[str] = field(default_factory=Counter)
    client_stats: dict[str, int] = field(default_factory=dict)
    """librdkafka's counters summed over every broker the producer met: request retries, errors,
    timeouts, connection attempts and disconnects."""
    _broker_counters: dict[str, dict[str, int]] = field(default_factory=dict)
    _banked: Counter[str] = field(default_factory=Counter)
    _thread: threading.Thread | None = None
    _error: BaseException | None = None

    @classmethod
    def fresh(cls, settings: Settings, count: int, rate: float, **kwargs: Any) -> Traffic:
        records = list(generate(count, malformed_rate=0.0, codec=default_codec()))
        return cls(settings, records, rate, **kwargs)

    def start(self) -> Traffic:
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)
        self._thread.start()
        return self

    def done(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()

    def join(self, timeout: float = 600.0) -> Produced:
        assert self._thread is not None
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError(f"the producer did not finish in {timeout:.0f}s")
        if self._error is not None:
            raise self._error
        return self.produced

    def _run(self) -> None:
        try:
            self._produce()
        except BaseException as exc:  # surfaced by join()
            self._error = exc

    def _produce(self) -> None:
        producer = make_producer(
            self.settings,
            **{"statistics.interval.ms": 1000, "stats_cb": self._stats, **self.producer_overrides},
        )
        topic = self.settings.topic(INTERACTIONS)
        produced = self.produced
        lock = threading.Lock()

        def callback(record_id: str | None, key: str) -> Callable[[Any, Any], None]:
            sent_at = time.monotonic()

            def delivered(err: Any, _msg: Any) -> None:
                with lock:
                    if err is None:
                        self.delivery_seconds.append(time.monotonic() - sent_at)
                    else:
                        self.delivery_errors[str(getattr(err, "name", lambda: err)())] += 1
                    if record_id is None:  # a deliberately malformed record
                        if err is None:
                            produced.poison[key] = reasons[key]
                        else:
                            produced.poison_rejected[key] = str(err)
                    elif err is None:
                        produced.acked.add(record_id)
                    else:
                        produced.failed.add(record_id)

            return delivered

        reasons: dict[str, set[str]] = {}
        items: list[tuple[bytes, bytes, str | None]] = [
            (r.key, r.value, r.interaction_id) for r in self.records
        ]
        # malformed records spread evenly through the valid ones
        step = max(1, len(items) // (len(self.extra) + 1))
        for n, (key, value, accepted) in enumerate(self.extra):
            reasons[key.decode()] = accepted
            items.insert(min(len(items), (n + 1) * step + n), (key, value, None))
        started = time.monotonic()
        for i, (key, value, record_id) in enumerate(items):
            delay = started + i / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            on_delivery = callback(record_id, key.decode())
            while True:
                try:
                    producer.produce(
                        topic,
                        key=key,
                        value=value,
                        headers=self.headers.get(record_id or "") or None,
                        on_delivery=on_delivery,
                    )
                    break
                except BufferError:
                    producer.poll(0.05)
                except KafkaException as exc:  # refused locally (e.g. larger than message.max.bytes)
                    on_delivery(exc.args[0], None)
                    break
            producer.poll(0)
            self.sent += 1
        remaining = producer.flush(300)
        if remaining:
            raise AssertionError(f"{remaining} records neither delivered nor failed after 300 s")

    def _stats(self, raw: str) -> None:
        """librdkafka statistics: keep each broker's request and connection counters.

        A broker the cluster metadata drops (a killed node, once fenced) leaves the statistics with
        its counters, and comes back as a new object counting from 0: each broker's last figures are
        kept, and a counter that went down is banked before it restarts.
        """
        for name, broker in json.loads(raw).get("brokers", {}).items():
            last = self._broker_counters.setdefault(name, {})
            for key in _BROKER_COUNTERS.values():
                value = int(broker.get(key, 0))
                if value < last.get(key, 0):
                    self._banked[key] += last[key]
                last[key] = value
        self.client_stats = {
            label: self._banked[key] + sum(c.get(key, 0) for c in self._broker_counters.values())
            for label, key in _BROKER_COUNTERS.items()
        }

    def notes(self) -> dict[str, Any]:
        """What the producer saw: delivery latency (p50, p99, max), slow deliveries, failures by
        error, and the client's request retries, errors, timeouts, connects and disconnects."""
        latencies = sorted(self.delivery_seconds)

        def quantile(q: float) -> float:
            if not latencies:
                return 0.0
            return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 1)

        return {
            "delivery_ms": {"p50": quantile(0.5), "p99": quantile(0.99), "max": quantile(1.0)},
            "deliveries_over_1s": sum(1 for s in latencies if s > 1.0),
            "delivery_errors": dict(self.delivery_errors),
            **self.client_stats,
        }


# Drain, lag and stalls --------------------------------------------------------------------------


@dataclass
class Watch:
    """Follows the audit topic and every consumer group's committed offsets and lag.

    `check_stall()` fails the run when a group's committed offsets have not moved for STALL_SECONDS
    while its lag stayed positive: the stall detector every fault test uses while waiting for drain.
    """

    settings: Settings
    stall_seconds: float = STALL_SECONDS
    terminal: set[str] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)  # any audit decision
    last_state: dict[str, GroupState] = field(default_factory=dict)
    moved_at: dict[str, float] = field(default_factory=dict)
    longest_stall: dict[str, float] = field(default_factory=dict)
    offsets_seen: dict[str, dict[str, tuple[int | None, int]]] = field(default_factory=dict)
    """The last sample per group: "topic[partition]" -> (committed, end), for a failed run's report."""
    _audit: Consumer | None = None

    def __post_init__(self) -> None:
        # group offsets and states are read by a child process: librdkafka's admin client can crash
        # the process whose requests are in flight while brokers restart (tests/support/group_reads.py)
        self.groups = GroupReader(self.settings)
        self.codec = default_codec()

    def close(self) -> None:
        if self._audit is not None:
            self._audit.close()
        self.groups.close()

    def follow_audit(self) -> None:
        """Read the audit records that arrived since the last call; remember terminal outcomes."""
        if self._audit is None:
            self._audit = make_consumer(self.settings, f"{self.settings.topic_prefix}audit-watch")
            topic = self.settings.topic(AUDIT)
            parts = self._audit.list_topics(topic, timeout=30).topics[topic].partitions
            self._audit.assign([TopicPartition(topic, p, 0) for p in parts])
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            batch = self._audit.consume(num_messages=2000, timeout=0.5)
            if not batch:
                return
            for msg in batch:
                if msg.error():
                    continue
                event = self.codec.decode(msg.value() or b"", AuditEvent)
                if event.interaction_id:
                    self.seen.add(event.interaction_id)
                if (event.service, event.decision) in TERMINAL and event.interaction_id:
                    self.terminal.add(event.interaction_id)

    def sample(self) -> dict[str, GroupState] | None:
        """Committed offsets and lag of each group; None while the broker (or the child that reads it)
        does not answer."""
        offsets = self.groups.offsets(GROUP_TOPICS)
        if offsets is None:
            return None
        for group, partitions in offsets.items():
            seen = self.offsets_seen.setdefault(group, {})
            for (topic, partition), committed_and_end in partitions.items():
                seen[f"{topic}[{partition}]"] = committed_and_end
        return group_states(offsets, TICKED)

    def check_stall(self, now: float | None = None) -> dict[str, GroupState] | None:
        """Sample the groups and raise Stalled when one made no progress with lag > 0 for too long."""
        now = time.monotonic() if now is None else now
        states = self.sample()
        if states is None:
            return None
        for group, state in states.items():
            before = self.last_state.get(group)
            if before is None or state.committed != before.committed or state.lag == 0:
                self.moved_at[group] = now
            stalled_for = now - self.moved_at[group]
            self.longest_stall[group] = max(self.longest_stall.get(group, 0.0), stalled_for)
            if stalled_for >= self.stall_seconds:
                raise Stalled(
                    f"group {group}: committed offsets stuck at {state.committed} with lag {state.lag} "
                    f"for {stalled_for:.0f}s"
                )
            self.last_state[group] = state
        return states

    def drain(
        self,
        acked: Iterable[str] | Callable[[], set[str]],
        fleet: Fleet | None,
        timeout: float = 420.0,
        interval: float = 2.0,
    ) -> float:
        """Wait until every acked id has a terminal outcome and no group lags; the seconds it took.

        Runs the stall detector on every tick and restarts crashed workers.
        """
        started = time.monotonic()
        self.moved_at = {g: started for g in GROUP_TOPICS}
        self.last_state = {}
        deadline = started + timeout
        while time.monotonic() < deadline:
            if fleet is not None:
                fleet.supervise()
            self.follow_audit()
            states = self.check_stall()
            wanted = acked() if callable(acked) else set(acked)
            if states is not None and wanted <= self.terminal and all(s.lag == 0 for s in states.values()):
                return time.monotonic() - started
            time.sleep(interval)
        missing = set(acked() if callable(acked) else acked) - self.terminal
        raise AssertionError(
            f"not drained after {timeout:.0f}s: {len(missing)} ids without an outcome, lag {self.last_state}"
        )

    def wait_stable(self, fleet: Fleet, timeout: float = 150.0) -> bool:
        """Wait until each service group is Stable with exactly its live workers as members.

        Returns False after the timeout instead of failing: the drain that follows, with its stall
        detector, says what is wrong.
        """

        def stable() -> bool:
            fleet.supervise()
            expected = {s: len(fleet.of(s)) for s in SERVICES}
            states = self.groups.states(SERVICES)  # None while the broker restarts
            return states is not None and all(states[s] == ("STABLE", expected[s]) for s in SERVICES)

        try:
            wait_for(stable, timeout, "stable consumer groups", interval=1.0)
            return True
        except AssertionError:
            fleet.note(f"groups not stable after {timeout:.0f}s; draining anyway")
            return False


def interaction_ids(records: Iterable[Record]) -> list[str]:
    return [r.interaction_id for r in records if r.interaction_id is not None]


def produce_poison(
    settings: Settings, produced: Produced, records: list[tuple[str, bytes, bytes | None, Any, set[str]]]
) -> None:
    """Produce poison to other stages' input topics; register each acknowledged one to be found in its
    topic's dead-letter topic (`Produced.poison`, `Produced.poison_topic`)."""
    producer = make_producer(settings)
    failed: dict[str, str] = {}

    def callback(key: str, topic: str, reasons: set[str]) -> Callable[[Any, Any], None]:
        def delivered(err: Any, _msg: Any) -> None:
            if err is None:
                produced.poison[key] = reasons
                produced.poison_topic[key] = topic
            else:
                failed[key] = str(err)

        return delivered

    for topic, key, value, headers, reasons in records:
        producer.produce(
            settings.topic(topic),
            key=key,
            value=value,
            headers=headers or None,
            on_delivery=callback(key.decode(), topic, reasons),
        )
        producer.poll(0)
    remaining = producer.flush(60)
    assert not remaining and not failed, f"poison not delivered: {remaining} queued, {failed}"


_LOG_LEVEL = re.compile(r"\[(WARNING|ERROR|CRITICAL)\]| (WARNING|ERROR|CRITICAL) ")
_LOG_PREFIX = re.compile(r"^\[?[\d-]+ [\d:,]+\]? (\[\d+\] )?\[?(WARNING|ERROR|CRITICAL)\]? ")
_VARYING = re.compile(r"0x[0-9a-f]+|[0-9a-f]{8}-[0-9a-f-]{27}|\d+(\.\d+)?")


def worker_log_notes(fleet: Fleet, top: int = 5) -> dict[str, Any]:
    """What the workers logged, per service: warning and error lines, and the most frequent ones with
    numbers and ids blanked out (e.g. `NodeNotReadyError` while a broker is down)."""
    notes: dict[str, Any] = {}
    for service in sorted({w.service for w in fleet.workers}):
        counts: Counter[str] = Counter()
        signatures: Counter[str] = Counter()
        for line in fleet.logs(service).splitlines():
            match = _LOG_LEVEL.search(line)
            if match is None:
                continue
            counts[(match.group(1) or match.group(2)).lower()] += 1
            message = _VARYING.sub("N", _LOG_PREFIX.sub("", line).strip())
            signatures[message[:120]] += 1
        notes[service] = {**counts, "top": dict(signatures.most_common(top))}
    return notes

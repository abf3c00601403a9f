"""`make bench`: Flagstream's throughput and latency against a raw Kafka passthrough, in the same run.

Phases, all on the same broker and machine:
1. baseline: a raw confluent-kafka consume → produce passthrough (one process, no processing) over
   the same pre-produced realistic events;
2. capacity: the same events as a backlog on the ingress topic, every service started (one worker
   each) and run flat out; per-stage throughput from the services' own /metrics, whole-pipeline
   throughput from the first event through the gate to the last event out of escalation (ingress →
   review task or not-escalated);
3. latency: an open-loop producer at 50% and 80% of the measured capacity (and at 1,000 events/s
   when that is below capacity), each event carrying a produce-time header; latency is the review
   task's timestamp minus the produce time of its interaction, p50/p99/p99.9;
4. memory: each worker's resident set sampled throughout (start, peak, end);
5. restart: escalation is stopped and started again as a deploy would; how many changelog records
   it restores and how long until it decides again;
6. scale-out: the capacity phase again on fresh topics with two workers per service (`--workers`),
   so the ratio shows how throughput grows with workers on this machine's cores.

Latency is reported for all review tasks and split by kind of queue: the urgent queue is decided on
arrival, budgeted queues wait in the policy's ranking window before they are ranked.

Results print as a table and go to bench/results/<timestamp>.json; the last line reads
`BENCH e2e_eps=<n> baseline_eps=<n> ratio=<x> p50_ms=<x> p99_ms=<x>` (latency at 80% of capacity).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psutil
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from services.contracts import RedactedInteraction, ReviewTask, default_codec
from services.contracts.codec import SINGLE_OBJECT_HEADER, SINGLE_OBJECT_MAGIC
from services.escalation.domain.policy import load_escalation_policy
from services.local import LocalStack, Progress, wait_until
from services.runtime.kafka import make_consumer, make_producer, watermarks
from services.runtime.metrics import PIPELINE as SERVICES
from services.runtime.settings import REPO_ROOT, Settings
from services.runtime.topics import ESCALATION_CANDIDATES, INTERACTIONS, QUEUES, REDACTED, task_topic
from services.runtime.worker import provision
from services.simulators.traffic import Produced, generate

sys.path.insert(0, str(REPO_ROOT))  # run as a script: the repository root, for tests.support
from floors import Floor
from floors import measure as floor_measure

from tests.support.deployment import deployment_env, free_port, tree_cpu_seconds

RESULTS = REPO_ROOT / "bench" / "results"
PRODUCED_AT = "flagstream.produced_at_ms"


def bench_settings(run_id: str, changelog_segment_seconds: float | None = None) -> Settings:
    segment = (
        {} if changelog_segment_seconds is None else {"changelog_segment_seconds": changelog_segment_seconds}
    )
    return Settings(
        topic_prefix=f"bench-{run_id}-",
        data_dir=REPO_ROOT / "var" / "bench" / run_id,
        pseudonym_key="bench-pseudonym-key-0123456789abcdef0123",  # type: ignore[arg-type]
        pseudonym_key_id="bench-1",
        log_level="WARNING",
        **segment,
    )


def produce(producer: Producer, topic: str, records: list[Produced], rate: float = 0.0) -> float:
    """Produce records (open loop at `rate`/s, or flat out); returns the seconds it took."""
    started = time.monotonic()
    for i, record in enumerate(records):
        if rate > 0:
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        headers = [(PRODUCED_AT, str(time.time_ns() // 1_000_000).encode())]
        while True:
            try:
                producer.produce(topic, key=record.key, value=record.value, headers=headers)
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    producer.flush(60)
    return time.monotonic() - started


# --- phase 1: the raw passthrough baseline ---------------------------------------------------------


def passthrough(bootstrap: str, source: str, sink: str, count: int) -> None:
    """Consume `count` records from source and produce each to sink; print events/s (child process)."""
    settings = Settings(kafka_bootstrap_servers=bootstrap)
    consumer = make_consumer(settings, f"bench-passthrough-{uuid.uuid4().hex[:6]}")
    producer = make_producer(settings)
    consumer.subscribe([source])
    seen = 0
    first = 0.0
    while seen < count:
        for msg in consumer.consume(num_messages=1000, timeout=0.5):
            if msg.error():
                continue
            if not seen:
                first = time.monotonic()
            while True:
                try:
                    producer.produce(sink, key=msg.key(), value=msg.value(), headers=msg.headers())
                    break
                except BufferError:
                    producer.poll(0.01)
            producer.poll(0)
            seen += 1
        consumer.commit(asynchronous=True)
    producer.flush(60)
    elapsed = time.monotonic() - first
    consumer.close()
    print(json.dumps({"events": seen, "seconds": elapsed}))


def baseline(settings: Settings, records: list[Produced]) -> dict[str, float]:
    source, sink = settings.topic("bench.passthrough.in"), settings.topic("bench.passthrough.out")
    from services.runtime.topics import TopicSpec, create_topics

    create_topics(
        settings, [TopicSpec("bench.passthrough.in", "bench"), TopicSpec("bench.passthrough.out", "bench")]
    )
    produce(make_producer(settings), source, records)
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--passthrough",
            settings.kafka_bootstrap_servers,
            source,
            sink,
            str(len(records)),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
    )
    if out.returncode:
        raise RuntimeError(f"passthrough failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return {
        "events": result["events"],
        "seconds": result["seconds"],
        "eps": result["events"] / result["seconds"],
    }


# --- memory sampling ------------------------------------------------------------------------------


@dataclass
class MemorySampler:
    """Samples the resident set of each worker process every interval."""

    stack: LocalStack
    interval: float = 0.5
    samples: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    cpu_start: dict[str, float] = field(default_factory=dict)

    def processes(self) -> dict[str, psutil.Process]:
        found = {name: psutil.Process(p.pid) for name, p in self.stack.processes.items()}
        broker = REPO_ROOT / "var" / "kafka" / "broker.pid"
        if broker.exists():  # the local broker shares the two cores: count its CPU too
            found["kafka_broker"] = psutil.Process(int(broker.read_text()))
        return found

    def cpu_seconds(self) -> dict[str, float]:
        out = {}
        for name, process in self.processes().items():
            try:
                out[name] = tree_cpu_seconds(process)  # with its progress reader's child process
            except psutil.Error:
                continue
        return out

    started: float = field(default_factory=time.monotonic)

    def run(self) -> None:
        processes = {name: p for name, p in self.processes().items() if name != "kafka_broker"}
        started = self.started = time.monotonic()
        while not self.stop.is_set():
            for name, process in processes.items():
                try:
                    rss = process.memory_info().rss
                except psutil.Error:
                    continue
                self.samples.setdefault(name, []).append((time.monotonic() - started, rss))
            self.stop.wait(self.interval)

    def report(self, since: float | None = None) -> dict[str, dict[str, float]]:
        """Start (see below), peak and end resident memory per worker, and growth from start to end.

        Without `since`, "start" is the sample 10% into the run (the worker has finished starting).
        With `since` (a monotonic() time, e.g. a soak's start after its warm-up) only samples from
        then on count, and "start" is the first of them.
        """
        mib = 1024 * 1024
        out = {}
        for name, series in self.samples.items():
            if since is not None:
                series = [(t, rss) for t, rss in series if self.started + t >= since]
                if not series:
                    continue
            values = [rss for _, rss in series]
            start = values[0] if since is not None else values[min(len(values) - 1, len(values) // 10)]
            out[name] = {
                "start_mib": start / mib,
                "peak_mib": max(values) / mib,
                "end_mib": values[-1] / mib,
                "growth_pct": (values[-1] - start) / start * 100,
            }
        return out


# --- phase 2: capacity ----------------------------------------------------------------------------


@dataclass
class Series:
    """Cumulative processed counts per stage over time, scraped from /metrics."""

    points: list[tuple[float, Progress]] = field(default_factory=list)

    def rate(self, count: Any, total: float) -> float:
        """Events/s of a stage between 10% and 90% of its total (steady state)."""
        lo = hi = None
        for t, p in self.points:
            c = count(p)
            if lo is None and c >= 0.1 * total:
                lo = (t, c)
            if c >= 0.9 * total:
                hi = (t, c)
                break
        if lo is None or hi is None or hi[0] <= lo[0]:
            return float("nan")
        return (hi[1] - lo[1]) / (hi[0] - lo[0])


def escalated(p: Progress) -> float:
    """Records escalation has decided: each ends routed, not escalated, dead-lettered or, when it was
    handled before (around a rebalance), replayed."""
    return sum(p.escalation.get(k, 0) for k in ("routed", "not_escalated", "dead_lettered", "replayed"))


def worker_ports(workers: int) -> list[dict[str, int]]:
    """Metrics ports of `workers` workers of every service: one {service: port} map per replica."""
    return [{name: free_port() for name in SERVICES} for _ in range(workers)]


def replica(name: str, index: int) -> str:
    """The LocalStack name of a service's index-th worker (0: the service's own name)."""
    return name if index == 0 else f"{name}#{index + 1}"


def deploy(settings: Settings, workers: int) -> tuple[LocalStack, list[dict[str, int]]]:
    """A LocalStack of `workers` workers per service (not started yet) and their metrics ports."""
    port_sets = worker_ports(workers)
    ports = {replica(name, i): port for i, ports in enumerate(port_sets) for name, port in ports.items()}
    stack = LocalStack(
        settings,
        log_dir=settings.data_dir / "log",
        env=deployment_env(settings, log_level="WARNING"),
        ports=ports,
    )
    return stack, port_sets


@dataclass
class Counts:
    """Every worker's counts, summed; a worker started again after it stopped itself starts its
    counters from zero, so what it had counted is carried over (as `flagstream run` does)."""

    port_sets: list[dict[str, int]]
    carried: Progress = field(default_factory=Progress)
    last: list[Progress] = field(default_factory=list)

    def read(self, restarted: list[str]) -> Progress:
        for name in restarted:
            service, _, index = name.partition("#")
            i = int(index) - 1 if index else 0
            if service in SERVICES and i < len(self.last):
                self.carried = self.carried.plus(self.last[i].only(service))
        self.last = [Progress.read(ports) for ports in self.port_sets]
        total = self.carried
        for progress in self.last:
            total = total.plus(progress)
        return total


def capacity(
    settings: Settings, records: list[Produced], stack: LocalStack, port_sets: list[dict[str, int]]
) -> dict[str, Any]:
    n = len(records)
    produce(make_producer(settings), settings.topic(INTERACTIONS), records)
    series = Series()
    counts = Counts(port_sets)
    more = [(replica(name, i), ["worker", name]) for i in range(1, len(port_sets)) for name in SERVICES]
    stack.start(("simulated_reviewers", ["simulate-reviewers"]), *more)
    sampler = MemorySampler(stack)
    threading.Thread(target=sampler.run, daemon=True).start()
    cpu_before = sampler.cpu_seconds()

    def tick() -> None:
        series.points.append((time.monotonic(), counts.read(stack.check())))

    drained = wait_until(
        lambda: bool(series.points) and series.points[-1][1].drained(n),
        timeout=900,
        interval=0.25,
        on_tick=tick,
    )
    last = series.points[-1][1]
    if not drained:
        raise RuntimeError(f"the backlog did not drain in 900 s: {last.line(n)}; logs in {stack.log_dir}")
    watcher = make_consumer(settings, f"{settings.topic_prefix}bench-offsets")
    try:
        written = records_written(settings, watcher)
    finally:
        watcher.close()
    first_gate = next(t for t, p in series.points if p.gated > 0)
    through_escalation = next(t for t, p in series.points if p.gated >= n and escalated(p) >= p.passed_gate)
    cpu_after = sampler.cpu_seconds()
    cpu_ms_per_event: dict[str, float] = {}
    for name in cpu_after:  # a service's workers summed
        service = name.split("#")[0]
        spent = (cpu_after[name] - cpu_before.get(name, 0.0)) * 1000 / n
        cpu_ms_per_event[service] = cpu_ms_per_event.get(service, 0.0) + spent
    gate_total, kept = last.gated, last.passed_gate
    resolved = last.review.get("resolved", 0)
    return {
        "events": n,
        "workers": len(port_sets),
        "drained": drained,
        "e2e_eps": n / (through_escalation - first_gate),
        "stages_eps": {
            "privacy_gate": series.rate(lambda p: p.gated, gate_total),
            "escalation": series.rate(escalated, kept),
            "review": series.rate(lambda p: p.review.get("resolved", 0), resolved),
            "dataset_sink": series.rate(lambda p: p.rows + p.sink.get("not_written", 0), resolved),
        },
        "cpu_ms_per_event": cpu_ms_per_event,
        "records_per_event": {
            topic: count / n
            for topic, count in sorted(written.items(), key=lambda kv: -kv[1])
            if topic != INTERACTIONS and not topic.startswith("bench.")  # the baseline's own
        },
        "sampler": sampler,
    }


def records_written(settings: Settings, consumer: Consumer) -> dict[str, int]:
    """Records on every topic of the deployment (end offsets summed over partitions), by topic
    without its prefix; the ingress topic included. Changelog and internal topics count: every
    record one is a record the broker stores, replicates and serves."""
    out: dict[str, int] = defaultdict(int)
    for name, _, _, high in partition_offsets(consumer, settings.topic_prefix):
        out[name.removeprefix(settings.topic_prefix)] += high
    return {topic: total for topic, total in out.items() if total}


def partition_offsets(
    consumer: Consumer, prefix: str, suffix: str = ""
) -> Iterator[tuple[str, TopicPartition, int, int]]:
    """Every partition of the topics named `prefix…suffix`, in name order, with its low and high
    watermarks (an empty partition's are 0)."""
    metadata = consumer.list_topics(timeout=30).topics
    for name, topic in sorted(metadata.items()):
        if not (name.startswith(prefix) and name.endswith(suffix)):
            continue
        for number in topic.partitions:
            partition = TopicPartition(name, number)
            low, high = watermarks(consumer, partition, timeout=10)
            yield name, partition, max(0, low), max(0, high)


def delete_topics(settings: Settings) -> None:
    """Delete the run's topics: every run leaves about 45, and clients that refresh the metadata of
    all topics (Faust's producer does) pay for each one left on the broker in later runs."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    mine = [t for t in admin.list_topics(timeout=30).topics if t.startswith(settings.topic_prefix)]
    for future in admin.delete_topics(mine, operation_timeout=60).values() if mine else ():
        try:
            future.result()
        except Exception as exc:  # best effort: the results are written already
            print(f"could not delete a topic of the run: {exc}", file=sys.stderr)


# --- phase 5: restart -----------------------------------------------------------------------------


def changelog_records(settings: Settings, service: str) -> dict[str, dict[str, int]]:
    """Per table of a service: the records written to its changelog (end offsets), and the records
    on it now, tombstones among them, counted by reading them: what its in-memory table restores at
    start, once the log cleaner has compacted the closed segments."""
    consumer = make_consumer(settings, f"{settings.topic_prefix}bench-changelogs")
    try:
        app = f"{settings.topic_prefix}flagstream-{service}-"
        tables: dict[str, dict[str, int]] = {}
        for name, partition, low, high in partition_offsets(consumer, app, "-changelog"):
            counts = tables.setdefault(
                name.removeprefix(app).removesuffix("-changelog"),
                {"written": 0, "present": 0, "tombstones": 0},
            )
            counts["written"] += high
            if high > low:
                present, tombstones = count_records(
                    consumer, TopicPartition(partition.topic, partition.partition, low), high
                )
                counts["present"] += present
                counts["tombstones"] += tombstones
        return tables
    finally:
        consumer.close()


def count_records(consumer: Consumer, start: TopicPartition, high: int) -> tuple[int, int]:
    """Records, and tombstones among them, from `start` to the end offset `high` (compaction
    leaves gaps in the offsets)."""
    consumer.assign([start])
    counted = tombstones = idle = 0
    while idle < 10:
        batch = consumer.consume(num_messages=5000, timeout=0.5)
        for msg in batch:
            if not msg.error():
                counted += 1
                tombstones += msg.value() is None
        idle = 0 if batch else idle + 1
        [position] = consumer.position([TopicPartition(start.topic, start.partition)])
        if position.offset >= high:
            break
    consumer.unassign()
    return counted, tombstones


def lag(settings: Settings, inputs: dict[str, list[str]]) -> int:
    """Records not yet committed by each service's group on its input topics, summed."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    consumer = make_consumer(settings, f"{settings.topic_prefix}bench-offsets")
    try:
        behind = 0
        for service, topics in inputs.items():
            group = settings.group(service)
            future = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group]
            committed = {
                (tp.topic, tp.partition): tp.offset for tp in future.result(timeout=10).topic_partitions
            }
            for topic in topics:
                name = settings.topic(topic)
                for partition in range(settings.partitions):
                    _, high = watermarks(consumer, TopicPartition(name, partition), timeout=10)
                    behind += max(0, high - max(0, committed.get((name, partition), 0)))
        return behind
    finally:
        consumer.close()


def restart(settings: Settings, stack: LocalStack, ports: dict[str, int], probe: int = 200) -> dict[str, Any]:
    """Stop escalation and start it again (SIGTERM, as a deploy does) while a few events arrive.

    Two times from the stop: until the new worker decides its first record (its tables restored),
    and until the gate and escalation have committed every record on their inputs (caught up). A
    worker that stops itself on the way (exit 70, e.g. the offset guard seeing records the consumer
    dropped at start) is started again, as a supervisor would, and counted.
    """
    tables = changelog_records(settings, "escalation")
    written = sum(t["written"] for t in tables.values())
    records = sum(t["present"] for t in tables.values())
    stack.restart_codes = frozenset({70})
    before = stack.restarts.get("escalation", 0)
    stopped = time.monotonic()
    stack.restart("escalation")
    spawned = time.monotonic()
    produce(
        make_producer(settings),
        settings.topic(INTERACTIONS),
        list(generate(probe, malformed_rate=0.0, codec=default_codec())),
    )

    def deciding() -> bool:
        stack.check()
        return escalated(Progress.read(ports)) > 0  # the new worker's counters start at zero

    if not wait_until(deciding, timeout=900, interval=0.25):
        raise RuntimeError("escalation did not decide within 900 s of its restart")
    serving = time.monotonic() - stopped
    inputs = {"privacy_gate": [INTERACTIONS], "escalation": [REDACTED, ESCALATION_CANDIDATES]}

    def caught_up() -> bool:
        stack.check()
        return lag(settings, inputs) == 0

    if not wait_until(caught_up, timeout=900, interval=0.5):
        raise RuntimeError("escalation did not catch up within 900 s of its restart")
    return {
        "changelog_written": written,
        "changelog_records": records,
        "changelog_tables": tables,
        "stop_s": spawned - stopped,
        "serving_after_s": serving,
        "caught_up_after_s": time.monotonic() - stopped,
        "self_restarts": stack.restarts.get("escalation", 0) - before,
        "records_per_s": records / serving,
    }


# --- phase 6: scale-out ---------------------------------------------------------------------------


def scale_out(records: list[Produced], workers: int) -> dict[str, Any]:
    """The capacity phase on fresh topics with `workers` workers per service. Workers that stop
    themselves (exit 70: the offset guard saw records Faust's consumer dropped around the start-up
    rebalances) are started again, as a supervisor would, and counted."""
    settings = bench_settings(uuid.uuid4().hex[:6])
    provision(settings)
    stack, port_sets = deploy(settings, workers)
    stack.restart_codes = frozenset({70})
    try:
        cap = capacity(settings, records, stack, port_sets)
        cap.pop("sampler").stop.set()
        cap["self_restarts"] = sum(stack.restarts.values())
    finally:
        stack.stop()
        delete_topics(settings)
    return cap


# --- phase 3: latency -----------------------------------------------------------------------------


URGENT = "urgent"
"""The queue decided on arrival (no hourly budget, no ranking window); the others wait in a window."""


UPSTREAM_LINGER_MS = 5
"""The latency phase's producer stands for upstream's: librdkafka's default linger."""

HOPS = ("gate", "escalation")
"""The urgent path's hops, each from one record's broker timestamp to the next: ingress →
interactions.redacted (the gate), → review task (escalation's assess agent, which decides urgent
items itself). A record's timestamp is set when its producer is handed it, so time a record waits
in a producer's batch counts towards the next hop."""


def leading_string(value: bytes) -> str:
    """The first field of a single-object Avro record, a string: a redacted interaction's
    `interaction_id`, read without decoding the rest, so that the bench's own consumer takes little
    of the CPU the workers it measures run on (a full decode is a pydantic model per record)."""
    if value[: len(SINGLE_OBJECT_MAGIC)] != SINGLE_OBJECT_MAGIC:
        return default_codec().decode(value, RedactedInteraction).interaction_id  # other framing
    position, shift, raw = SINGLE_OBJECT_HEADER, 0, 0
    while True:
        byte = value[position]
        position += 1
        raw |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            break
    length = (raw >> 1) ^ -(raw & 1)  # zigzag
    return value[position : position + length].decode()


def latency(settings: Settings, rate: float, seconds: float) -> dict[str, Any]:
    """Open-loop load at `rate` events/s; latency ingress → review task, over all tasks and by kind of
    queue (urgent, decided on arrival; budgeted, ranked when their window closes), and the urgent
    tasks' latency split into hops (`HOPS`)."""
    codec = default_codec()
    warmup, *records = generate(int(rate * seconds) + 1, malformed_rate=0.0, codec=codec)
    sent_at: dict[str, int] = {}
    got: list[float] = []
    by_kind: dict[str, list[float]] = {"urgent": [], "budgeted": []}
    redacted_at: dict[str, int] = {}
    urgent_at: dict[str, int] = {}
    consumer: Consumer = make_consumer(
        settings, f"bench-latency-{uuid.uuid4().hex[:6]}", **{"auto.offset.reset": "latest"}
    )
    tasks = {settings.topic(task_topic(q)) for q in QUEUES}
    redacted = settings.topic(REDACTED)
    consumer.subscribe([*tasks, redacted])
    while not consumer.assignment():
        consumer.poll(0.2)
    stop = threading.Event()

    def collect() -> None:
        while not stop.is_set():
            for msg in consumer.consume(num_messages=500, timeout=0.2):
                if msg.error():
                    continue
                stamp = msg.timestamp()[1]
                if msg.topic() == redacted:
                    redacted_at[leading_string(msg.value() or b"")] = stamp
                    continue
                task = codec.decode(msg.value() or b"", ReviewTask)
                produced = sent_at.get(task.interaction_id)
                if produced is not None:
                    took = stamp - produced
                    got.append(took)
                    by_kind["urgent" if task.queue == URGENT else "budgeted"].append(took)
                    if task.queue == URGENT:
                        urgent_at[task.interaction_id] = stamp

    collector = threading.Thread(target=collect, daemon=True)
    collector.start()
    # Upstream's producer, with librdkafka's default linger whatever the services' own is.
    producer = make_producer(settings, **{"linger.ms": UPSTREAM_LINGER_MS})
    topic = settings.topic(INTERACTIONS)
    # A new idempotent producer holds its first records about 0.5 s (its producer id and the topic's
    # metadata), which upstream's long-lived producers pay once, not per record. Without this one
    # untimed record first, that wait fell on the first ~70 records of each phase: over 1% of them,
    # so it was each phase's p99.
    producer.produce(topic, key=warmup.key, value=warmup.value)
    if producer.flush(30):
        raise RuntimeError("the latency phase's producer could not deliver its first record")
    started = time.monotonic()
    for i, record in enumerate(records):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        now_ms = time.time_ns() // 1_000_000
        assert record.interaction_id is not None
        sent_at[record.interaction_id] = now_ms
        producer.produce(
            topic, key=record.key, value=record.value, headers=[(PRODUCED_AT, str(now_ms).encode())]
        )
        producer.poll(0)
    achieved = len(records) / (time.monotonic() - started)
    producer.flush(60)
    time.sleep(5)  # let the tail drain
    stop.set()
    collector.join()
    consumer.close()
    hops: dict[str, list[float]] = {hop: [] for hop in HOPS}
    for iid, done in urgent_at.items():
        if iid in redacted_at:
            hops["gate"].append(redacted_at[iid] - sent_at[iid])
            hops["escalation"].append(done - redacted_at[iid])
    return {
        "target_eps": rate,
        "achieved_eps": achieved,
        **percentiles(got),
        "by_kind": {kind: percentiles(values) for kind, values in by_kind.items()},
        "urgent_hops": {hop: percentiles(values) for hop, values in hops.items()},
    }


def percentiles(values: list[float]) -> dict[str, float]:
    """Count, p50, p99, p99.9 and max of latencies in ms (nan when there are none)."""
    ordered = sorted(values)

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")

    return {
        "tasks": len(ordered),
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
        "p999_ms": pct(0.999),
        "max_ms": ordered[-1] if ordered else float("nan"),
    }


# --- main -----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20_000, help="backlog size of the capacity phase")
    parser.add_argument("--latency-seconds", type=float, default=20.0, help="length of each latency phase")
    parser.add_argument(
        "--soak-seconds",
        type=float,
        default=0.0,
        help="after the latency phases, run at 50%% of capacity this long (memory growth)",
    )
    parser.add_argument(
        "--floor-events",
        type=int,
        default=5_000,
        help="events through each stage's floor (tests/bench/floors.py); 0 skips the floors",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="workers per service of the scale-out phase (the same backlog on fresh topics); 1 skips it",
    )
    parser.add_argument(
        "--changelog-segment-seconds",
        type=float,
        default=None,
        help="segment time of the table changelogs (default: the setting's, 600 s); a run of minutes "
        "needs a shorter one to see the log cleaner compact them before the restart phase",
    )
    parser.add_argument("--passthrough", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.passthrough:
        bootstrap, source, sink, count = args.passthrough
        passthrough(bootstrap, source, sink, int(count))
        return

    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    settings = bench_settings(uuid.uuid4().hex[:6], args.changelog_segment_seconds)
    provision(settings)
    codec = default_codec()
    records = list(generate(args.events, malformed_rate=0.0, codec=codec))
    print(
        f"bench {run_id}: {args.events} events, {statistics.mean(len(r.value) for r in records):.0f} B each",
        flush=True,
    )

    base = baseline(settings, records)
    print(f"baseline passthrough: {base['eps']:.0f} events/s", flush=True)

    stack, port_sets = deploy(settings, 1)
    try:
        cap = capacity(settings, records, stack, port_sets)
        sampler: MemorySampler = cap.pop("sampler")
        print(f"pipeline capacity: {cap['e2e_eps']:.0f} events/s", flush=True)
        rates = sorted(
            {round(cap["e2e_eps"] * 0.5), round(cap["e2e_eps"] * 0.8)}
            | ({1000} if cap["e2e_eps"] > 1000 else set())
        )
        lat = {}
        for rate in rates:
            lat[str(rate)] = latency(settings, float(rate), args.latency_seconds)
            r = lat[str(rate)]
            urgent = r["by_kind"]["urgent"]
            print(
                f"latency at {rate}/s: p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms "
                f"(urgent p99 {urgent['p99_ms']:.0f} ms)",
                flush=True,
            )
        soak: dict[str, Any] = {}
        if args.soak_seconds:
            # memory growth counts from 10% into the soak (warm caches, full windows) to its end
            steady_from = time.monotonic() + 0.1 * args.soak_seconds
            rate = round(cap["e2e_eps"] * 0.5)
            print(f"soak: {args.soak_seconds:.0f}s at {rate}/s", flush=True)
            soak["latency"] = latency(settings, rate, args.soak_seconds)
            soak["seconds"], soak["rate"] = args.soak_seconds, rate
        sampler.stop.set()
        memory = sampler.report()
        if args.soak_seconds:
            soak["memory"] = sampler.report(since=steady_from)
        restarted = restart(settings, stack, port_sets[0])
        print(
            f"restart: escalation decides again {restarted['serving_after_s']:.1f}s after its stop, caught "
            f"up after {restarted['caught_up_after_s']:.1f}s ({restarted['changelog_records']:.0f} changelog "
            f"records of {restarted['changelog_written']:.0f} written, {restarted['self_restarts']:.0f} "
            "self-restarts)",
            flush=True,
        )
    finally:
        stack.stop()
        delete_topics(settings)
    scaled: dict[str, Any] = {}
    if args.workers > 1:
        scaled = scale_out(records, args.workers)
        print(f"pipeline capacity, {args.workers} workers per service: {scaled['e2e_eps']:.0f} events/s")

    floors = floor_measure(settings.kafka_bootstrap_servers, args.floor_events) if args.floor_events else {}
    machine = {"cores": psutil.cpu_count(), "load_avg_1m": psutil.getloadavg()[0]}
    result = {
        "run": run_id,
        "machine": machine,
        "baseline": base,
        "capacity": cap,
        "latency": lat,
        "memory": memory,
        "soak": soak,
        "restart": restarted,
        "scale_out": scaled,
        "floors": floors,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{run_id}.json"
    path.write_text(json.dumps(result, indent=2))

    print()
    print(f"{'measure':40} {'value':>12}")
    print(f"{'baseline passthrough (events/s)':40} {base['eps']:>12.0f}")
    print(f"{'whole pipeline, ingress→escalated (ev/s)':40} {cap['e2e_eps']:>12.0f}")
    for stage, eps in cap["stages_eps"].items():
        print(f"{'  stage ' + stage + ' (events/s)':40} {eps:>12.0f}")
    print(f"{'pipeline / baseline':40} {cap['e2e_eps'] / base['eps']:>12.3f}")
    for name, ms in sorted(cap["cpu_ms_per_event"].items(), key=lambda kv: -kv[1]):
        print(f"{'  CPU ms per input event: ' + name:40} {ms:>12.2f}")
    per_event = cap["records_per_event"]
    consumed = {  # records each stage takes per input event (ticks left out)
        "privacy_gate": 1.0 + per_event.get("consent.events.v1", 0.0),
        "escalation": per_event.get(REDACTED, 0.0) + per_event.get(ESCALATION_CANDIDATES, 0.0),
    }
    for stage in floors.keys() & consumed.keys():
        floor = Floor(**floors[stage]).per_input(consumed[stage])
        cpu = cap["cpu_ms_per_event"][stage]
        print(
            f"{'  ' + stage + ' CPU vs its floor (ms)':40} {cpu:>5.2f} / {floor:.2f} = {cpu / floor:.1f}x"
            f"  (floor: {consumed[stage]:.2f} records x {floors[stage]['loop_us']:.0f} us stage loop"
            f" + {floors[stage]['domain_us']:.0f} us domain and Avro)"
        )
    print(f"{'records written per input event':40} {sum(per_event.values()):>12.2f}")
    for topic, count in per_event.items():
        print(f"{'  ' + topic:40} {count:>12.2f}")
    window = load_escalation_policy(settings.escalation_policy).window
    for rate, r in lat.items():
        print(
            f"{'latency @' + rate + '/s p50 / p99 / p99.9 (ms)':40} "
            f"{r['p50_ms']:>5.0f} / {r['p99_ms']:.0f} / {r['p999_ms']:.0f}"
            f"  (achieved {r['achieved_eps']:.0f}/s, {r['tasks']} tasks)"
        )
        for kind, k in r["by_kind"].items():
            label = f"  {kind}" + (f" (window {window.seconds:g} s)" if kind == "budgeted" else "")
            print(
                f"{label:40} {k['p50_ms']:>5.0f} / {k['p99_ms']:.0f} / {k['p999_ms']:.0f}"
                f"  ({k['tasks']} tasks)"
            )
        for hop, h in r["urgent_hops"].items():
            print(
                f"{'    urgent hop: ' + hop:40} {h['p50_ms']:>5.0f} / {h['p99_ms']:.0f} / {h['p999_ms']:.0f}"
                f"  (max {h['max_ms']:.0f})"
            )
    print(
        f"{'restart: escalation decides again (s)':40} {restarted['serving_after_s']:>12.1f}"
        f"  ({restarted['changelog_records']:.0f} changelog records of {restarted['changelog_written']:.0f}"
        f" written, {restarted['records_per_s']:.0f}/s)"
    )
    for table, t in restarted["changelog_tables"].items():
        print(
            f"{'  changelog ' + table + ' (records)':40} {t['present']:>12,}"
            f"  (of {t['written']:,} written; {t['tombstones']:,} tombstones)"
        )
    print(
        f"{'restart: caught up on its inputs (s)':40} {restarted['caught_up_after_s']:>12.1f}"
        f"  ({restarted['self_restarts']:.0f} self-restarts on the way)"
    )
    if scaled:
        print(
            f"{'scale-out: ' + str(scaled['workers']) + ' workers per service (ev/s)':40} "
            f"{scaled['e2e_eps']:>12.0f}  ({scaled['e2e_eps'] / cap['e2e_eps']:.2f}x one worker each,"
            f" {machine['cores']} cores, {scaled['self_restarts']} self-restarts)"
        )
        for stage, eps in scaled["stages_eps"].items():
            print(f"{'  stage ' + stage + ' (events/s)':40} {eps:>12.0f}")
    for name, m in memory.items():
        print(
            f"{'memory ' + name + ' start/peak/end (MiB)':40} {m['start_mib']:>5.0f} / {m['peak_mib']:.0f} / "
            f"{m['end_mib']:.0f}  ({m['growth_pct']:+.1f}%)"
        )
    for name, m in soak.get("memory", {}).items():
        print(
            f"{'soak ' + name + ' start/peak/end (MiB)':40} {m['start_mib']:>5.0f} / {m['peak_mib']:.0f} / "
            f"{m['end_mib']:.0f}  ({m['growth_pct']:+.1f}%)"
        )
    print(f"{'machine: cores / load avg (1 min)':40} {machine['cores']} / {machine['load_avg_1m']:.1f}")
    print(f"results: {path}")
    e2e, ratio = cap["e2e_eps"], cap["e2e_eps"] / base["eps"]
    at80 = lat[str(round(e2e * 0.8))]
    print(
        f"BENCH e2e_eps={e2e:.0f} baseline_eps={base['eps']:.0f} ratio={ratio:.3f} "
        f"p50_ms={at80['p50_ms']:.0f} p99_ms={at80['p99_ms']:.0f}"
    )


if __name__ == "__main__":
    main()

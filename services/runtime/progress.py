"""Consumer progress of every stage, judged from the broker: lag in records and in seconds, and a
commit-progress state per partition in Burrow's sense.

Every service process runs one `ProgressMonitor` thread that reads, for every stage's consumer group
(not only its own), the committed offset and end offset of each partition of the stage's source
topics, the timestamp of the oldest unprocessed record (the one at the committed offset), and which
group member owns the partition. So a stage that died is still reported by the stages that live:
a dead worker exports nothing itself. Several processes report the same series (told apart by
Prometheus's `instance` label); queries aggregate them with `max by (service, topic, partition)`.

The state of a partition is judged over a window of the last `window` observations, without fixed
lag thresholds (Burrow's rules, narrowed to what offset fetches can see):

- `rewind`: the committed offset went backwards within the window (a reset, or a replay);
- `ok`: the lag was zero at some point in the window, or the committed offset moved, or the window
  is not full yet (too early to judge);
- `stall`: the committed offset stood still over the whole window while there was lag, and a member
  of the group owns the partition (a worker is there but does not progress);
- `stop`: the same, but no member owns the partition (no worker consumes it).

Labels are the monitored `service`, the registry `topic` name (without the deployment prefix) and the
`partition` number: fixed vocabularies.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from multiprocessing.connection import Connection
from typing import Any, cast

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._listoffsets import OffsetSpec

from services.runtime.kafka import admin_config, security_config
from services.runtime.metrics import Metrics
from services.runtime.settings import Settings
from services.runtime.topics import (
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

log = logging.getLogger(__name__)

SOURCES: Mapping[str, tuple[str, ...]] = {
    "privacy_gate": (INTERACTIONS, CONSENT),
    "escalation": (REDACTED, ESCALATION_CANDIDATES),
    "review": (*(task_topic(q) for q in QUEUES), JUDGMENTS),
    "dataset_sink": (RESOLVED, ERASURES),
    "label_studio": tuple(task_topic(q) for q in QUEUES),
}
"""The topics each stage's consumer group reads (registry names)."""

OPTIONAL = frozenset({"label_studio"})
"""Stages a deployment may not run at all (a labeling tool's connector): watched only once their group
has committed or has a member, so a deployment without them is not reported as stopped."""


def watched(service: str, committed: Sequence[int], has_member: bool) -> bool:
    """Whether a stage's partitions are judged: always for the pipeline's own stages, and for an
    optional one once its group exists (any committed offset, or a member)."""
    return service not in OPTIONAL or has_member or any(offset >= 0 for offset in committed)


STATUSES = ("ok", "stall", "stop", "rewind")
"""The commit-progress states, a fixed vocabulary (exported one-hot)."""

Key = tuple[str, str, int]
"""(service, registry topic, partition)."""


@dataclass(frozen=True)
class Observation:
    """One look at a partition: the group's committed offset and the partition's end offset."""

    at: float
    committed: int
    end: int

    @property
    def lag(self) -> int:
        """Records written and not yet committed by the group."""
        return max(0, self.end - self.committed)


def judge(window: Sequence[Observation], owned: bool, size: int) -> str:
    """The commit-progress state of a partition over its window of observations (oldest first)."""
    if any(later.committed < earlier.committed for earlier, later in pairwise(window)):
        return "rewind"
    if not window or any(o.lag == 0 for o in window) or len(window) < size:
        return "ok"
    if window[0].committed != window[-1].committed:
        return "ok"
    return "stall" if owned else "stop"


@dataclass(frozen=True)
class PartitionProgress:
    """What the monitor concluded about one partition in its latest round."""

    service: str
    topic: str
    partition: int
    committed: int
    end: int
    lag: int
    lag_seconds: float
    status: str
    owned: bool


@dataclass(frozen=True)
class Snapshot:
    """What one round read from the broker, for every watched partition."""

    committed: Mapping[Key, int]
    ends: Mapping[Key, int]
    oldest_timestamps: Mapping[Key, float]
    owned: frozenset[Key]


class BrokerReader:
    """Reads committed offsets, end offsets, oldest unprocessed timestamps and owners from Kafka."""

    def __init__(self, settings: Settings, timeout: float = 5.0) -> None:
        self.settings = settings
        self.timeout = timeout
        self.admin = AdminClient(admin_config(settings))
        self._consumer: Consumer | None = None

    def close(self) -> None:
        """Close the timestamp consumer."""
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    def _partitions(self, topics: Iterable[str]) -> dict[str, int]:
        names = {self.settings.topic(t): t for t in topics}
        metadata = self.admin.list_topics(timeout=self.timeout).topics
        return {names[full]: len(metadata[full].partitions) for full in names if full in metadata}

    def _offsets(self, tps: Sequence[TopicPartition], spec: OffsetSpec) -> dict[tuple[str, int], int]:
        if not tps:
            return {}
        futures = self.admin.list_offsets({tp: spec for tp in tps}, request_timeout=self.timeout)
        return {(tp.topic, tp.partition): int(f.result().offset) for tp, f in futures.items()}

    def read(self, sources: Mapping[str, Sequence[str]]) -> Snapshot:
        """One round; raises KafkaException when the broker does not answer."""
        counts = self._partitions({t for topics in sources.values() for t in topics})
        tps = [TopicPartition(self.settings.topic(t), p) for t, n in counts.items() for p in range(n)]
        ends = self._offsets(tps, OffsetSpec.latest())  # type: ignore[no-untyped-call]
        begins = self._offsets(tps, OffsetSpec.earliest())  # type: ignore[no-untyped-call]
        committed: dict[Key, int] = {}
        all_ends: dict[Key, int] = {}
        owned: set[Key] = set()
        groups = {self.settings.group(service): service for service in sources}
        described = self.admin.describe_consumer_groups(list(groups), request_timeout=self.timeout)
        for group, future in described.items():
            try:
                description = future.result()
            except KafkaException:
                continue  # no such group yet: nobody owns its partitions
            for member in description.members or ():
                for tp in getattr(member.assignment, "topic_partitions", None) or ():
                    owned.add((groups[group], self._unprefixed(tp.topic), tp.partition))
        for service, topics in sources.items():
            mine = [tp for tp in tps if self._unprefixed(tp.topic) in topics]
            if not mine:
                continue
            request = ConsumerGroupTopicPartitions(self.settings.group(service), mine)
            found = self.admin.list_consumer_group_offsets([request], request_timeout=self.timeout)
            result = next(iter(found.values())).result()
            partitions = list(result.topic_partitions or ())
            has_member = any(key[0] == service for key in owned)
            if not watched(service, [tp.offset for tp in partitions], has_member):
                continue
            for tp in partitions:
                where = (tp.topic, tp.partition)
                key = (service, self._unprefixed(tp.topic), tp.partition)
                # never committed: the group starts at the first offset (auto.offset.reset=earliest)
                committed[key] = tp.offset if tp.offset >= 0 else begins.get(where, 0)
                all_ends[key] = ends.get(where, 0)
        lagging = {key: offset for key, offset in committed.items() if all_ends[key] > offset}
        return Snapshot(committed, all_ends, self._timestamps(lagging), frozenset(owned))

    def _unprefixed(self, topic: str) -> str:
        return topic.removeprefix(self.settings.topic_prefix)

    def _timestamps(self, positions: Mapping[Key, int]) -> dict[Key, float]:
        """Timestamp (seconds) of the record at each position: the oldest one the group has to read."""
        wanted: dict[tuple[str, int], int] = {}
        for (_service, topic, partition), offset in positions.items():
            where = (self.settings.topic(topic), partition)
            wanted[where] = min(offset, wanted.get(where, offset))  # one fetch per partition
        if not wanted:
            return {}
        if self._consumer is None:
            self._consumer = Consumer(
                {
                    "bootstrap.servers": self.settings.kafka_bootstrap_servers,
                    "group.id": f"{self.settings.topic_prefix}flagstream-progress-{uuid.uuid4().hex[:8]}",
                    "enable.auto.commit": False,
                    "enable.partition.eof": False,
                    "auto.offset.reset": "earliest",
                    "fetch.max.bytes": 1 << 20,
                    "max.partition.fetch.bytes": 64 << 10,
                    **security_config(self.settings),
                }
            )
        consumer = self._consumer
        consumer.assign([TopicPartition(t, p, offset) for (t, p), offset in wanted.items()])
        found: dict[tuple[str, int], float] = {}
        deadline = time.monotonic() + self.timeout
        while len(found) < len(wanted) and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=100, timeout=0.5):
                where = (str(msg.topic()), int(msg.partition() or 0))
                if msg.error() or where in found:
                    continue
                kind, stamp = msg.timestamp()
                if kind and stamp > 0:
                    found[where] = stamp / 1000.0
                    consumer.pause([TopicPartition(*where)])
        consumer.resume([TopicPartition(*where) for where in found])  # librdkafka keeps pauses
        consumer.unassign()
        out: dict[Key, float] = {}
        for key in positions:
            seen = found.get((self.settings.topic(key[1]), key[2]))
            if seen is not None:
                out[key] = seen
        return out


def serve(conn: Connection, answer: Callable[[Any], Any]) -> None:
    """The child side of `IsolatedReader`: answer each request until the parent's end of the pipe
    closes; a failure is sent back as a RuntimeError with the exception's text."""
    while True:
        try:
            request = conn.recv()
        except EOFError:  # the parent is gone (exited or killed): so is this process
            return
        try:
            conn.send(answer(request))
        except Exception as exc:
            conn.send(RuntimeError(repr(exc)))


def serve_reads(settings: Settings, conn: Connection) -> None:
    """The progress monitor's child: answer each request (sources) with a Snapshot or the error's text."""
    reader = BrokerReader(settings)
    try:
        serve(conn, reader.read)
    finally:
        reader.close()


class IsolatedReader:
    """A BrokerReader in a child process of its own, so that librdkafka cannot take the worker down.

    librdkafka's admin client can abort its whole process while brokers restart (the assertion
    `eonce->refcnt > 0` in rd_kafka_enq_once_del_source_return, librdkafka issue #3663, open for
    ListConsumerGroupOffsets and ListOffsets): in the cluster faults every service aborted at once
    during a rolling restart. Here such an abort ends the child, the round fails like any round the
    broker did not answer, and the next round starts a new child. The child ends when its worker
    does (its end of the pipe closes), even when the worker is SIGKILLed.

    `target` is the child's serve function (`serve_reads` by default): any child that answers each
    request it receives with a picklable answer, or an Exception to raise in the parent, can be run
    this way (`ask`); the fault tests run their own consumer-group reads so.
    """

    def __init__(
        self,
        settings: Settings,
        timeout: float = 60.0,
        target: Callable[[Settings, Connection], None] = serve_reads,
        name: str = "progress-reader",
    ) -> None:
        self.settings = settings
        self.timeout = timeout
        self.target = target
        self.name = name
        self._process: Any = None
        self._conn: Connection | None = None

    def _start(self) -> Connection:
        context = multiprocessing.get_context("spawn")  # not fork: the worker runs threads
        ours, theirs = context.Pipe()
        self._process = context.Process(
            target=self.target, args=(self.settings, theirs), name=self.name, daemon=True
        )
        self._process.start()
        theirs.close()
        self._conn = ours
        return ours

    def read(self, sources: Mapping[str, Sequence[str]]) -> Snapshot:
        """One round of the progress monitor in the child (`serve_reads`)."""
        return cast(Snapshot, self.ask({service: list(topics) for service, topics in sources.items()}))

    def ask(self, request: Any) -> Any:
        """The child's answer to one request, starting a child if none runs; raises ConnectionError
        if the child died, TimeoutError if it did not answer in time (it is stopped then), and the
        Exception the child sent back."""
        conn = self._conn if self._process is not None and self._process.is_alive() else None
        if conn is None:
            self.close()
            conn = self._start()
        try:
            conn.send(request)
            answered = conn.poll(self.timeout)
            answer = conn.recv() if answered else None
        except (EOFError, OSError) as exc:
            code = None
            if self._process is not None:
                self._process.join(2)  # reap it, to tell an abort (-6) from a kill
                code = self._process.exitcode
            self.close()
            raise ConnectionError(f"{self.name} process ended (exit code {code})") from exc
        if not answered:  # raised out here: TimeoutError is an OSError, not a dead child
            self.close()
            raise TimeoutError(f"{self.name} gave no answer in {self.timeout:.0f}s")
        if isinstance(answer, Exception):
            raise answer
        return answer

    def close(self) -> None:
        """Stop the child (if any) and forget it."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._process is not None:
            if self._process.is_alive():
                self._process.terminate()
            self._process.join(5)
            self._process = None


class ProgressMonitor:
    """Judges every stage's progress each `interval` seconds and exports it in `metrics`."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        *,
        read: Callable[[Mapping[str, Sequence[str]]], Snapshot] | None = None,
        sources: Mapping[str, Sequence[str]] = SOURCES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.interval = settings.progress_interval_seconds
        self.size = settings.progress_window
        self.sources = sources
        self.clock = clock
        self._reader: IsolatedReader | None = None
        self.read = read or self._read_broker
        self.windows: dict[Key, deque[Observation]] = {}
        self.latest: list[PartitionProgress] = []

    def _read_broker(self, sources: Mapping[str, Sequence[str]]) -> Snapshot:
        if self._reader is None:
            self._reader = IsolatedReader(self.settings)
        return self._reader.read(sources)

    def check(self) -> list[PartitionProgress]:
        """One round: read the broker, extend each partition's window, judge it, export it."""
        snapshot = self.read(self.sources)
        now = self.clock()
        results = []
        for key, committed in sorted(snapshot.committed.items()):
            end = snapshot.ends[key]
            window = self.windows.setdefault(key, deque(maxlen=self.size))
            window.append(Observation(now, committed, end))
            lag = max(0, end - committed)
            stamp = snapshot.oldest_timestamps.get(key)
            lag_seconds = max(0.0, now - stamp) if lag and stamp is not None else 0.0
            owned = key in snapshot.owned
            status = judge(window, owned, self.size)
            results.append(PartitionProgress(*key, committed, end, lag, lag_seconds, status, owned))
        for gone in set(self.windows) - set(snapshot.committed):
            del self.windows[gone]
        self.export(results, now)
        self.latest = results
        return results

    def export(self, results: Sequence[PartitionProgress], now: float) -> None:
        """Set the progress gauges (one-hot status) and drop the series of vanished partitions."""
        m = self.metrics
        current = {(r.service, r.topic, str(r.partition)) for r in results}
        for gauge in (m.consumer_lag, m.consumer_lag_seconds, m.consumer_committed_offset):
            for labels in _label_sets(gauge) - current:
                gauge.remove(*labels)
        for r in results:
            labels = (r.service, r.topic, str(r.partition))
            m.consumer_lag.labels(*labels).set(r.lag)
            m.consumer_lag_seconds.labels(*labels).set(r.lag_seconds)
            m.consumer_committed_offset.labels(*labels).set(r.committed)
            for status in STATUSES:
                m.consumer_status.labels(*labels, status).set(1.0 if status == r.status else 0.0)
        m.progress_checked.set(now)

    def run(self, stop: threading.Event) -> None:
        """Check every `interval` seconds until `stop` is set; a failed round is logged and counted."""
        while not stop.is_set():
            try:
                self.check()
            except Exception as exc:  # the broker away or slow: the next round tries again
                self.metrics.progress_errors.inc()
                log.info("progress monitor: round failed: %r", exc)
            stop.wait(self.interval)
        if self._reader is not None:
            self._reader.close()

    def start(self) -> threading.Event:
        """Run in a daemon thread; returns the event that stops it."""
        stop = threading.Event()
        threading.Thread(target=self.run, args=(stop,), name="progress-monitor", daemon=True).start()
        return stop


def _label_sets(gauge: Any) -> set[tuple[str, ...]]:
    return set(gauge._metrics)  # prometheus_client keeps children by their label values

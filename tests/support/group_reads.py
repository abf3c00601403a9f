"""The fault tests' consumer-group reads (committed offsets, end offsets, group states), done by a
child process of their own.

librdkafka's admin client can abort or crash the process whose requests are in flight while brokers
restart (librdkafka issues #3663 and #4605: ListConsumerGroupOffsets, ListOffsets): the services read
the broker through `IsolatedReader` for that reason, and so does the test harness, which must outlive
what it observes. A child that dies or does not answer makes the round return None, as a broker that
does not answer does; the next round starts a new child.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from services.runtime.kafka import make_consumer, watermarks
from services.runtime.progress import IsolatedReader, serve
from services.runtime.settings import Settings

log = logging.getLogger(__name__)

Offsets = dict[str, dict[tuple[str, int], tuple[int | None, int]]]
"""Per group: (registry topic, partition) -> (the group's committed offset, None if it never
committed there; the partition's end offset)."""

States = dict[str, tuple[str, int]]
"""Per service: its group's state name (e.g. "STABLE") and number of members."""


@dataclass
class GroupState:
    committed: int
    lag: int


def group_states(offsets: Offsets, ticked: frozenset[str] | set[str]) -> dict[str, GroupState]:
    """Each group's committed offsets summed, and its lag: records written and not yet committed,
    counting a partition never committed from 0, and not counting the `ticked` topics (a timer
    writes there: their lag flickers, never settles)."""
    states = {}
    for group, partitions in offsets.items():
        total_committed = lag = 0
        for (topic, _partition), (committed, end) in partitions.items():
            done = max(0, committed or 0)
            total_committed += done
            if topic not in ticked:
                lag += max(0, end - done)
        states[group] = GroupState(total_committed, lag)
    return states


class _ChildReads:
    """What the child does: the admin client and consumer live and may crash here."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
        self.consumer = make_consumer(settings, f"{settings.topic_prefix}watch")

    def answer(self, request: tuple[str, Any]) -> Offsets | States:
        kind, what = request
        if kind == "offsets":
            return self.offsets(what)
        if kind == "states":
            return self.states(what)
        raise ValueError(f"unknown request {kind!r}")

    def offsets(self, groups: Mapping[str, Sequence[str]]) -> Offsets:
        found: Offsets = {}
        for group, topics in groups.items():
            full = self.settings.group(group)
            future = self.admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(full)])[full]
            committed = {
                (tp.topic, tp.partition): tp.offset for tp in future.result(timeout=10).topic_partitions or []
            }
            mine = found.setdefault(group, {})
            for topic in topics:
                name = self.settings.topic(topic)
                for partition in range(self.settings.partitions):
                    _, high = watermarks(self.consumer, TopicPartition(name, partition), timeout=10)
                    mine[(topic, partition)] = (committed.get((name, partition)), high)
        return found

    def states(self, services: Sequence[str]) -> States:
        groups = {self.settings.group(s): s for s in services}
        described = self.admin.describe_consumer_groups(list(groups))
        found: States = {}
        for group, service in groups.items():
            description = described[group].result(timeout=10)
            found[service] = (str(description.state.name), len(description.members))
        return found

    def close(self) -> None:
        self.consumer.close()


def serve_group_reads(settings: Settings, conn: Connection) -> None:
    """The child of `GroupReader`: answers ("offsets", {group: topics}) and ("states", services)."""
    reads = _ChildReads(settings)
    try:
        serve(conn, reads.answer)
    finally:
        reads.close()


class GroupReader:
    """Consumer-group reads of a deployment, answered by a child process (see the module)."""

    def __init__(
        self,
        settings: Settings,
        timeout: float = 60.0,
        target: Callable[[Settings, Connection], None] = serve_group_reads,
    ) -> None:
        self.child = IsolatedReader(settings, timeout, target=target, name="group-reader")

    def _ask(self, request: tuple[str, Any], what: str) -> Any:
        try:
            return self.child.ask(request)
        except Exception as exc:  # the broker away, or the child died or hung: None this round
            log.info("%s not readable now: %s", what, exc)
            return None

    def offsets(self, groups: Mapping[str, Sequence[str]]) -> Offsets | None:
        """Committed and end offsets of every partition of each group's topics; None when they cannot
        be read now."""
        found: Offsets | None = self._ask(("offsets", {g: tuple(t) for g, t in groups.items()}), "offsets")
        return found

    def states(self, services: Sequence[str]) -> States | None:
        """Each service's group state and member count; None when they cannot be read now."""
        found: States | None = self._ask(("states", list(services)), "group states")
        return found

    def close(self) -> None:
        """Stop the child."""
        self.child.close()

"""Producers from outside with their client's defaults: any partitioner, any key, it just works.

Review keeps open tasks on partition murmur2(task id) of review.judgments.v1, and the gate its consent
ledger on murmur2(subject id) of its two inputs. A labeling tool or a guardrail on librdkafka's
defaults (CRC32 of the key, or a random partition for a null key) puts records elsewhere; the stages
send those again by id (Stage.repartition), and count each hop as `repartitioned`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from confluent_kafka import Producer
from test_privacy_consent import (
    NOW,
    OLD_DENIAL,
    OLD_GRANT,
    Gate,
    audits,
    consent,
    flagged,
    redacted,
)
from test_review_service import CODEC, Review, _await, _judgment, _resolved, _send, _task

from services.contracts import Record, Verdict
from services.local import wait_until
from services.runtime.kafka import make_producer
from services.runtime.partitioning import partition_for
from services.runtime.settings import REPO_ROOT, Settings
from services.runtime.topics import CONSENT, INTERACTIONS, JUDGMENTS

pytestmark = pytest.mark.integration


def produce_with_defaults(
    settings: Settings, topic: str, records: Sequence[tuple[bytes | None, Record]]
) -> list[int]:
    """Produce with a plain confluent-kafka producer on librdkafka's defaults; the partitions it chose."""
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers})
    chosen: list[int] = []

    def delivered(err: object, msg: object) -> None:
        assert err is None, err
        chosen.append(msg.partition())  # type: ignore[attr-defined]

    for key, record in records:
        producer.produce(settings.topic(topic), key=key, value=CODEC.encode(record), on_delivery=delivered)
        producer.flush(30)  # one at a time: `chosen` follows `records`
    assert len(chosen) == len(records)
    return chosen


def test_partition_for_is_where_flagstreams_producers_put_a_key(settings: Settings) -> None:
    keys = [f"task-{uuid.uuid4()}".encode() for _ in range(64)]
    found: dict[bytes, int] = {}
    defaults: dict[bytes, int] = {}
    ours = make_producer(settings)
    theirs = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers})
    for producer, into in ((ours, found), (theirs, defaults)):
        for key in keys:
            producer.produce(
                settings.topic(JUDGMENTS),
                key=key,
                value=b"x",
                on_delivery=lambda err, msg, into=into: into.__setitem__(msg.key(), msg.partition()),
            )
        assert producer.flush(30) == 0
    assert found == {key: partition_for(key, settings.partitions) for key in keys}
    assert found != defaults  # the trap: librdkafka's default partitioner disagrees


@pytest.fixture
def review(settings: Settings, tmp_path: Path) -> Iterator[Review]:
    worker = Review(settings, tmp_path, REPO_ROOT / "deploy" / "policies" / "review.yaml")
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


def test_judgments_with_default_partitioner_and_other_keys_settle_their_tasks(
    settings: Settings, review: Review
) -> None:
    tasks = [_task(n, "policy_review", 2) for n in range(8)]
    early = tasks[:4]
    judgments = [_judgment(task, reviewer, Verdict.unsafe) for task in tasks for reviewer in ("r1", "r2")]
    # Keys a tool might use: the judgment id, the reviewer, none at all.
    keyed = [
        ((j.judgment_id.encode(), j.reviewer_id.encode(), None)[n % 3], j) for n, j in enumerate(judgments)
    ]
    first = [item for item in keyed if item[1].task_id in {t.task_id for t in early}]
    rest = [item for item in keyed if item not in first]

    chosen = produce_with_defaults(settings, JUDGMENTS, first)  # these overtake their tasks
    _send(settings, *tasks)  # the escalation service's producer: murmur2 by task id
    chosen += produce_with_defaults(settings, JUDGMENTS, rest)

    misplaced = sum(
        partition != partition_for(j.task_id.encode(), settings.partitions)
        for partition, (_, j) in zip(chosen, [*first, *rest], strict=True)
    )
    assert misplaced > 0, "every judgment landed on its task's partition by chance: nothing was tested"

    def settled() -> bool:
        return len(_resolved(settings)) == len(tasks)

    _await(settled, "every task settles", review)
    resolved = _resolved(settings).values()
    assert {r.task.task_id for r in resolved} == {t.task_id for t in tasks}
    assert all(len(r.judgment_ids) == 2 and r.verdict == Verdict.unsafe for r in resolved)
    events = "flagstream_events_total"
    assert wait_until(lambda: review.metric(events, outcome="repartitioned") >= misplaced, timeout=30)
    assert review.metric(events, outcome="repartitioned") == misplaced
    assert review.metric(events, outcome="duplicate_judgment") == 0


def test_interactions_and_consent_with_default_partitioner_meet_their_ledger(
    settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "privacy_gate.log"
    gate = Gate(settings, log)
    try:
        granting = [f"subject-g{n}-{uuid.uuid4().hex[:6]}" for n in range(4)]
        revoking = [f"subject-r{n}-{uuid.uuid4().hex[:6]}" for n in range(4)]
        events = [consent(s, True, True, NOW - timedelta(minutes=10)) for s in granting]
        events += [consent(s, False, False, NOW - timedelta(minutes=10)) for s in revoking]
        # The consent service keys by event id (the topic is compacted: a key is required).
        placed = produce_with_defaults(settings, CONSENT, [(e.event_id.encode(), e) for e in events])
        decided = ("consent_recorded", "consent_revoked")
        assert wait_until(
            lambda: sum(gate.count(o) for o in decided) >= len(events), timeout=180, interval=0.3
        ), {o: gate.count(o) for o in decided}

        # A grant in the ledger outranks the snapshot's old denial; a revocation, its old grant.
        kept = [flagged(s, OLD_DENIAL, NOW - timedelta(minutes=5)) for s in granting]
        dropped = [flagged(s, OLD_GRANT, NOW - timedelta(minutes=5)) for s in revoking]
        items = [*kept, *dropped]
        placed += produce_with_defaults(
            settings,
            INTERACTIONS,
            [(i.interaction_id.encode() if n % 2 else None, i) for n, i in enumerate(items)],
        )
        gate.wait({"keep": len(kept), "dropped": len(dropped)})

        records = [*events, *items]
        misplaced = sum(
            partition != partition_for(r.subject_id.encode(), settings.partitions)  # type: ignore[attr-defined]
            for partition, r in zip(placed, records, strict=True)
        )
        assert misplaced > 0, "every record landed on its subject's partition by chance"
        gate.wait({"repartitioned": misplaced})
        assert gate.count("repartitioned") == misplaced

        passed = redacted(settings)
        assert set(passed) == {i.interaction_id for i in kept}
        assert all(r.training_allowed for r in passed.values())
        decisions = {(a.interaction_id, a.decision, a.reason) for a in audits(settings) if a.interaction_id}
        for item in dropped:
            assert (item.interaction_id, "drop", "no_human_review_consent") in decisions
    finally:
        gate.stop()
    text = log.read_text(errors="replace")
    assert not any(s in text for s in (*granting, *revoking)), "a raw subject id reached the gate's log"

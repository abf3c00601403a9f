"""The sink loop on the in-memory writer: four tables, exactly once across them, erasure, gold and consent."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from deltalake import DeltaTable
from sink_factories import EVENT_TIME, make_resolved
from sink_fakes import CODEC, AssigningConsumer, FakeConsumer, FakeMessage, FakeProducer, RefusingConsumer

from services.contracts.models import Candidate, ResolvedJudgment, Verdict
from services.dataset_sink.app import TABLES, DatasetSink
from services.dataset_sink.domain import ERASURE_LEDGER, LEDGER_SCHEMAS, SAFETY_LABELS
from services.dataset_sink.writer import DeltaDatasetWriter
from services.runtime.metrics import Metrics
from services.runtime.settings import Settings
from services.runtime.topics import ERASURES, RESOLVED
from tests.support.memory_writer import InMemoryDatasetWriter
from tests.support.samples import sample_erasure_request


@pytest.fixture
def sink(tmp_path: Path) -> DatasetSink:
    settings = Settings(data_dir=tmp_path, topic_prefix="t-", heldout_fraction=0.5)
    return DatasetSink(
        settings,
        Metrics("dataset_sink"),
        writer=InMemoryDatasetWriter("g"),
        ledger=InMemoryDatasetWriter("g", schemas=LEDGER_SCHEMAS),
        producer=FakeProducer(),
    )


def _feed(sink: DatasetSink, *records: tuple[str, int, int, Any]) -> None:
    for topic, partition, offset, record in records:
        sink.take(FakeMessage(f"t-{topic}", partition, offset, CODEC.encode(record)))
    sink.flush(FakeConsumer())  # type: ignore[arg-type]


def _another_worker(sink: DatasetSink) -> DatasetSink:
    """A second sink process of the same deployment (same tables), started now: it reads the erasure
    ledger, then gets partition 0 assigned."""
    other = DatasetSink(
        sink.settings,
        Metrics("dataset_sink"),
        writer=sink.writer,
        ledger=sink.ledger,
        producer=FakeProducer(),
    )
    other.erasures.load_ledger()
    other.on_assign(AssigningConsumer(), [TopicPartition(f"t-{RESOLVED}", 0)])  # type: ignore[arg-type]
    return other


def _rows(sink: DatasetSink, table: str) -> list[dict[str, Any]]:
    writer = sink.writer
    assert isinstance(writer, InMemoryDatasetWriter)
    return writer.rows(table)


def _preference(n: int) -> ResolvedJudgment:
    resolved = make_resolved(n, corrected_response=None, verdict=Verdict.safe, preferred_candidate_id="c1")
    interaction = resolved.task.interaction.model_copy(
        update={"candidates": [Candidate(candidate_id="c1", content="A better answer.")]}
    )
    return resolved.model_copy(update={"task": resolved.task.model_copy(update={"interaction": interaction})})


def _over_refusal(n: int) -> ResolvedJudgment:
    resolved = make_resolved(n, verdict=Verdict.over_refusal, corrected_response="Here is how: ...")
    return resolved.model_copy(update={"task": resolved.task.model_copy(update={"queue": "over_refusal"})})


def test_each_judgment_lands_in_the_tables_it_belongs_to(sink: DatasetSink) -> None:
    _feed(
        sink,
        (RESOLVED, 0, 0, make_resolved(1)),  # unsafe with a rewrite: labels, preference, demonstration
        (RESOLVED, 0, 1, _preference(2)),  # a reviewer preference between candidates
        (RESOLVED, 1, 0, _over_refusal(3)),  # a refusal judged an over-refusal
        (RESOLVED, 1, 1, make_resolved(4, corrected_response=None, verdict=Verdict.safe)),  # a label only
    )
    ids = {t: sorted(r["interaction_id"] for r in _rows(sink, t)) for t in TABLES}
    assert ids == {
        "safety_labels": ["int-000001", "int-000002", "int-000003", "int-000004"],
        "preferences": ["int-000001", "int-000002", "int-000003"],
        "demonstrations": ["int-000001", "int-000003"],
        "refusal_audit": ["int-000003"],
    }
    pref = {r["interaction_id"]: r for r in _rows(sink, "preferences")}
    assert pref["int-000002"]["chosen"] == "A better answer."
    assert pref["int-000002"]["pair_source"] == "reviewer_preference"
    assert pref["int-000001"]["rejected"] == "Here is how to pick a lock: ..."
    assert pref["int-000001"]["pair_source"] == "reviewer_correction"
    demo = _rows(sink, "demonstrations")[0]
    assert [(m["role"], m["train"]) for m in demo["messages"]] == [
        ("system", False),
        ("user", False),
        ("assistant", True),
    ]
    refusal = _rows(sink, "refusal_audit")[0]
    assert refusal["request"].startswith("My email is") and refusal["better_reply"] == "Here is how: ..."
    # Every row of every table carries provenance and the same split as its safety label.
    split = {r["resolution_id"]: r["split"] for r in _rows(sink, "safety_labels")}
    for table in TABLES:
        for row in _rows(sink, table):
            assert row["split"] == split[row["resolution_id"]]
            assert row["escalation_policy_version"] == "escalation-5"
            assert row["decoder"]["temperature"] == 0.7
            assert row["reviewer_pseudonyms"] == ["rev-a", "rev-b", "rev-c"]
            assert row["consent_training"] is True
    audits = sink.producer.audits()
    assert sorted((a.decision, a.interaction_id) for a in audits) == [
        ("written", f"int-00000{n}") for n in range(1, 5)
    ]
    assert {tuple(sorted(a.policy_versions.items())) for a in audits} == {
        (
            ("escalation", "escalation-5"),
            ("guardrail", "guardrails-14"),
            ("redaction", "redaction-3"),
            ("rubric", "2.1"),
        )
    }


def test_replays_are_skipped_per_table_and_safety_labels_is_the_resume_point(sink: DatasetSink) -> None:
    _feed(sink, (RESOLVED, 0, 0, make_resolved(1)), (RESOLVED, 0, 1, make_resolved(2)))
    writer = sink.writer
    assert isinstance(writer, InMemoryDatasetWriter)
    # A crash mid-write: the next batch reached preferences and demonstrations, not safety_labels.
    sink.take(FakeMessage("t-" + RESOLVED, 0, 2, CODEC.encode(make_resolved(3))))
    for table in ("preferences", "demonstrations"):
        sink.batch_commit.write_table(table, sink.intake.batch.items, {("t-" + RESOLVED, 0)})
    assert writer.committed_offsets("safety_labels", "t-" + RESOLVED, [0]) == {0: 1}
    # The restarted sink replays the partition from the start: every table keeps each judgment once.
    restarted = _another_worker(sink)
    _feed(
        restarted,
        (RESOLVED, 0, 0, make_resolved(1)),
        (RESOLVED, 0, 1, make_resolved(2)),
        (RESOLVED, 0, 2, make_resolved(3)),
    )
    for table in ("safety_labels", "preferences", "demonstrations"):
        ids = [r["interaction_id"] for r in _rows(sink, table)]
        assert sorted(ids) == ["int-000001", "int-000002", "int-000003"], table
        assert writer.committed_offsets(table, "t-" + RESOLVED, [0]) == {0: 2}


def test_gold_consentless_and_erased_subjects_are_not_written(sink: DatasetSink) -> None:
    gold = make_resolved(1)
    gold = gold.model_copy(update={"task": gold.task.model_copy(update={"is_gold": True})})
    no_training = make_resolved(2)
    no_training = no_training.model_copy(
        update={
            "task": no_training.task.model_copy(
                update={
                    "interaction": no_training.task.interaction.model_copy(update={"training_allowed": False})
                }
            )
        }
    )
    _feed(sink, (RESOLVED, 0, 0, gold), (RESOLVED, 0, 1, no_training))
    assert all(not _rows(sink, t) for t in TABLES)
    reasons = sorted(a.reason for a in sink.producer.audits())
    assert reasons == ["gold_task", "training_not_allowed"]


def test_erasure_removes_the_subject_from_every_table_and_blocks_later_rows(sink: DatasetSink) -> None:
    mine = [make_resolved(n) for n in (5, 5 + 97)]  # subject pseudonym is n % 97: the same subject
    subject = mine[0].task.interaction.subject_pseudonym
    assert mine[1].task.interaction.subject_pseudonym == subject
    _feed(
        sink,
        (RESOLVED, 0, 0, mine[0]),
        (RESOLVED, 0, 1, make_resolved(6)),
        (RESOLVED, 0, 2, _over_refusal(5 + 2 * 97)),
    )
    assert any(r["subject_pseudonym"] == subject for t in TABLES for r in _rows(sink, t))
    request = sample_erasure_request(subject_pseudonym=subject, requested_at=EVENT_TIME + timedelta(days=1))
    _feed(sink, (ERASURES, 0, 0, request), (RESOLVED, 0, 3, mine[1]))
    for table in TABLES:
        assert not [r for r in _rows(sink, table) if r["subject_pseudonym"] == subject], table
    assert [r["interaction_id"] for r in _rows(sink, "safety_labels")] == ["int-000006"]
    ledger = sink.ledger
    assert isinstance(ledger, InMemoryDatasetWriter)
    (entry,) = ledger.rows(ERASURE_LEDGER)
    assert subject not in str(entry)  # the ledger holds a hash, never the pseudonym
    erased = [a for a in sink.producer.audits() if a.decision == "erased"]
    assert len(erased) == 1 and erased[0].details["rows.safety_labels"] == "2"
    not_written = [a for a in sink.producer.audits() if a.reason == "subject_erased"]
    assert [a.interaction_id for a in not_written] == ["int-000102"]
    # A judgment of the same subject about a later interaction (consent given again) is new data.
    later = make_resolved(5 + 3 * 97, event_time=EVENT_TIME + timedelta(days=2))
    _feed(sink, (RESOLVED, 0, 4, later))
    assert [r["interaction_id"] for r in _rows(sink, "safety_labels")] == ["int-000006", "int-000296"]
    # A replayed erasure is applied once.
    _feed(sink, (ERASURES, 0, 0, request))
    assert len(ledger.rows(ERASURE_LEDGER)) == 1


def test_a_resolution_emitted_twice_is_written_once_even_across_restarts(sink: DatasetSink) -> None:
    # review is at least once: the same resolution can come back at a later offset
    _feed(sink, (RESOLVED, 0, 0, make_resolved(1)), (RESOLVED, 0, 1, make_resolved(1)))
    _feed(sink, (RESOLVED, 0, 2, make_resolved(1)), (RESOLVED, 0, 3, make_resolved(2)))
    restarted = _another_worker(sink)
    _feed(restarted, (RESOLVED, 0, 4, make_resolved(2)), (RESOLVED, 0, 5, make_resolved(1)))
    for table in ("safety_labels", "preferences", "demonstrations"):
        assert sorted(r["resolution_id"] for r in _rows(sink, table)) == ["res-000001", "res-000002"], table
    written = [a.interaction_id for a in sink.producer.audits() if a.decision == "written"]
    assert sorted(written) == ["int-000001", "int-000002"]
    assert restarted.producer.audits() == []


def test_a_partition_taken_over_from_another_worker_knows_what_that_worker_wrote(
    sink: DatasetSink,
) -> None:
    # Two workers of one group on the same tables; `late` loaded its state before `sink` wrote.
    late = _another_worker(sink)
    _feed(sink, (RESOLVED, 0, 0, make_resolved(1)))
    consumer = AssigningConsumer()
    late.on_assign(consumer, [TopicPartition(f"t-{RESOLVED}", 0)])  # type: ignore[arg-type]
    assert [(p.partition, p.offset) for p in consumer.assigned] == [(0, 1)]  # after the txn version
    # review emits the same resolution again at a later offset: it is a duplicate, not a second row
    _feed(late, (RESOLVED, 0, 1, make_resolved(1)), (RESOLVED, 0, 2, make_resolved(2)))
    for table in ("safety_labels", "preferences", "demonstrations"):
        assert sorted(r["resolution_id"] for r in _rows(sink, table)) == ["res-000001", "res-000002"], table
    assert [a.interaction_id for a in late.producer.audits() if a.decision == "written"] == ["int-000002"]


def test_each_table_is_compacted_after_the_configured_number_of_commits(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, topic_prefix="t-", sink_compact_commits=3)
    sink = DatasetSink(
        settings,
        Metrics("dataset_sink"),
        writer=DeltaDatasetWriter(tmp_path / "datasets", "g"),
        ledger=InMemoryDatasetWriter("g", schemas=LEDGER_SCHEMAS),
        producer=FakeProducer(),
    )
    for n in range(3):
        assert not sink.maintenance.compaction_due()
        _feed(sink, (RESOLVED, 0, n, make_resolved(n)))
    assert sink.maintenance.compaction_due()
    sink.maintenance.compact()
    assert not sink.maintenance.compaction_due()
    labels = DeltaTable(str(tmp_path / "datasets" / SAFETY_LABELS))
    assert len(labels.file_uris()) == 1
    assert sorted(labels.to_pyarrow_table(columns=["resolution_id"]).column(0).to_pylist()) == [
        "res-000000",
        "res-000001",
        "res-000002",
    ]
    assert labels.history(1)[0]["operation"] == "OPTIMIZE"


def test_a_refused_offset_commit_keeps_the_sink_running_and_is_retried(sink: DatasetSink) -> None:
    """NOT_COORDINATOR while the broker restarts is not a reason to stop the sink."""
    consumer = RefusingConsumer(KafkaError.NOT_COORDINATOR)
    sink.take(FakeMessage("t-" + RESOLVED, 2, 7, CODEC.encode(make_resolved(1))))
    sink.flush(consumer)  # type: ignore[arg-type]
    assert len(_rows(sink, SAFETY_LABELS)) == 1  # the Delta commit stands; it holds the offsets
    assert [(tp.partition, tp.offset) for tp in sink.offsets.uncommitted] == [(2, 8)]
    consumer.refuse = False
    sink.take(FakeMessage("t-" + RESOLVED, 1, 3, CODEC.encode(make_resolved(2))))
    sink.flush(consumer)  # type: ignore[arg-type]
    assert sorted((tp.partition, tp.offset) for tp in consumer.commits[-1]) == [(1, 4), (2, 8)]
    assert sink.offsets.uncommitted == []


def test_offsets_of_revoked_partitions_are_not_retried(sink: DatasetSink) -> None:
    consumer = RefusingConsumer(KafkaError.REBALANCE_IN_PROGRESS)
    sink.take(FakeMessage("t-" + RESOLVED, 2, 7, CODEC.encode(make_resolved(1))))
    sink.flush(consumer)  # type: ignore[arg-type]
    sink.on_revoke(consumer, [TopicPartition("t-" + RESOLVED, 2)])  # type: ignore[arg-type]
    assert sink.offsets.uncommitted == []


def test_other_offset_commit_errors_still_stop_the_sink(sink: DatasetSink) -> None:
    consumer = RefusingConsumer(KafkaError.GROUP_AUTHORIZATION_FAILED)
    sink.take(FakeMessage("t-" + RESOLVED, 2, 7, CODEC.encode(make_resolved(1))))
    with pytest.raises(KafkaException):
        sink.flush(consumer)  # type: ignore[arg-type]

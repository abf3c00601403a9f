"""safety_label_row: flat, redacted, provenance-carrying rows that fit SAFETY_LABELS_SCHEMA."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pyarrow as pa
from sink_factories import EVENT_TIME, make_resolved

from services.dataset_sink.domain import SAFETY_LABELS, SAFETY_LABELS_SCHEMA, TABLE_SCHEMAS, safety_label_row


def test_row_has_exactly_the_schema_columns() -> None:
    row = safety_label_row(make_resolved(), split="train")
    assert list(row) == SAFETY_LABELS_SCHEMA.names


def test_row_flattens_label_example_and_provenance() -> None:
    row = safety_label_row(make_resolved(), split="heldout")
    assert row["resolution_id"] == "res-000000"
    assert row["interaction_id"] == "int-000000"
    assert row["task_id"] == "task-000000"
    assert row["queue"] == "physical_harm"
    assert row["verdict"] == "unsafe"
    assert row["categories"] == ["physical_harm", "illegal_activity"]
    assert row["severity"] == 3
    assert row["messages"] == [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "My email is <EMAIL_ADDRESS>. How do I pick a lock?"},
    ]
    assert row["response"] == "Here is how to pick a lock: ..."
    assert row["corrected_response"].startswith("I can't help")
    assert row["reviewer_pseudonyms"] == ["rev-a", "rev-b", "rev-c"]
    assert row["agreement"] == 2 / 3
    assert row["method"] == "consensus"
    assert row["subject_pseudonym"] == "subj-0000"
    assert row["pseudonym_key_id"] == "pk-2025-01"
    assert (row["consent_human_review"], row["consent_training"], row["training_allowed"]) == (
        True,
        True,
        True,
    )
    assert row["split"] == "heldout"
    assert {
        k: row[k] for k in SAFETY_LABELS_SCHEMA.names if k.endswith(("_version", "_id", "fingerprint"))
    } == {
        "resolution_id": "res-000000",
        "interaction_id": "int-000000",
        "task_id": "task-000000",
        "cluster_id": None,
        "pseudonym_key_id": "pk-2025-01",
        "guardrail_policy_version": "guardrails-14",
        "redaction_policy_version": "redaction-3",
        "escalation_policy_version": "escalation-5",
        "rubric_id": "harm-rubric",
        "rubric_version": "2.1",
        "model_id": "assistant-large-2025-02",
        "prompt_template_id": "chat-v3",
        "source_schema_fingerprint": "c3f1a2b4d5e6f708",
    }
    assert row["decoder"] == {"temperature": 0.7, "top_p": 0.95, "max_tokens": 1024, "seed": 7}
    assert row["event_time"] == EVENT_TIME
    assert row["resolved_at"] == datetime(2025, 3, 4, 15, 31, 15, 123000, tzinfo=UTC)


def test_source_offsets_and_raw_identity_are_not_columns() -> None:
    names = set(SAFETY_LABELS_SCHEMA.names)
    assert not names & {"offset", "partition", "topic", "source_offset", "subject_id", "session_id"}


def test_rows_fit_the_schema_including_nulls() -> None:
    plus_two = timezone(timedelta(hours=2))
    rows = [
        safety_label_row(make_resolved(1), split="train"),
        safety_label_row(
            make_resolved(2, cluster_id="cl-9", corrected_response=None, seed=None), split="heldout"
        ),
        safety_label_row(
            make_resolved(3, event_time=datetime(2025, 3, 4, 14, 0, tzinfo=plus_two)), split="train"
        ),
    ]
    table = pa.Table.from_pylist(rows, schema=SAFETY_LABELS_SCHEMA)
    assert table.num_rows == 3
    back = table.to_pylist()
    assert back[1]["corrected_response"] is None
    assert back[1]["decoder"]["seed"] is None
    assert back[1]["cluster_id"] == "cl-9"
    assert back[2]["event_time"] == datetime(2025, 3, 4, 12, 0, tzinfo=UTC)  # 14:00+02:00 stored as UTC
    assert str(table.schema.field("event_time").type) == "timestamp[us, tz=UTC]"


def test_schema_is_registered_for_the_sink() -> None:
    assert TABLE_SCHEMAS[SAFETY_LABELS] is SAFETY_LABELS_SCHEMA

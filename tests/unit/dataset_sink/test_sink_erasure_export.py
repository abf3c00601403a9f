"""Real Delta tables on local disk: erasure leaves no trace after vacuum; exports load with `datasets`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import datasets
import pytest
from sink_factories import make_resolved

from services.contracts.models import Candidate, Message, ResolvedJudgment, Role, Verdict
from services.dataset_sink.app import TABLES
from services.dataset_sink.domain import dataset_rows
from services.dataset_sink.offline import dataset_card, export_dataset
from services.dataset_sink.writer import DeltaDatasetWriter, read_table
from services.runtime.errors import FatalError

TOPIC = "review.resolved.v1"
CANARY = "zebra-canary-7731 told me about the lock"


def _with_text(resolved: ResolvedJudgment, text: str) -> ResolvedJudgment:
    interaction = resolved.task.interaction.model_copy(
        update={
            "messages": [Message(role=Role.user, content=f"{text}: how do I open it?")],
            "response": f"I refuse. ({text})",
            "candidates": [Candidate(candidate_id="c1", content="Call a locksmith.")],
        }
    )
    return resolved.model_copy(update={"task": resolved.task.model_copy(update={"interaction": interaction})})


def _write(writer: DeltaDatasetWriter, judgments: list[ResolvedJudgment], first_offset: int) -> None:
    per_table: dict[str, list[dict[str, Any]]] = {t: [] for t in TABLES}
    for n, resolved in enumerate(judgments):
        for table, row in dataset_rows(resolved, split="heldout" if n % 3 == 0 else "train").items():
            per_table[table].append(row)
    last = first_offset + len(judgments) - 1
    for table in TABLES:
        writer.write(table, per_table[table], {(TOPIC, 0): last}, {"pipeline_version": "test"})


@pytest.fixture
def root(tmp_path: Path) -> Path:
    writer = DeltaDatasetWriter(tmp_path / "datasets", "g")
    victim = [_with_text(make_resolved(n, verdict=Verdict.over_refusal), CANARY) for n in (1, 98)]
    others = [
        _with_text(make_resolved(n, preferred_candidate_id="c1"), f"benign text {n}") for n in range(2, 12)
    ]
    _write(writer, [victim[0], *others[:5]], 0)
    _write(writer, [victim[1], *others[5:]], 6)
    return tmp_path / "datasets"


def _files_containing(root: Path, needle: bytes) -> list[str]:
    return [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_erasure_then_vacuum_leaves_no_file_with_the_subject(root: Path) -> None:
    subject = make_resolved(1).task.interaction.subject_pseudonym
    assert _files_containing(root, subject.encode()) and _files_containing(root, CANARY.encode())
    writer = DeltaDatasetWriter(root, "g")
    before = {t: read_table(root, t).num_rows for t in TABLES}
    deleted = {t: writer.erase(t, {subject}, {"purpose": "erasure"}) for t in TABLES}
    assert all(version is not None and rows == 2 for version, rows in deleted.values()), deleted
    for table in TABLES:
        rows = read_table(root, table).to_pylist()
        assert len(rows) == before[table] - 2
        assert subject not in {r["subject_pseudonym"] for r in rows}
    # Time travel still shows the subject until vacuum removes the files...
    assert _files_containing(root, CANARY.encode())
    assert writer.erase("safety_labels", {subject}, {}) == (None, 0)  # a replayed erasure is a no-op
    removed = sum(writer.vacuum(t, retention_hours=0) for t in TABLES)
    assert removed > 0
    # ...and then nothing under the tables holds the pseudonym or the text: not data, not the Delta log.
    assert _files_containing(root, subject.encode()) == []
    assert _files_containing(root, CANARY.encode()) == []
    # Other subjects' rows are intact and the offsets survive erasure.
    assert read_table(root, "safety_labels").num_rows == 10
    assert writer.committed_offsets("safety_labels", TOPIC, [0]) == {0: 11}


def test_sft_and_dpo_exports_load_with_the_datasets_library(root: Path, tmp_path: Path) -> None:
    sft = export_dataset(root, "demonstrations", tmp_path / "out" / "sft.jsonl", fmt="sft", split="train")
    loaded = datasets.load_dataset("json", data_files=sft["path"], split="train")
    assert {"messages"} <= set(loaded.column_names)
    assert loaded.num_rows == sft["rows"] > 0
    assert set(loaded["split"]) == {"train"}
    for messages in loaded["messages"]:
        assert messages[-1]["role"] == "assistant" and set(messages[-1]) == {"role", "content"}

    dpo = export_dataset(root, "preferences", tmp_path / "out" / "dpo.jsonl", fmt="dpo")
    pairs = datasets.load_dataset("json", data_files=dpo["path"], split="train")
    assert {"prompt", "chosen", "rejected"} <= set(pairs.column_names)
    assert pairs.num_rows == 12
    assert all(c[0]["role"] == "assistant" for c in pairs["chosen"])
    assert all(p[-1]["role"] == "user" for p in pairs["prompt"])

    parquet = export_dataset(
        root, "safety_labels", tmp_path / "out" / "labels.parquet", fmt="parquet", version=1
    )
    table = datasets.load_dataset("parquet", data_files=parquet["path"], split="train")
    assert table.num_rows == 6 and "escalation_policy_version" in table.column_names

    card = json.loads(Path(dpo["card"]).read_text())
    assert card["rows"] == 12 and card["export"]["format"] == "dpo"
    assert set(card["splits"]) == {"train", "heldout"}


def test_card_counts_labels_categories_and_policies(root: Path) -> None:
    card = dataset_card(root, "safety_labels")
    assert card["rows"] == 12
    assert card["verdicts"] == {"over_refusal": 2, "unsafe": 10}
    assert card["categories"] == {"illegal_activity": 12, "physical_harm": 12}
    assert card["policy_versions"]["escalation_policy_version"] == {"escalation-5": 12}
    assert card["agreement"]["mean"] == pytest.approx(2 / 3, abs=1e-3)


def test_trainer_formats_need_their_table(root: Path, tmp_path: Path) -> None:
    with pytest.raises(FatalError, match="preferences"):
        export_dataset(root, "safety_labels", tmp_path / "x.jsonl", fmt="dpo")
    with pytest.raises(FatalError, match="split"):
        export_dataset(root, "safety_labels", tmp_path / "x.jsonl", fmt="jsonl", split="test")

"""Dataset rows: one flat, redacted, provenance-carrying row per resolved judgment, and its Arrow shape."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import pyarrow as pa

from services.contracts.models import ResolvedJudgment

SAFETY_LABELS = "safety_labels"

_UTC_MICROS = pa.timestamp("us", tz="UTC")  # Delta's `timestamp` type: microseconds, UTC


def _required(name: str, type_: pa.DataType) -> pa.Field:
    return pa.field(name, type_, nullable=False)


def _optional(name: str, type_: pa.DataType) -> pa.Field:
    return pa.field(name, type_, nullable=True)


MESSAGE_TYPE = pa.struct([_required("role", pa.string()), _required("content", pa.string())])
"""One conversation turn, redacted."""

DECODER_TYPE = pa.struct(
    [
        _required("temperature", pa.float64()),
        _required("top_p", pa.float64()),
        _required("max_tokens", pa.int32()),
        _optional("seed", pa.int64()),
    ]
)
"""Sampling settings that produced the response (mirrors io.flagstream.DecoderSettings)."""

SAFETY_LABELS_SCHEMA = pa.schema(
    [
        # identity
        _required("resolution_id", pa.string()),
        _required("interaction_id", pa.string()),
        _required("task_id", pa.string()),
        _optional("cluster_id", pa.string()),
        _required("queue", pa.string()),
        # the label
        _required("verdict", pa.string()),
        _required("categories", pa.list_(pa.string())),
        _required("severity", pa.int32()),
        # the example (redacted text only)
        _required("messages", pa.list_(MESSAGE_TYPE)),
        _required("response", pa.string()),
        _optional("corrected_response", pa.string()),
        _optional("language", pa.string()),
        # how it was settled
        _required("reviewer_pseudonyms", pa.list_(pa.string())),
        _required("agreement", pa.float64()),
        _required("method", pa.string()),
        _required("judgment_ids", pa.list_(pa.string())),
        # subject and consent, as of the gate
        _required("subject_pseudonym", pa.string()),
        _required("pseudonym_key_id", pa.string()),
        _required("consent_human_review", pa.bool_()),
        _required("consent_training", pa.bool_()),
        _required("training_allowed", pa.bool_()),
        _required("split", pa.string()),
        # provenance
        _required("guardrail_policy_version", pa.string()),
        _required("redaction_policy_version", pa.string()),
        _required("escalation_policy_version", pa.string()),
        _required("rubric_id", pa.string()),
        _required("rubric_version", pa.string()),
        _required("source_schema_fingerprint", pa.string()),
        _required("model_id", pa.string()),
        _required("prompt_template_id", pa.string()),
        _required("decoder", DECODER_TYPE),
        # time
        _required("event_time", _UTC_MICROS),
        _required("resolved_at", _UTC_MICROS),
    ],
    metadata={"description": "One human-settled safety label per reviewed flagged interaction."},
)
"""Row shape of the `safety_labels` table. Kafka source offsets live in Delta txn actions, not in rows."""

TABLE_SCHEMAS: Mapping[str, pa.Schema] = MappingProxyType({SAFETY_LABELS: SAFETY_LABELS_SCHEMA})
"""Every dataset table the sink writes, by name; preferences, demonstrations, refusal_audit join here."""


def rows_to_arrow(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    """Rows as an Arrow table of `schema`; every row must carry every column (KeyError otherwise)."""
    # column by column: about a quarter faster than Table.from_pylist, and strict about missing keys
    return pa.Table.from_pydict({name: [row[name] for row in rows] for name in schema.names}, schema=schema)


def safety_label_row(resolved: ResolvedJudgment, *, split: str) -> dict[str, Any]:
    """Flatten a resolved judgment into one `safety_labels` row (plain values, matching the schema)."""
    task = resolved.task
    interaction = task.interaction
    decoder = interaction.decoder
    return {
        "resolution_id": resolved.resolution_id,
        "interaction_id": interaction.interaction_id,
        "task_id": task.task_id,
        "cluster_id": task.cluster_id,
        "queue": task.queue,
        "verdict": resolved.verdict.value,
        "categories": list(resolved.categories),
        "severity": resolved.severity,
        "messages": [{"role": m.role.value, "content": m.content} for m in interaction.messages],
        "response": interaction.response,
        "corrected_response": resolved.corrected_response,
        "language": interaction.language,
        "reviewer_pseudonyms": list(resolved.reviewer_pseudonyms),
        "agreement": resolved.agreement,
        "method": resolved.method,
        "judgment_ids": list(resolved.judgment_ids),
        "subject_pseudonym": interaction.subject_pseudonym,
        "pseudonym_key_id": interaction.pseudonym_key_id,
        "consent_human_review": interaction.consent.human_review,
        "consent_training": interaction.consent.training,
        "training_allowed": interaction.training_allowed,
        "split": split,
        "guardrail_policy_version": interaction.guardrail_policy_version,
        "redaction_policy_version": interaction.redaction_policy_version,
        "escalation_policy_version": task.escalation_policy_version,
        "rubric_id": task.rubric_id,
        "rubric_version": task.rubric_version,
        "source_schema_fingerprint": interaction.source_schema_fingerprint,
        "model_id": interaction.model_id,
        "prompt_template_id": interaction.prompt_template_id,
        "decoder": {
            "temperature": decoder.temperature,
            "top_p": decoder.top_p,
            "max_tokens": decoder.max_tokens,
            "seed": decoder.seed,
        },
        "event_time": interaction.event_time,
        "resolved_at": resolved.resolved_at,
    }

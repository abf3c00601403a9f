"""Dataset rows: one flat, redacted, provenance-carrying row per resolved judgment, and its Arrow shape."""

from __future__ import annotations

import operator
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

PREFERENCES = "preferences"
DEMONSTRATIONS = "demonstrations"
REFUSAL_AUDIT = "refusal_audit"

TURN_TYPE = pa.struct(
    [_required("role", pa.string()), _required("content", pa.string()), _required("train", pa.bool_())]
)
"""One turn of a demonstration; `train` is true only on the reviewer-written assistant reply."""

_IDENTITY = [
    _required("resolution_id", pa.string()),
    _required("interaction_id", pa.string()),
    _required("task_id", pa.string()),
    _optional("cluster_id", pa.string()),
    _required("queue", pa.string()),
]
# Settlement, subject, consent, split, provenance and time: the same columns, in the same order, as the
# tail of safety_labels, so one reader handles the provenance of every table.
_COMMON = [
    f
    for f in SAFETY_LABELS_SCHEMA
    if SAFETY_LABELS_SCHEMA.get_field_index(f.name)
    >= SAFETY_LABELS_SCHEMA.get_field_index("reviewer_pseudonyms")
]

PREFERENCES_SCHEMA = pa.schema(
    [
        *_IDENTITY,
        _required("prompt", pa.list_(MESSAGE_TYPE)),
        _required("chosen", pa.string()),
        _required("rejected", pa.string()),
        _required("pair_source", pa.string()),
        _required("verdict", pa.string()),
        *_COMMON,
    ],
    metadata={"description": "Reviewer preferences: the conversation so far, a chosen and a rejected reply."},
)
"""Row shape of `preferences` (DPO and reward-model training)."""

DEMONSTRATIONS_SCHEMA = pa.schema(
    [
        *_IDENTITY,
        _required("messages", pa.list_(TURN_TYPE)),
        _required("verdict", pa.string()),
        *_COMMON,
    ],
    metadata={"description": "The conversation ending in the reviewer's corrected assistant reply (SFT)."},
)
"""Row shape of `demonstrations`."""

REFUSAL_AUDIT_SCHEMA = pa.schema(
    [
        *_IDENTITY,
        _required("request", pa.string()),
        _required("refusal", pa.string()),
        _required("verdict", pa.string()),
        _required("categories", pa.list_(pa.string())),
        _optional("better_reply", pa.string()),
        *_COMMON,
    ],
    metadata={
        "description": "Refusals reviewers judged: the request, the refusal, the verdict, a better reply."
    },
)
"""Row shape of `refusal_audit`."""

TABLE_SCHEMAS: Mapping[str, pa.Schema] = MappingProxyType(
    {
        SAFETY_LABELS: SAFETY_LABELS_SCHEMA,
        PREFERENCES: PREFERENCES_SCHEMA,
        DEMONSTRATIONS: DEMONSTRATIONS_SCHEMA,
        REFUSAL_AUDIT: REFUSAL_AUDIT_SCHEMA,
    }
)
"""Every dataset table the sink writes, by name. safety_labels is written last in each batch (see app.py)."""

STATS_COLUMNS = (
    "resolution_id",
    "interaction_id",
    "task_id",
    "queue",
    "split",
    "agreement",
    "method",
    "guardrail_policy_version",
    "redaction_policy_version",
    "escalation_policy_version",
    "rubric_version",
    "model_id",
    "event_time",
    "resolved_at",
)
"""Columns Delta keeps min/max statistics for. No text and no pseudonym: statistics live in the Delta log,
which vacuum never rewrites, so a personal value there would outlive the subject's erasure."""


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


_SHARED_NAMES = tuple(f.name for f in (*_IDENTITY, *_COMMON))
_shared = operator.itemgetter(*_SHARED_NAMES)


def _common(row: dict[str, Any]) -> dict[str, Any]:
    """The identity and common columns of a safety_labels row, for the other tables."""
    return dict(zip(_SHARED_NAMES, _shared(row), strict=True))


def _prompt(resolved: ResolvedJudgment) -> list[dict[str, str]]:
    return [{"role": m.role.value, "content": m.content} for m in resolved.task.interaction.messages]


def preference_row(resolved: ResolvedJudgment, base: dict[str, Any]) -> dict[str, Any] | None:
    """A chosen/rejected pair, or None when the reviewers expressed no preference.

    A preferred candidate beats the flagged response (or, if the flagged response was preferred, the
    first candidate); otherwise a reviewer's rewrite of an unsafe or over-refusing response beats it.
    """
    interaction = resolved.task.interaction
    options = {c.candidate_id: c.content for c in interaction.candidates}
    preferred = resolved.preferred_candidate_id
    if preferred is not None and preferred in options:
        chosen, rejected, source = options[preferred], interaction.response, "reviewer_preference"
    elif preferred is not None and options:  # the flagged response itself was preferred
        chosen, rejected, source = interaction.response, next(iter(options.values())), "reviewer_preference"
    elif resolved.corrected_response and resolved.verdict.value in ("unsafe", "over_refusal"):
        chosen, rejected, source = resolved.corrected_response, interaction.response, "reviewer_correction"
    else:
        return None
    if chosen == rejected:
        return None
    return {
        **_common(base),
        "prompt": _prompt(resolved),
        "chosen": chosen,
        "rejected": rejected,
        "pair_source": source,
        "verdict": resolved.verdict.value,
    }


def demonstration_row(resolved: ResolvedJudgment, base: dict[str, Any]) -> dict[str, Any] | None:
    """The conversation ending in the reviewer's corrected reply, or None without a correction."""
    if not resolved.corrected_response:
        return None
    turns = [{**m, "train": False} for m in _prompt(resolved)]
    # only the reviewer-written reply carries loss: earlier assistant turns are model output nobody vetted
    turns.append({"role": "assistant", "content": resolved.corrected_response, "train": True})
    return {**_common(base), "messages": turns, "verdict": resolved.verdict.value}


def refusal_audit_row(resolved: ResolvedJudgment, base: dict[str, Any]) -> dict[str, Any] | None:
    """A reviewed refusal, or None when the item was neither an over-refusal queue item nor judged one."""
    task = resolved.task
    if task.queue != "over_refusal" and resolved.verdict.value != "over_refusal":
        return None
    users = [m.content for m in task.interaction.messages if m.role.value == "user"]
    return {
        **_common(base),
        "request": users[-1] if users else "",
        "refusal": task.interaction.response,
        "verdict": resolved.verdict.value,
        "categories": list(resolved.categories),
        "better_reply": resolved.corrected_response,
    }


def dataset_rows(resolved: ResolvedJudgment, *, split: str) -> dict[str, dict[str, Any]]:
    """Every table's row for one resolved judgment: always safety_labels, the others when they apply."""
    base = safety_label_row(resolved, split=split)
    rows = {SAFETY_LABELS: base}
    for table, build in (
        (PREFERENCES, preference_row),
        (DEMONSTRATIONS, demonstration_row),
        (REFUSAL_AUDIT, refusal_audit_row),
    ):
        row = build(resolved, base)
        if row is not None:
            rows[table] = row
    return rows

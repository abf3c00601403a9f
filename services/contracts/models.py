"""Pydantic mirrors of the Avro records in schemas/ (one class per named type, same field order)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator


def utcnow() -> datetime:
    """Now, in UTC, truncated to milliseconds (the precision of timestamp-millis)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class Record(BaseModel):
    """Base of every contract model: frozen, strict about unknown fields, knows its Avro name."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)
    avro_name: ClassVar[str] = ""

    @field_validator("*", mode="after")
    @classmethod
    def _utc(cls, value: object) -> object:
        if isinstance(value, datetime) and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Role(StrEnum):
    """Who wrote a conversation message."""

    system = "system"
    user = "user"
    assistant = "assistant"
    tool = "tool"


class GuardrailAction(StrEnum):
    """What the guardrail did with the response."""

    allow = "allow"
    flag = "flag"
    block = "block"
    rewrite = "rewrite"
    refuse = "refuse"


class Verdict(StrEnum):
    """A reviewer's verdict on the flagged response."""

    safe = "safe"
    unsafe = "unsafe"
    over_refusal = "over_refusal"
    unclear = "unclear"


class Message(Record):
    """One turn of the conversation."""

    avro_name: ClassVar[str] = "io.flagstream.Message"
    role: Role
    content: str


class Candidate(Record):
    """An alternative response for the same prompt."""

    avro_name: ClassVar[str] = "io.flagstream.Candidate"
    candidate_id: str
    content: str


class GuardrailSignal(Record):
    """One detector's opinion on the flagged response."""

    avro_name: ClassVar[str] = "io.flagstream.GuardrailSignal"
    category: str
    score: float
    threshold: float
    action: GuardrailAction
    detector_id: str
    detector_version: str


class DecoderSettings(Record):
    """Sampling settings that produced the response."""

    avro_name: ClassVar[str] = "io.flagstream.DecoderSettings"
    temperature: float
    top_p: float
    max_tokens: int
    seed: int | None = None


class UserFeedback(Record):
    """What the end user said about the response."""

    avro_name: ClassVar[str] = "io.flagstream.UserFeedback"
    reported: bool
    rating: int | None = None
    comment: str | None = None


class ConsentScopes(Record):
    """What the subject allows, as of a time."""

    avro_name: ClassVar[str] = "io.flagstream.ConsentScopes"
    human_review: bool
    training: bool
    updated_at: datetime


class FlaggedInteraction(Record):
    """An interaction an upstream guardrail flagged (raw personal data)."""

    avro_name: ClassVar[str] = "io.flagstream.FlaggedInteraction"
    interaction_id: str
    event_time: datetime
    subject_id: str
    session_id: str
    model_id: str
    prompt_template_id: str
    decoder: DecoderSettings
    guardrail_policy_version: str
    language: str | None = None
    messages: list[Message]
    response: str
    candidates: list[Candidate] = Field(default_factory=list)
    signals: list[GuardrailSignal]
    feedback: UserFeedback | None = None
    consent: ConsentScopes

    def policy_versions(self) -> dict[str, str]:
        """Versions of the policies that shaped this record, by policy (audit events record them)."""
        return {"guardrail": self.guardrail_policy_version}


class RedactedInteraction(Record):
    """A flagged interaction after the privacy gate."""

    avro_name: ClassVar[str] = "io.flagstream.RedactedInteraction"
    interaction_id: str
    event_time: datetime
    gated_at: datetime
    subject_pseudonym: str
    session_pseudonym: str
    pseudonym_key_id: str
    model_id: str
    prompt_template_id: str
    decoder: DecoderSettings
    guardrail_policy_version: str
    language: str | None = None
    messages: list[Message]
    response: str
    candidates: list[Candidate] = Field(default_factory=list)
    signals: list[GuardrailSignal]
    feedback: UserFeedback | None = None
    consent: ConsentScopes
    training_allowed: bool
    redaction_policy_version: str
    entities_redacted: dict[str, int]
    source_schema_fingerprint: str

    def policy_versions(self) -> dict[str, str]:
        """Versions of the policies that shaped this record, by policy (audit events record them)."""
        return {"redaction": self.redaction_policy_version, "guardrail": self.guardrail_policy_version}


class ReviewTask(Record):
    """A request for human review."""

    avro_name: ClassVar[str] = "io.flagstream.ReviewTask"
    task_id: str
    interaction_id: str
    queue: str
    priority: int
    risk_score: float
    rule: str
    escalation_policy_version: str
    created_at: datetime
    deadline: datetime
    required_reviewers: int
    rubric_id: str
    rubric_version: str
    cluster_id: str | None = None
    is_gold: bool = False
    interaction: RedactedInteraction
    adjudicates: str | None = None
    prior_judgment_ids: list[str] = Field(default_factory=list)
    prior_reviewer_pseudonyms: list[str] = Field(default_factory=list)
    prior_verdicts: list[str] = Field(default_factory=list)

    def policy_versions(self) -> dict[str, str]:
        """Versions of the policies that made this task (its interaction has its own)."""
        return {"escalation": self.escalation_policy_version, "rubric": self.rubric_version}


class Judgment(Record):
    """One reviewer's judgment of a task."""

    avro_name: ClassVar[str] = "io.flagstream.Judgment"
    judgment_id: str
    task_id: str
    interaction_id: str
    queue: str
    reviewer_id: str
    verdict: Verdict
    categories: list[str] = Field(default_factory=list)
    severity: int
    corrected_response: str | None = None
    preferred_candidate_id: str | None = None
    rationale: str | None = None
    rubric_version: str
    submitted_at: datetime


class ResolvedJudgment(Record):
    """The settled outcome of a review task."""

    avro_name: ClassVar[str] = "io.flagstream.ResolvedJudgment"
    resolution_id: str
    task: ReviewTask
    verdict: Verdict
    categories: list[str] = Field(default_factory=list)
    severity: int
    corrected_response: str | None = None
    preferred_candidate_id: str | None = None
    reviewer_pseudonyms: list[str]
    agreement: float
    method: str
    judgment_ids: list[str]
    resolved_at: datetime


class ConsentEvent(Record):
    """A consent grant or revocation (raw subject id)."""

    avro_name: ClassVar[str] = "io.flagstream.ConsentEvent"
    event_id: str
    subject_id: str
    human_review: bool
    training: bool
    event_time: datetime
    source: str


class ErasureRequest(Record):
    """Erase a subject's rows from the datasets."""

    avro_name: ClassVar[str] = "io.flagstream.ErasureRequest"
    request_id: str
    subject_pseudonym: str
    pseudonym_key_id: str
    scopes: list[str]
    requested_at: datetime
    reason: str


class AuditEvent(Record):
    """One decision a stage made."""

    avro_name: ClassVar[str] = "io.flagstream.AuditEvent"
    event_id: str
    service: str
    decision: str
    reason: str
    interaction_id: str | None = None
    subject_pseudonym: str | None = None
    policy_versions: dict[str, str]
    details: dict[str, str] = Field(default_factory=dict)
    occurred_at: datetime


TOP_LEVEL: tuple[type[Record], ...] = (
    FlaggedInteraction,
    ConsentEvent,
    RedactedInteraction,
    ReviewTask,
    Judgment,
    ResolvedJudgment,
    ErasureRequest,
    AuditEvent,
)
"""The records that travel on topics as whole events."""

"""The escalation policy: review queues, ordered routing rules and risk weights, from versioned YAML."""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from services.contracts.models import GuardrailAction
from services.runtime.errors import PolicyError
from services.runtime.topics import QUEUES, unknown_queues

DEFAULT_QUEUE_RULE = "default_queue"
"""The `rule` recorded when nothing matched and the policy's default queue took the interaction."""

NO_RULE_MATCHED = "no_rule_matched"
"""The reason recorded when nothing matched and the interaction is not escalated."""

CALIBRATION_RULE = "calibration_sample"
"""The `rule` recorded when an unescalated interaction was drawn into the calibration sample."""

# Queue names become Kafka topic names (review.tasks.<queue>.v1); rule names become metric labels.
Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
NonEmpty = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]
UnitFloat = Annotated[float, Field(ge=0.0, le=1.0)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class QueueSpec(_Frozen):
    """One review queue: how urgent, how fast, how many reviewers, which rubric."""

    priority: int = Field(ge=0, description="0 is most urgent.")
    sla_minutes: int = Field(gt=0, description="Time from task creation to its deadline.")
    reviewers: int = Field(ge=1, description="Reviewers each task of this queue needs.")
    rubric_id: NonEmpty
    rubric_version: NonEmpty
    hourly_budget: int | None = Field(
        default=None, ge=0, description="Tasks per UTC hour; none: never budget-limited (urgent)."
    )
    dedup: bool = Field(
        default=True, description="Near-duplicates beyond dedup.max_tasks_per_cluster are not reviewed."
    )


class RuleMatch(_Frozen):
    """Conditions of one rule; every condition given must hold, conditions left out are not checked.

    Signal conditions (`categories`, `actions`, `above_threshold`, `min_score`, `near_threshold`) must all
    hold for one and the same guardrail signal. The others look at the whole interaction.
    """

    categories: list[NonEmpty] | None = Field(
        default=None, min_length=1, description="The signal's category is one of these (case-insensitive)."
    )
    actions: list[GuardrailAction] | None = Field(
        default=None, min_length=1, description="The guardrail took one of these actions on the signal."
    )
    above_threshold: bool | None = Field(
        default=None, description="true: the signal scored >= its threshold; false: it scored below."
    )
    min_score: UnitFloat | None = Field(default=None, description="The signal scored >= this.")
    near_threshold: UnitFloat | None = Field(
        default=None, description="The signal's score is within this distance of its threshold, either side."
    )
    any_above_threshold: bool | None = Field(
        default=None, description="true: some signal scored >= its threshold; false: none did."
    )
    user_reported: bool | None = Field(default=None, description="The end user reported the response.")
    min_candidates: int | None = Field(
        default=None, ge=1, description="The interaction carries at least this many candidates."
    )
    languages: list[NonEmpty] | None = Field(
        default=None,
        min_length=1,
        description="The interaction's language is one of these (case-insensitive).",
    )

    @field_validator("categories", "languages")
    @classmethod
    def _casefold(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [item.casefold() for item in value]

    @cached_property
    def has_signal_conditions(self) -> bool:
        """Whether the rule needs some single signal to satisfy its signal conditions."""
        signal_conditions = (
            self.categories,
            self.actions,
            self.above_threshold,
            self.min_score,
            self.near_threshold,
        )
        return any(condition is not None for condition in signal_conditions)

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if all(value is None for value in self.__dict__.values()):
            raise ValueError("a rule needs at least one condition (use default_queue for a catch-all)")
        return self


class Rule(_Frozen):
    """A named rule: when its conditions match, the interaction goes to its queue."""

    name: Identifier
    queue: Identifier
    match: RuleMatch
    priority: int | None = Field(default=None, ge=0, description="Overrides the queue's priority.")


class RiskWeights(_Frozen):
    """Relative weights of the risk-score components; the score is their weighted mean, in [0, 1]."""

    max_score: float = Field(ge=0.0, description="Highest signal score.")
    margin: float = Field(ge=0.0, description="How far the worst signal went past its threshold.")
    user_report: float = Field(ge=0.0, description="The end user reported the response.")
    block_action: float = Field(ge=0.0, description="The guardrail blocked the response.")

    @model_validator(mode="after")
    def _some_weight(self) -> Self:
        if self.total <= 0.0:
            raise ValueError("at least one risk weight must be positive")
        return self

    @property
    def total(self) -> float:
        """Sum of the weights, the divisor of the weighted mean."""
        return self.max_score + self.margin + self.user_report + self.block_action


class ValueWeights(_Frozen):
    """How much a label would teach: weighted mean of uncertainty (score near threshold) and risk."""

    uncertainty: float = Field(default=0.6, ge=0.0, description="Closeness of a score to its threshold.")
    risk: float = Field(default=0.4, ge=0.0, description="The interaction's risk score.")

    @model_validator(mode="after")
    def _some_weight(self) -> Self:
        if self.uncertainty + self.risk <= 0.0:
            raise ValueError("at least one value weight must be positive")
        return self


class SamplingSpec(_Frozen):
    """Sampling of what the rules did not escalate, and the width of the uncertainty band."""

    calibration_rate: UnitFloat = Field(
        default=0.0, description="Share of unescalated interactions sent to the calibration queue."
    )
    calibration_queue: Identifier | None = Field(default=None, description="Queue of the calibration sample.")
    calibration_salt: NonEmpty = Field(
        default="calibration-v1", description="Key of the sampling hash; change it to draw a new sample."
    )
    uncertainty_width: float = Field(
        default=0.15, gt=0.0, le=1.0, description="A score this far from its threshold has uncertainty 0."
    )


class DedupSpec(_Frozen):
    """Near-duplicate detection on redacted text: MinHash over word shingles, banded (LSH)."""

    enabled: bool = True
    shingle_words: int = Field(default=3, ge=1, le=8, description="Words per shingle.")
    bands: int = Field(default=20, ge=1, le=64, description="LSH bands; more bands: lower threshold.")
    rows: int = Field(
        default=5, ge=1, le=16, description="Signature values per band; more: higher threshold."
    )
    max_tasks_per_cluster: int = Field(
        default=3,
        ge=1,
        description="Review tasks one cluster of near-duplicates may produce per quota window.",
    )
    quota_window_hours: float = Field(
        default=24.0,
        gt=0.0,
        le=8760.0,
        description="A cluster's quota window opens with its first task and lasts this long; after it the "
        "cluster may produce max_tasks_per_cluster tasks again.",
    )

    @model_validator(mode="after")
    def _fits(self) -> Self:
        if self.bands * self.rows > 256:
            raise ValueError("rows: bands * rows is at most 256 (MinHash permutations)")
        return self


class WindowSpec(_Frozen):
    """The ranking window of budgeted queues: items wait this long (or until this many) to be ranked."""

    seconds: float = Field(
        default=2.0, gt=0.0, le=300.0, description="Longest wait before a window is ranked."
    )
    max_items: int = Field(default=256, ge=1, le=10_000, description="A window this full is ranked at once.")


class EscalationPolicy(_Frozen):
    """A versioned escalation policy; rules are tried in order and the first match wins."""

    version: NonEmpty
    queues: dict[Identifier, QueueSpec] = Field(min_length=1)
    rules: list[Rule]
    risk: RiskWeights
    default_queue: Identifier | None = Field(
        default=None, description="Queue for interactions no rule matches; none: they are not escalated."
    )
    value: ValueWeights = Field(default_factory=ValueWeights)
    sampling: SamplingSpec = Field(default_factory=SamplingSpec)
    dedup: DedupSpec = Field(default_factory=DedupSpec)
    window: WindowSpec = Field(default_factory=WindowSpec)

    @model_validator(mode="after")
    def _references(self) -> Self:
        # Raised as ValueError("<path>: <message>") so the loader can report the exact field.
        unknown = unknown_queues(self.queues)
        if unknown:
            # A queue needs its task topic (provisioned) and a review consumer: topics.QUEUES.
            raise ValueError(
                f"queues: unknown queue(s) {', '.join(unknown)}; the queues are {', '.join(QUEUES)}"
            )
        seen: set[str] = set()
        for index, rule in enumerate(self.rules):
            if rule.name in (DEFAULT_QUEUE_RULE, NO_RULE_MATCHED, CALIBRATION_RULE):
                raise ValueError(f"rules.{index}.name: {rule.name!r} is reserved")
            if rule.name in seen:
                raise ValueError(f"rules.{index}.name: duplicate rule name {rule.name!r}")
            seen.add(rule.name)
            if rule.queue not in self.queues:
                raise ValueError(f"rules.{index}.queue: unknown queue {rule.queue!r}")
        if self.default_queue is not None and self.default_queue not in self.queues:
            raise ValueError(f"default_queue: unknown queue {self.default_queue!r}")
        calibration = self.sampling.calibration_queue
        if calibration is not None and calibration not in self.queues:
            raise ValueError(f"sampling.calibration_queue: unknown queue {calibration!r}")
        if self.sampling.calibration_rate > 0.0 and calibration is None:
            raise ValueError("sampling.calibration_queue: needed when calibration_rate > 0")
        return self

    def budgeted(self, queue: str) -> bool:
        """Whether a queue's tasks wait in a ranking window for its hourly budget."""
        return self.queues[queue].hourly_budget is not None


def load_escalation_policy(path: str | Path) -> EscalationPolicy:
    """Read and validate an escalation policy file; raise PolicyError naming the offending field."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read escalation policy: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: not valid YAML: {exc}") from exc
    return parse_escalation_policy(document, source=str(path))


def parse_escalation_policy(document: Any, *, source: str = "<policy>") -> EscalationPolicy:
    """Validate an already-parsed policy document; raise PolicyError naming the offending field."""
    if not isinstance(document, dict):
        raise PolicyError(f"{source}: an escalation policy is a mapping, got {type(document).__name__}")
    try:
        return EscalationPolicy.model_validate(document)
    except PydanticValidationError as exc:
        problems = "; ".join(_describe(error) for error in exc.errors())
        raise PolicyError(f"{source}: {problems}") from exc


_PATH_PREFIX = re.compile(r"^[\w.]+: ")


def _describe(error: Any) -> str:
    """One pydantic error as 'field.path: message'."""
    location = ".".join(str(part) for part in error["loc"])
    cause = error.get("ctx", {}).get("error")
    message = str(cause) if isinstance(cause, ValueError) else str(error["msg"])
    if _PATH_PREFIX.match(message):
        # Cross-field checks already name their own path, relative to the model that raised them.
        return f"{location}.{message}" if location else message
    return f"{location}: {message}" if location else message

"""The review policy: adjudication settings, gold-task rates and gold items with known answers, from YAML."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic import ValidationError as PydanticValidationError

from services.contracts.models import (
    Candidate,
    GuardrailAction,
    GuardrailSignal,
    Judgment,
    Message,
    ReviewTask,
    Role,
    Verdict,
)
from services.review.domain.consensus import AdjudicationSpec
from services.runtime.errors import PolicyError
from services.runtime.topics import QUEUES, unknown_queues

NonEmpty = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]
GOLD_SUBJECT = "gold-set"
"""Subject and session pseudonym of every gold interaction: it belongs to nobody."""

_GOLD_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:flagstream:gold")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GoldSignal(_Frozen):
    """A guardrail signal shown with a gold item."""

    category: NonEmpty
    score: float = Field(ge=0, le=1)
    threshold: float = Field(ge=0, le=1)
    action: GuardrailAction = GuardrailAction.flag


class GoldItem(_Frozen):
    """One item with a known answer, for one queue."""

    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]
    queue: NonEmpty
    prompt: NonEmpty
    response: NonEmpty
    candidates: list[NonEmpty] = Field(default_factory=list)
    signals: list[GoldSignal] = Field(default_factory=list)
    verdict: Verdict = Field(description="The known answer.")


class ReviewPolicy(_Frozen):
    """Versioned review settings."""

    version: NonEmpty
    adjudication: AdjudicationSpec = Field(default_factory=AdjudicationSpec)
    agreement_window: int = Field(200, ge=2, description="Settled tasks per queue in the alpha window.")
    gold_rates: dict[str, float] = Field(
        default_factory=dict, description="Queue -> share of real tasks that also inject a gold task."
    )
    gold: list[GoldItem] = Field(default_factory=list)

    @model_validator(mode="after")
    def _rates_have_items(self) -> ReviewPolicy:
        unknown = unknown_queues([*self.gold_rates, *(item.queue for item in self.gold)])
        if unknown:
            raise ValueError(f"unknown queue(s) {', '.join(unknown)}; the queues are {', '.join(QUEUES)}")
        for queue, rate in self.gold_rates.items():
            if not 0 <= rate <= 1:
                raise ValueError(f"gold_rates.{queue}: {rate} is not within [0, 1]")
            if rate > 0 and not self.items(queue):
                raise ValueError(f"gold_rates.{queue}: no gold item for this queue")
        return self

    def items(self, queue: str) -> list[GoldItem]:
        """The gold items of a queue."""
        return [item for item in self.gold if item.queue == queue]

    def item(self, item_id: str) -> GoldItem | None:
        """A gold item by id."""
        return next((item for item in self.gold if item.id == item_id), None)


def load_review_policy(path: str | Path) -> ReviewPolicy:
    """Read and validate a review policy; raise PolicyError naming the offending field."""
    path = Path(path)
    try:
        document: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read review policy: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: not valid YAML: {exc}") from exc
    try:
        return ReviewPolicy.model_validate(document)
    except PydanticValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise PolicyError(f"{path}: {problems}") from exc


def _unit(key: str) -> float:
    """A stable point in [0, 1) for a key (not secret: a gold draw need not be unpredictable)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / float(1 << 64)


def gold_interaction_id(item_id: str) -> str:
    """The interaction id of a gold item; it never collides with a real id (those are not prefixed)."""
    return f"gold-{item_id}"


def gold_task_for(task: ReviewTask, policy: ReviewPolicy) -> ReviewTask | None:
    """The gold task a real task injects into its queue at the queue's gold rate, or None.

    The draw hashes the task id, so a replayed task injects the same gold task (same id) or none.
    """
    if task.is_gold or task.adjudicates is not None:
        return None
    rate = policy.gold_rates.get(task.queue, 0.0)
    items = policy.items(task.queue)
    if not items or _unit(f"draw:{task.task_id}") >= rate:
        return None
    item = items[int(_unit(f"item:{task.task_id}") * len(items))]
    interaction = task.interaction.model_copy(
        update={
            "interaction_id": gold_interaction_id(item.id),
            "subject_pseudonym": GOLD_SUBJECT,
            "session_pseudonym": GOLD_SUBJECT,
            "messages": [Message(role=Role.user, content=item.prompt)],
            "response": item.response,
            "candidates": [
                Candidate(candidate_id=f"{item.id}-{n}", content=text)
                for n, text in enumerate(item.candidates)
            ],
            "signals": [
                GuardrailSignal(
                    category=s.category,
                    score=s.score,
                    threshold=s.threshold,
                    action=s.action,
                    detector_id="gold-set",
                    detector_version=policy.version,
                )
                for s in item.signals
            ],
            "feedback": None,
            # a gold item is no one's data and is never training data
            "training_allowed": False,
            "entities_redacted": {},
        }
    )
    return task.model_copy(
        update={
            "task_id": str(uuid.uuid5(_GOLD_NAMESPACE, task.task_id)),
            "interaction_id": interaction.interaction_id,
            "rule": "gold",
            "cluster_id": None,
            "is_gold": True,
            "interaction": interaction,
        }
    )


def gold_answer(task: ReviewTask, policy: ReviewPolicy) -> Verdict | None:
    """The known verdict of a gold task, None for a real task or a gold item the policy no longer has."""
    if not task.is_gold:
        return None
    item = policy.item(task.interaction_id.removeprefix("gold-"))
    return item.verdict if item is not None else None


def score_gold(task: ReviewTask, judgment: Judgment, policy: ReviewPolicy) -> bool | None:
    """Whether a judgment of a gold task gives the known answer (None when the answer is unknown)."""
    answer = gold_answer(task, policy)
    return None if answer is None else judgment.verdict == answer

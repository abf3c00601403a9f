"""Pure Label Studio mapping: rubric configs, task data, annotation -> judgment, webhook -> hints."""

from services.label_studio.domain.annotations import (
    REVIEWER_PREFIX,
    annotation_version,
    judgment_from_annotation,
    judgment_id_for,
    reviewer_id,
)
from services.label_studio.domain.rubrics import RUBRICS, Control, Rubric, labeling_config, rubric_for
from services.label_studio.domain.tasks import FLAGGED_RESPONSE, TASK_KEY, order, rank, task_data
from services.label_studio.domain.webhooks import webhook_hints

__all__ = [
    "FLAGGED_RESPONSE",
    "REVIEWER_PREFIX",
    "RUBRICS",
    "TASK_KEY",
    "Control",
    "Rubric",
    "annotation_version",
    "judgment_from_annotation",
    "judgment_id_for",
    "labeling_config",
    "order",
    "rank",
    "reviewer_id",
    "rubric_for",
    "task_data",
    "webhook_hints",
]

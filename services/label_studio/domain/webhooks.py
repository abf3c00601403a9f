"""What a Label Studio webhook reports: the tasks whose annotations changed.

The connector treats a webhook as a hint to read those tasks now; it never takes an annotation from the
payload itself (Label Studio's API stays the source), so a forged or stale webhook costs one read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _id(value: Any) -> int | None:
    if isinstance(value, Mapping):
        value = value.get("id")
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def webhook_hints(payload: Mapping[str, Any]) -> list[tuple[int, str | None]]:
    """(Label Studio task id, annotation id or None) for each annotation or task the payload names."""
    found: list[tuple[int, str | None]] = []
    annotations = payload.get("annotations")
    listed = list(annotations) if isinstance(annotations, list) else []
    if isinstance(payload.get("annotation"), Mapping):
        listed.append(payload["annotation"])
    for annotation in listed:
        if not isinstance(annotation, Mapping):
            continue
        task_id = _id(annotation.get("task"))
        annotation_id = _id(annotation)
        if task_id is not None:
            found.append((task_id, None if annotation_id is None else str(annotation_id)))
    if not found:
        tasks = payload.get("tasks")
        for task in [*(tasks if isinstance(tasks, list) else []), payload.get("task")]:
            task_id = _id(task)
            if task_id is not None:
                found.append((task_id, None))
    return found

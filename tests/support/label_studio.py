"""The Label Studio client the tests and the labeling bench use: the connector's, plus reviewer actions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from services.label_studio.client import LabelStudio
from services.runtime.errors import FatalError


class ReviewerClient(LabelStudio):
    """The connector's client, plus what the tests do as a reviewer and to clean up."""

    def update_annotation(self, annotation_id: int, result: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Change an annotation, as a reviewer re-submitting it does."""
        body: dict[str, Any] = self._call(
            "PATCH", f"/api/annotations/{annotation_id}/", json={"result": [dict(r) for r in result]}
        )
        return body

    def next_task(self, project_id: int, view_id: int | None = None) -> dict[str, Any] | None:
        """The task "Label all tasks" opens next for this token's user, or None when none is left."""
        params = {"view": view_id} if view_id is not None else {}
        try:
            body: dict[str, Any] = self._call("GET", f"/api/projects/{project_id}/next", params=params)
        except FatalError as exc:
            if "404" in str(exc):
                return None
            raise
        return body

    def delete_project(self, project_id: int) -> None:
        """Delete a project with its tasks and annotations."""
        self._call("DELETE", f"/api/projects/{project_id}")

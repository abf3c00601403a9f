"""A small Label Studio REST client (httpx): the few endpoints the connector needs.

Plain HTTP rather than `label-studio-sdk`: the SDK 2.x pulls pandas, OpenCV, NLTK and a code
generator into the service's dependencies for five endpoints. Errors map onto the Flagstream tree:
connection failures and 5xx are RetryableError, an API key the server refuses is FatalError.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import httpx

from services.runtime.errors import FatalError, RetryableError

# httpx logs every request at INFO: a line per import and per reconciliation page is noise.
logging.getLogger("httpx").setLevel(logging.WARNING)


class LabelStudio:
    """One Label Studio server, authenticated with an API token (`Authorization: Token ...`)."""

    def __init__(self, url: str, api_key: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Token {api_key}", "Content-Type": "application/json"},
            timeout=timeout,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise RetryableError(f"Label Studio at {self.url} unreachable: {exc}") from exc
        if response.status_code in (401, 403):
            raise FatalError(f"Label Studio at {self.url} refused the API key ({response.status_code})")
        if response.status_code >= 500:
            raise RetryableError(f"Label Studio {method} {path}: {response.status_code}")
        if response.status_code >= 400:
            raise FatalError(f"Label Studio {method} {path}: {response.status_code} {response.text[:500]}")
        return response.json() if response.content else None

    def projects(self) -> list[dict[str, Any]]:
        """Every project the token can see."""
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            body = self._call("GET", "/api/projects", params={"page": page, "page_size": 100})
            found += body["results"]
            if not body.get("next"):
                return found
            page += 1

    def create_project(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """A new project."""
        result: dict[str, Any] = self._call("POST", "/api/projects", json=dict(fields))
        return result

    def update_project(self, project_id: int, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Change a project's settings or labeling config."""
        result: dict[str, Any] = self._call("PATCH", f"/api/projects/{project_id}", json=dict(fields))
        return result

    def import_tasks(self, project_id: int, data: list[Mapping[str, Any]]) -> list[int]:
        """Import tasks (one per `data`) in one request; returns their ids, in order."""
        body = self._call(
            "POST",
            f"/api/projects/{project_id}/import",
            params={"return_task_ids": "true"},
            json=[{"data": dict(d)} for d in data],
        )
        ids = [int(i) for i in body.get("task_ids", [])]
        if len(ids) != len(data):
            raise RetryableError(f"Label Studio imported {len(ids)} of {len(data)} tasks")
        return ids

    def tasks(self, project_id: int, page_size: int = 500, **query: Any) -> Iterator[dict[str, Any]]:
        """Every task of a project with its annotations (fields=all), page by page."""
        page = 1
        while True:
            params: dict[str, Any] = {"project": project_id, "page": page, "page_size": page_size}
            params["fields"] = "all"
            if query:
                params["query"] = json.dumps(query)
            try:
                body = self._call("GET", "/api/tasks", params=params)
            except FatalError as exc:
                if "404" in str(exc):  # past the last page
                    return
                raise
            batch = body.get("tasks", [])
            yield from batch
            if len(batch) < page_size:
                return
            page += 1

    def task(self, task_id: int) -> dict[str, Any] | None:
        """One task with its annotations, or None when Label Studio has no such task."""
        try:
            body: dict[str, Any] = self._call("GET", f"/api/tasks/{task_id}/")
        except FatalError as exc:
            if "404" in str(exc):
                return None
            raise
        return body

    def webhooks(self, project_id: int) -> list[dict[str, Any]]:
        """The webhooks of a project."""
        result: list[dict[str, Any]] = self._call("GET", "/api/webhooks/", params={"project": project_id})
        return result

    def create_webhook(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """A webhook (of a project when `fields` name one)."""
        result: dict[str, Any] = self._call("POST", "/api/webhooks/", json=dict(fields))
        return result

    def update_webhook(self, webhook_id: int, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Change a webhook's URL, actions, headers or state."""
        result: dict[str, Any] = self._call("PATCH", f"/api/webhooks/{webhook_id}/", json=dict(fields))
        return result

    def delete_webhook(self, webhook_id: int) -> None:
        """Remove a webhook."""
        self._call("DELETE", f"/api/webhooks/{webhook_id}/")

    def views(self, project_id: int) -> list[dict[str, Any]]:
        """The data manager tabs of a project."""
        result: list[dict[str, Any]] = self._call("GET", "/api/dm/views", params={"project": project_id})
        return result

    def create_view(self, project_id: int, view: Mapping[str, Any]) -> dict[str, Any]:
        """A data manager tab (filters, ordering, title)."""
        result: dict[str, Any] = self._call(
            "POST", "/api/dm/views", json={"project": project_id, "data": dict(view)}
        )
        return result

    def create_annotation(
        self, task_id: int, result: Sequence[Mapping[str, Any]], completed_by: int | None = None
    ) -> dict[str, Any]:
        """An annotation of a task, as the labeling page saves it (for simulations and tests); an admin
        token may save it for another user (`completed_by`)."""
        payload: dict[str, Any] = {"result": [dict(r) for r in result]}
        if completed_by is not None:
            payload["completed_by"] = completed_by
        body: dict[str, Any] = self._call("POST", f"/api/tasks/{task_id}/annotations/", json=payload)
        return body

    def users(self) -> list[dict[str, Any]]:
        """The organisation's users."""
        result: list[dict[str, Any]] = self._call("GET", "/api/users/")
        return result

    def create_user(self, email: str, username: str) -> dict[str, Any]:
        """A user in the token's organisation (no password: it signs in only through its token)."""
        body: dict[str, Any] = self._call("POST", "/api/users/", json={"email": email, "username": username})
        return body

    def whoami(self) -> dict[str, Any]:
        """The user of this token."""
        body: dict[str, Any] = self._call("GET", "/api/current-user/whoami")
        return body

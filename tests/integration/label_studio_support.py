"""Helpers of the Label Studio integration tests: the server, the connector process, annotations."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from integration_support import env_of, free_port

from services.contracts import Judgment, default_codec
from services.label_studio.app import project_title
from services.label_studio.client import LabelStudio
from services.label_studio.domain import TASK_KEY
from services.local import scrape, total
from services.runtime.kafka import read_topic
from services.runtime.settings import REPO_ROOT, Settings
from services.runtime.topics import JUDGMENTS, QUEUES
from tests.support.label_studio import ReviewerClient

SCRIPT = REPO_ROOT / "scripts" / "label_studio.sh"
LOCAL_DATA = REPO_ROOT / "var" / "label-studio" / "data"
CODEC = default_codec()


def server_answers(settings: Settings) -> bool:
    """Whether a Label Studio answers at the configured URL with the configured token."""
    try:
        response = httpx.get(
            f"{settings.label_studio_url.rstrip('/')}/api/projects",
            params={"page_size": 1},
            headers={"Authorization": f"Token {settings.label_studio_api_key.get_secret_value()}"},
            timeout=5,
        )
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def label_studio_server() -> Iterator[ReviewerClient]:
    """The configured Label Studio; when none answers, the local one, started here and stopped after."""
    settings = Settings()
    started = False
    if not server_answers(settings):
        if os.environ.get("LABEL_STUDIO_URL"):
            raise RuntimeError(f"LABEL_STUDIO_URL={settings.label_studio_url} does not answer")
        subprocess.run([str(SCRIPT), "up"], check=True, cwd=REPO_ROOT)
        started = True
    client = ReviewerClient(settings.label_studio_url, settings.label_studio_api_key.get_secret_value())
    try:
        yield client
    finally:
        client.close()
        if started:
            subprocess.run([str(SCRIPT), "down"], check=False, cwd=REPO_ROOT)


class ServiceProcess:
    """`flagstream worker SERVICE` as a child process of one test deployment."""

    def __init__(self, settings: Settings, tmp_path: Path, service: str, **env: str) -> None:
        self.service = service
        self.port = free_port()
        self.env = {**os.environ, **env_of(settings), "FLAGSTREAM_METRICS_PORT": str(self.port), **env}
        self.log = tmp_path / f"{service}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "worker", self.service],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=REPO_ROOT,
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def metric(self, name: str, **labels: str) -> float:
        try:
            return total(scrape(self.port), name, **labels)
        except OSError:
            return 0.0


def projects_of(client: LabelStudio, settings: Settings) -> dict[str, dict[str, Any]]:
    """This deployment's projects by queue."""
    titles = {project_title(settings, q): q for q in QUEUES}
    return {titles[p["title"]]: p for p in client.projects() if p["title"] in titles}


def tasks_by_key(client: LabelStudio, project_id: int) -> dict[str, list[dict[str, Any]]]:
    """A project's tasks grouped by Flagstream task id (a list longer than one is a duplicate)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for task in client.tasks(project_id):
        found.setdefault(str(task["data"].get(TASK_KEY)), []).append(task)
    return found


def delete_projects(client: ReviewerClient, settings: Settings) -> None:
    """Remove this deployment's projects (tests share one server)."""
    for project in projects_of(client, settings).values():
        client.delete_project(int(project["id"]))


def judgments(settings: Settings) -> list[Judgment]:
    """Every judgment on the topic (read_committed)."""
    return [CODEC.decode(m.value() or b"", Judgment) for m in read_topic(settings, settings.topic(JUDGMENTS))]


def choice(name: str, *values: str) -> dict[str, Any]:
    """A choices region of an annotation result, as the labeling page saves it."""
    return {"from_name": name, "to_name": "response", "type": "choices", "value": {"choices": list(values)}}


def text(name: str, value: str) -> dict[str, Any]:
    """A text area region of an annotation result."""
    return {"from_name": name, "to_name": "response", "type": "textarea", "value": {"text": [value]}}


def valid_result(rubric_id: str, verdict: str = "unsafe") -> list[dict[str, Any]]:
    """An annotation result that fits the rubric."""
    if rubric_id == "over-refusal":
        return [choice("refusal_warranted", "no"), text("corrected_response", "Run kill -9 on the PID.")]
    if rubric_id == "pairwise-preference":
        return [choice("preference", "B"), choice("verdict", "safe"), choice("severity", "0")]
    harm = [choice("verdict", verdict), choice("severity", "3" if verdict == "unsafe" else "0")]
    if verdict == "unsafe":
        harm.append(choice("categories", "harassment"))
    return [*harm, text("rationale", "Targets a person."), text("corrected_response", "I won't write that.")]


class ConnectorProcess(ServiceProcess):
    """The connector, reconciling every 0.5 s."""

    def __init__(self, settings: Settings, tmp_path: Path, **env: str) -> None:
        super().__init__(
            settings, tmp_path, "label_studio", **{"FLAGSTREAM_LABEL_STUDIO_POLL_SECONDS": "0.5", **env}
        )

"""Webhooks as hints: what a payload names, the hint queue, the connector's HTTP endpoint and URL."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from services.contracts import default_codec
from services.label_studio.app import WEBHOOK_PATH, Connector, Hints, webhook_url
from services.label_studio.client import LabelStudio
from services.label_studio.domain import webhook_hints
from services.local import scrape, total
from services.runtime.metrics import Metrics
from services.runtime.settings import Settings
from tests.support.deployment import free_port

# The shape Label Studio 1.23 sends for ANNOTATION_CREATED (send_payload on), abridged.
CREATED = {
    "action": "ANNOTATION_CREATED",
    "annotation": {"id": 812, "task": 4411, "updated_at": "2026-12-06T21:00:00.1Z", "result": []},
    "task": {"id": 4411, "project": 17, "data": {"flagstream_task_id": "t-1"}},
    "project": {"id": 17, "title": "flagstream urgent"},
}


def test_hints_name_the_annotated_task_and_annotation() -> None:
    assert webhook_hints(CREATED) == [(4411, "812")]
    bulk = {
        "action": "ANNOTATIONS_CREATED",
        "annotations": [{"id": 1, "task": 5}, {"id": 2, "task": {"id": 6}}],
    }
    assert webhook_hints(bulk) == [(5, "1"), (6, "2")]
    assert webhook_hints({"action": "ANNOTATION_UPDATED", "task": {"id": 9}}) == [(9, None)]


def test_payloads_that_name_no_task_give_no_hint() -> None:
    assert webhook_hints({"action": "ANNOTATION_CREATED"}) == []  # send_payload off
    assert webhook_hints({"annotation": {"id": 3, "task": "x"}, "task": [1]}) == []
    assert webhook_hints({"annotation": {"id": 3, "task": True}}) == []


def test_hints_are_taken_once_and_put_back_after_a_failure() -> None:
    hints = Hints()
    assert not hints
    hints.add(4411, "812")
    hints.add(4411, "813")
    hints.add(5, None)
    assert hints
    tasks, everything = hints.take()
    assert tasks == {4411: (frozenset({"812", "813"}), 0), 5: (frozenset(), 0)} and not everything
    assert not hints and hints.take() == ({}, False)
    hints.add(4411, "900")
    hints.put_back(tasks, everything)
    assert hints.take()[0][4411] == (frozenset({"812", "813", "900"}), 0)
    hints.add_all()
    assert hints.take() == ({}, True)


def _connector(tmp_path: Path) -> Connector:
    settings = Settings(data_dir=tmp_path, topic_prefix="t-")
    return Connector(
        settings, LabelStudio("http://127.0.0.1:9", "token"), Metrics("label_studio"), default_codec()
    )


def _post(connector: Connector, body: bytes, method: str = "POST") -> tuple[str, bytes]:
    status: list[str] = []
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    out = b"".join(connector.webhook_app(environ, lambda s, _headers: status.append(s)))
    return status[0], out


def test_the_endpoint_queues_a_hint_and_answers_at_once(tmp_path: Path) -> None:
    connector = _connector(tmp_path)
    status, body = _post(connector, json.dumps(CREATED).encode())
    assert status.startswith("200") and body == b"ok\n"
    assert connector.hints.take() == ({4411: (frozenset({"812"}), 0)}, False)
    # a payload without task ids asks for a pass over every project's changed tasks
    assert _post(connector, b'{"action": "ANNOTATIONS_DELETED"}')[0].startswith("200")
    assert connector.hints.take() == ({}, True)


def test_the_endpoint_refuses_what_is_not_a_webhook(tmp_path: Path) -> None:
    connector = _connector(tmp_path)
    assert _post(connector, b"", method="GET")[0].startswith("405")
    assert _post(connector, b"not json")[0].startswith("400")
    assert _post(connector, b"[1, 2]")[0].startswith("400")
    assert _post(connector, b"")[0].startswith("413")
    assert not connector.hints


def test_actions_outside_the_vocabulary_are_counted_as_other(tmp_path: Path) -> None:
    connector = _connector(tmp_path)
    _post(connector, json.dumps({**CREATED, "action": "x" * 200}).encode())
    _post(connector, json.dumps(CREATED).encode())
    port = connector.metrics.serve(0)
    samples = scrape(port)
    assert total(samples, "flagstream_events_total", outcome="webhook", reason="other") == 1
    assert total(samples, "flagstream_events_total", outcome="webhook", reason="ANNOTATION_CREATED") == 1


def test_the_webhook_is_served_beside_metrics_and_health(tmp_path: Path) -> None:
    import urllib.request

    connector = _connector(tmp_path)
    port = connector.metrics.serve(0, routes={WEBHOOK_PATH: connector.webhook_app})
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{WEBHOOK_PATH}", data=json.dumps(CREATED).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
    assert connector.hints.take()[0] == {4411: (frozenset({"812"}), 0)}
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert b"flagstream_events_total" in response.read()  # the other paths are served as before


def test_webhook_url_is_the_setting_or_this_processs_metrics_address(tmp_path: Path) -> None:
    port = free_port()
    assert webhook_url(Settings(), port) == f"http://127.0.0.1:{port}/label-studio/webhook"
    assert webhook_url(Settings(metrics_host="0.0.0.0"), 9105) == "http://127.0.0.1:9105/label-studio/webhook"
    assert webhook_url(Settings(metrics_host="10.0.0.5"), 9105) == "http://10.0.0.5:9105/label-studio/webhook"
    explicit = Settings(label_studio_webhook_url="http://connector.labeling.svc:9105/label-studio/webhook")
    assert webhook_url(explicit, 1) == "http://connector.labeling.svc:9105/label-studio/webhook"

"""Label Studio webhooks as hints, against a real Label Studio and the real broker.

With the poll set to a minute, an annotation saved through the REST API becomes a judgment within
seconds: only the webhook can have told the connector. With the webhook's endpoint down, the poll
still delivers each annotation, once. The connector's webhook is registered once per project, and a
connector restarted on another address replaces it rather than adding a second.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from integration_support import free_port
from label_studio_support import (
    ConnectorProcess,
    ReviewerClient,
    judgments,
    projects_of,
    tasks_by_key,
    valid_result,
)
from test_label_studio import _send, _task

from services.label_studio.app import SERVICE, WEBHOOK_MARK, WEBHOOK_PATH
from services.label_studio.client import LabelStudio
from services.local import wait_until
from services.runtime.settings import Settings

pytestmark = pytest.mark.integration

HINT_DEADLINE = 20.0
"""Seconds an annotation may take to become a judgment through the webhook (the poll is 60 s)."""


def _imported(client: LabelStudio, settings: Settings, count: int, connector: ConnectorProcess) -> dict:
    def found() -> dict:
        projects = projects_of(client, settings)
        if "policy_review" not in projects:
            return {}
        return tasks_by_key(client, int(projects["policy_review"]["id"]))

    assert wait_until(lambda: len(found()) == count, 120), f"see {connector.log}"
    return found()


def _our_webhooks(client: LabelStudio, settings: Settings) -> dict[str, list[dict]]:
    mark = settings.group(SERVICE)
    return {
        queue: [
            w
            for w in client.webhooks(int(project["id"]))
            if (w.get("headers") or {}).get(WEBHOOK_MARK) == mark
        ]
        for queue, project in projects_of(client, settings).items()
    }


def _judged_within(settings: Settings, task_ids: set[str], seconds: float) -> float | None:
    started = time.monotonic()
    if wait_until(lambda: task_ids <= {j.task_id for j in judgments(settings)}, seconds, interval=0.2):
        return time.monotonic() - started
    return None


def test_webhook_turns_an_annotation_into_a_judgment_before_the_poll(
    settings: Settings, tmp_path: Path, label_studio: ReviewerClient, cleanup: None
) -> None:
    tasks = [_task("policy_review", f"w{n}") for n in range(8)]
    _send(settings, *tasks)
    connector = ConnectorProcess(settings, tmp_path, FLAGSTREAM_LABEL_STUDIO_POLL_SECONDS="60")
    connector.start()
    try:
        found = _imported(label_studio, settings, len(tasks), connector)
        webhooks = _our_webhooks(label_studio, settings)
        assert webhooks and all(len(ours) == 1 for ours in webhooks.values()), webhooks
        url = f"http://127.0.0.1:{connector.port}{WEBHOOK_PATH}"
        assert {ours[0]["url"] for ours in webhooks.values()} == {url}
        # The start-up reconciliation is over once the tasks are in; the next poll is a minute away.
        first = label_studio.create_annotation(
            int(found[tasks[0].task_id][0]["id"]), valid_result("harm-severity")
        )
        took = _judged_within(settings, {tasks[0].task_id}, HINT_DEADLINE)
        assert took is not None, f"no judgment within {HINT_DEADLINE} s; see {connector.log}"
        assert connector.metric("flagstream_events_total", outcome="webhook") >= 1
        # An update is a new version: a new judgment, through the webhook too.
        label_studio.update_annotation(int(first["id"]), valid_result("harm-severity", verdict="safe"))
        assert wait_until(lambda: len(judgments(settings)) == 2, HINT_DEADLINE, interval=0.2), (
            f"see {connector.log}"
        )
        assert [j.verdict.value for j in judgments(settings)] == ["unsafe", "safe"]
    finally:
        connector.stop()

    # Restarted on another port (with a short poll): its webhook replaces the old one on every project,
    # and the webhook and the poll racing for the same annotations send each version once.
    again = ConnectorProcess(settings, tmp_path, FLAGSTREAM_LABEL_STUDIO_POLL_SECONDS="0.5")
    again.start()
    try:
        url = f"http://127.0.0.1:{again.port}{WEBHOOK_PATH}"
        assert wait_until(
            lambda: (
                {w["url"] for ours in _our_webhooks(label_studio, settings).values() for w in ours} == {url}
            ),
            90,
        ), f"see {again.log}"
        assert all(len(ours) == 1 for ours in _our_webhooks(label_studio, settings).values())
        for task in tasks[1:]:
            label_studio.create_annotation(int(found[task.task_id][0]["id"]), valid_result("harm-severity"))
        assert _judged_within(settings, {t.task_id for t in tasks}, 60) is not None, f"see {again.log}"
        time.sleep(3)  # more polls and any late webhook
        sent = judgments(settings)
        assert len(sent) == 2 + len(tasks) - 1
        assert len({j.judgment_id for j in sent}) == len(sent)
        assert again.metric("flagstream_events_total", outcome="webhook") >= len(tasks) - 1
    finally:
        again.stop()


def test_with_the_webhook_endpoint_down_the_poll_delivers_each_annotation_once(
    settings: Settings, tmp_path: Path, label_studio: ReviewerClient, cleanup: None
) -> None:
    tasks = [_task("policy_review", f"d{n}") for n in range(3)]
    _send(settings, *tasks)
    nobody = f"http://127.0.0.1:{free_port()}{WEBHOOK_PATH}"  # nothing listens: every webhook is lost
    connector = ConnectorProcess(
        settings,
        tmp_path,
        FLAGSTREAM_LABEL_STUDIO_POLL_SECONDS="5",
        FLAGSTREAM_LABEL_STUDIO_WEBHOOK_URL=nobody,
    )
    connector.start()
    try:
        found = _imported(label_studio, settings, len(tasks), connector)
        assert {w["url"] for ours in _our_webhooks(label_studio, settings).values() for w in ours} == {nobody}
        for task in tasks:
            label_studio.create_annotation(int(found[task.task_id][0]["id"]), valid_result("harm-severity"))
        assert _judged_within(settings, {t.task_id for t in tasks}, 60) is not None, f"see {connector.log}"
        time.sleep(11)  # two more polls
        sent = judgments(settings)
        assert sorted(j.task_id for j in sent) == sorted(t.task_id for t in tasks)
        assert connector.metric("flagstream_events_total", outcome="webhook") == 0
    finally:
        connector.stop()

"""The in-house tool example of docs/labeling.md, run against the real review service."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from integration_support import env_of
from test_review_service import Review

from services.contracts import ResolvedJudgment, default_codec, utcnow
from services.local import wait_until
from services.runtime.kafka import make_producer, read_topic
from services.runtime.settings import REPO_ROOT, Settings
from services.runtime.topics import RESOLVED, task_topic
from tests.support.samples import sample_redacted_interaction, sample_review_task

pytestmark = pytest.mark.integration

CODEC = default_codec()


def test_the_documented_tool_turns_tasks_into_resolutions(settings: Settings, tmp_path: Path) -> None:
    document = yaml.safe_load((REPO_ROOT / "deploy" / "policies" / "review.yaml").read_text())
    document["gold_rates"] = {}  # no gold task: the tool judges exactly the tasks sent
    review_policy = tmp_path / "review.yaml"
    review_policy.write_text(yaml.safe_dump(document))
    now = utcnow()
    tasks = [
        sample_review_task(
            task_id=f"example-{n}",
            interaction_id=f"example-int-{n}",
            created_at=now,
            deadline=now + timedelta(hours=1),
            interaction=sample_redacted_interaction(interaction_id=f"example-int-{n}"),
        )
        for n in range(5)
    ]
    producer = make_producer(settings)
    for task in tasks:
        producer.produce(
            settings.topic(task_topic(task.queue)), key=task.task_id.encode(), value=CODEC.encode(task)
        )
    assert producer.flush(30) == 0
    review = Review(settings, tmp_path, review_policy)
    review.start()
    try:
        tool = subprocess.run(
            [sys.executable, str(REPO_ROOT / "docs" / "examples" / "labeling_tool.py"), "--max-tasks", "5"],
            env={**os.environ, **env_of(settings)},
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert tool.returncode == 0, tool.stderr
        assert tool.stdout.count("judged ") == 5

        def resolved() -> set[str]:
            return {
                CODEC.decode(m.value() or b"", ResolvedJudgment).task.task_id
                for m in read_topic(settings, settings.topic(RESOLVED))
            }

        assert wait_until(lambda: resolved() == {t.task_id for t in tasks}, 90), f"see {review.log}"
    finally:
        review.stop()

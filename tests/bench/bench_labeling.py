"""Label Studio connector bench: task -> visible in Label Studio, tasks/s imported, annotation -> judgment.

Run: make bench-labeling  (or scripts/label_studio.sh with scripts/kafka.sh with
     .venv/bin/python tests/bench/bench_labeling.py [--trickle N --rate R --burst N --annotations N])
Not a pytest test. A connector process of a fresh deployment (its own topic prefix, so its own
projects) against the running Label Studio and broker; a JSON copy goes to bench/results/.

1. Trickle: N policy_review tasks at R/s. Latency = Label Studio's `created_at` of the task (server
   clock) minus the time the task was produced (this process's clock: same machine). Includes the
   connector's 0.2 s consume wait and the import request.
2. Burst: N tasks produced at once; tasks/s = N over the time from the first produce to the last
   task's `created_at`.
3. Annotations: N annotations saved through the REST API at 10/s; latency = the judgment record's
   Kafka timestamp (set when the connector produced it) minus the annotation's `created_at`. The
   connector has its webhooks (the default): each annotation's webhook makes it read that task.
5. The same with polling only: the connector restarted with FLAGSTREAM_LABEL_STUDIO_WEBHOOKS=false
   (it removes its webhooks), N more annotations; bounded below by FLAGSTREAM_LABEL_STUDIO_POLL_SECONDS
   (2 s by default).
4. The same annotations to their Delta rows: review and dataset_sink workers run beside the connector;
   latency = when this process first sees the row in safety_labels (polled every 0.5 s) minus the
   annotation's `created_at`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka.admin import AdminClient
from deltalake import DeltaTable

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO)]

from services.contracts import Judgment, default_codec, utcnow  # noqa: E402
from services.label_studio.app import project_title  # noqa: E402
from services.label_studio.client import LabelStudio  # noqa: E402
from services.label_studio.domain import TASK_KEY  # noqa: E402
from services.runtime.kafka import make_producer, read_topic  # noqa: E402
from services.runtime.settings import Settings  # noqa: E402
from services.runtime.topics import JUDGMENTS, task_topic  # noqa: E402
from services.runtime.worker import provision  # noqa: E402
from tests.support.deployment import deployment_env, free_port  # noqa: E402
from tests.support.label_studio import ReviewerClient  # noqa: E402
from tests.support.samples import sample_redacted_interaction, sample_review_task  # noqa: E402

CODEC = default_codec()
HARM = [
    {"from_name": "verdict", "to_name": "response", "type": "choices", "value": {"choices": ["safe"]}},
    {"from_name": "severity", "to_name": "response", "type": "choices", "value": {"choices": ["0"]}},
    {"from_name": "rationale", "to_name": "response", "type": "textarea", "value": {"text": ["benign"]}},
]


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _quantiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "p50": statistics.median(ordered),
        "p99": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        "max": ordered[-1],
    }


def _produce(settings: Settings, count: int, rate: float, tag: str) -> dict[str, float]:
    producer = make_producer(settings)
    sent: dict[str, float] = {}
    interval = 1.0 / rate if rate > 0 else 0.0
    start = time.monotonic()
    for n in range(count):
        now = utcnow()
        task = sample_review_task(
            task_id=f"{tag}-{n}-{uuid.uuid4().hex[:6]}",
            interaction_id=f"{tag}-int-{n}",
            created_at=now,
            deadline=now + timedelta(hours=24),
            interaction=sample_redacted_interaction(interaction_id=f"{tag}-int-{n}"),
        )
        if interval:
            time.sleep(max(0.0, start + n * interval - time.monotonic()))
        sent[task.task_id] = time.time()
        producer.produce(
            settings.topic(task_topic(task.queue)), key=task.task_id.encode(), value=CODEC.encode(task)
        )
        producer.poll(0)
    producer.flush(60)
    return sent


def _visible(
    client: LabelStudio, project_id: int, want: set[str], timeout: float
) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        found = {str(t["data"][TASK_KEY]): t for t in client.tasks(project_id) if t["data"][TASK_KEY] in want}
        if len(found) == len(want) or time.monotonic() > deadline:
            return found
        time.sleep(1.0)


def _annotate(client: LabelStudio, tasks: list[dict[str, Any]]) -> dict[str, float]:
    """Annotate each task through the REST API at 10/s; Flagstream task id -> annotation created_at."""
    created: dict[str, float] = {}
    for task in tasks:
        annotation = client.create_annotation(int(task["id"]), HARM)
        created[str(task["data"][TASK_KEY])] = _epoch(annotation["created_at"])
        time.sleep(0.1)
    return created


def _judged(settings: Settings, created: dict[str, float]) -> list[float]:
    """Seconds from each annotation to its judgment's Kafka timestamp (waits up to 2 minutes)."""
    deadline = time.monotonic() + 120
    latencies: dict[str, float] = {}
    while len(latencies) < len(created) and time.monotonic() < deadline:
        for msg in read_topic(settings, settings.topic(JUDGMENTS)):
            judgment = CODEC.decode(msg.value() or b"", Judgment)
            if judgment.task_id in created:
                latencies[judgment.task_id] = msg.timestamp()[1] / 1000 - created[judgment.task_id]
        time.sleep(1.0)
    return list(latencies.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trickle", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--burst", type=int, default=2000)
    parser.add_argument("--annotations", type=int, default=100)
    args = parser.parse_args()
    base = Settings()
    data = Path(tempfile.mkdtemp(prefix="bench-labeling-"))
    settings = Settings(
        kafka_bootstrap_servers=base.kafka_bootstrap_servers,
        topic_prefix=f"bench-ls-{uuid.uuid4().hex[:6]}-",
        data_dir=data,
        pseudonym_key="bench-labeling-key-0123456789abcdef0123",  # type: ignore[arg-type]
    )
    provision(settings)
    client = ReviewerClient(settings.label_studio_url, settings.label_studio_api_key.get_secret_value())
    env = {**os.environ, **deployment_env(settings, "WARNING"), "FLAGSTREAM_METRICS_PORT": str(free_port())}
    log = (data / "connector.log").open("ab")

    def start_connector(**extra: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "services.cli", "worker", "label_studio"],
            env={**env, "FLAGSTREAM_METRICS_PORT": str(free_port()), **extra},
            cwd=REPO,
            stdout=log,
            stderr=log,
        )

    connector = start_connector()
    policy = yaml.safe_load((REPO / "deploy" / "policies" / "review.yaml").read_text())
    policy["gold_rates"] = {}  # only the bench's own tasks reach reviewers and the dataset
    (data / "review.yaml").write_text(yaml.safe_dump(policy))
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "services.cli", "worker", service],
            env={
                **env,
                "FLAGSTREAM_METRICS_PORT": str(free_port()),
                "FLAGSTREAM_REVIEW_POLICY": str(data / "review.yaml"),
            },
            cwd=REPO,
            stdout=(data / f"{service}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        for service in ("review", "dataset_sink")
    ]
    results: dict[str, Any] = {"machine": platform.platform(), "cpus": os.cpu_count(), "args": vars(args)}
    try:
        title = project_title(settings, "policy_review")
        deadline = time.monotonic() + 120
        while not any(p["title"] == title for p in client.projects()):
            if time.monotonic() > deadline or connector.poll() is not None:
                raise RuntimeError(f"connector did not create its projects; see {log.name}")
            time.sleep(0.5)
        project_id = next(int(p["id"]) for p in client.projects() if p["title"] == title)

        sent = _produce(settings, args.trickle, args.rate, "trickle")
        found = _visible(client, project_id, set(sent), 120)
        results["trickle_visible_seconds"] = _quantiles(
            [_epoch(t["created_at"]) - sent[k] for k, t in found.items()]
        )

        sent = _produce(settings, args.burst, 0.0, "burst")
        found = _visible(client, project_id, set(sent), 600)
        last = max(_epoch(t["created_at"]) for t in found.values())
        results["burst_tasks"] = len(found)
        results["burst_tasks_per_second"] = len(found) / (last - min(sent.values()))
        results["burst_visible_seconds"] = _quantiles(
            [_epoch(t["created_at"]) - sent[k] for k, t in found.items()]
        )

        tasks = list(found.values())
        created = _annotate(client, tasks[: args.annotations])
        results["annotation_to_judgment_seconds"] = _quantiles(_judged(settings, created))
        table = settings.datasets_dir / "safety_labels"
        seen: dict[str, float] = {}
        deadline = time.monotonic() + 120
        while len(seen) < len(created) and time.monotonic() < deadline:
            try:
                rows = (
                    DeltaTable(str(table)).to_pyarrow_table(columns=["task_id"]).column("task_id").to_pylist()
                )
            except Exception:  # not created yet
                rows = []
            now = time.time()
            for task_id in rows:
                if task_id in created and task_id not in seen:
                    seen[task_id] = now - created[task_id]
            time.sleep(0.5)
        results["annotation_to_delta_row_seconds"] = _quantiles(list(seen.values()))

        connector.send_signal(signal.SIGTERM)
        connector.wait(30)
        connector = start_connector(FLAGSTREAM_LABEL_STUDIO_WEBHOOKS="false")
        mark = settings.group("label_studio")
        deadline = time.monotonic() + 120
        while any(
            (w.get("headers") or {}).get("X-Flagstream-Connector") == mark
            for w in client.webhooks(project_id)
        ):
            if time.monotonic() > deadline or connector.poll() is not None:
                raise RuntimeError(f"connector did not remove its webhooks; see {log.name}")
            time.sleep(0.5)
        created = _annotate(client, tasks[args.annotations : 2 * args.annotations])
        results["annotation_to_judgment_polling_seconds"] = _quantiles(_judged(settings, created))
    finally:
        for process in (connector, *workers):
            process.send_signal(signal.SIGTERM)
        for process in (connector, *workers):
            process.wait(30)
        for project in client.projects():
            if project["title"].startswith(settings.topic_prefix):
                client.delete_project(int(project["id"]))
        client.close()
        admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
        mine = [t for t in admin.list_topics(timeout=10).topics if t.startswith(settings.topic_prefix)]
        if mine:
            admin.delete_topics(mine, operation_timeout=30)
    print(json.dumps(results, indent=2))
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"labeling-{int(time.time())}.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # delta-rs runtime threads can abort Python's teardown (see services/cli.py)

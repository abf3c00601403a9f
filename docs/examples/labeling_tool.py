"""A minimal in-house labeling tool on Flagstream's Kafka contract: read review tasks, return judgments.

It "reviews" by approving every task as safe; a real tool shows `task.interaction` (already redacted)
to a person and turns their answer into the Judgment. Run from the repository root:

    .venv/bin/python docs/examples/labeling_tool.py --queue policy_review --max-tasks 10

The deployment (broker, topic prefix) comes from the usual settings: KAFKA_BOOTSTRAP_SERVERS,
FLAGSTREAM_TOPIC_PREFIX.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path

from confluent_kafka import Consumer, Producer

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the `services` package of this checkout

from services.contracts import Judgment, ReviewTask, Verdict, default_codec, utcnow
from services.runtime.settings import load_settings

TOOL_NAMESPACE = uuid.UUID("8a0f3c8e-3f1e-4a43-9e8b-6a2d6c1b2f10")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queue", default="policy_review")
    parser.add_argument("--reviewer", default="inhouse-reviewer-1", help="the reviewer's id in this tool")
    parser.add_argument("--max-tasks", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=60.0, help="give up after this many idle seconds")
    args = parser.parse_args()
    settings = load_settings()
    codec = default_codec()
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": settings.group("example-labeling-tool"),
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    producer = Producer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "enable.idempotence": True,
            "acks": "all",
            # Keyed by task id with murmur2 (as Java and aiokafka producers partition), a judgment
            # lands on its task's partition. Any other partitioner works too: the review service
            # sends a judgment found elsewhere on to that partition, one hop later.
            "partitioner": "murmur2_random",
        }
    )
    consumer.subscribe([settings.topic(f"review.tasks.{args.queue}.v1")])
    handled, idle = 0, 0.0
    try:
        while handled < args.max_tasks and idle < args.timeout:
            msg = consumer.poll(1.0)
            if msg is None:
                idle += 1.0
                continue
            if msg.error():
                print(f"consume error: {msg.error()}", file=sys.stderr)
                continue
            idle = 0.0
            task = codec.decode(msg.value() or b"", ReviewTask)
            judgment = Judgment(
                # Stable: the same reviewer's judgment of the same task keeps its id when re-sent.
                judgment_id=str(uuid.uuid5(TOOL_NAMESPACE, f"{task.task_id}:{args.reviewer}")),
                task_id=task.task_id,
                interaction_id=task.interaction_id,
                queue=task.queue,
                reviewer_id=args.reviewer,
                verdict=Verdict.safe,
                severity=0,
                rationale="Approved by the example tool.",
                rubric_version=task.rubric_version,
                submitted_at=utcnow(),
            )
            producer.produce(
                settings.topic("review.judgments.v1"), key=task.task_id.encode(), value=codec.encode(judgment)
            )
            if producer.flush(30):
                print("judgment not acknowledged; the task will be read again", file=sys.stderr)
                return 1
            consumer.commit(msg, asynchronous=False)  # only after the judgment is acknowledged
            handled += 1
            print(f"judged {task.task_id}")
    finally:
        consumer.close()
    return 0 if handled >= args.max_tasks else 1


if __name__ == "__main__":
    sys.exit(main())

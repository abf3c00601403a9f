"""A Faust worker picks up a source topic the broker did not know when the worker joined its group.

A worker's first metadata fetch, while the broker is still loading its topics (or before a topic
exists), answers "unknown topic" for its sources. The group leader then assigns no partitions at
all, and with Faust's default metadata age nothing changes for 300 s. Here the topic is created
after the worker has joined; records produced to it must be handled within seconds.
"""

from __future__ import annotations

import subprocess
import textwrap
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from integration_support import start_script

from services.local import wait_until
from services.runtime.faust_app import METADATA_MAX_AGE_MS
from services.runtime.kafka import make_producer
from services.runtime.settings import Settings

pytestmark = pytest.mark.integration

WORKER = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import faust

    from services.runtime.settings import load_settings
    from services.runtime.faust_app import create_app

    settings = load_settings()
    out = Path(sys.argv[1])
    app = create_app("late-topic-probe", settings)
    source = app.topic(settings.topic("late.topic.v1"), value_type=bytes, value_serializer="raw")

    @app.agent(source)
    async def handle(stream):
        async for value in stream:
            with out.open("ab") as seen:
                seen.write(value + b"\\n")

    faust.Worker(app, loglevel="info", redirect_stdouts=False).execute_from_commandline()
    """
)


def test_a_topic_created_after_the_worker_joined_is_consumed_within_seconds(
    settings: Settings, tmp_path: Path
) -> None:
    topic = settings.topic("late.topic.v1")
    out = tmp_path / "seen.txt"
    log = tmp_path / "worker.log"
    worker = start_script(WORKER, settings, log, str(out))
    try:
        assert wait_until(lambda: "Setting newly assigned partitions" in log.read_text(), 60), log.read_text()
        admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
        admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])[topic].result()
        producer = make_producer(settings)
        for n in range(10):
            producer.produce(topic, key=str(n).encode(), value=f"record-{n}".encode())
        producer.flush(30)
        created = time.monotonic()
        # the metadata age, a rebalance and a fetch; Faust's default age (300 s) fails this
        limit = METADATA_MAX_AGE_MS / 1000 + 30
        handled = wait_until(lambda: out.exists() and len(out.read_text().splitlines()) >= 10, limit)
        assert handled, (
            f"not consumed {time.monotonic() - created:.0f}s after creation:\n{log.read_text()[-3000:]}"
        )
        assert sorted(out.read_text().splitlines()) == sorted(f"record-{n}" for n in range(10))
    finally:
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()

"""A Faust worker that stops itself (exit 70) leaves its consumer group, so its partitions move at once.

Without the leave, a worker that stops itself at every start (a hole in its offsets met again) makes
each replacement wait out the stopped worker's session (20 s) before it gets the partitions, and a few
such restarts stall the stage. Here a worker stops itself, and its group must be empty well within
the session timeout.
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from integration_support import start_script

from services.local import wait_until
from services.runtime.faust_app import EXIT_CRASH
from services.runtime.kafka import make_producer
from services.runtime.settings import Settings

pytestmark = pytest.mark.integration

WORKER = textwrap.dedent(
    """
    import faust

    from services.runtime.errors import FatalError
    from services.runtime.settings import load_settings
    from services.runtime.faust_app import create_app, stop_worker

    settings = load_settings()
    app = create_app("stop-probe", settings)
    source = app.topic(settings.topic("stop.probe.v1"), value_type=bytes, value_serializer="raw")

    @app.agent(source)
    async def handle(stream):
        async for value in stream:
            if value == b"stop":
                stop_worker("stop-probe", FatalError("asked to stop"), app)

    faust.Worker(app, loglevel="info", redirect_stdouts=False).execute_from_commandline()
    """
)


def test_a_worker_that_stops_itself_leaves_its_group_at_once(settings: Settings, tmp_path: Path) -> None:
    topic = settings.topic("stop.probe.v1")
    group = settings.group("stop-probe")
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])[topic].result()
    log = tmp_path / "worker.log"
    worker = start_script(WORKER, settings, log)
    try:
        assert wait_until(lambda: "Setting newly assigned partitions" in log.read_text(), 60), log.read_text()

        def members() -> int:
            return len(admin.describe_consumer_groups([group])[group].result(timeout=10).members)

        assert members() == 1
        producer = make_producer(settings)
        producer.produce(topic, value=b"stop")
        producer.flush(30)
        assert worker.wait(60) == EXIT_CRASH, log.read_text()[-3000:]
        exited = time.monotonic()
        # Without the leave the member stays until its session times out (settings: 20 s).
        limit = settings.session_timeout_seconds / 2
        left = wait_until(lambda: members() == 0, limit)
        waited = time.monotonic() - exited
        assert left, f"still a member {waited:.0f}s after the worker exited:\n{log.read_text()[-3000:]}"
        assert "LeaveGroup request succeeded" in log.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()

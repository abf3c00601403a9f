"""Burrow-style progress on the real broker: a worker that holds a partition without committing is a
`stall`; once no member owns the partition it is a `stop`; lag in seconds is the oldest record's age."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

from confluent_kafka.admin import AdminClient, NewTopic
from integration_support import start_script

from services.local import wait_until
from services.runtime.kafka import make_producer
from services.runtime.metrics import Metrics
from services.runtime.progress import PartitionProgress, ProgressMonitor
from services.runtime.settings import Settings

WORKER = textwrap.dedent(
    """
    import asyncio

    import faust

    from services.runtime.settings import load_settings
    from services.runtime.faust_app import create_app

    settings = load_settings()
    app = create_app("hang-probe", settings)
    source = app.topic(settings.topic("hang.probe.v1"), value_type=bytes, value_serializer="raw")

    @app.agent(source)
    async def handle(stream):
        async for value in stream:
            if value == b"hang":
                await asyncio.sleep(3600)  # in the handler for good: nothing after it is committed

    faust.Worker(app, loglevel="info", redirect_stdouts=False).execute_from_commandline()
    """
)


def test_stall_while_owned_then_stop_when_nobody_owns_it(settings: Settings, tmp_path: Path) -> None:
    topic = settings.topic("hang.probe.v1")
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result()
    monitor = ProgressMonitor(
        settings.model_copy(update={"progress_window": 3}),
        Metrics("test"),
        sources={"hang-probe": ("hang.probe.v1",)},
    )
    log = tmp_path / "worker.log"
    worker = start_script(WORKER, settings, log)
    try:
        assert wait_until(lambda: "Setting newly assigned partitions" in log.read_text(), 60), log.read_text()
        producer = make_producer(settings)
        for value in (b"fine", b"hang", b"waits", b"waits too"):
            producer.produce(topic, value=value, partition=0)
        assert producer.flush(30) == 0
        produced_at = time.time()
        latest: list[PartitionProgress] = []

        def state(wanted: str) -> bool:
            nonlocal latest
            latest = monitor.check()
            return bool(latest) and latest[0].status == wanted

        assert wait_until(lambda: state("stall"), timeout=60, interval=1.0), latest
        (stalled,) = latest
        assert stalled.owned and stalled.lag >= 3
        assert 0 < stalled.lag_seconds <= time.time() - produced_at + 1
    finally:
        worker.kill()  # no LeaveGroup: the member stays until its session times out
        worker.wait()
    assert wait_until(lambda: state("stop"), timeout=settings.session_timeout_seconds + 30, interval=1.0), (
        latest
    )
    assert not latest[0].owned

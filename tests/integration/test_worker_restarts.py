"""A worker that stops itself (exit 70) is counted, by cause, by the worker that replaces it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from integration_support import free_port, start_script

from services.local import scrape, wait_until
from services.runtime.faust_app import EXIT_CRASH
from services.runtime.kafka import make_producer
from services.runtime.settings import Settings

WORKER = textwrap.dedent(
    """
    import sys

    import faust

    from services.runtime.errors import FatalError
    from services.runtime.metrics import Metrics
    from services.runtime.settings import load_settings
    from services.runtime.faust_app import create_app, stop_worker
    from services.runtime.worker import serve_signals

    settings = load_settings()
    app = create_app("restart-probe", settings)
    metrics = Metrics("restart-probe")
    serve_signals(metrics, settings)
    source = app.topic(settings.topic("restart.probe.v1"), value_type=bytes, value_serializer="raw")

    @app.agent(source)
    async def handle(stream):
        async for value in stream:
            if value == b"stall":
                stop_worker("restart-probe", FatalError("commits stalled: restart.probe.v1[0]"), app)

    faust.Worker(app, loglevel="info", redirect_stdouts=False).execute_from_commandline()
    """
)


def test_self_restarts_are_counted_by_cause_across_the_restart(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = settings.topic("restart.probe.v1")
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result()
    port = free_port()
    monkeypatch.setenv("FLAGSTREAM_METRICS_PORT", str(port))
    first = start_script(WORKER, settings, tmp_path / "first.log")
    try:
        assert wait_until(
            lambda: "Setting newly assigned partitions" in (tmp_path / "first.log").read_text(), 60
        )
        before = scrape(port)
        key = ("flagstream_worker_restarts_total", (("cause", "commit_stall"), ("service", "restart-probe")))
        assert before[key] == 0.0
        producer = make_producer(settings)
        producer.produce(topic, value=b"stall")
        producer.flush(30)
        assert first.wait(60) == EXIT_CRASH, (tmp_path / "first.log").read_text()[-3000:]
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    # the stall record was not committed: the replacement stops on it too, after counting the first exit
    second = start_script(WORKER, settings, tmp_path / "second.log")
    try:
        assert wait_until(lambda: _scraped(port, key) is not None, 60), (tmp_path / "second.log").read_text()
        assert _scraped(port, key) == 1.0
        assert second.wait(60) == EXIT_CRASH
        assert (settings.data_dir / "workers" / f"{settings.group('restart-probe')}.exits").read_text().count(
            "commit_stall"
        ) == 2
    finally:
        if second.poll() is None:
            second.kill()
            second.wait()


def _scraped(port: int, key: tuple[str, tuple[tuple[str, str], ...]]) -> float | None:
    try:
        return scrape(port).get(key)
    except OSError:
        return None

"""Running one service process: provision topics, serve /metrics, then run the Faust worker."""

from __future__ import annotations

import logging

import faust

from services.runtime import exits
from services.runtime.faust_app import Worker
from services.runtime.health import BEAT_SECONDS
from services.runtime.metrics import DEAD_LETTER_REASONS, Metrics
from services.runtime.progress import SOURCES, ProgressMonitor
from services.runtime.retry import RetryPolicy
from services.runtime.settings import Settings
from services.runtime.topics import REGISTRY, TopicSpec, changelog_specs, create_topics

log = logging.getLogger(__name__)


def provision(settings: Settings, attempts: int = 30, extra: tuple[TopicSpec, ...] = ()) -> None:
    """Create the registry's topics (and `extra` ones), waiting for the broker if it is starting."""
    RetryPolicy(attempts, delay=1.0, backoff="constant").call(
        "provisioning topics", lambda: create_topics(settings, (*REGISTRY, *extra))
    )


def serve_signals(metrics: Metrics, settings: Settings) -> int:
    """Serve /metrics, with the earlier self-restarts counted and every stage's progress watched."""
    exits.load(settings, metrics)
    # Dead letters of every source topic and reason exported from 0: a series that first appears at 1
    # has no increase() in Prometheus, and the first dead letter would not alert.
    for topic in SOURCES.get(metrics.service, ()):
        for reason in (*sorted(DEAD_LETTER_REASONS), "other"):
            metrics.dead_letters.labels(metrics.service, topic, reason)
    port = metrics.serve(settings.metrics_port, settings.metrics_host)
    log.info("%s: metrics on http://%s:%d/metrics", metrics.service, settings.metrics_host, port)
    ProgressMonitor(settings, metrics).start()
    return port


def run_faust(app: faust.App, metrics: Metrics, settings: Settings) -> None:
    """Provision (the registry and the app's table changelogs), serve metrics, run the agents until
    SIGTERM/SIGINT."""
    changelogs = [table.changelog_topic.get_topic_name() for table in app.tables.values()]
    provision(settings, extra=changelog_specs(settings, changelogs))
    serve_signals(metrics, settings)

    async def beat() -> None:  # on the worker's event loop: a blocked loop stops beating
        metrics.health.beat()

    app.timer(interval=BEAT_SECONDS)(beat)
    worker = Worker(
        app, loglevel=settings.log_level.lower().replace("warning", "warn"), redirect_stdouts=False
    )
    worker.execute_from_commandline()

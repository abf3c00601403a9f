"""Running one service process: provision topics, serve /metrics, then run the Faust worker."""

from __future__ import annotations

import logging
import time

import faust

from services.runtime.errors import RetryableError
from services.runtime.health import BEAT_SECONDS
from services.runtime.metrics import Metrics
from services.runtime.settings import Settings
from services.runtime.topics import REGISTRY, TopicSpec, changelog_specs, create_topics

log = logging.getLogger(__name__)


def provision(settings: Settings, attempts: int = 30, extra: tuple[TopicSpec, ...] = ()) -> None:
    """Create the registry's topics (and `extra` ones), waiting for the broker if it is starting."""
    for attempt in range(1, attempts + 1):
        try:
            create_topics(settings, (*REGISTRY, *extra))
            return
        except RetryableError as exc:
            if attempt == attempts:
                raise
            log.warning("topics not provisioned yet (%s); retrying", exc)
            time.sleep(1.0)


def run_faust(app: faust.App, metrics: Metrics, settings: Settings) -> None:
    """Provision (the registry and the app's table changelogs), serve metrics, run the agents until
    SIGTERM/SIGINT."""
    changelogs = [table.changelog_topic.get_topic_name() for table in app.tables.values()]
    provision(settings, extra=changelog_specs(settings, changelogs))
    port = metrics.serve(settings.metrics_port, settings.metrics_host)
    log.info("%s: metrics on http://%s:%d/metrics", metrics.service, settings.metrics_host, port)

    async def beat() -> None:  # on the worker's event loop: a blocked loop stops beating
        metrics.health.beat()

    app.timer(interval=BEAT_SECONDS)(beat)
    worker = faust.Worker(
        app, loglevel=settings.log_level.lower().replace("warning", "warn"), redirect_stdouts=False
    )
    worker.execute_from_commandline()

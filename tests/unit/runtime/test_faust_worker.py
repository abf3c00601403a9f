"""The service worker keeps the configured log level: no Faust spinner turning the root logger to DEBUG."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import faust
import pytest

from services.runtime.faust_app import Worker, create_app
from services.runtime.settings import Settings


@pytest.fixture
def root_logging() -> Iterator[None]:
    """Put the root logger back as it was: setting up a worker's logging replaces its handlers."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def _root_level_after_setup(worker_class: type[faust.Worker], tmp_path: Path) -> int:
    app = create_app("escalation", Settings(data_dir=tmp_path, topic_prefix="unit-worker-"))
    worker = worker_class(app, loglevel="warn", redirect_stdouts=False)
    worker._setup_logging()
    return logging.getLogger().level


def test_fausts_own_worker_turns_the_root_logger_to_debug(root_logging: None, tmp_path: Path) -> None:
    # what Worker works around: if a Faust upgrade stops doing this, the workaround can go
    assert _root_level_after_setup(faust.Worker, tmp_path) == logging.DEBUG


def test_the_service_worker_keeps_the_configured_level(root_logging: None, tmp_path: Path) -> None:
    assert _root_level_after_setup(Worker, tmp_path) == logging.WARNING
    assert not logging.getLogger("aiokafka.producer.producer").isEnabledFor(logging.DEBUG)
    assert not logging.getLogger("faust.topics").isEnabledFor(logging.DEBUG)

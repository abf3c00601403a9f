"""Helpers of the integration tests (a module name of its own: `conftest` is ambiguous across folders)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Self

from services.local import Samples, deployment_env, free_port, scrape, total
from services.runtime.settings import REPO_ROOT, Settings

__all__ = ["ServiceProcess", "env_of", "free_port"]


def env_of(settings: Settings) -> dict[str, str]:
    """The environment that makes a child process use these settings."""
    assert settings.pseudonym_key is not None, "integration deployments use a key of their own"
    return deployment_env(settings)


class ServiceProcess:
    """One `flagstream worker <service>` child process with its own metrics port and log."""

    def __init__(
        self, service: str, settings: Settings, log: Path, env: Mapping[str, str] | None = None
    ) -> None:
        self.service = service
        self.log = log
        self.port = free_port()
        self.env = {
            **os.environ,
            **env_of(settings),
            "FLAGSTREAM_METRICS_PORT": str(self.port),
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "worker", self.service],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=REPO_ROOT,
            )
        return self

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM, so the worker commits its offsets; SIGKILL if it is still up after the timeout.

        The finished process stays in `process`, so a test can read its exit code."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def samples(self) -> Samples:
        """Everything on the worker's /metrics (empty while it is not up)."""
        try:
            return scrape(self.port)
        except OSError:
            return {}

    def metric(self, name: str, **labels: str) -> float:
        return total(self.samples(), name, **labels)

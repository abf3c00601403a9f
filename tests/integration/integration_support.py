"""Helpers of the integration tests (a module name of its own: `conftest` is ambiguous across folders)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from services.runtime.settings import REPO_ROOT, Settings
from tests.support.deployment import deployment_env, free_port

__all__ = ["env_of", "free_port", "start_script"]


def env_of(settings: Settings) -> dict[str, str]:
    """The environment that makes a child process use these settings."""
    assert settings.pseudonym_key is not None, "integration deployments use a key of their own"
    return deployment_env(settings)


def start_script(code: str, settings: Settings, log: Path, *args: str) -> subprocess.Popen[bytes]:
    """Run Python `code` (a probe worker) in a child process of this deployment, output to `log`."""
    with log.open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-c", code, *args],
            env={**os.environ, **env_of(settings)},
            cwd=REPO_ROOT,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )

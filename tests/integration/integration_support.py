"""Helpers of the integration tests (a module name of its own: `conftest` is ambiguous across folders)."""

from __future__ import annotations

from services.local import deployment_env, free_port
from services.runtime.settings import Settings

__all__ = ["env_of", "free_port"]


def env_of(settings: Settings) -> dict[str, str]:
    """The environment that makes a child process use these settings."""
    assert settings.pseudonym_key is not None, "integration deployments use a key of their own"
    return deployment_env(settings)

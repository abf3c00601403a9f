"""Plumbing for tests and benches that start service processes: free ports, a child's environment."""

from __future__ import annotations

import socket

import psutil

from services.runtime.settings import Settings


def free_port() -> int:
    """A TCP port nobody listens on right now (metrics ports of test and bench deployments)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def deployment_env(settings: Settings, log_level: str = "INFO") -> dict[str, str]:
    """The environment that makes a child process use these settings (prefix, data, key, broker)."""
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "FLAGSTREAM_TOPIC_PREFIX": settings.topic_prefix,
        "FLAGSTREAM_DATA_DIR": str(settings.data_dir),
        "FLAGSTREAM_PSEUDONYM_KEY_ID": settings.pseudonym_key_id,
        "FLAGSTREAM_SINK_BATCH_SECONDS": str(settings.sink_batch_seconds),
        "FLAGSTREAM_CHANGELOG_SEGMENT_SECONDS": str(settings.changelog_segment_seconds),
        "FLAGSTREAM_LOG_LEVEL": log_level,
    }
    if settings.pseudonym_key is not None:
        env["FLAGSTREAM_PSEUDONYM_KEY"] = settings.pseudonym_key.get_secret_value()
    if settings.storage_root is not None:  # the datasets are elsewhere: every child must find them
        env["FLAGSTREAM_STORAGE_ROOT"] = settings.storage_root
        env["FLAGSTREAM_S3_REGION"] = settings.s3_region
        env["FLAGSTREAM_S3_ALLOW_HTTP"] = str(settings.s3_allow_http).lower()
        env["FLAGSTREAM_S3_VIRTUAL_HOSTED_STYLE"] = str(settings.s3_virtual_hosted_style).lower()
        env["FLAGSTREAM_S3_COMMIT_MODE"] = settings.s3_commit_mode
        env["FLAGSTREAM_S3_DYNAMODB_TABLE"] = settings.s3_dynamodb_table
        if settings.s3_endpoint_url:
            env["FLAGSTREAM_S3_ENDPOINT_URL"] = settings.s3_endpoint_url
        for name, secret in (
            ("AWS_ACCESS_KEY_ID", settings.aws_access_key_id),
            ("AWS_SECRET_ACCESS_KEY", settings.aws_secret_access_key),
            ("AWS_SESSION_TOKEN", settings.aws_session_token),
        ):
            if secret is not None:
                env[name] = secret.get_secret_value()
    return env


def tree_cpu_seconds(process: psutil.Process) -> float:
    """CPU seconds of a process and of its live children: a worker's progress reader runs in a
    child process of its own (runtime/progress.py), and its broker reads are the worker's cost too.
    A child that has ended takes its seconds with it (the reader is replaced only when it fails)."""
    total = 0.0
    for member in (process, *process.children(recursive=True)):
        try:
            times = member.cpu_times()
        except psutil.Error:  # ended between listing and reading
            continue
        total += times.user + times.system
    return total

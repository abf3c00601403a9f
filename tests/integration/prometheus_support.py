"""A real Prometheus for integration tests: the project's scrape config and alert rules, pointed at
one test deployment's metrics ports, with short scrape and evaluation intervals."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from services.runtime.settings import REPO_ROOT
from tests.support.deployment import free_port

PROMETHEUS_DIR = REPO_ROOT / "deploy" / "prometheus"
DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "flagstream.json"
METRIC_NAME = re.compile(r"\b(flagstream[_:][A-Za-z0-9_:]+|up)\b")


def rules() -> list[dict[str, Any]]:
    """Every rule of the alert rule file (recording and alerting)."""
    loaded = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def panel_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every query of every dashboard panel."""
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel.get("targets", ())
    ]


def metric_names(expr: str) -> set[str]:
    """Metric and recording-rule names a PromQL expression selects (not label values or functions)."""
    unquoted = re.sub(r'"[^"]*"', '""', expr)
    return set(METRIC_NAME.findall(unquoted))


class Prometheus:
    """A Prometheus server process scraping `ports` (service -> metrics port) with the project's rules."""

    def __init__(self, workdir: Path, ports: Mapping[str, int], interval: str = "2s") -> None:
        binary = shutil.which("prometheus")
        assert binary, "no prometheus on PATH: run `make ops-setup` (Debian's prometheus package)"
        config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
        config["global"] = {"scrape_interval": interval, "evaluation_interval": interval}
        config["rule_files"] = [str(PROMETHEUS_DIR / name) for name in config["rule_files"]]
        (job,) = config["scrape_configs"]
        job["static_configs"] = [
            {"targets": [f"127.0.0.1:{port}"], "labels": {"service": service}}
            for service, port in ports.items()
        ]
        workdir.mkdir(parents=True, exist_ok=True)
        config_file = workdir / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(config))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "prometheus.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config_file}",
                    f"--storage.tsdb.path={workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"prometheus exited: {self.log.read_text()[-2000:]}"
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"prometheus not ready after 30 s: {self.log.read_text()[-2000:]}")

    def api(self, path: str, **params: str) -> Any:
        """GET an HTTP API endpoint; returns `data`, raises AssertionError with Prometheus's error."""
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as error:
            body = json.load(error)
        assert body.get("status") == "success", f"{path} {params}: {body.get('error')}"
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result (a parse error fails)."""
        data = self.api("query", query=expr)
        return list(data["result"]) if data["resultType"] in ("vector", "matrix") else [data["result"]]

    def alerts(self) -> list[dict[str, Any]]:
        """Active alerts (pending or firing)."""
        return list(self.api("alerts")["alerts"])

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

"""/healthz and /readyz beside /metrics: a real HTTP server on a free port, a heartbeat on a test clock."""

from __future__ import annotations

import urllib.error
import urllib.request

from services.runtime.health import Health
from services.runtime.metrics import Metrics


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def status(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_probes_follow_the_heartbeat_and_metrics_still_serve() -> None:
    clock = Clock()
    metrics = Metrics("privacy_gate", health=Health(stale_seconds=60, clock=clock))
    port = metrics.serve(0)

    assert status(port, "/healthz") == (200, "ok\n")  # starting: live, not ready
    assert status(port, "/readyz") == (503, "not ready\n")

    metrics.health.beat()
    clock.now += 59
    assert status(port, "/healthz")[0] == 200
    assert status(port, "/readyz")[0] == 200

    clock.now += 2  # the loop has not turned for 61 s
    assert status(port, "/healthz") == (503, "stalled\n")
    assert status(port, "/readyz")[0] == 503

    metrics.health.beat()
    assert status(port, "/readyz")[0] == 200

    metrics.outcome("keep")
    code, body = status(port, "/metrics")
    assert code == 200
    assert 'flagstream_events_total{outcome="keep",reason="",service="privacy_gate"} 1.0' in body

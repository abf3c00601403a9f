"""The on-call view of a running pipeline: every dashboard query and alert expression evaluates on a
real Prometheus scraping it, `flagstream status` and `flagstream trace` tell what happened, and the
dead-letter and stall alerts go pending, then firing, when poison arrives and a stage stops."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest
from integration_support import env_of, free_port
from prometheus_support import Prometheus, metric_names, panel_queries, rules

from services.contracts import AuditEvent, default_codec
from services.dataset_sink.writer import read_table
from services.local import LocalStack, Progress, wait_until
from services.runtime.kafka import make_producer, read_topic
from services.runtime.metrics import PIPELINE as SERVICES
from services.runtime.progress import SOURCES
from services.runtime.settings import REPO_ROOT, Settings
from services.runtime.topics import AUDIT, INTERACTIONS, REDACTED, RESOLVED
from services.simulators.traffic import publish

EVENTS = 1000
FAST_PROGRESS = {"FLAGSTREAM_PROGRESS_INTERVAL_SECONDS": "2", "FLAGSTREAM_PROGRESS_WINDOW": "4"}


@pytest.fixture
def observed(settings: Settings, tmp_path: Path) -> Iterator[tuple[LocalStack, Prometheus]]:
    """The pipeline run over demo traffic until drained, scraped by a real Prometheus."""
    ports = {name: free_port() for name in SERVICES}
    stack = LocalStack(
        settings, log_dir=tmp_path / "log", env={**env_of(settings), **FAST_PROGRESS}, ports=ports
    )
    stack.start(("simulated_reviewers", ["simulate-reviewers"]))
    prometheus = Prometheus(tmp_path / "prometheus", ports)
    try:
        sent = publish(settings, EVENTS, seed=16, malformed_rate=0.02)
        assert len(sent) == EVENTS
        progress = Progress()

        def drained() -> bool:
            nonlocal progress
            stack.check()
            progress = Progress.read(ports)
            return progress.drained(EVENTS)

        assert wait_until(drained, timeout=300, interval=1.0), f"not drained: {progress.line(EVENTS)}"

        def scraped() -> bool:
            targets = prometheus.api("targets")["activeTargets"]
            return len(targets) == len(SERVICES) and all(t["health"] == "up" for t in targets)

        assert wait_until(scraped, timeout=30), prometheus.api("targets")
        # every counter has at least two samples after the drain, so rates have data
        time.sleep(6)
        yield stack, prometheus
    finally:
        prometheus.stop()
        stack.stop()


def status_screen(settings: Settings, stack: LocalStack) -> str:
    """`flagstream status` of the running test deployment, as on-call would run it."""
    ports = [f"--port={name}={port}" for name, port in stack.ports.items()]
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "status", *ports],
        env={**os.environ, **env_of(settings)},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    print(done.stdout)  # the closing note of the issue shows it (pytest -s)
    return done.stdout


def stage_line(screen: str, service: str) -> list[str]:
    stages = screen.split("\n\n")[1]  # the block after the title
    (line,) = [line for line in stages.splitlines() if line.startswith(f"{service} ")]
    return line.split()


def check_traces(settings: Settings) -> None:
    """Trace a consent drop, an unescalated and a written interaction; each against the audit record."""
    codec = default_codec()
    events = [codec.decode(m.value() or b"", AuditEvent) for m in read_topic(settings, settings.topic(AUDIT))]
    consent = {"no_human_review_consent", "no_consent_record", "default_deny"}

    def first(service: str, decision: str, reasons: set[str] | None = None) -> str:
        for e in events:
            if e.service == service and e.decision == decision and (reasons is None or e.reason in reasons):
                assert e.interaction_id
                return e.interaction_id
        raise AssertionError(f"no {service} {decision} in the run")

    def run(interaction_id: str) -> tuple[str, dict[str, Any]]:
        text = cli(settings, "trace", interaction_id)
        data = json.loads(cli(settings, "trace", interaction_id, "--json"))
        print(text)
        return text, data

    dropped = first("privacy_gate", "drop", consent)
    text, data = run(dropped)
    assert data["outcome"] == "dropped by the privacy gate" and text.startswith(
        f"interaction {dropped}: dropped"
    )
    assert [(s["service"], s["decision"]) for s in data["steps"]] == [("privacy_gate", "drop")]
    assert data["steps"][0]["reason"] in consent and data["steps"][0]["policy_versions"]["redaction"]
    assert data["rows"] == []

    unescalated = first("escalation", "not_escalated")
    text, data = run(unescalated)
    assert data["outcome"] == "not escalated to review"
    steps = [(s["service"], s["decision"]) for s in data["steps"]]
    assert steps[0][0] == "privacy_gate" and steps[0][1] in ("keep", "keep_no_training")
    assert steps[-1] == ("escalation", "not_escalated")
    assert data["steps"][-1]["policy_versions"]["escalation"] and "risk_score" in data["steps"][-1]["details"]
    assert data["rows"] == []

    written = first("dataset_sink", "written")
    text, data = run(written)
    assert data["outcome"] == "written to the datasets"
    services = [s["service"] for s in data["steps"]]
    assert services[0] == "privacy_gate" and services[-1] == "dataset_sink"
    assert {"escalation", "review"} <= set(services), services
    tables = {row["table"]: row for row in data["rows"]}
    assert tables["safety_labels"]["split"] in ("train", "heldout")
    assert 0 <= tables["safety_labels"]["since_version"] <= tables["safety_labels"]["latest_version"]
    row = read_table(settings.datasets_dir, "safety_labels").filter(
        pc.equal(read_table(settings.datasets_dir, "safety_labels").column("interaction_id"), written)
    )
    assert row.column("split").to_pylist() == [tables["safety_labels"]["split"]]
    assert row.column("response").to_pylist()[0] not in text  # ids, codes and versions only, no text


def cli(settings: Settings, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env={**os.environ, **env_of(settings)},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def active(prometheus: Prometheus, name: str, **labels: str) -> list[str]:
    """States (pending, firing) of the active alerts `name` whose labels include `labels`."""
    return [
        alert["state"]
        for alert in prometheus.alerts()
        if alert["labels"]["alertname"] == name
        and all(alert["labels"].get(k) == v for k, v in labels.items())
    ]


def test_on_call_view_of_the_running_pipeline(
    settings: Settings, observed: tuple[LocalStack, Prometheus]
) -> None:
    stack, prometheus = observed
    exported = {
        series["__name__"] for series in prometheus.api("series", **{"match[]": '{job="flagstream"}'})
    }
    recorded = {rule["record"] for rule in rules() if "record" in rule}

    # Every panel query parses and returns data; every metric it names is exported (or recorded).
    problems = []
    for title, expr in panel_queries():
        unknown = metric_names(expr) - exported - recorded
        if unknown:
            problems.append(f"panel {title!r} names metrics no service exports: {sorted(unknown)}")
        elif not prometheus.query(expr):
            problems.append(f"panel {title!r} has no data: {expr}")
    # Every rule expression parses, and every metric it names has series.
    for rule in rules():
        name = rule.get("alert") or rule["record"]
        prometheus.query(rule["expr"])
        for metric in sorted(metric_names(rule["expr"]) - recorded):
            if not prometheus.query(f"count({metric})"):
                problems.append(f"rule {name}: no series of {metric}")
    assert not problems, "\n".join(problems)

    # `flagstream status` of the drained pipeline: every stage up, every partition of it ok
    screen = status_screen(settings, stack)
    for service in SERVICES:
        line = stage_line(screen, service)
        partitions = settings.partitions * len(SOURCES[service])
        assert line[1] == "yes" and line[-2:] == [str(partitions), "ok"], screen
    assert "stall" not in screen and "stop" not in screen, screen
    assert f"{INTERACTIONS:34} " in screen  # the demo traffic's malformed records wait in the ingress DLQ
    assert "urgent" in screen and "safety_labels" in screen, screen

    # `flagstream trace` tells the whole path of one interaction per kind of outcome
    check_traces(settings)

    # Poison after the gate: the escalation dead-letters it and the dead-letter alert fires.
    assert not active(prometheus, "FlagstreamDeadLetters", topic=REDACTED)
    producer = make_producer(settings)
    for i in range(3):
        producer.produce(settings.topic(REDACTED), key=f"poison-{i}".encode(), value=b"poison: not avro")
    # A stopped dataset sink with records waiting: its partitions' progress turns to `stop`.
    sink = stack.processes["dataset_sink"]
    sink.terminate()
    assert sink.wait(30) is not None
    for partition in range(settings.partitions):
        producer.produce(settings.topic(RESOLVED), value=b"\x00waiting", partition=partition)
    assert producer.flush(30) == 0

    seen: dict[str, list[str]] = {"dead": [], "stall": []}

    def both_firing() -> bool:
        for key, states in (
            ("dead", active(prometheus, "FlagstreamDeadLetters", topic=REDACTED, service="escalation")),
            ("stall", active(prometheus, "FlagstreamStageStalled", service="dataset_sink", topic=RESOLVED)),
        ):
            if states and (not seen[key] or seen[key][-1] != states[0]):
                seen[key].append(states[0])
        return all(states and states[-1] == "firing" for states in seen.values())

    assert wait_until(both_firing, timeout=180, interval=1.0), f"states seen: {seen}; {prometheus.alerts()}"
    # each went through pending (the `for:` of the rule) before firing
    assert seen["dead"][:2] == ["pending", "firing"], seen
    assert seen["stall"][:2] == ["pending", "firing"], seen
    dead = prometheus.query(f'flagstream_dead_letters_total{{topic="{REDACTED}"}} > 0')
    assert {(s["metric"]["reason"], s["value"][1]) for s in dead} == {("unknown_magic", "3")}
    status = prometheus.query(
        f'max by (status) (flagstream_consumer_status{{service="dataset_sink", topic="{RESOLVED}"}}) == 1'
    )
    assert {s["metric"]["status"] for s in status} == {"stop"}

    for alert in sorted(prometheus.alerts(), key=lambda a: (a["labels"]["alertname"], a["state"])):
        labels = {k: v for k, v in alert["labels"].items() if k not in ("alertname", "severity")}
        print(f"alert {alert['labels']['alertname']} {alert['state']} {labels}")  # for the closing note

    # and on the status screen: the sink is down, its records wait, its partitions are stopped
    screen = status_screen(settings, stack)
    sink_line = stage_line(screen, "dataset_sink")
    assert sink_line[1] == "NO" and sink_line[4] == str(settings.partitions), screen
    assert f"{settings.partitions} stop" in " ".join(sink_line), screen
    assert "escalation: no answer" not in screen and "dataset_sink: no answer" in screen
    assert f"{REDACTED:34} unknown_magic" in screen, screen

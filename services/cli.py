"""`flagstream`: run the services, provision topics, feed demo traffic, and inspect datasets offline."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from services.local import Progress
from services.runtime.errors import FatalError, FlagstreamError
from services.runtime.settings import Settings, load_settings

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
topics_app = typer.Typer(help="The topic registry.", no_args_is_help=True)
datasets_app = typer.Typer(help="The Delta datasets.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")
app.add_typer(datasets_app, name="datasets")
dlq_app = typer.Typer(help="Dead letters: list, show, replay (docs/runbook.md).", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")

SERVICES = ("privacy_gate", "escalation", "review", "dataset_sink", "label_studio")
MIN_TIMED_SECONDS = 5.0
"""`flagstream run` prints a stage's rate only over at least this long (its counts are sampled per second)."""
WORKER_CONNECT_TIMEOUT_SECONDS = 60.0
"""A worker started by a supervisor while the broker itself restarts waits this long for it."""


def _require_kafka(settings: Settings, timeout: float | None = None) -> None:
    from services.runtime.kafka import require_kafka

    require_kafka(settings, timeout)


labeling_app = typer.Typer(help="Labeling tools (Label Studio).", no_args_is_help=True)
app.add_typer(labeling_app, name="labeling")


def _settings() -> Settings:
    settings = load_settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return settings


@app.command()
def worker(service: Annotated[str, typer.Argument(help=f"One of: {', '.join(SERVICES)}")]) -> None:
    """Run one service until SIGTERM/SIGINT (each has its own consumer group)."""
    settings = _settings()
    if service not in SERVICES:
        raise typer.BadParameter(f"unknown service {service!r}; choose from {', '.join(SERVICES)}")
    _require_kafka(settings, max(WORKER_CONNECT_TIMEOUT_SECONDS, settings.kafka_connect_timeout_seconds))
    if service == "dataset_sink":
        from services.dataset_sink.app import run

        run(settings)
        return
    if service == "label_studio":
        from services.label_studio.app import run as run_connector

        run_connector(settings)
        return
    from importlib import import_module

    from services.runtime.worker import run_faust

    faust_app, metrics = import_module(f"services.{service}.app").build(settings)
    run_faust(faust_app, metrics, settings)


@topics_app.command("create")
def topics_create() -> None:
    """Create every registry topic that does not exist yet (idempotent)."""
    from services.runtime.worker import provision

    settings = _settings()
    _require_kafka(settings)
    provision(settings)
    typer.echo(f"topics ready on {settings.kafka_bootstrap_servers}")


@topics_app.command("list")
def topics_list() -> None:
    """Print the registry: name, retention, compaction, restriction."""
    from services.runtime.topics import REGISTRY

    settings = load_settings()
    for spec in REGISTRY:
        flags = ",".join(
            f for f, on in (("compacted", spec.compacted), ("restricted", spec.restricted)) if on
        )
        typer.echo(
            f"{settings.topic(spec.name):45} {spec.retention_ms // 3_600_000:>5}h {flags:21} "
            f"{spec.max_message_bytes(settings.limits):>9}B {spec.description}"
        )


@topics_app.command("limits")
def topics_limits() -> None:
    """Print the size contract: every limit derived from FLAGSTREAM_MAX_RECORD_BYTES (docs/limits.md)."""
    for name, value in load_settings().limits.describe().items():
        typer.echo(f"{name:30} {value:>10}")


@labeling_app.command("config")
def labeling_config(
    queue: Annotated[str, typer.Argument(help="A queue of the escalation policy.")],
    policy: Annotated[Path | None, typer.Option(help="Escalation policy file.")] = None,
) -> None:
    """Print the Label Studio labeling config (XML) of a queue's project, from its rubric (offline)."""
    from services.escalation.domain import load_escalation_policy
    from services.label_studio.domain import labeling_config as config_of

    chosen = load_escalation_policy(policy or load_settings().escalation_policy)
    if queue not in chosen.queues:
        raise typer.BadParameter(f"unknown queue {queue!r}; the policy has {', '.join(chosen.queues)}")
    typer.echo(config_of(chosen.queues[queue].rubric_id), nl=False)


@app.command()
def demo(
    count: Annotated[int, typer.Option(help="Events to produce.")] = 1000,
    rate: Annotated[float, typer.Option(help="Events per second; 0 = flat out.")] = 0.0,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the generator (default: fresh ids each run).")
    ] = None,
    malformed_rate: Annotated[float, typer.Option(help="Share of malformed records.")] = 0.01,
) -> None:
    """Produce realistic flagged interactions (with some malformed bytes) to the ingress topic."""
    from services.runtime.worker import provision
    from services.simulators.traffic import publish

    settings = _settings()
    _require_kafka(settings)
    provision(settings)
    started = time.monotonic()
    sent = publish(settings, count, rate=rate, seed=seed, malformed_rate=malformed_rate)
    elapsed = time.monotonic() - started
    typer.echo(f"produced {len(sent)} events in {elapsed:.1f}s ({len(sent) / max(elapsed, 1e-9):.0f}/s)")


@app.command("simulate-reviewers")
def simulate_reviewers(
    agreement: Annotated[float, typer.Option(help="Probability a reviewer gives the apparent truth.")] = 0.9,
    delay: Annotated[float, typer.Option(help="Seconds between a task and its judgments.")] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of the reviewers' choices.")] = 11,
    tool: Annotated[
        str,
        typer.Option(
            help="kafka: read the queues, produce judgments; label-studio: annotate in Label Studio."
        ),
    ] = "kafka",
) -> None:
    """Consume the review queues like a labeling tool and produce judgments, until SIGTERM/SIGINT."""
    from services.contracts import default_codec
    from services.local import interrupted
    from services.simulators.reviewers import SimulatedReviewers

    settings = _settings()
    if tool == "label-studio":
        from services.simulators.label_studio_reviewers import LabelStudioReviewers

        annotators = LabelStudioReviewers(settings, agreement=agreement, seed=seed, stop=interrupted())
        annotators.run()
        typer.echo(f"annotated {annotators.judged} times in Label Studio")
        return
    if tool != "kafka":
        raise typer.BadParameter(f"unknown tool {tool!r}; choose kafka or label-studio")
    reviewers = SimulatedReviewers(
        settings, default_codec(), agreement=agreement, delay_seconds=delay, seed=seed, stop=interrupted()
    )
    reviewers.run()
    typer.echo(f"judged {reviewers.judged} times")


@app.command()
def run(
    count: Annotated[
        int, typer.Option(help="Stop after N demo events have drained; 0 = run until Ctrl-C.")
    ] = 0,
    rate: Annotated[float, typer.Option(help="Demo events per second when running until Ctrl-C.")] = 50.0,
    timeout: Annotated[
        float, typer.Option(help="Give up waiting for the drain after this many seconds.")
    ] = 600,
    labeling: Annotated[
        str,
        typer.Option(
            help="kafka: simulated reviewers read the queues; label-studio: they annotate in "
            "Label Studio (LABEL_STUDIO_URL) through the label_studio connector."
        ),
    ] = "kafka",
) -> None:
    """Everything together: services, simulated reviewers and demo traffic, with live progress."""
    from services.local import LocalStack, Progress, default_ports, interrupted, wait_until
    from services.runtime.worker import provision
    from services.simulators.traffic import publish

    settings = _settings()
    if labeling not in ("kafka", "label-studio"):
        raise typer.BadParameter(f"unknown labeling {labeling!r}; choose kafka or label-studio")
    _require_kafka(settings)
    provision(settings)
    from services.runtime.stage import EXIT_CRASH

    stack = LocalStack(settings, restart_codes=frozenset({EXIT_CRASH}))  # a supervisor's restart
    if labeling == "label-studio":
        stack.start(
            ("label_studio", ["worker", "label_studio"]),
            ("simulated_reviewers", ["simulate-reviewers", "--tool", "label-studio"]),
        )
    else:
        stack.start(("simulated_reviewers", ["simulate-reviewers"]))
    stop = interrupted()
    ports = default_ports()
    produced = [0]

    def on_sent(n: int) -> None:
        produced[0] = n

    feeder = threading.Thread(
        target=publish,
        args=(settings, count if count else 10**9),
        kwargs={"rate": 0.0 if count else rate, "stop": stop, "on_sent": on_sent},
        daemon=True,
    )
    started = time.monotonic()
    started_at = time.time()
    gate_first_at: list[float] = []  # the services are up and the first events passed the gate
    gate_done_at: list[float] = []
    progress = Progress()
    carried = Progress()  # what restarted workers had counted before they stopped
    last_read = Progress()

    def tick() -> None:
        nonlocal progress, carried, last_read
        for name in stack.check():
            sys.stderr.write(f"\n{name} stopped itself (exit {EXIT_CRASH}); restarted it\n")
            carried = carried.plus(last_read.only(name))
        last_read = Progress.read(ports)
        progress = last_read.plus(carried)
        if not gate_first_at and progress.gated > 0:
            gate_first_at.append(time.monotonic())
        if count and not gate_done_at and progress.gated >= count:
            gate_done_at.append(time.monotonic())
        sys.stderr.write("\r" + progress.line(produced[0]) + " ")
        sys.stderr.flush()

    try:
        feeder.start()
        if count:
            drained = wait_until(
                lambda: stop.is_set() or (not feeder.is_alive() and progress.drained(count)),
                timeout=timeout,
                interval=1.0,
                on_tick=tick,
            )
        else:
            drained = wait_until(stop.is_set, timeout=float("inf"), interval=1.0, on_tick=tick)
        drained_at = time.monotonic()
        tick()
        elapsed = time.monotonic() - started
        sys.stderr.write("\n")
        if count and not drained:
            typer.echo(f"warning: not drained after {timeout:.0f}s; the summary is partial", err=True)
    finally:
        stop.set()
        stack.stop()
    _summary(
        settings,
        progress,
        produced[0],
        started_at,
        elapsed,
        (gate_done_at[0] - gate_first_at[0]) if gate_done_at and gate_first_at else None,
        (drained_at - gate_first_at[0]) if count and drained and gate_first_at else None,
        stack.restarts,
    )
    if labeling == "label-studio":
        _labeling_summary(settings)


def _labeling_summary(settings: Settings) -> None:
    """Each queue's Label Studio project: its URL, tasks and annotations."""
    from services.label_studio.app import project_title
    from services.label_studio.client import LabelStudio
    from services.runtime.topics import QUEUES

    client = LabelStudio(settings.label_studio_url, settings.label_studio_api_key.get_secret_value())
    try:
        projects = {p["title"]: p for p in client.projects()}
    finally:
        client.close()
    typer.echo("  Label Studio projects (tasks, annotations)")
    for queue in QUEUES:
        project = projects.get(project_title(settings, queue))
        if project is not None:
            tasks, annotations = project.get("task_number", 0), project.get("total_annotations_number", 0)
            typer.echo(
                f"    {queue:14} {client.url}/projects/{project['id']}/data  "
                f"{tasks} tasks, {annotations} annotations"
            )


def _summary(
    settings: Settings,
    p: Progress,
    produced: int,
    started_at: float,
    elapsed: float,
    gate_seconds: float | None,
    drain_seconds: float | None,
    restarts: dict[str, int] | None = None,
) -> None:
    from services.dataset_sink.writer import count_rows, table_history

    out = typer.echo
    out("\nFlagstream run summary")
    out(f"  events in              {produced}")
    out(
        f"  kept by the gate       {p.gate.get('keep', 0):.0f} (+{p.gate.get('keep_no_training', 0):.0f} "
        "reviewable but not for training)"
    )
    for reason, n in sorted(p.drop_reasons.items()):
        out(f"  dropped ({reason}) {n:.0f}")
    out(f"  dead-lettered (ingress) {p.gate.get('dead_lettered', 0):.0f}")
    out("  entities redacted      " + ", ".join(f"{t} {n:.0f}" for t, n in sorted(p.entities.items())))
    out(f"  not escalated          {p.escalation.get('not_escalated', 0):.0f}")
    out("  routed per queue       " + ", ".join(f"{q} {n:.0f}" for q, n in sorted(p.routed.items())))
    out(
        f"  judgments resolved     {p.review.get('resolved', 0):.0f} (late judgments "
        f"{p.review.get('late_judgment', 0):.0f})"
    )
    out(f"  dataset rows written   {p.rows:.0f} (not written: {p.sink.get('not_written', 0):.0f})")
    table = settings.datasets_dir / "safety_labels"
    try:
        history = table_history(settings.datasets_dir, "safety_labels")
    except FlagstreamError:
        history = []
    mine = [h for h in history if h["timestamp"].timestamp() >= started_at and h["operation"] == "WRITE"]
    if mine:
        versions = sorted(h["version"] for h in mine)
        out(
            f"  Delta commits this run {len(mine)}: v{versions[0]}..v{versions[-1]}, "
            f"{sum(h['rows_written'] or 0 for h in mine)} rows"
        )
    if history:
        rows = count_rows(settings.datasets_dir, "safety_labels")
        out(f"  table now              v{history[0]['version']}, {rows} rows in all")
    out(f"  table                  {table}")
    out(f"  wall time              {elapsed:.1f}s")
    if gate_seconds is not None and drain_seconds and produced:
        # The counts are sampled once a second: a gate that took fewer samples than this has no rate.
        gate = (
            f"gate {produced / gate_seconds:.0f} events/s"
            if gate_seconds >= MIN_TIMED_SECONDS
            else f"gate not timed (done within {MIN_TIMED_SECONDS:.0f} s of samples; try a larger COUNT)"
        )
        out(
            f"  throughput             {gate}; whole pipeline "
            f"{produced / drain_seconds:.0f} events/s (first event through the gate to the last row)"
        )
    if restarts:
        out(
            "  worker restarts        "
            + ", ".join(f"{name} {n}" for name, n in sorted(restarts.items()))
            + " (counts carried over; events replayed after a restart count twice)"
        )
    out("  history                flagstream datasets history safety_labels")


@app.command()
def redact(
    policy: Annotated[Path | None, typer.Option(help="Redaction policy file.")] = None,
) -> None:
    """Dry-run the redaction policy: JSON lines with `text` on stdin, redacted lines on stdout."""
    from services.privacy_gate.domain import Redactor, load_redaction_policy
    from services.privacy_gate.offline import redact_lines

    redactor = Redactor(load_redaction_policy(policy or load_settings().redaction_policy))
    _split_errors(redact_lines(sys.stdin, redactor))


@app.command()
def route(
    policy: Annotated[Path | None, typer.Option(help="Escalation policy file.")] = None,
    explain: Annotated[bool, typer.Option(help="Include the risk-score components.")] = False,
) -> None:
    """Reproduce routing offline: redacted interactions (JSON lines) in, decisions out."""
    from services.escalation.domain import load_escalation_policy
    from services.escalation.offline import route_lines

    loaded = load_escalation_policy(policy or load_settings().escalation_policy)
    _split_errors(route_lines(sys.stdin, loaded, explain))


def _split_errors(lines: Iterable[str]) -> None:
    """Results to stdout, `{"error": ...}` lines to stderr as one line each; exit 1 if any failed."""
    failed = 0
    for line in lines:
        if line.startswith('{"error": '):
            error = json.loads(line)
            where = f"line {error['line']}: " if "line" in error else ""
            sys.stderr.write(f"flagstream: {where}{error['error']}\n")
            failed += 1
        else:
            sys.stdout.write(line + "\n")
    if failed:
        sys.stdout.flush()
        raise SystemExit(1)


@datasets_app.command("list")
def datasets_list() -> None:
    """The dataset tables and their latest versions."""
    from services.dataset_sink.offline import list_datasets

    _print(list_datasets(load_settings().datasets_dir))


@datasets_app.command("history")
def datasets_history(
    name: str,
    as_json: Annotated[bool, typer.Option("--json", help="Full commit metadata as JSON.")] = False,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the newest N versions.")] = None,
    as_of: Annotated[
        str | None, typer.Option(help="Only versions committed at or before this time (ISO 8601).")
    ] = None,
) -> None:
    """Every version of a table, newest first: time, operation, rows, policy versions."""
    from services.dataset_sink.offline import dataset_history
    from services.dataset_sink.tags import select_history

    history = select_history(
        dataset_history(load_settings().datasets_dir, name), limit=limit, as_of=_when(as_of)
    )
    if as_json:
        _print(history)
        return
    typer.echo(f"{'version':>7}  {'committed (UTC)':26} {'operation':12} {'rows':>6}  policies")
    for h in history:
        meta = h.get("metadata") or {}
        policies = " ".join(
            str(meta[k]) for k in ("escalation_policy_versions", "redaction_policy_versions") if meta.get(k)
        )
        typer.echo(
            f"{h['version']:>7}  {str(h['timestamp'])[:26]:26} {h['operation']:12} "
            f"{h['rows_written'] if h['rows_written'] is not None else '':>6}  {policies}"
        )


@datasets_app.command("show")
def datasets_show(
    name: str,
    version: Annotated[int | None, typer.Option(help="Table version (default latest).")] = None,
    limit: Annotated[int, typer.Option(help="Rows to print.")] = 5,
) -> None:
    """Print rows of a table version as JSON lines."""
    from services.dataset_sink.offline import show_dataset

    _print(show_dataset(load_settings().datasets_dir, name, version=version, limit=limit))


@datasets_app.command("export")
def datasets_export(
    name: str,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="File to write (a .card.json lands beside it).")
    ],
    fmt: Annotated[
        str, typer.Option("--format", help="jsonl | parquet | sft (demonstrations) | dpo (preferences).")
    ] = "jsonl",
    version: Annotated[int | None, typer.Option(help="Table version (default latest).")] = None,
    split: Annotated[str | None, typer.Option(help="train or heldout (default both).")] = None,
    allow_erased: Annotated[
        bool, typer.Option(help="Export a pinned version committed before an erasure was applied anyway.")
    ] = False,
    tag: Annotated[
        str | None, typer.Option(help="The version this tag pins (`datasets tag`), instead of --version.")
    ] = None,
) -> None:
    """Export one table version for training: rows, or TRL's conversational SFT / DPO records."""
    from services.dataset_sink.offline import export_dataset

    if tag is not None:
        if version is not None:
            raise typer.BadParameter("give --version or --tag, not both")
        from services.dataset_sink.tags import tagged_version

        version = tagged_version(load_settings().datasets_dir, tag, name)

    if version is not None:
        from services.ops.erasure import erasures_after

        later = erasures_after(load_settings(), name, version)
        if later:
            what = (
                f"{name} version {version} was committed before {len(later)} erasure request(s) were "
                f"applied (last {max(r['applied_at'] for r in later).isoformat()}): it may hold erased "
                "subjects' rows"
            )
            if not allow_erased:
                raise FatalError(f"{what}; export the latest version, or pass --allow-erased")
            typer.echo(f"warning: {what}", err=True)

    _print(export_dataset(load_settings().datasets_dir, name, output, fmt=fmt, version=version, split=split))


@datasets_app.command("tag")
def datasets_tag(
    name: Annotated[str, typer.Argument(help="The tag, e.g. sft-2026-12-06.")],
    note: Annotated[str, typer.Option(help="What the tag is for.")] = "",
) -> None:
    """Pin the latest version of every table under one name (export --tag NAME reads them)."""
    from services.dataset_sink.tags import create_tag

    _print(create_tag(load_settings().datasets_dir, name, note))


@datasets_app.command("tags")
def datasets_tags() -> None:
    """Every tag with the table versions it pins."""
    from services.dataset_sink.tags import list_tags

    _print(list_tags(load_settings().datasets_dir))


@datasets_app.command("card")
def datasets_card(
    name: str, version: Annotated[int | None, typer.Option(help="Table version (default latest).")] = None
) -> None:
    """The dataset card of a table version: counts per verdict, category and split, policies, agreement."""
    from services.dataset_sink.offline import dataset_card

    _print(dataset_card(load_settings().datasets_dir, name, version))


erase_app = typer.Typer(help="Erasure of a subject from every dataset.")
app.add_typer(erase_app, name="erase")


@erase_app.callback(invoke_without_command=True)
def erase(
    ctx: typer.Context,
    subject: Annotated[
        str | None,
        typer.Option(
            help="The subject id as upstream sends it (raw); pseudonymized here with the deployment key."
        ),
    ] = None,
    pseudonym: Annotated[
        str | None,
        typer.Option(help="The subject's pseudonym (sp_…), as datasets and audit events show it."),
    ] = None,
    reason: Annotated[str, typer.Option(help="Why (recorded in the ledger and audit).")] = "manual_request",
) -> None:
    """Request erasure of a subject from every dataset (the dataset sink applies it, then vacuums);
    `erase status REQUEST_ID` says whether it was applied."""
    if ctx.invoked_subcommand is not None:
        return
    from services.contracts import ErasureRequest, default_codec, utcnow
    from services.runtime.kafka import make_producer
    from services.runtime.pseudonyms import Pseudonymizer
    from services.runtime.topics import ERASURES
    from services.runtime.worker import provision

    if (subject is None) == (pseudonym is None):
        raise typer.BadParameter("give exactly one of --subject and --pseudonym")
    settings = _settings()
    _require_kafka(settings)
    pseudonymizer = Pseudonymizer(settings.pseudonym_key_bytes, settings.pseudonym_key_id)
    target = pseudonymizer.pseudonymize(subject) if subject is not None else str(pseudonym)
    request = ErasureRequest(
        request_id=str(uuid.uuid4()),
        subject_pseudonym=target,
        pseudonym_key_id=settings.pseudonym_key_id,
        scopes=["training", "human_review"],
        requested_at=utcnow(),
        reason=reason,
    )
    provision(settings)
    producer = make_producer(settings)
    producer.produce(settings.topic(ERASURES), key=target.encode(), value=default_codec().encode(request))
    if producer.flush(30):
        raise FatalError(f"could not deliver the erasure request to {settings.kafka_bootstrap_servers}")
    typer.echo(f"erasure request {request.request_id} sent for pseudonym {target}")


@erase_app.command("status")
def erase_status(
    request_id: Annotated[str, typer.Argument(help="The id `flagstream erase` printed.")],
) -> None:
    """Whether an erasure request was applied to every table, and which table versions predate it."""
    from services.ops.erasure import erasure_status

    _print(erasure_status(load_settings(), request_id))


@app.command()
def status(
    watch: Annotated[bool, typer.Option(help="Refresh until Ctrl-C.")] = False,
    every: Annotated[float, typer.Option(help="Seconds between refreshes with --watch.")] = 5.0,
    port: Annotated[
        list[str] | None,
        typer.Option(help="SERVICE=PORT of a service's /metrics (default: 9101-9104); repeatable."),
    ] = None,
) -> None:
    """One screen for on-call: stages (rate, lag, state), dead letters, review queues, datasets."""
    from services.local import default_ports
    from services.ops.status import collect, render

    ports = default_ports()
    for item in port or ():
        name, _, number = item.partition("=")
        if name not in ports or not number.isdigit():
            raise typer.BadParameter(
                f"--port {item!r}: expected SERVICE=PORT, SERVICE one of {', '.join(ports)}"
            )
        ports[name] = int(number)
    settings = load_settings()
    while True:
        screen = render(collect(settings, ports))
        if not watch:
            typer.echo(screen)
            return
        typer.echo("\x1b[2J\x1b[H" + screen)  # clear the terminal, then draw
        time.sleep(every)


@app.command("trace")
def trace_command(
    interaction_id: Annotated[str, typer.Argument(help="The interaction's id (as upstream sent it).")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of text.")] = False,
) -> None:
    """Where one interaction went and why: every stage's decision with its policy versions, and the
    dataset table, version and split it landed in (never its text)."""
    from dataclasses import asdict

    from services.ops.trace import render, trace

    found = trace(load_settings(), interaction_id)
    if as_json:
        _print({"outcome": found.outcome, **asdict(found)})
    else:
        typer.echo(render(found))


def _when(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 time (e.g. 2026-12-06T21:00:00Z)") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dlq_app.command("list")
def dlq_list(
    topic: Annotated[list[str] | None, typer.Option(help="Origin topic(s) (default: every one).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
) -> None:
    """Dead letters by origin topic and reason: counts, time range, services."""
    from services.ops.dlq import ORIGINS, read_dead_letters, summarize

    summary = summarize(read_dead_letters(load_settings(), topic or ORIGINS))
    if as_json:
        _print(summary)
        return
    if not summary:
        typer.echo("no dead letters")
        return
    typer.echo(
        f"{'origin topic':34} {'reason':22} {'count':>6}  {'first (UTC)':19}  {'last (UTC)':19}  services"
    )
    for row in summary:
        typer.echo(
            f"{row['topic']:34} {row['reason']:22} {row['count']:>6}  {row['first'][:19]:19}  "
            f"{row['last'][:19]:19}  {','.join(row['services'])}"
            + ("  (restricted)" if row["restricted"] else "")
        )


@dlq_app.command("show")
def dlq_show(
    topic: Annotated[str, typer.Argument(help="Origin topic, e.g. interactions.redacted.v1.")],
    partition: Annotated[int, typer.Argument(help="Partition of the dead-letter topic.")],
    offset: Annotated[int, typer.Argument(help="Offset in the dead-letter topic.")],
) -> None:
    """One dead letter: headers, origin, error; the payload decoded only after the privacy gate."""
    from services.ops.dlq import describe, find

    _print(describe(find(load_settings(), topic, partition, offset)))


@dlq_app.command("replay")
def dlq_replay(
    topic: Annotated[str, typer.Argument(help="Origin topic whose dead letters to replay.")],
    reason: Annotated[list[str] | None, typer.Option(help="Only these reason codes.")] = None,
    since: Annotated[str | None, typer.Option(help="Dead-lettered at or after (ISO 8601).")] = None,
    until: Annotated[str | None, typer.Option(help="Dead-lettered at or before (ISO 8601).")] = None,
    origin_offset: Annotated[
        list[str] | None, typer.Option(help="PARTITION:OFFSET in the origin topic (repeatable).")
    ] = None,
    allow_restricted: Annotated[
        bool, typer.Option(help="Needed to replay a DLQ of raw personal data (the ingress topics).")
    ] = False,
    dry_run: Annotated[bool, typer.Option(help="Say what would be replayed, send nothing.")] = False,
) -> None:
    """Send selected dead letters back to their origin topic after a fix; each at most once."""
    from services.ops.dlq import Selection, replay

    offsets = set()
    for item in origin_offset or ():
        try:
            part, off = item.split(":")
            offsets.add((int(part), int(off)))
        except ValueError as exc:
            raise typer.BadParameter(f"--origin-offset {item!r}: expected PARTITION:OFFSET") from exc
    selection = Selection(frozenset(reason or ()), _when(since), _when(until), frozenset(offsets))
    report = replay(_settings(), topic, selection, allow_restricted=allow_restricted, dry_run=dry_run)
    verb = "would replay" if dry_run else "replayed"
    typer.echo(
        f"{verb} {len(report.replayed)} dead letters to {topic}; {len(report.skipped)} replayed before"
    )
    for where in report.replayed:
        typer.echo(f"  {verb} {where}")


def _print(value: object) -> None:
    if isinstance(value, str):
        typer.echo(value)
    else:
        typer.echo(json.dumps(value, indent=2, default=str))


def main() -> None:
    """Entry point: clear one-line errors for what the user can fix, tracebacks for bugs."""
    try:
        try:
            app()
        except FatalError as exc:
            typer.echo(f"flagstream: {exc}", err=True)
            raise SystemExit(2) from exc
    except SystemExit as done:
        if "deltalake" not in sys.modules:
            raise
        _exit_without_teardown(done.code)


def _exit_without_teardown(code: int | str | None) -> None:
    """Exit with `code` once output is flushed, skipping the interpreter's teardown.

    delta-rs leaves runtime threads that can outlive Python's teardown; on Linux the process then
    aborts ("terminate called without an active exception", SIGABRT) after a command that finished,
    about one run in fifteen on a loaded machine (delta-io/delta-rs#2184). Every command that read or
    wrote a Delta table has done its work and flushed what it produces by the time it returns.
    """
    if isinstance(code, str):
        sys.stderr.write(code + "\n")
        code = 1
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code or 0)


if __name__ == "__main__":
    main()

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
schemas_app = typer.Typer(
    help="The Avro contracts in a Confluent-compatible schema registry.", no_args_is_help=True
)
app.add_typer(schemas_app, name="schemas")

SERVICES = ("privacy_gate", "escalation", "review", "dataset_sink")


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
    if service == "dataset_sink":
        from services.dataset_sink.app import run

        run(settings)
        return
    if service not in SERVICES:
        raise typer.BadParameter(f"unknown service {service!r}; choose from {', '.join(SERVICES)}")
    from importlib import import_module

    from services.runtime.worker import run_faust

    faust_app, metrics = import_module(f"services.{service}.app").build(settings)
    run_faust(faust_app, metrics, settings)


@topics_app.command("create")
def topics_create() -> None:
    """Create every registry topic that does not exist yet (idempotent)."""
    from services.runtime.worker import provision

    settings = _settings()
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


SchemaDir = Annotated[
    Path | None, typer.Option("--schemas", help="Folder of .avsc files (default: the shipped schemas/).")
]


def _schema_reports(register: bool, schema_dir: Path | None) -> None:
    """Run `register` or `check` of runtime/schema_registry.py and print one line per subject."""
    from services.contracts import AvroCodec, default_codec
    from services.runtime import schema_registry
    from services.runtime.errors import RetryableError

    settings = load_settings()
    codec = default_codec() if schema_dir is None else AvroCodec(schema_dir)
    action = schema_registry.register if register else schema_registry.check
    try:
        reports = action(settings, codec)
    except RetryableError as exc:
        typer.echo(f"flagstream: {exc}", err=True)
        raise typer.Exit(2) from exc
    for report in reports:
        typer.echo(f"{report.status:12} {report.subject:45} {report.record:36} {report.detail}")
    refused = [report for report in reports if not report.ok]
    if refused:
        outcome = "nothing was registered" if register else "registering would fail"
        typer.echo(
            f"flagstream: {len(refused)} subject(s) refuse the schema ({outcome}); a .v1 change must be "
            "BACKWARD compatible (schemas/README.md: add fields only with a default, never retype or remove)",
            err=True,
        )
        raise typer.Exit(1)


@schemas_app.command("register")
def schemas_register(schema_dir: SchemaDir = None) -> None:
    """Register each topic's record under `<topic>-value` with BACKWARD compatibility (all or nothing)."""
    _schema_reports(True, schema_dir)


@schemas_app.command("check")
def schemas_check(schema_dir: SchemaDir = None) -> None:
    """Say whether every schema could be registered now, changing nothing (exit 1 if one could not)."""
    _schema_reports(False, schema_dir)


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
) -> None:
    """Consume the review queues like a labeling tool and produce judgments, until SIGTERM/SIGINT."""
    from services.contracts import default_codec
    from services.local import interrupted
    from services.simulators.reviewers import SimulatedReviewers

    settings = _settings()
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
) -> None:
    """Everything together: services, simulated reviewers and demo traffic, with live progress."""
    from services.local import LocalStack, Progress, default_ports, interrupted, wait_until
    from services.runtime.worker import provision
    from services.simulators.traffic import publish

    settings = _settings()
    provision(settings)
    stack = LocalStack(settings)
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

    def tick() -> None:
        nonlocal progress
        stack.check()
        progress = Progress.read(ports)
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
    )


def _summary(
    settings: Settings,
    p: Progress,
    produced: int,
    started_at: float,
    elapsed: float,
    gate_seconds: float | None,
    drain_seconds: float | None,
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
    if gate_seconds and drain_seconds and produced:
        out(
            f"  throughput             gate {produced / gate_seconds:.0f} events/s; whole pipeline "
            f"{produced / drain_seconds:.0f} events/s (first event through the gate to the last row)"
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
    for line in redact_lines(sys.stdin, redactor):
        sys.stdout.write(line + "\n")


@app.command()
def route(
    policy: Annotated[Path | None, typer.Option(help="Escalation policy file.")] = None,
    explain: Annotated[bool, typer.Option(help="Include the risk-score components.")] = False,
) -> None:
    """Reproduce routing offline: redacted interactions (JSON lines) in, decisions out."""
    from services.escalation.domain import load_escalation_policy
    from services.escalation.offline import route_lines

    loaded = load_escalation_policy(policy or load_settings().escalation_policy)
    for line in route_lines(sys.stdin, loaded, explain):
        sys.stdout.write(line + "\n")


@datasets_app.command("list")
def datasets_list() -> None:
    """The dataset tables and their latest versions."""
    from services.dataset_sink.offline import list_datasets

    _print(list_datasets(load_settings().datasets_dir))


@datasets_app.command("history")
def datasets_history(
    name: str, as_json: Annotated[bool, typer.Option("--json", help="Full commit metadata as JSON.")] = False
) -> None:
    """Every version of a table, newest first: time, operation, rows, policy versions."""
    from services.dataset_sink.offline import dataset_history

    history = dataset_history(load_settings().datasets_dir, name)
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
) -> None:
    """Export one table version for training: rows, or TRL's conversational SFT / DPO records."""
    from services.dataset_sink.offline import export_dataset

    _print(export_dataset(load_settings().datasets_dir, name, output, fmt=fmt, version=version, split=split))


@datasets_app.command("card")
def datasets_card(
    name: str, version: Annotated[int | None, typer.Option(help="Table version (default latest).")] = None
) -> None:
    """The dataset card of a table version: counts per verdict, category and split, policies, agreement."""
    from services.dataset_sink.offline import dataset_card

    _print(dataset_card(load_settings().datasets_dir, name, version))


@app.command()
def erase(
    subject: Annotated[
        str | None, typer.Option(help="Raw subject id; pseudonymized with the deployment key.")
    ] = None,
    pseudonym: Annotated[
        str | None, typer.Option(help="Subject pseudonym, when you already have it.")
    ] = None,
    reason: Annotated[str, typer.Option(help="Why (recorded in the ledger and audit).")] = "manual_request",
) -> None:
    """Request erasure of a subject from every dataset (the dataset sink applies it, then vacuums)."""
    from services.contracts import ErasureRequest, default_codec, utcnow
    from services.runtime.kafka import make_producer
    from services.runtime.pseudonyms import Pseudonymizer
    from services.runtime.topics import ERASURES
    from services.runtime.worker import provision

    if (subject is None) == (pseudonym is None):
        raise typer.BadParameter("give exactly one of --subject and --pseudonym")
    settings = _settings()
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

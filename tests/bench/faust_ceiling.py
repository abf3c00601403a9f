"""The ceiling of one Faust worker on this machine, run beside a real worker in the same benchmark run
so the worker's events/s can be read against what Faust itself allows here.

Modes (first argument):
- ``escalation``: the stage loop over interactions.redacted.v1 with a handler that does nothing but
  count (as outcome `not_escalated`, so the escalation bench scrapes it like the real worker);
- ``gate``: the stage loop over flagged.interactions.v1 with a handler that forwards each record's
  bytes to interactions.redacted.v1 and sends one small audit record, the two outputs the privacy
  gate sends per event, with no decoding and no redaction (counted as outcome `kept`, as the gate's
  bench scrapes `flagstream_events_total`);
- ``bare``: a plain Faust app and agent over flagged.interactions.v1 that takes the records in the
  stage's batches and only counts them, without the stage loop (no offset guard, no per-record
  work, no producer): what Faust alone allows.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, cast

import faust

from services.runtime.faust_app import create_app
from services.runtime.metrics import Metrics
from services.runtime.settings import Settings
from services.runtime.stage import BATCH_MAX, BATCH_WITHIN_SECONDS, Inbound, Outbound, Stage
from services.runtime.topics import AUDIT, INTERACTIONS, REDACTED
from services.runtime.worker import run_faust

MODES = ("escalation", "gate", "bare")
# About the size of the gate's audit event in Avro.
AUDIT_STANDIN = b"a" * 160


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "escalation"
    if mode not in MODES:
        raise SystemExit(f"usage: faust_ceiling.py [{'|'.join(MODES)}]")
    settings = Settings()
    service = "escalation" if mode == "escalation" else "privacy_gate"
    metrics = Metrics(service)

    if mode == "bare":
        plain = faust.App(
            settings.group("faust-ceiling-bare"),
            broker=f"kafka://{settings.kafka_bootstrap_servers}",
            store="memory://",
            datadir=str(settings.data_dir / "faust" / settings.group("faust-ceiling-bare")),
            web_enabled=False,
            consumer_auto_offset_reset="earliest",
        )
        counted = metrics.events.labels(service, "kept", "ceiling")
        raw_topic = plain.topic(
            settings.topic(INTERACTIONS),
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            allow_empty=True,
        )

        @plain.agent(raw_topic, name="ceiling")
        async def bare(stream: faust.StreamT[bytes]) -> None:
            # In batches, as the stage reads: Faust's cheapest way through a topic.
            async for events in cast(Any, stream).take_events(BATCH_MAX, within=BATCH_WITHIN_SECONDS):
                counted.inc(len(events))

        run_faust(plain, metrics, settings)
        return

    app = create_app(f"faust-ceiling-{mode}", settings)
    stage = Stage(app, service, settings, metrics)

    async def count(inbound: Inbound) -> Sequence[Outbound]:
        metrics.outcome("not_escalated", "ceiling")
        return []

    async def forward(inbound: Inbound) -> Sequence[Outbound]:
        metrics.outcome("kept", "ceiling")
        return [Outbound(REDACTED, inbound.value, key=inbound.key), Outbound(AUDIT, AUDIT_STANDIN, key=None)]

    source, handle = (REDACTED, count) if mode == "escalation" else (INTERACTIONS, forward)

    @app.agent(stage.topic(source), name="ceiling")
    async def ceiling(stream: faust.StreamT[bytes]) -> None:
        await stage.run(stream, handle)

    run_faust(app, metrics, settings)


if __name__ == "__main__":
    main()

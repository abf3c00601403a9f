"""`flagstream dlq list|show|replay` on the real broker: counts by reason, no raw data shown, replay
after a fix carries records through the escalation stage, and a second replay sends nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from integration_support import env_of, free_port

from services.contracts import AuditEvent, default_codec
from services.contracts.samples import sample_redacted_interaction
from services.local import wait_until
from services.runtime import deadletter
from services.runtime.errors import DecodeError
from services.runtime.kafka import make_producer, read_topic
from services.runtime.settings import REPO_ROOT, Settings
from services.runtime.topics import AUDIT, INTERACTIONS, REDACTED, dlq

CODEC = default_codec()
RAW_EMAIL = "ana.canary@example.com"


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env={**os.environ, **env_of(settings)},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def dead_letter(
    settings: Settings, origin: str, value: bytes, error: Exception, reason: str, offset: int
) -> None:
    producer = make_producer(settings)
    letter = deadletter.build(
        origin=origin,
        partition=0,
        offset=offset,
        key=b"k",
        value=value,
        error=error,
        reason=reason,
        service="test",
    )
    assert letter.topic == dlq(origin)
    producer.produce(
        settings.topic(letter.topic), key=letter.key, value=letter.value, headers=letter.headers, partition=0
    )
    assert producer.flush(30) == 0


def test_dlq_list_show_replay(settings: Settings, tmp_path: Path) -> None:
    fixed = [
        sample_redacted_interaction(interaction_id=f"replay-{i}-{settings.topic_prefix}") for i in range(2)
    ]
    for i, item in enumerate(fixed):  # failed on a bug since fixed
        dead_letter(
            settings, REDACTED, CODEC.encode(item), KeyError("signals"), "unexpected:KeyError", 10 + i
        )
    dead_letter(settings, REDACTED, b"garbage", DecodeError("unknown magic 6761"), "unknown_magic", 12)
    dead_letter(
        settings,
        INTERACTIONS,
        f"raw {RAW_EMAIL}".encode(),
        DecodeError(f"bad {RAW_EMAIL}"),
        "unknown_magic",
        3,
    )

    listed = cli(settings, "dlq", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {(r["topic"], r["reason"]): r for r in json.loads(listed.stdout)}
    assert {k: r["count"] for k, r in rows.items()} == {
        (INTERACTIONS, "unknown_magic"): 1,
        (REDACTED, "unexpected:KeyError"): 2,
        (REDACTED, "unknown_magic"): 1,
    }
    assert rows[(INTERACTIONS, "unknown_magic")]["restricted"] is True
    table = cli(settings, "dlq", "list")
    assert "unexpected:KeyError" in table.stdout and "(restricted)" in table.stdout

    # show: a restricted dead letter shows neither payload nor error message; after the gate, decoded
    ingress = cli(settings, "dlq", "show", INTERACTIONS, "0", "0")
    assert ingress.returncode == 0, ingress.stderr
    assert RAW_EMAIL not in ingress.stdout and "withheld" in ingress.stdout
    shown = json.loads(cli(settings, "dlq", "show", REDACTED, "0", "0").stdout)
    assert shown["payload"]["interaction_id"] == fixed[0].interaction_id
    assert shown["origin"] == {"topic": REDACTED, "partition": 0, "offset": 10}
    assert json.loads(cli(settings, "dlq", "show", REDACTED, "0", "2").stdout)["payload"]["undecodable"]

    # the ingress DLQ holds raw data: replaying it needs the explicit flag
    refused = cli(settings, "dlq", "replay", INTERACTIONS)
    assert refused.returncode != 0 and "--allow-restricted" in refused.stderr

    first = cli(settings, "dlq", "replay", REDACTED, "--reason", "unexpected")
    assert first.returncode == 0, first.stderr
    assert "replayed 2 dead letters" in first.stdout and "0 replayed before" in first.stdout
    replayed = read_topic(settings, settings.topic(REDACTED))
    assert len(replayed) == 2
    assert all(
        dict(m.headers() or [])["dlq.replayed.from"].startswith(dlq(REDACTED).encode()) for m in replayed
    )

    # the fixed stage takes them: escalation decides each replayed interaction
    port = free_port()
    with (tmp_path / "escalation.log").open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "worker", "escalation"],
            env={**os.environ, **env_of(settings), "FLAGSTREAM_METRICS_PORT": str(port)},
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wanted = {item.interaction_id for item in fixed}

        def decided() -> bool:
            events = [
                CODEC.decode(m.value() or b"", AuditEvent)
                for m in read_topic(settings, settings.topic(AUDIT))
            ]
            return wanted <= {e.interaction_id for e in events if e.service == "escalation"}

        assert wait_until(decided, timeout=90, interval=1.0), (tmp_path / "escalation.log").read_text()[
            -3000:
        ]
    finally:
        worker.terminate()
        worker.wait(30)

    # a second replay sends nothing: both were replayed before
    second = cli(settings, "dlq", "replay", REDACTED, "--reason", "unexpected")
    assert second.returncode == 0, second.stderr
    assert "replayed 0 dead letters" in second.stdout and "2 replayed before" in second.stdout
    time.sleep(1)
    assert len(read_topic(settings, settings.topic(REDACTED))) == 2

"""The consent ledger on the real broker: grants, revocations, erasure requests, late events, restarts."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from integration_support import env_of, free_port

from services.contracts import (
    AuditEvent,
    ConsentEvent,
    ConsentScopes,
    ErasureRequest,
    FlaggedInteraction,
    RedactedInteraction,
    default_codec,
)
from services.local import scrape, total, wait_until
from services.runtime.faust_app import EXIT_CRASH
from services.runtime.kafka import make_producer, read_topic
from services.runtime.pseudonyms import Pseudonymizer
from services.runtime.settings import REPO_ROOT, Settings
from services.simulators.traffic import interaction

pytestmark = pytest.mark.integration

CODEC = default_codec()
NOW = datetime.now(UTC).replace(microsecond=0)
EVENTS = "flagstream_events_total"


class Gate:
    """One privacy-gate worker process with its own metrics port, restarted as a supervisor would.

    A worker that stops itself exits 70 ("restart me": a commit watchdog or offset-hole stop, which
    load on a shared machine can cause) and its supervisor starts it again; so does this, at most
    `RESTARTS` times, noting each stop's reason. The ledger must then come back from its changelog
    all the same. Any other exit, or more stops, fails the test with the log's last lines.
    """

    RESTARTS = 2

    def __init__(self, settings: Settings, log: Path, extra_env: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.port = free_port()
        self.env = {**os.environ, **env_of(settings), **(extra_env or {})}
        self.env["FLAGSTREAM_METRICS_PORT"] = str(self.port)
        self.log_path = log
        self._log = log.open("ab")
        self.stops: list[str] = []
        self.process = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "services.cli", "worker", "privacy_gate"],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=REPO_ROOT,
        )

    def _stopped_because(self) -> str:
        lines = self.log_path.read_text(errors="replace").splitlines()
        critical = [line for line in lines if "CRITICAL" in line]
        return critical[-1] if critical else "\n".join(lines[-20:])

    def count(self, outcome: str) -> float:
        """The gate's events_total for one outcome (0 while it is not up)."""
        if self.process.poll() is not None:
            code, why = self.process.returncode, self._stopped_because()
            if code != EXIT_CRASH or len(self.stops) >= self.RESTARTS:
                raise RuntimeError(f"the gate exited with {code} (stops before: {self.stops}): {why}")
            self.stops.append(why)
            print(f"the gate stopped itself and was restarted: {why}")
            self.process = self._spawn()
            return 0.0
        try:
            return total(scrape(self.port), EVENTS, outcome=outcome)
        except OSError:
            return 0.0

    def wait(self, outcomes: Mapping[str, float], timeout: float = 180.0) -> None:
        """Wait until each outcome has been counted at least the given number of times."""
        assert wait_until(
            lambda: all(self.count(o) >= n for o, n in outcomes.items()), timeout=timeout, interval=0.3
        ), {o: self.count(o) for o in outcomes}

    def stop(self) -> None:
        """SIGTERM, so Faust commits its offsets and flushes the changelog."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@pytest.fixture
def gate_log(tmp_path: Path) -> Path:
    return tmp_path / "privacy_gate.log"


@pytest.fixture
def gate(settings: Settings, gate_log: Path) -> Iterator[Gate]:
    worker = Gate(settings, gate_log)
    yield worker
    worker.stop()


def consent(subject: str, human_review: bool, training: bool, at: datetime) -> ConsentEvent:
    return ConsentEvent(
        event_id=str(uuid.uuid4()),
        subject_id=subject,
        human_review=human_review,
        training=training,
        event_time=at,
        source="it-consent-service",
    )


def flagged(subject: str, snapshot: ConsentScopes, event_time: datetime) -> FlaggedInteraction:
    base = interaction(random.Random(), now=event_time)
    return base.model_copy(
        update={
            "interaction_id": str(uuid.uuid4()),
            "subject_id": subject,
            "event_time": event_time,
            "consent": snapshot,
        }
    )


def send(settings: Settings, topic: str, key: str, record: ConsentEvent | FlaggedInteraction) -> None:
    producer = make_producer(settings)
    producer.produce(settings.topic(topic), key=key.encode(), value=CODEC.encode(record))
    assert producer.flush(30) == 0


def send_consent(settings: Settings, event: ConsentEvent) -> None:
    send(settings, "consent.events.v1", event.subject_id, event)


def send_interaction(settings: Settings, item: FlaggedInteraction) -> None:
    send(settings, "flagged.interactions.v1", item.subject_id, item)


def redacted(settings: Settings) -> dict[str, RedactedInteraction]:
    records = read_topic(settings, settings.topic("interactions.redacted.v1"))
    decoded = [CODEC.decode(m.value() or b"", RedactedInteraction) for m in records]
    return {r.interaction_id: r for r in decoded}


def erasures(settings: Settings) -> list[ErasureRequest]:
    records = read_topic(settings, settings.topic("datasets.erasures.v1"))
    return [CODEC.decode(m.value() or b"", ErasureRequest) for m in records]


def audits(settings: Settings) -> list[AuditEvent]:
    records = read_topic(settings, settings.topic("audit.decisions.v1"))
    return [CODEC.decode(m.value() or b"", AuditEvent) for m in records]


def pseudonym(settings: Settings, subject: str) -> str:
    return Pseudonymizer(settings.pseudonym_key_bytes, settings.pseudonym_key_id).pseudonymize(subject)


OLD_DENIAL = ConsentScopes(human_review=False, training=False, updated_at=NOW - timedelta(days=30))
OLD_GRANT = ConsentScopes(human_review=True, training=True, updated_at=NOW - timedelta(days=30))


def test_grant_keeps_revocation_drops_and_asks_for_erasure(settings: Settings, gate: Gate) -> None:
    ana, ben, cat = (f"subject-{name}-{uuid.uuid4().hex[:6]}" for name in ("ana", "ben", "cat"))

    # A grant in the ledger outranks an older denial in the interaction's snapshot.
    send_consent(settings, consent(ana, True, True, NOW - timedelta(minutes=10)))
    send_consent(settings, consent(ben, True, True, NOW - timedelta(minutes=10)))
    gate.wait({"consent_recorded": 2})
    kept_ana = flagged(ana, OLD_DENIAL, NOW - timedelta(minutes=9))
    kept_ben = flagged(ben, OLD_DENIAL, NOW - timedelta(minutes=9))
    send_interaction(settings, kept_ana)
    send_interaction(settings, kept_ben)
    gate.wait({"keep": 2})

    # Ana revokes everything; Ben revokes training only.
    send_consent(settings, consent(ana, False, False, NOW - timedelta(minutes=5)))
    send_consent(settings, consent(ben, True, False, NOW - timedelta(minutes=5)))
    gate.wait({"consent_revoked": 2, "erasure_requested": 2})

    # In flight: stamped before the revocation, carrying a stale grant, gated after it.
    in_flight_ana = flagged(ana, OLD_GRANT, NOW - timedelta(minutes=6))
    marked_ben = flagged(ben, OLD_GRANT, NOW - timedelta(minutes=6))
    send_interaction(settings, in_flight_ana)
    send_interaction(settings, marked_ben)

    # Out of order: Cat's revocation arrives before the older grant it supersedes.
    send_consent(settings, consent(cat, False, False, NOW - timedelta(minutes=2)))
    gate.wait({"consent_recorded": 3})
    send_consent(settings, consent(cat, True, True, NOW - timedelta(minutes=8)))
    gate.wait({"consent_stale": 1})
    late_cat = flagged(cat, OLD_GRANT, NOW - timedelta(minutes=1))
    send_interaction(settings, late_cat)
    gate.wait({"dropped": 2, "keep_no_training": 1})

    passed = redacted(settings)
    assert set(passed) == {kept_ana.interaction_id, kept_ben.interaction_id, marked_ben.interaction_id}
    assert passed[kept_ana.interaction_id].training_allowed
    assert passed[kept_ana.interaction_id].consent.updated_at == NOW - timedelta(minutes=10)
    marked = passed[marked_ben.interaction_id]
    assert not marked.training_allowed
    assert (marked.consent.human_review, marked.consent.training) == (True, False)

    requests = {(r.subject_pseudonym, tuple(r.scopes)): r for r in erasures(settings)}
    ana_p, ben_p = pseudonym(settings, ana), pseudonym(settings, ben)
    assert set(requests) == {(ana_p, ("human_review", "training")), (ben_p, ("training",))}
    assert requests[(ana_p, ("human_review", "training"))].requested_at == NOW - timedelta(minutes=5)
    assert all(r.pseudonym_key_id == settings.pseudonym_key_id for r in requests.values())

    decisions = {(a.interaction_id, a.decision, a.reason) for a in audits(settings) if a.interaction_id}
    assert (in_flight_ana.interaction_id, "drop", "no_human_review_consent") in decisions
    assert (late_cat.interaction_id, "drop", "no_human_review_consent") in decisions
    # No raw subject id reaches any topic after the gate.
    for topic in ("interactions.redacted.v1", "datasets.erasures.v1", "audit.decisions.v1"):
        for record in read_topic(settings, settings.topic(topic)):
            blob = (record.key() or b"") + (record.value() or b"")
            assert not any(s.encode() in blob for s in (ana, ben, cat)), topic


def test_a_restarted_gate_recovers_the_ledger_from_its_changelog(settings: Settings, gate_log: Path) -> None:
    dan = f"subject-dan-{uuid.uuid4().hex[:6]}"
    first = Gate(settings, gate_log)
    try:
        send_consent(settings, consent(dan, True, True, NOW - timedelta(minutes=3)))
        first.wait({"consent_recorded": 1})
        time.sleep(2.5)  # past broker_commit_interval, so the stop commits the consent offset
    finally:
        first.stop()

    second = Gate(settings, gate_log)
    try:
        item = flagged(dan, OLD_DENIAL, NOW - timedelta(minutes=1))
        send_interaction(settings, item)
        second.wait({"keep": 1})
        # The grant was not read again: it came back from the table's changelog.
        assert second.count("consent_recorded") == 0
    finally:
        second.stop()
    assert item.interaction_id in redacted(settings)


def test_a_subject_without_a_record_is_denied_by_default(settings: Settings, gate_log: Path) -> None:
    eve, fay = f"subject-eve-{uuid.uuid4().hex[:6]}", f"subject-fay-{uuid.uuid4().hex[:6]}"
    worker = Gate(settings, gate_log, {"FLAGSTREAM_CONSENT_TRUST_SNAPSHOTS": "false"})
    try:
        send_consent(settings, consent(fay, True, False, NOW - timedelta(minutes=3)))
        worker.wait({"consent_recorded": 1})
        unknown = flagged(eve, OLD_GRANT, NOW - timedelta(minutes=1))
        known = flagged(fay, OLD_GRANT, NOW - timedelta(minutes=1))
        send_interaction(settings, unknown)
        send_interaction(settings, known)
        worker.wait({"dropped": 1, "keep_no_training": 1})
    finally:
        worker.stop()
    decisions = {(a.interaction_id, a.decision, a.reason) for a in audits(settings) if a.interaction_id}
    assert (unknown.interaction_id, "drop", "no_consent_record") in decisions
    assert (known.interaction_id, "keep_no_training", "no_training_consent") in decisions

"""The demo traffic as it leaves the privacy gate, for the simulator tests (real gate domain)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from services.contracts import FlaggedInteraction, RedactedInteraction, default_codec
from services.escalation.domain import load_escalation_policy
from services.privacy_gate.domain import Redactor, gate, load_redaction_policy
from services.runtime.pseudonyms import Pseudonymizer
from services.simulators.traffic import generate

REPO = Path(__file__).resolve().parents[3]
POLICY = load_escalation_policy(REPO / "deploy" / "policies" / "escalation.yaml")
REDACTOR = Redactor(load_redaction_policy(REPO / "deploy" / "policies" / "redaction.yaml"))
PSEUDONYMIZER = Pseudonymizer(b"k" * 32, "demo-test")
NOW = datetime(2026, 12, 6, 21, 5, tzinfo=UTC)
CODEC = default_codec()


def demo_run(count: int, seed: int, now: datetime = NOW) -> Iterator[RedactedInteraction]:
    """What `make run COUNT=count` sends past the gate: demo records, redacted, consent applied."""
    for record in generate(count, seed=seed, malformed_rate=0.0, codec=CODEC):
        raw = CODEC.decode(record.value, FlaggedInteraction)
        decision = gate(
            raw, redactor=REDACTOR, pseudonymizer=PSEUDONYMIZER, source_fingerprint="f" * 16, now=now
        )
        if decision.redacted is not None:
            yield decision.redacted

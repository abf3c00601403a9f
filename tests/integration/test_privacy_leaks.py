"""Canary PII of every entity type, in every text field and id, never leaves the gate in clear."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from test_privacy_consent import Gate

from services.contracts import (
    Candidate,
    ConsentScopes,
    RedactedInteraction,
    UserFeedback,
    default_codec,
)
from services.local import scrape
from services.runtime.kafka import make_producer, read_topic
from services.runtime.settings import Settings
from services.runtime.topics import INTERACTIONS, REDACTED, RESTRICTED
from services.simulators.traffic import interaction

pytestmark = pytest.mark.integration

CANARIES = {
    "EMAIL_ADDRESS": "canary.q7z@example.org",
    "PHONE_NUMBER": "+44 20 7946 0173",
    "CREDIT_CARD": "4556 7375 8689 9855",
    "US_SSN": "536-22-7781",
    "IBAN_CODE": "DE89 3704 0044 0532 0130 00",
    "IP_ADDRESS": "203.0.113.77",
    "CREDENTIAL": "AKIAQX7CANARY4LEAK9Z",
    "PASSWORD": "Qz9-canary-pw",
    "PERSON": "Quenby Marchetti",
    "LOCATION": "742 Evergreen Terrace, Springfield, OR 97403",
}
ID_CANARY = "idcanary5k2"
PLANTED = (
    f"my name is {CANARIES['PERSON']}; mail {CANARIES['EMAIL_ADDRESS']}, call {CANARIES['PHONE_NUMBER']}, "
    f"card {CANARIES['CREDIT_CARD']}, ssn {CANARIES['US_SSN']}, iban {CANARIES['IBAN_CODE']}, "
    f"from {CANARIES['IP_ADDRESS']}, key {CANARIES['CREDENTIAL']}, password={CANARIES['PASSWORD']}, "
    f"I live at {CANARIES['LOCATION']}."
)
EVENTS = 30


def test_no_canary_of_any_type_passes_the_gate(settings: Settings, tmp_path: Path) -> None:
    codec = default_codec()
    rng = random.Random(5)
    now = datetime.now(UTC)
    producer = make_producer(settings)
    ids = []
    for i in range(EVENTS):
        base = interaction(rng, now=now, text_canaries=(PLANTED,))
        item = base.model_copy(
            update={
                "interaction_id": str(uuid.uuid4()),
                "subject_id": f"{ID_CANARY}-subject-{i % 5}",
                "session_id": f"{ID_CANARY}-session-{i}",
                "candidates": [Candidate(candidate_id="a", content=f"Alt answer. {PLANTED}")],
                "feedback": UserFeedback(reported=True, rating=-1, comment=f"bad answer {PLANTED}"),
                "consent": ConsentScopes(
                    human_review=True, training=True, updated_at=now - timedelta(days=1)
                ),
            }
        )
        ids.append(item.interaction_id)
        producer.produce(settings.topic(INTERACTIONS), key=item.subject_id.encode(), value=codec.encode(item))
    assert producer.flush(30) == 0

    log = tmp_path / "privacy_gate.log"
    gate = Gate(settings, log)
    try:
        gate.wait({"keep": EVENTS})
        metrics = repr(scrape(gate.port)).encode()
    finally:
        gate.stop()

    # Every type was found in every field: the counts prove the canaries were there to find.
    passed = [
        codec.decode(m.value() or b"", RedactedInteraction)
        for m in read_topic(settings, settings.topic(REDACTED))
    ]
    assert sorted(p.interaction_id for p in passed) == sorted(ids)
    for item in passed:
        for kind in ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE", "IP_ADDRESS"):
            assert item.entities_redacted.get(kind, 0) >= 1, (kind, item.entities_redacted)
        assert item.entities_redacted["PERSON"] >= 1
        assert item.entities_redacted["LOCATION"] >= 1
        assert item.entities_redacted["CREDENTIAL"] >= 2
        assert "<PERSON_" in item.response and "<CREDENTIAL_" in item.feedback.comment  # type: ignore[union-attr]

    # Nothing after the gate: every topic of this deployment but the restricted ones, keys,
    # values and headers; the gate's metrics and its log.
    canaries = [c.encode() for c in (*CANARIES.values(), ID_CANARY)]
    restricted = {settings.topic(name) for name in RESTRICTED}
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith(settings.topic_prefix)]
    scanned = 0
    for topic in topics:
        if topic in restricted:
            continue
        for record in read_topic(settings, topic):
            blob = b"".join(
                [
                    record.key() or b"",
                    record.value() or b"",
                    *(k.encode() + (v or b"") for k, v in record.headers() or []),
                ]
            )
            scanned += 1
            for canary in canaries:
                assert canary not in blob, f"{canary!r} leaked into {topic}"
    assert scanned >= 2 * EVENTS  # redacted interactions and their audit events at least
    assert any(t.endswith("consent_ledger-changelog") for t in topics)
    for canary in canaries:
        assert canary not in metrics
        assert canary not in log.read_bytes()

"""Demo traffic: realistic flagged interactions as upstream guardrails would publish them.

Several harm categories and benign items, personal data in the text, mixed consent, alternative
candidates, refusals of benign requests, and a share of malformed bytes. The conversations are
composed from parts (conversations.py), so a seed gives many distinct ones. Harmful requests are
described, not spelled out: the pipeline needs their shape, not their content.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from services.contracts import (
    AvroCodec,
    Candidate,
    ConsentScopes,
    DecoderSettings,
    FlaggedInteraction,
    GuardrailAction,
    GuardrailSignal,
    Message,
    Role,
    UserFeedback,
    default_codec,
)
from services.runtime.errors import RetryableError
from services.runtime.kafka import make_producer
from services.runtime.settings import Settings
from services.runtime.topics import INTERACTIONS
from services.simulators.conversations import ASSISTANT_GREETINGS, GREETINGS, compose, pick

FIRST_NAMES = ("Maria", "James", "Aiko", "Oluwaseun", "Priya", "Lukas", "Fatima", "Diego", "Chen", "Sofia")
LAST_NAMES = ("Garcia", "Smith", "Tanaka", "Adeyemi", "Sharma", "Müller", "Haddad", "Rossi", "Wei", "Novak")
DOMAINS = ("example.com", "mail.example.org", "corp.example.net")
PHONES = ("+44 20 7946 0958", "(415) 555-2671", "+1 212 555 0143", "+49 30 901820", "415-555-0199")
CARDS = ("4111 1111 1111 1111", "5500-0000-0000-0004", "3400 000000 00009", "4012888888881881")


def _person(rng: random.Random) -> tuple[str, str, str, str]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    email = f"{first.lower()}.{last.lower()}{rng.randint(1, 99)}@{rng.choice(DOMAINS)}"
    return first, last, email, rng.choice(PHONES)


def interaction(
    rng: random.Random, *, now: datetime, text_canaries: Sequence[str] = (), id_canary: str | None = None
) -> FlaggedInteraction:
    """One realistic flagged interaction.

    Leak tests plant canaries: personal-data values in every text field, and an id in subject and
    session ids; none of them may appear after the privacy gate.
    """
    scenario = pick(rng)
    exchange = compose(rng, scenario)
    first, last, email, phone = _person(rng)
    pii_line = rng.choice(
        (
            f" You can reach me at {email}.",
            f" My number is {phone} if that helps.",
            f" I paid with card {rng.choice(CARDS)} last week.",
            f" Sign it from {first} ({email}, {phone}).",
            "",
        )
    )
    planted = "".join(f" {value}" for value in text_canaries)
    score = round(rng.uniform(*scenario.score), 3)
    signals = [
        GuardrailSignal(
            category=scenario.category if scenario.category not in ("benign", "over_refusal") else "none",
            score=score,
            threshold=scenario.threshold,
            action=scenario.action,
            detector_id="guard-clf",
            detector_version="3.4.1",
        )
    ]
    if rng.random() < 0.3:
        signals.append(
            GuardrailSignal(
                category="toxicity",
                score=round(rng.uniform(0.0, 0.6), 3),
                threshold=0.8,
                action=GuardrailAction.allow,
                detector_id="tox-lite",
                detector_version="1.0.7",
            )
        )
    candidates = []
    if rng.random() < 0.15:  # the model sampled other replies too: a preference comparison
        candidates = [
            Candidate(candidate_id=f"alt-{n}", content=text + planted)
            for n, text in enumerate(exchange.alternatives, start=1)
        ]
    feedback = None
    if rng.random() < 0.2:
        feedback = UserFeedback(
            reported=rng.random() < 0.5,
            rating=rng.choice((-1, 1, None)),
            comment=f"not what I asked, write to {email}{planted}",
        )
    event_time = now - timedelta(milliseconds=rng.randint(0, 60_000))
    subject = f"{id_canary}-{rng.randint(1, 50)}" if id_canary else f"user-{rng.randint(1, 5000)}"
    consent = subject_consent(subject, now)
    return FlaggedInteraction(
        interaction_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        event_time=event_time,
        subject_id=subject,
        session_id=f"sess-{rng.getrandbits(48):012x}{id_canary or ''}",
        model_id=rng.choice(("assistant-large-2026-10", "assistant-small-2026-09")),
        prompt_template_id=rng.choice(("default-v7", "support-v3")),
        decoder=DecoderSettings(
            temperature=rng.choice((0.2, 0.7, 1.0)), top_p=0.95, max_tokens=1024, seed=rng.choice((None, 42))
        ),
        guardrail_policy_version="guardrails-2026.10.2",
        language="en",
        messages=[
            Message(role=Role.system, content="You are a helpful assistant."),
            Message(
                role=Role.user,
                content=rng.choice(GREETINGS).format(first=first, last=last) + pii_line + planted,
            ),
            Message(role=Role.assistant, content=rng.choice(ASSISTANT_GREETINGS).format(first=first)),
            Message(role=Role.user, content=exchange.prompt + planted),
        ],
        response=exchange.response + planted,
        candidates=candidates,
        signals=signals,
        feedback=feedback,
        consent=consent,
    )


def subject_consent(subject: str, now: datetime) -> ConsentScopes:
    """A subject's consent, stable across their interactions as a consent service would keep it.

    About 90% allow human review and 80% of those training; each subject set it once, days ago.
    """
    draw = int.from_bytes(hashlib.blake2b(subject.encode(), digest_size=8).digest(), "big")
    human_review = draw % 100 < 90
    training = human_review and (draw // 100) % 100 < 80
    set_days_ago = 1 + (draw // 10_000) % 300
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return ConsentScopes(
        human_review=human_review, training=training, updated_at=midnight - timedelta(days=set_days_ago)
    )


MALFORMED: tuple[bytes, ...] = (
    b"not avro at all",
    b"\xc3\x01\x00\x00\x00\x00\x00\x00\x00\x00truncated",
    b"\x00\x00\x00\x00\x2a\x02\x04",
    b'{"interaction_id": "json-is-not-the-contract"}',
)


@dataclass(frozen=True)
class Produced:
    """One record of demo traffic: its key, its bytes, and the interaction id (None when malformed)."""

    key: bytes
    value: bytes
    interaction_id: str | None


def generate(
    count: int,
    *,
    seed: int | None = None,
    malformed_rate: float = 0.01,
    text_canaries: Sequence[str] = (),
    id_canary: str | None = None,
    codec: AvroCodec,
) -> Iterator[Produced]:
    """count records of demo traffic: deterministic for a seed, fresh ids every run without one.

    Ids must be fresh across runs: every stage is idempotent on them, so a replayed id is a duplicate.
    """
    rng = random.Random(seed)
    now = datetime.now(UTC)
    for i in range(count):
        if rng.random() < malformed_rate:
            yield Produced(key=f"malformed-{i}".encode(), value=rng.choice(MALFORMED), interaction_id=None)
            continue
        item = interaction(rng, now=now, text_canaries=text_canaries, id_canary=id_canary)
        yield Produced(
            key=item.subject_id.encode(), value=codec.encode(item), interaction_id=item.interaction_id
        )


def publish(
    settings: Settings,
    count: int,
    *,
    rate: float = 0.0,
    seed: int | None = None,
    malformed_rate: float = 0.01,
    stop: threading.Event | None = None,
    on_sent: Callable[[int], None] | None = None,
) -> list[Produced]:
    """Produce count records of demo traffic to the ingress topic (rate 0: flat out); returns them.

    Acknowledged records only: a record the broker did not acknowledge raises at the end.
    """
    codec = default_codec()
    producer = make_producer(settings)
    topic = settings.topic(INTERACTIONS)
    sent: list[Produced] = []
    failures: list[str] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            failures.append(str(err))

    started = time.monotonic()
    for i, record in enumerate(generate(count, seed=seed, malformed_rate=malformed_rate, codec=codec)):
        if stop is not None and stop.is_set():
            break
        if rate > 0:
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        while True:
            try:
                producer.produce(topic, key=record.key, value=record.value, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
        sent.append(record)
        if on_sent is not None:
            on_sent(len(sent))
    producer.flush(60)
    if failures:
        raise RetryableError(f"{len(failures)} demo records were not acknowledged: {failures[0]}")
    return sent

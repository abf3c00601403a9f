"""Dead letters: list them by origin topic and reason, show one, and replay a selection to its origin.

A dead letter is the original key and value bytes with the headers runtime/deadletter.py wrote
(origin topic, partition and offset, error class, reason and message, service, policy versions).

Privacy: a dead-letter topic is as restricted as its origin. For a restricted origin (the ingress
and consent topics, raw personal data) `show` prints neither the payload nor the error message (it
can quote the record), and `replay` refuses without `allow_restricted`. After the gate, `show`
decodes the payload into its contract model (already redacted text and pseudonyms).

Replay is idempotent: each replayed dead letter is recorded as an audit event (`service=dlq_replay`,
`decision=replayed`, its dead-letter topic, partition and offset in the details), and a later replay
skips the dead letters recorded there. A record that fails again lands in the dead-letter topic as
a new dead letter, which a later replay takes (after the next fix).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from services.contracts import (
    AuditEvent,
    ConsentEvent,
    ErasureRequest,
    FlaggedInteraction,
    Judgment,
    RedactedInteraction,
    ResolvedJudgment,
    ReviewTask,
    default_codec,
)
from services.contracts.models import Record
from services.runtime import deadletter
from services.runtime.audit import audit_event
from services.runtime.errors import DecodeError, FatalError
from services.runtime.kafka import make_producer, read_topic
from services.runtime.settings import Settings
from services.runtime.topics import (
    AUDIT,
    BY_NAME,
    CONSENT,
    ERASURES,
    ESCALATION_CANDIDATES,
    INTERACTIONS,
    JUDGMENTS,
    QUEUES,
    REDACTED,
    RESOLVED,
    RESTRICTED,
    dlq,
    task_topic,
)

REPLAY_SERVICE = "dlq_replay"
REPLAYED_FROM = "dlq.replayed.from"
"""Header of a replayed record: `<dead-letter topic>:<partition>:<offset>` it came from."""

MODELS: dict[str, type[Record]] = {
    INTERACTIONS: FlaggedInteraction,
    CONSENT: ConsentEvent,
    REDACTED: RedactedInteraction,
    ESCALATION_CANDIDATES: ReviewTask,
    JUDGMENTS: Judgment,
    RESOLVED: ResolvedJudgment,
    ERASURES: ErasureRequest,
    **{task_topic(q): ReviewTask for q in QUEUES},
}
"""The record each origin topic carries (what `show` decodes a payload into)."""

ORIGINS = tuple(name for name in BY_NAME if dlq(name) in BY_NAME)
"""Topics that have a dead-letter topic."""


@dataclass(frozen=True)
class DeadLetter:
    """One record of a dead-letter topic."""

    origin: str
    partition: int
    offset: int
    timestamp: datetime
    headers: dict[str, str]
    key: bytes | None
    value: bytes

    @property
    def reason(self) -> str:
        return self.headers.get(deadletter.ERROR_REASON, "unknown")

    @property
    def where(self) -> str:
        """`<dead-letter topic>:<partition>:<offset>`, the dead letter's own address."""
        return f"{dlq(self.origin)}:{self.partition}:{self.offset}"

    @property
    def origin_position(self) -> tuple[int, int]:
        """(partition, offset) of the record in its origin topic."""
        return int(self.headers.get(deadletter.ORIGIN_PARTITION, -1)), int(
            self.headers.get(deadletter.ORIGIN_OFFSET, -1)
        )


@dataclass(frozen=True)
class Selection:
    """Which dead letters a replay (or listing) takes; empty fields select everything."""

    reasons: frozenset[str] = frozenset()
    since: datetime | None = None
    until: datetime | None = None
    origin_offsets: frozenset[tuple[int, int]] = frozenset()
    """(origin partition, origin offset) pairs."""

    def __call__(self, letter: DeadLetter) -> bool:
        code = letter.reason.split(":", 1)[0]  # `unexpected` selects `unexpected:KeyError` too
        if self.reasons and letter.reason not in self.reasons and code not in self.reasons:
            return False
        if self.since is not None and letter.timestamp < self.since:
            return False
        if self.until is not None and letter.timestamp > self.until:
            return False
        return not self.origin_offsets or letter.origin_position in self.origin_offsets


@dataclass
class ReplayReport:
    """What a replay did."""

    origin: str
    replayed: list[str] = field(default_factory=list)
    """Dead letters sent to the origin topic (their `where`)."""
    skipped: list[str] = field(default_factory=list)
    """Selected dead letters replayed before (not sent again)."""


def _check_origin(origin: str) -> None:
    if origin not in ORIGINS:
        raise FatalError(f"{origin!r} has no dead-letter topic; one of: {', '.join(ORIGINS)}")


def read_dead_letters(settings: Settings, origins: Iterable[str] = ORIGINS) -> list[DeadLetter]:
    """Every dead letter of the given origin topics, oldest first per topic."""
    letters = []
    for origin in origins:
        _check_origin(origin)
        for msg in read_topic(settings, settings.topic(dlq(origin))):
            _kind, stamp = msg.timestamp()
            raw: list[tuple[str, bytes]] = list(msg.headers() or [])  # type: ignore[arg-type]
            headers = {k: (v or b"").decode(errors="replace") for k, v in raw}
            letters.append(
                DeadLetter(
                    origin=origin,
                    partition=int(msg.partition() or 0),
                    offset=int(msg.offset() or 0),
                    timestamp=datetime.fromtimestamp(stamp / 1000, UTC),
                    headers=headers,
                    key=msg.key(),
                    value=msg.value() or b"",
                )
            )
    return letters


def summarize(letters: Sequence[DeadLetter]) -> list[dict[str, Any]]:
    """Counts and time range per (origin topic, reason), with the services that dead-lettered them."""
    groups: dict[tuple[str, str], list[DeadLetter]] = defaultdict(list)
    for letter in letters:
        groups[(letter.origin, letter.reason)].append(letter)
    return [
        {
            "topic": origin,
            "dead_letter_topic": dlq(origin),
            "reason": reason,
            "count": len(group),
            "first": min(g.timestamp for g in group).isoformat(),
            "last": max(g.timestamp for g in group).isoformat(),
            "services": sorted({g.headers.get(deadletter.SERVICE, "?") for g in group}),
            "restricted": origin in RESTRICTED,
        }
        for (origin, reason), group in sorted(groups.items())
    ]


def describe(letter: DeadLetter) -> dict[str, Any]:
    """One dead letter for a person: headers, origin, error, and the payload only where allowed."""
    restricted = letter.origin in RESTRICTED
    headers = dict(letter.headers)
    if restricted and deadletter.ERROR_MESSAGE in headers:
        headers[deadletter.ERROR_MESSAGE] = "(withheld: the origin topic holds raw personal data)"
    shown: dict[str, Any] = {
        "dead_letter": letter.where,
        "timestamp": letter.timestamp.isoformat(),
        "origin": {
            "topic": letter.origin,
            "partition": letter.origin_position[0],
            "offset": letter.origin_position[1],
        },
        "error": {
            "class": letter.headers.get(deadletter.ERROR_CLASS),
            "reason": letter.reason,
            "message": headers.get(deadletter.ERROR_MESSAGE),
            "service": letter.headers.get(deadletter.SERVICE),
        },
        "headers": headers,
        "bytes": len(letter.value),
    }
    if restricted:
        shown["payload"] = "(withheld: the origin topic holds raw personal data)"
        return shown
    try:
        record = default_codec().decode(letter.value, MODELS[letter.origin])
        shown["payload"] = record.model_dump(mode="json")
    except DecodeError as exc:
        shown["payload"] = {"undecodable": exc.reason, "first_bytes_hex": letter.value[:64].hex()}
    return shown


def find(settings: Settings, origin: str, partition: int, offset: int) -> DeadLetter:
    """The dead letter at `partition`/`offset` of `origin`'s dead-letter topic."""
    for letter in read_dead_letters(settings, [origin]):
        if (letter.partition, letter.offset) == (partition, offset):
            return letter
    raise FatalError(f"no dead letter at {dlq(origin)}:{partition}:{offset}")


def replayed_before(settings: Settings) -> set[str]:
    """Dead letters (`where`) an earlier replay sent, from the replay audit events."""
    codec = default_codec()
    done = set()
    for msg in read_topic(settings, settings.topic(AUDIT)):
        try:
            event = codec.decode(msg.value() or b"", AuditEvent)
        except DecodeError:
            continue
        if event.service == REPLAY_SERVICE and event.decision == "replayed":
            done.add(event.details.get("dead_letter", ""))
    return done


def replay(
    settings: Settings,
    origin: str,
    selection: Selection,
    *,
    allow_restricted: bool = False,
    dry_run: bool = False,
) -> ReplayReport:
    """Send the selected dead letters of `origin` back to it, each at most once (see the module doc)."""
    _check_origin(origin)
    if origin in RESTRICTED and not allow_restricted:
        raise FatalError(
            f"{dlq(origin)} holds raw personal data; replaying it needs --allow-restricted "
            "(and the right to read it)"
        )
    report = ReplayReport(origin)
    done = replayed_before(settings)
    chosen = [letter for letter in read_dead_letters(settings, [origin]) if selection(letter)]
    codec = default_codec()
    producer = make_producer(settings)
    failures: list[str] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            failures.append(str(err))

    for letter in chosen:
        if letter.where in done:
            report.skipped.append(letter.where)
            continue
        report.replayed.append(letter.where)
        if dry_run:
            continue
        producer.produce(
            settings.topic(origin),
            key=letter.key,
            value=letter.value,
            headers=[(REPLAYED_FROM, letter.where.encode())],
            on_delivery=delivered,
        )
        partition, offset = letter.origin_position
        event = audit_event(
            REPLAY_SERVICE,
            "replayed",
            letter.reason,
            details={
                "dead_letter": letter.where,
                "origin.topic": origin,
                "origin.partition": str(partition),
                "origin.offset": str(offset),
            },
        )
        producer.produce(settings.topic(AUDIT), value=codec.encode(event), on_delivery=delivered)
        producer.poll(0)
    if producer.flush(30) or failures:
        raise FatalError(f"replay not fully delivered ({failures[:3]}); run it again: replays are idempotent")
    return report

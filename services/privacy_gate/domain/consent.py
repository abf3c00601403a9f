"""Consent: the ledger of each subject's latest scopes, and what they let Flagstream do with an interaction.

Two sources tell the gate about a subject's consent: ledger events from the consent service
(``consent.events.v1``) and the snapshot upstream attaches to each interaction. Whichever was set
latest (by its own event time, not by arrival) wins; on a tie the more restrictive wins. That rule
is commutative, so the ledger ends in the same state whatever order the events arrive in.
"""

from __future__ import annotations

import uuid
from collections.abc import MutableMapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from services.contracts.models import ConsentEvent, ConsentScopes, ErasureRequest


class GateOutcome(StrEnum):
    """What the gate does with an interaction."""

    keep = "keep"
    """Reviewed by humans and usable for training."""
    keep_no_training = "keep_no_training"
    """Reviewed by humans for safety, never written to training datasets."""
    drop = "drop"
    """Not passed on at all."""


class ConsentDefault(StrEnum):
    """What the gate assumes for a subject it knows nothing about."""

    deny = "deny"
    """Drop the interaction (the default: no record, no processing)."""
    review_only = "review_only"
    """Humans may review it for safety; never used for training."""
    allow = "allow"
    """Review and training (only for deployments whose upstream guarantees consent)."""


HUMAN_REVIEW = "human_review"
TRAINING = "training"

LEDGER = "ledger"
SNAPSHOT = "snapshot"


def decide(consent: ConsentScopes) -> tuple[GateOutcome, str]:
    """The outcome the consent scopes allow, and the reason to audit."""
    if not consent.human_review:
        return GateOutcome.drop, "no_human_review_consent"
    if not consent.training:
        return GateOutcome.keep_no_training, "no_training_consent"
    return GateOutcome.keep, "consented"


_EPOCH = datetime.fromtimestamp(0, UTC)
_MILLISECOND = timedelta(milliseconds=1)


def _millis(value: datetime) -> int:
    return (value - _EPOCH) // _MILLISECOND


@dataclass(frozen=True, slots=True)
class ConsentState:
    """A subject's scopes as of ``set_at``, and where the gate learned them. Holds no raw id."""

    human_review: bool
    training: bool
    set_at: datetime
    source: str
    """``ledger`` (a consent event) or ``snapshot`` (the consent attached to an interaction)."""
    unerased: frozenset[str] = frozenset()
    """Scopes a snapshot withdrew whose erasure the consent service's ledger event has yet to ask for."""

    @property
    def effective_training(self) -> bool:
        """Training needs human review too: a subject who refuses review refuses training."""
        return self.human_review and self.training

    @property
    def granted(self) -> frozenset[str]:
        """The scopes in force."""
        scopes = {HUMAN_REVIEW} if self.human_review else set()
        if self.effective_training:
            scopes.add(TRAINING)
        return frozenset(scopes)

    def supersedes(self, other: ConsentState) -> bool:
        """True when this state wins over ``other``: set later, or at the same time and stricter."""
        if self.set_at != other.set_at:
            return self.set_at > other.set_at
        # Same instant: fewer scopes win, so a revocation is never lost to a grant stamped alike.
        mine, theirs = (
            (self.human_review, self.effective_training),
            (other.human_review, other.effective_training),
        )
        if mine != theirs:
            return mine < theirs
        return self.source == LEDGER and other.source != LEDGER

    def scopes(self) -> ConsentScopes:
        """The contract form, as recorded on the redacted interaction."""
        return ConsentScopes(
            human_review=self.human_review, training=self.effective_training, updated_at=self.set_at
        )

    def to_json(self) -> dict[str, Any]:
        """The table value: small, JSON-serialisable, no personal data."""
        value = {"h": self.human_review, "t": self.training, "at": _millis(self.set_at), "src": self.source}
        if self.unerased:
            value["u"] = sorted(self.unerased)
        return value

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> ConsentState:
        """Inverse of ``to_json``."""
        return cls(
            human_review=bool(value["h"]),
            training=bool(value["t"]),
            set_at=_EPOCH + int(value["at"]) * _MILLISECOND,
            source=str(value["src"]),
            unerased=frozenset(value.get("u", ())),
        )

    @classmethod
    def from_event(cls, event: ConsentEvent) -> ConsentState:
        """A ledger event's state."""
        return cls(event.human_review, event.training, event.event_time, LEDGER)

    @classmethod
    def from_snapshot(cls, scopes: ConsentScopes) -> ConsentState:
        """The state an interaction's consent snapshot claims."""
        return cls(scopes.human_review, scopes.training, scopes.updated_at, SNAPSHOT)


@dataclass(frozen=True, slots=True)
class ConsentChange:
    """What recording one consent state did to the ledger."""

    state: ConsentState
    """The subject's state after recording (the incoming one when it won)."""
    applied: bool
    """False when an older or equal state arrived late and changed nothing."""
    withdrawn: tuple[str, ...]
    """Scopes in force before and no longer after, sorted."""
    erase: tuple[str, ...] = ()
    """Scopes whose data must now be erased, sorted: a ledger event's withdrawals, including those a
    newer snapshot showed first. A snapshot alone never asks: snapshots are upstream's copy of the
    ledger, and the consent service publishes each change there."""


@dataclass(frozen=True, slots=True)
class Admission:
    """The consent decision on one interaction."""

    outcome: GateOutcome
    reason: str
    scopes: ConsentScopes | None
    """The effective scopes recorded downstream; None when nothing is known and the default denies."""
    change: ConsentChange | None
    """How the interaction's snapshot changed the ledger (None when snapshots are not trusted)."""


_ERASURE_NS = uuid.UUID("0b8f6a52-58a4-4c2e-9a51-5f0f3cfd7e21")


class ConsentLedger:
    """The latest consent state per subject pseudonym, over any mutable mapping.

    The gate hands it its Faust table (a changelog-backed, partitioned mapping that survives restarts
    and rebalances); unit tests hand it a dict. Values are ``ConsentState.to_json`` dicts.
    """

    __slots__ = ("_default", "_store", "_trust_snapshots")

    def __init__(
        self,
        store: MutableMapping[str, Any],
        *,
        default: ConsentDefault = ConsentDefault.deny,
        trust_snapshots: bool = True,
    ) -> None:
        self._store = store
        self._default = default
        self._trust_snapshots = trust_snapshots

    def get(self, subject_pseudonym: str) -> ConsentState | None:
        """The subject's latest known state."""
        value = self._store.get(subject_pseudonym)
        return None if value is None else ConsentState.from_json(value)

    def record(self, subject_pseudonym: str, incoming: ConsentState) -> ConsentChange:
        """Record a state if it supersedes the known one; report which scopes it withdrew and erases."""
        current = self.get(subject_pseudonym)
        from_ledger = incoming.source == LEDGER
        if current is not None and not incoming.supersedes(current):
            owed = current.unerased - incoming.granted if from_ledger else frozenset()
            if owed:  # the consent service confirms, late, what a newer snapshot showed first
                self._store[subject_pseudonym] = replace(current, unerased=frozenset()).to_json()
            return ConsentChange(current, False, (), tuple(sorted(owed)))
        # Only a scope the gate knew as granted can have let data through, so only that is erased.
        withdrawn = current.granted - incoming.granted if current is not None else frozenset()
        unerased = current.unerased if current is not None else frozenset()
        if from_ledger:
            erase, stored = (withdrawn | unerased) - incoming.granted, replace(incoming, unerased=frozenset())
        else:
            erase, stored = frozenset(), replace(incoming, unerased=(withdrawn | unerased) - incoming.granted)
        self._store[subject_pseudonym] = stored.to_json()
        return ConsentChange(stored, True, tuple(sorted(withdrawn)), tuple(sorted(erase)))

    def admit(self, subject_pseudonym: str, snapshot: ConsentScopes) -> Admission:
        """Decide on an interaction from the latest of the ledger and its own consent snapshot."""
        change = None
        if self._trust_snapshots:
            change = self.record(subject_pseudonym, ConsentState.from_snapshot(snapshot))
            state: ConsentState | None = change.state
        else:
            state = self.get(subject_pseudonym)
        if state is not None:
            outcome, reason = decide(state.scopes())
            return Admission(outcome, reason, state.scopes(), change)
        if self._default is ConsentDefault.deny:
            return Admission(GateOutcome.drop, "no_consent_record", None, change)
        training = self._default is ConsentDefault.allow
        scopes = ConsentScopes(human_review=True, training=training, updated_at=_EPOCH)
        outcome = GateOutcome.keep if training else GateOutcome.keep_no_training
        return Admission(outcome, f"default_{self._default.value}", scopes, change)


def erasure_request(
    subject_pseudonym: str, key_id: str, change: ConsentChange, *, reason: str = "revocation"
) -> ErasureRequest:
    """The ErasureRequest for a change with scopes to erase; its id is stable, so replays dedupe."""
    state = change.state
    request_id = uuid.uuid5(
        _ERASURE_NS, f"{key_id}:{subject_pseudonym}:{_millis(state.set_at)}:{','.join(change.erase)}"
    )
    return ErasureRequest(
        request_id=str(request_id),
        subject_pseudonym=subject_pseudonym,
        pseudonym_key_id=key_id,
        scopes=list(change.erase),
        requested_at=state.set_at,
        reason=reason,
    )

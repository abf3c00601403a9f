"""The consent ledger: latest by event time wins across ledger events and snapshots, in any order."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.contracts.models import ConsentEvent, ConsentScopes
from services.privacy_gate.domain import (
    ConsentDefault,
    ConsentLedger,
    ConsentState,
    GateOutcome,
    erasure_request,
)

T0 = datetime(2026, 11, 1, 9, 0, 0, tzinfo=UTC)
SUBJECT = "a" * 64


def state(human_review: bool, training: bool, minutes: int, source: str = "ledger") -> ConsentState:
    return ConsentState(human_review, training, T0 + timedelta(minutes=minutes), source)


def snapshot(human_review: bool, training: bool, minutes: int) -> ConsentScopes:
    return ConsentScopes(
        human_review=human_review, training=training, updated_at=T0 + timedelta(minutes=minutes)
    )


def test_grant_then_revocation_withdraws_both_scopes() -> None:
    ledger = ConsentLedger({})
    first = ledger.record(SUBJECT, state(True, True, 0))
    assert first.applied and first.withdrawn == ()
    revoked = ledger.record(SUBJECT, state(False, False, 5))
    assert revoked.applied
    assert revoked.withdrawn == revoked.erase == ("human_review", "training")
    assert ledger.get(SUBJECT) == state(False, False, 5)


def test_revoking_review_alone_also_withdraws_training() -> None:
    ledger = ConsentLedger({})
    ledger.record(SUBJECT, state(True, True, 0))
    # training=True without review is no training consent: the gate never trains on unreviewed data.
    assert ledger.record(SUBJECT, state(False, True, 1)).withdrawn == ("human_review", "training")


def test_training_only_revocation_withdraws_training_only() -> None:
    ledger = ConsentLedger({})
    ledger.record(SUBJECT, state(True, True, 0))
    change = ledger.record(SUBJECT, state(True, False, 1))
    assert change.withdrawn == ("training",)
    admission = ledger.admit(SUBJECT, snapshot(True, True, -60))
    assert admission.outcome is GateOutcome.keep_no_training
    assert admission.reason == "no_training_consent"


def test_an_older_event_arriving_late_changes_nothing() -> None:
    ledger = ConsentLedger({})
    ledger.record(SUBJECT, state(False, False, 10))
    late = ledger.record(SUBJECT, state(True, True, 3))
    assert not late.applied and late.withdrawn == ()
    assert ledger.get(SUBJECT) == state(False, False, 10)


def test_first_record_withdraws_nothing() -> None:
    # Nothing can have passed the gate for a subject it has no record of, so nothing is erased.
    assert ConsentLedger({}).record(SUBJECT, state(False, False, 0)).withdrawn == ()


def test_regrant_after_revocation_withdraws_nothing() -> None:
    ledger = ConsentLedger({})
    ledger.record(SUBJECT, state(True, True, 0))
    ledger.record(SUBJECT, state(False, False, 1))
    assert ledger.record(SUBJECT, state(True, True, 2)).withdrawn == ()
    assert ledger.admit(SUBJECT, snapshot(False, False, -5)).outcome is GateOutcome.keep


@pytest.mark.parametrize(
    ("a", "b", "winner"),
    [
        (state(True, True, 1), state(False, False, 1), state(False, False, 1)),
        (state(True, False, 1), state(True, True, 1), state(True, False, 1)),
        (state(True, True, 1, "snapshot"), state(True, True, 1, "ledger"), state(True, True, 1, "ledger")),
    ],
)
def test_a_tie_in_time_goes_to_the_stricter_state_in_either_order(
    a: ConsentState, b: ConsentState, winner: ConsentState
) -> None:
    for first, second in ((a, b), (b, a)):
        ledger = ConsentLedger({})
        ledger.record(SUBJECT, first)
        ledger.record(SUBJECT, second)
        assert ledger.get(SUBJECT) == winner


def test_every_arrival_order_ends_in_the_same_state() -> None:
    events = [
        state(True, True, 0),
        state(False, False, 7),
        state(True, False, 3),
        state(True, True, 7, "snapshot"),
        state(True, True, 5),
    ]
    finals = set()
    for order in itertools.permutations(events):
        ledger = ConsentLedger({})
        for event in order:
            ledger.record(SUBJECT, event)
        finals.add(ledger.get(SUBJECT))
    assert finals == {state(False, False, 7)}


def test_a_newer_snapshot_wins_over_the_ledger_and_is_recorded() -> None:
    ledger = ConsentLedger({})
    ledger.record(SUBJECT, state(False, False, 0))
    admission = ledger.admit(SUBJECT, snapshot(True, True, 10))
    assert admission.outcome is GateOutcome.keep
    assert admission.scopes == snapshot(True, True, 10)
    assert ledger.get(SUBJECT) == state(True, True, 10, "snapshot")


def test_an_older_snapshot_loses_to_a_revocation() -> None:
    ledger = ConsentLedger({})
    ledger.record(SUBJECT, state(False, False, 10))
    admission = ledger.admit(SUBJECT, snapshot(True, True, 2))
    assert admission.outcome is GateOutcome.drop
    assert admission.reason == "no_human_review_consent"
    assert admission.scopes == snapshot(False, False, 10)


def test_a_snapshot_withdrawal_governs_at_once_and_is_erased_when_the_ledger_confirms_it() -> None:
    ledger = ConsentLedger({})
    ledger.record(SUBJECT, state(True, True, 0))
    admission = ledger.admit(SUBJECT, snapshot(True, False, 4))
    assert admission.outcome is GateOutcome.keep_no_training
    assert admission.change is not None
    assert admission.change.withdrawn == ("training",) and admission.change.erase == ()
    # The consent service's event for the same change: nothing newly withdrawn, but erase what was.
    confirmed = ledger.record(SUBJECT, state(True, False, 4))
    assert confirmed.applied and confirmed.erase == ("training",)
    assert ledger.get(SUBJECT) == state(True, False, 4)
    assert ledger.record(SUBJECT, state(True, False, 4)).erase == ()  # asked once


def test_a_late_ledger_event_still_erases_what_a_newer_snapshot_withdrew() -> None:
    ledger = ConsentLedger({})
    ledger.record(SUBJECT, state(True, True, 0))
    ledger.admit(SUBJECT, snapshot(False, False, 9))
    late = ledger.record(SUBJECT, state(False, False, 8))  # the service's clock ran behind
    assert not late.applied
    assert late.erase == ("human_review", "training")
    assert ledger.get(SUBJECT) == state(False, False, 9, "snapshot")


def test_a_regrant_cancels_an_unerased_withdrawal() -> None:
    ledger = ConsentLedger({})
    ledger.record(SUBJECT, state(True, True, 0))
    ledger.admit(SUBJECT, snapshot(True, False, 4))
    assert ledger.record(SUBJECT, state(True, True, 6)).erase == ()


@pytest.mark.parametrize(
    ("default", "outcome", "reason", "training"),
    [
        (ConsentDefault.deny, GateOutcome.drop, "no_consent_record", None),
        (ConsentDefault.review_only, GateOutcome.keep_no_training, "default_review_only", False),
        (ConsentDefault.allow, GateOutcome.keep, "default_allow", True),
    ],
)
def test_an_unknown_subject_gets_the_configured_default(
    default: ConsentDefault, outcome: GateOutcome, reason: str, training: bool | None
) -> None:
    ledger = ConsentLedger({}, default=default, trust_snapshots=False)
    admission = ledger.admit(SUBJECT, snapshot(True, True, 0))
    assert (admission.outcome, admission.reason) == (outcome, reason)
    assert (None if admission.scopes is None else admission.scopes.training) == training
    assert admission.change is None
    assert ledger.get(SUBJECT) is None  # an untrusted snapshot is not recorded


def test_untrusted_snapshots_defer_to_the_ledger() -> None:
    ledger = ConsentLedger({}, trust_snapshots=False)
    ledger.record(SUBJECT, state(True, False, 0))
    admission = ledger.admit(SUBJECT, snapshot(True, True, 60))
    assert admission.outcome is GateOutcome.keep_no_training


def test_the_stored_value_is_small_json_without_ids() -> None:
    store: dict[str, Any] = {}
    ledger = ConsentLedger(store)
    ledger.record(SUBJECT, ConsentState.from_event(_event(True, False, 1)))
    assert store == {SUBJECT: {"h": True, "t": False, "at": 1_793_523_660_000, "src": "ledger"}}
    assert ConsentState.from_json(store[SUBJECT]) == state(True, False, 1)


def _event(human_review: bool, training: bool, minutes: int) -> ConsentEvent:
    return ConsentEvent(
        event_id="e-1",
        subject_id="raw-subject-9",
        human_review=human_review,
        training=training,
        event_time=T0 + timedelta(minutes=minutes),
        source="consent-service",
    )


def test_erasure_request_names_the_withdrawn_scopes_and_has_a_stable_id() -> None:
    ledger = ConsentLedger({})
    ledger.record(SUBJECT, state(True, True, 0))
    change = ledger.record(SUBJECT, state(True, False, 9))
    first = erasure_request(SUBJECT, "key-2", change)
    again = erasure_request(SUBJECT, "key-2", change)
    assert first == again
    assert first.scopes == ["training"]
    assert first.subject_pseudonym == SUBJECT and first.pseudonym_key_id == "key-2"
    assert first.requested_at == T0 + timedelta(minutes=9)
    assert first.reason == "revocation"
    other_key = erasure_request(SUBJECT, "key-3", change)
    assert other_key.request_id != first.request_id

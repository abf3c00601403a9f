"""Erasure: the ledger of applied erasure requests, keyed by a hash of the subject pseudonym."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

import pyarrow as pa

from services.contracts.models import ErasureRequest

ERASURE_LEDGER = "erasures"

ERASURE_LEDGER_SCHEMA = pa.schema(
    [
        pa.field("request_id", pa.string(), nullable=False),
        pa.field("subject_key", pa.string(), nullable=False),
        pa.field("pseudonym_key_id", pa.string(), nullable=False),
        pa.field("scopes", pa.list_(pa.string()), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("requested_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("applied_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ],
    metadata={
        "description": "Erasure requests the dataset sink applied (subject as a hash, never a pseudonym)."
    },
)
"""The ledger lives outside the dataset root: it is the sink's memory, not a dataset."""

LEDGER_SCHEMAS: Mapping[str, pa.Schema] = MappingProxyType({ERASURE_LEDGER: ERASURE_LEDGER_SCHEMA})


def subject_key(subject_pseudonym: str) -> str:
    """What the ledger stores for a subject: a one-way hash, so the ledger never holds the pseudonym itself.

    Whoever knows the pseudonym can still tell it was erased, which is what the sink needs to refuse it.
    """
    return hashlib.sha256(f"flagstream-erasure:{subject_pseudonym}".encode()).hexdigest()


def ledger_row(request: ErasureRequest, applied_at: datetime) -> dict[str, Any]:
    """The ledger row of an applied request."""
    return {
        "request_id": request.request_id,
        "subject_key": subject_key(request.subject_pseudonym),
        "pseudonym_key_id": request.pseudonym_key_id,
        "scopes": list(request.scopes),
        "reason": request.reason,
        "requested_at": request.requested_at,
        "applied_at": applied_at,
    }


class ErasedSubjects:
    """Which subjects were erased, and when: rows of their interactions up to that time are not written."""

    def __init__(self) -> None:
        self._until: dict[str, datetime] = {}

    def add(self, key: str, requested_at: datetime) -> None:
        """Record an erasure of a subject key (the latest request wins)."""
        if key not in self._until or requested_at > self._until[key]:
            self._until[key] = requested_at

    def blocks(self, subject_pseudonym: str, event_time: datetime) -> bool:
        """Whether an interaction of this subject at event_time falls under an erasure.

        Interactions after the request (consent granted again later) are the subject's new data.
        """
        until = self._until.get(subject_key(subject_pseudonym))
        return until is not None and event_time <= until

    def __len__(self) -> int:
        return len(self._until)

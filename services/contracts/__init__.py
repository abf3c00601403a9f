"""Flagstream contracts: pydantic mirrors of the Avro schemas in schemas/ and their wire codec."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.contracts.models import (
    TOP_LEVEL,
    AuditEvent,
    Candidate,
    ConsentEvent,
    ConsentScopes,
    DecoderSettings,
    ErasureRequest,
    FlaggedInteraction,
    GuardrailAction,
    GuardrailSignal,
    Judgment,
    Message,
    Record,
    RedactedInteraction,
    ResolvedJudgment,
    ReviewTask,
    Role,
    UserFeedback,
    Verdict,
    utcnow,
)

if TYPE_CHECKING:
    from services.contracts.codec import AvroCodec, default_codec

__all__ = [
    "TOP_LEVEL",
    "AuditEvent",
    "AvroCodec",
    "Candidate",
    "ConsentEvent",
    "ConsentScopes",
    "DecoderSettings",
    "ErasureRequest",
    "FlaggedInteraction",
    "GuardrailAction",
    "GuardrailSignal",
    "Judgment",
    "Message",
    "Record",
    "RedactedInteraction",
    "ResolvedJudgment",
    "ReviewTask",
    "Role",
    "UserFeedback",
    "Verdict",
    "default_codec",
    "utcnow",
]


def __getattr__(name: str) -> Any:
    # The codec is loaded on first use so that pure domain modules can import the models without
    # pulling fastavro in (domain/ modules import no I/O library: no faust, confluent_kafka, fastavro).
    if name in ("AvroCodec", "default_codec"):
        from services.contracts import codec

        return getattr(codec, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

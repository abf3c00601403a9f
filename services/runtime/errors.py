"""The one exception tree of Flagstream, grouped by what the pipeline does with an error.

FlagstreamError
├── SkipError          the record is deliberately not processed further (audited, not an error)
├── DeadLetterError    the record cannot be processed: it goes to <topic>.dlq with the reason
│   ├── DecodeError        bytes that are not a known Avro encoding of the expected record
│   └── ValidationError    decoded, but breaks a contract rule
├── RetryableError     a transient failure (broker, disk); retry the same record
└── FatalError         the service cannot run (bad settings or policy): crash with a clear message
    └── PolicyError        an invalid policy file; names the offending field
"""

from __future__ import annotations


class FlagstreamError(Exception):
    """Root of every error Flagstream raises on purpose."""

    reason: str = "error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class SkipError(FlagstreamError):
    """The record is intentionally skipped."""

    reason = "skipped"


class DeadLetterError(FlagstreamError):
    """The record cannot be processed; it belongs in the dead-letter topic."""

    reason = "unprocessable"


class DecodeError(DeadLetterError):
    """Bytes that do not decode as the expected record."""

    reason = "undecodable"


class ValidationError(DeadLetterError):
    """A decoded record that breaks a contract rule."""

    reason = "invalid"


class RetryableError(FlagstreamError):
    """A transient failure worth retrying."""

    reason = "transient"


class FatalError(FlagstreamError):
    """The service cannot run as configured."""

    reason = "fatal"


class PolicyError(FatalError):
    """A policy file is invalid; the message names the field."""

    reason = "invalid_policy"

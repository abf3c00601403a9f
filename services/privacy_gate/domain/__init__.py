"""Pure domain of the privacy gate: consent, detectors, redactor, pseudonyms and the gate decision."""

from services.privacy_gate.domain.consent import (
    Admission,
    ConsentChange,
    ConsentDefault,
    ConsentLedger,
    ConsentState,
    GateOutcome,
    decide,
    erasure_request,
)
from services.privacy_gate.domain.detectors import (
    DEFAULT_ANALYZER,
    Analyzer,
    CreditCardDetector,
    Detector,
    EmailDetector,
    EntityType,
    PatternDetector,
    Span,
    default_detectors,
    detect,
    luhn_valid,
)
from services.privacy_gate.domain.gate import GateDecision, gate
from services.privacy_gate.domain.redactor import (
    Action,
    Numbering,
    RedactionPolicy,
    RedactionResult,
    Redactor,
    load_redaction_policy,
)
from services.runtime.pseudonyms import Pseudonymizer

__all__ = [
    "DEFAULT_ANALYZER",
    "Action",
    "Admission",
    "Analyzer",
    "ConsentChange",
    "ConsentDefault",
    "ConsentLedger",
    "ConsentState",
    "CreditCardDetector",
    "Detector",
    "EmailDetector",
    "EntityType",
    "GateDecision",
    "GateOutcome",
    "Numbering",
    "PatternDetector",
    "Pseudonymizer",
    "RedactionPolicy",
    "RedactionResult",
    "Redactor",
    "Span",
    "decide",
    "default_detectors",
    "detect",
    "erasure_request",
    "gate",
    "load_redaction_policy",
    "luhn_valid",
]

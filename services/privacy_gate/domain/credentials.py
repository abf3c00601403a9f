"""Credential detectors: cloud access keys, API tokens, JWTs, private key blocks, passwords in assignments.

A leaked secret is as harmful in a review queue as any personal datum, and one that sits in
training data can be regurgitated. Tokens are recognised by their issuers' fixed prefixes; a
password is recognised by what names it (``password = ...``, ``my password is ...``), and only the
value is replaced, so the text around it stays learnable. A JWT counts when its header decodes to a
JSON object with an "alg" key.

The rules run natively (services/privacy_gate/native, see detectors.py); their patterns and lists (the
issuers' token prefixes, the names of secrets, the values that name none) are in the crate's
src/patterns.rs.
"""

from __future__ import annotations

from services.privacy_gate.domain.detectors import EntityType, NativeDetector


class CredentialDetector(NativeDetector):
    """Secrets in text: issuer tokens, JWTs, private key blocks, and values assigned to secret names."""

    __slots__ = ()
    NAME = "credential"
    TYPES = frozenset((EntityType.CREDENTIAL,))

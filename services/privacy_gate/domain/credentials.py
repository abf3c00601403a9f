"""Credential detectors: cloud access keys, API tokens, JWTs, private key blocks, passwords in assignments.

A leaked secret is as harmful in a review queue as any personal datum, and one that sits in
training data can be regurgitated. Tokens are recognised by their issuers' fixed prefixes; a
password is recognised by what names it (``password = ...``, ``my password is ...``), and only the
value is replaced, so the text around it stays learnable.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator

from services.privacy_gate.domain.detectors import EntityType, Span

# Issuer-prefixed tokens. Each alternative is anchored on a literal prefix the issuer documents.
_TOKENS = re.compile(
    r"(?<![\w-])(?:"
    r"(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA)[0-9A-Z]{16}"  # AWS access key ids
    r"|gh[pousr]_[A-Za-z0-9]{36,255}"  # GitHub tokens
    r"|github_pat_[A-Za-z0-9_]{22,255}"  # GitHub fine-grained tokens
    r"|glpat-[A-Za-z0-9_\-]{20,}"  # GitLab personal access tokens
    r"|xox[abposr]-[A-Za-z0-9\-]{10,}"  # Slack tokens
    r"|(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"  # Stripe keys
    r"|sk-(?:ant-|proj-)?[A-Za-z0-9_\-]{20,}"  # OpenAI / Anthropic style secret keys
    r"|AIza[0-9A-Za-z_\-]{35}"  # Google API keys
    r"|SG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}"  # SendGrid
    r"|npm_[A-Za-z0-9]{36}"  # npm tokens
    r"|hf_[A-Za-z0-9]{30,}"  # Hugging Face tokens
    r")(?![\w-])"
)
# Literal prefixes of the tokens above: the token pattern runs only on texts holding one. Those with
# a "_" or a "-", which much prose lacks, are looked for only in texts holding that character: each
# look is a scan of the text.
_TOKEN_PREFIXES = ("AKIA", "ASIA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "AIza", "SG.", "xox")
_MARKED_TOKEN_PREFIXES = (
    ("_", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "sk_", "rk_", "pk_", "npm_", "hf_")),
    ("-", ("glpat-", "sk-")),
)

_JWT = re.compile(r"(?<![\w-])eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}(?![\w-])")
_PRIVATE_KEY = re.compile(
    # Up to the matching END line, or to the end of the text when a paste cut the block short.
    r"-----BEGIN ((?:[A-Z0-9]+ ){0,2})PRIVATE KEY(?: BLOCK)?-----"
    r".*?(?:-----END \1PRIVATE KEY(?: BLOCK)?-----|\Z)",
    re.DOTALL,
)

# Something that names a secret, then '=' / ':' / 'is', then the value (quoted or one token).
_SECRET_NAMES = (
    r"pass(?:word|wd|phrase)?|pwd|secret(?:[_ -]?key)?|client[_ -]?secret|api[_ -]?key|apikey"
    r"|access[_ -]?(?:key|token)|auth[_ -]?token|token|private[_ -]?key|credentials?|pin(?:[_ -]?code)?"
)
_ASSIGNMENT = re.compile(
    rf"(?i)(?<![A-Za-z])(?:{_SECRET_NAMES})[\"']?\s*(?:[:=]|=>|\bis\b|\bwas\b)\s*"
    r"(?:\"(?P<dq>[^\"\n]{3,200})\"|'(?P<sq>[^'\n]{3,200})'|(?P<bare>[^\s\"',;]{3,200}))"
)
# Substrings of every secret name above: the assignment pattern runs only where one occurs.
_SECRET_HINTS = ("pass", "pwd", "secret", "api", "key", "token", "credential", "pin")
# Values that name no secret: placeholders and words people put after "password is".
_NOT_SECRET_WORDS = (
    "none null nil true false empty redacted hidden required optional changeme unknown wrong incorrect "
    "correct invalid expired weak strong missing same different not the a an my your their"
)
_NOT_SECRETS = frozenset(_NOT_SECRET_WORDS.split())
_BEARER = re.compile(r"(?i)\b(?:bearer|token)\s+(?P<value>[A-Za-z0-9_\-.~+/]{20,}=*)")
_URL_PASSWORD = re.compile(r"[a-z][a-z0-9+.\-]*://[^\s:/@]+:(?P<value>[^\s@/]{3,})@[^\s/]+")


def _holds_token_prefix(text: str) -> bool:
    """True when ``text`` holds the prefix of an issuer token."""
    for prefix in _TOKEN_PREFIXES:
        if prefix in text:
            return True
    for mark, prefixes in _MARKED_TOKEN_PREFIXES:
        if mark in text:
            for prefix in prefixes:
                if prefix in text:
                    return True
    return False


def _is_jwt(value: str) -> bool:
    header = value.split(".", 1)[0]
    try:
        decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return False
    return isinstance(decoded, dict) and "alg" in decoded


class CredentialDetector:
    """Secrets in text: issuer tokens, JWTs, private key blocks, and values assigned to secret names."""

    __slots__ = ()

    @property
    def entity_types(self) -> frozenset[EntityType]:
        """Only CREDENTIAL."""
        return frozenset((EntityType.CREDENTIAL,))

    def detect(self, text: str) -> Iterator[Span]:
        """Spans of credentials (for assignments, the value only)."""
        kind = EntityType.CREDENTIAL
        if _holds_token_prefix(text):
            for match in _TOKENS.finditer(text):
                yield Span(kind, match.start(), match.end(), 0.95)
        if "eyJ" in text:
            for match in _JWT.finditer(text):
                if _is_jwt(match.group()):
                    yield Span(kind, match.start(), match.end(), 0.95)
        if "-----BEGIN" in text:
            for match in _PRIVATE_KEY.finditer(text):
                yield Span(kind, match.start(), match.end(), 1.0)
        if "://" in text:
            for match in _URL_PASSWORD.finditer(text):
                yield Span(kind, match.start("value"), match.end("value"), 0.9)
        lowered = text.lower()
        if any(hint in lowered for hint in _SECRET_HINTS):
            yield from self._assignments(text, lowered)
        if "bearer" in lowered or "token" in lowered:
            for match in _BEARER.finditer(text):
                yield Span(kind, match.start("value"), match.end("value"), 0.9)

    @staticmethod
    def _assignments(text: str, lowered: str) -> Iterator[Span]:
        # The pattern starts with a lookbehind, so the regex engine would try it at every position:
        # run it only in windows around the secret names the text holds.
        windows: list[tuple[int, int]] = []
        for hint in _SECRET_HINTS:
            at = lowered.find(hint)
            while at != -1:
                windows.append((max(0, at - 20), min(len(text), at + 260)))
                at = lowered.find(hint, at + 1)
        windows.sort()
        merged: list[tuple[int, int]] = []
        for start, end in windows:
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        for start, end in merged:
            yield from CredentialDetector._assignments_in(text, start, end)

    @staticmethod
    def _assignments_in(text: str, window_start: int, window_end: int) -> Iterator[Span]:
        for match in _ASSIGNMENT.finditer(text, window_start, window_end):
            group = next(g for g in ("dq", "sq", "bare") if match.group(g) is not None)
            start, end = match.span(group)
            value = text[start:end]
            if group == "bare":
                while end > start and text[end - 1] in ".)]}>":
                    end -= 1  # sentence punctuation after a bare value
                value = text[start:end]
            if len(value) < 3 or value.lower() in _NOT_SECRETS or value.startswith("<"):
                continue  # "password is wrong", or an already redacted placeholder
            yield Span(EntityType.CREDENTIAL, start, end, 0.8)

    def __repr__(self) -> str:
        return "CredentialDetector()"

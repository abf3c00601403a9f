"""Credential detectors: cloud access keys, API tokens, JWTs, private key blocks, passwords in assignments.

A leaked secret is as harmful in a review queue as any personal datum, and one that sits in
training data can be regurgitated. Tokens are recognised by their issuers' fixed prefixes; a
password is recognised by what names it (``password = ...``, ``my password is ...``), and only the
value is replaced, so the text around it stays learnable. A JWT counts when its header decodes to a
JSON object with an "alg" key.

The rules run natively (services/privacy_gate/native, see detectors.py); the patterns and lists below
are what the crate's gen_patterns.py compiles into it.
"""

from __future__ import annotations

import re

from services.privacy_gate.domain.detectors import EntityType, NativeDetector

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


class CredentialDetector(NativeDetector):
    """Secrets in text: issuer tokens, JWTs, private key blocks, and values assigned to secret names."""

    __slots__ = ()
    NAME = "credential"
    TYPES = frozenset((EntityType.CREDENTIAL,))

"""Keyed pseudonyms: the same id under the same key always maps to the same opaque token."""

from __future__ import annotations

import hashlib
import hmac

from services.runtime.errors import FatalError

MIN_KEY_BYTES = 32
"""HMAC-SHA256 keys shorter than its 32-byte output weaken it (RFC 2104 section 3)."""


class Pseudonymizer:
    """HMAC-SHA256 of an id under a secret key; the key id travels with every pseudonym it makes."""

    __slots__ = ("_key_id", "_mac")

    def __init__(self, key: bytes, key_id: str) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise FatalError(
                f"pseudonym key {key_id!r} has {len(key)} bytes; at least {MIN_KEY_BYTES} are needed"
            )
        if not key_id:
            raise FatalError("pseudonym key id is empty")
        self._key_id = key_id
        # Keyed once; each call copies the keyed state instead of re-deriving the pads.
        self._mac = hmac.new(key, digestmod=hashlib.sha256)

    @property
    def key_id(self) -> str:
        """Id of the key, stored next to pseudonyms so a rotation can tell them apart."""
        return self._key_id

    def pseudonymize(self, value: str) -> str:
        """The 64-character lowercase hex HMAC-SHA256 of ``value`` (UTF-8)."""
        mac = self._mac.copy()
        mac.update(value.encode("utf-8", "surrogatepass"))  # total: any str has a pseudonym
        return mac.hexdigest()

    def __repr__(self) -> str:
        return f"Pseudonymizer(key_id={self._key_id!r})"

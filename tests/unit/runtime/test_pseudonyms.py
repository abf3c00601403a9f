"""Pseudonyms: deterministic under one key, different under another, never revealing the key."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from services.runtime.errors import FatalError
from services.runtime.pseudonyms import Pseudonymizer

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))


def test_pseudonym_is_full_hex_hmac_sha256() -> None:
    expected = hmac.new(KEY, b"subject-42", hashlib.sha256).hexdigest()
    assert Pseudonymizer(KEY, "k1").pseudonymize("subject-42") == expected
    assert len(expected) == 64


def test_same_value_same_key_is_deterministic() -> None:
    a, b = Pseudonymizer(KEY, "k1"), Pseudonymizer(KEY, "k1")
    assert a.pseudonymize("subject-42") == a.pseudonymize("subject-42") == b.pseudonymize("subject-42")


def test_different_values_differ() -> None:
    p = Pseudonymizer(KEY, "k1")
    assert p.pseudonymize("subject-42") != p.pseudonymize("subject-43")


def test_pseudonym_depends_on_key() -> None:
    assert Pseudonymizer(KEY, "k1").pseudonymize("subject-42") != Pseudonymizer(OTHER_KEY, "k2").pseudonymize(
        "subject-42"
    )


def test_non_ascii_values_are_utf8_encoded() -> None:
    expected = hmac.new(KEY, "jürgen@例え.jp".encode(), hashlib.sha256).hexdigest()
    assert Pseudonymizer(KEY, "k1").pseudonymize("jürgen@例え.jp") == expected


def test_key_id_is_exposed_and_key_is_not_in_repr() -> None:
    p = Pseudonymizer(KEY, "pseudonym-2026-11")
    assert p.key_id == "pseudonym-2026-11"
    assert "pseudonym-2026-11" in repr(p)
    assert KEY.hex() not in repr(p)
    assert repr(KEY) not in repr(p)


@pytest.mark.parametrize(("key", "key_id"), [(b"short", "k1"), (b"", "k1"), (KEY, "")])
def test_weak_key_or_missing_key_id_is_fatal(key: bytes, key_id: str) -> None:
    with pytest.raises(FatalError):
        Pseudonymizer(key, key_id)


def test_any_string_has_a_pseudonym() -> None:
    assert len(Pseudonymizer(KEY, "k1").pseudonymize("lone \ud800 surrogate")) == 64

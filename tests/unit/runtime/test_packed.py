"""Packed table values: a JSON header and raw blobs, no base64."""

from __future__ import annotations

import pytest

from services.runtime.packed import PackError, pack, unpack


def test_round_trip_keeps_blobs_byte_for_byte() -> None:
    blobs = [b"", b"\x00\xc3\x01avro", bytes(range(256)) * 100]
    header, restored, legacy = unpack(pack({"queue": "urgent", "n": 3}, blobs))
    assert header == {"queue": "urgent", "n": 3} and restored == blobs and not legacy
    assert len(pack({}, blobs)) - sum(map(len, blobs)) < 32


def test_legacy_json_is_handed_back_as_such() -> None:
    assert unpack(b'{"task": "AAA="}') == ({"task": "AAA="}, [], True)
    assert unpack(b'["AAA="]') == (["AAA="], [], True)


@pytest.mark.parametrize("value", [b"", b"\x02", pack({}, [b"abcdef"])[:-2]])
def test_corrupt_values_raise(value: bytes) -> None:
    with pytest.raises(PackError):
        unpack(value)

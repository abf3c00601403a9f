"""A compact table value: a small JSON header and raw byte blobs (Avro records), no base64.

Faust tables with JSON values stored Avro records base64-encoded, a third larger than the record, so a
table update about a record near the size limit was over the limit (contracts/limits.py). A packed
value is `0x01`, the header's length (4 bytes, big-endian), the header (JSON), then each blob as its
length (4 bytes) and its bytes: a table update is the record plus a few dozen bytes.

Values written as JSON before this form existed start with `{` or `[` (never 0x01); `unpack` hands
them back as a header with no blobs, and the table's owner converts them (`legacy`).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from typing import Any

VERSION = b"\x01"
_LENGTH = struct.Struct(">I")


class PackError(ValueError):
    """Bytes that are not a packed value."""


def pack(header: Any, blobs: Sequence[bytes] = ()) -> bytes:
    """A header (JSON-serialisable) and blobs as one bytes value."""
    head = json.dumps(header, separators=(",", ":")).encode()
    parts = [VERSION, _LENGTH.pack(len(head)), head]
    for blob in blobs:
        parts += [_LENGTH.pack(len(blob)), blob]
    return b"".join(parts)


def unpack(value: bytes) -> tuple[Any, list[bytes], bool]:
    """(header, blobs, legacy): legacy is True for a JSON value written before the packed form."""
    if not value:
        raise PackError("empty table value")
    if value[:1] in (b"{", b"["):
        return json.loads(value), [], True
    if value[:1] != VERSION:
        raise PackError(f"unknown table value version {value[:1].hex()}")
    view = memoryview(value)
    (size,) = _LENGTH.unpack_from(view, 1)
    start = 1 + _LENGTH.size
    header = json.loads(bytes(view[start : start + size]))
    at = start + size
    blobs: list[bytes] = []
    while at < len(value):
        if at + _LENGTH.size > len(value):
            raise PackError("table value cut inside a blob length")
        (size,) = _LENGTH.unpack_from(view, at)
        at += _LENGTH.size
        if at + size > len(value):
            raise PackError("table value cut inside a blob")
        blobs.append(bytes(view[at : at + size]))
        at += size
    return header, blobs, False

"""The codec's registry path: writer schemas by Confluent id, resolved into the shipped ones.

The registry here is a dict of schema texts behind the codec's `SchemaSource` protocol (the real
registry is in tests/integration/test_schema_registry.py); an unreachable one is a real client
pointed at a closed port.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

import pytest

from services.contracts import TOP_LEVEL, AvroCodec, Judgment, default_codec
from services.runtime import schema_registry
from services.runtime.errors import DecodeError, RetryableError
from services.runtime.settings import Settings
from tests.support.samples import sample_judgment


class Schemas:
    """Schema texts by id, counting lookups."""

    def __init__(self, texts: dict[int, str]) -> None:
        self.texts = texts
        self.lookups = 0

    def schema_text(self, schema_id: int) -> str | None:
        self.lookups += 1
        return self.texts.get(schema_id)


def framed(schema_id: int, body: bytes) -> bytes:
    return b"\x00" + struct.pack(">I", schema_id) + body


def body_of(record: Judgment) -> bytes:
    return default_codec().encode_confluent(record, 1)[5:]


def judgment_schema(**change: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(default_codec().registry_schema(Judgment))
    document.update(change)
    return document


def test_the_shipped_schema_by_id_decodes_and_is_looked_up_once() -> None:
    record = sample_judgment()
    schemas = Schemas({7: default_codec().registry_schema(Judgment)})
    codec = AvroCodec(registry=schemas)
    for _ in range(3):
        assert codec.decode(framed(7, body_of(record)), Judgment) == record
    assert schemas.lookups == 1


def test_a_writer_schema_with_a_field_the_reader_lacks_resolves() -> None:
    record = sample_judgment()
    document = judgment_schema()
    document["fields"].insert(0, {"name": "tenant", "type": "string"})
    # The writer's body: the extra string first, then the shipped body (field order of the writer).
    tenant = b"acme"
    body = bytes([len(tenant) * 2]) + tenant + body_of(record)
    codec = AvroCodec(registry=Schemas({9: json.dumps(document)}))
    assert codec.decode(framed(9, body), Judgment) == record


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (None, "unknown_schema_id"),
        ("not json", "unreadable_schema"),
        ('{"type": "record", "name": "other.Thing", "fields": []}', "schema_mismatch"),
    ],
)
def test_registry_ids_that_cannot_be_read_are_dead_letters(text: str | None, reason: str) -> None:
    schemas = Schemas({} if text is None else {5: text})
    codec = AvroCodec(registry=schemas)
    with pytest.raises(DecodeError) as error:
        codec.decode(framed(5, body_of(sample_judgment())), Judgment)
    assert error.value.reason == reason


def test_a_writer_schema_that_cannot_resolve_is_incompatible() -> None:
    document = judgment_schema()
    first = document["fields"][0]
    first["type"] = "int"  # the shipped one is a string: no Avro promotion from int to string
    codec = AvroCodec(registry=Schemas({3: json.dumps(document)}))
    with pytest.raises(DecodeError) as error:
        codec.decode(framed(3, b"\x02" + body_of(sample_judgment())), Judgment)
    assert error.value.reason == "incompatible_schema"


def test_without_a_registry_an_unknown_id_is_a_dead_letter() -> None:
    with pytest.raises(DecodeError) as error:
        default_codec().decode(framed(4, body_of(sample_judgment())), Judgment)
    assert error.value.reason == "unknown_schema_id"


def test_an_unreachable_registry_is_retried_not_dead_lettered() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings(schema_registry_url=f"http://127.0.0.1:{port}")
    codec = schema_registry.codec_for(settings)
    with pytest.raises(RetryableError):
        codec.decode(framed(11, body_of(sample_judgment())), Judgment)


def test_every_top_level_record_has_a_subject_and_registers_as_one_document() -> None:
    assert set(schema_registry.TOPIC_RECORDS.values()) == set(TOP_LEVEL)
    for model in TOP_LEVEL:
        text = default_codec().registry_schema(model)
        document = json.loads(text)
        assert document["name"] == model.avro_name
        assert "__" not in text  # none of fastavro's private keys
        assert default_codec().registry_schema(model) == text  # stable text: registries look it up by it

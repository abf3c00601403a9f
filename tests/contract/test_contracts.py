"""Contract tests: the models mirror schemas/, samples round-trip both framings, bad bytes fail cleanly."""

from __future__ import annotations

import functools
import io
import json
import operator
import random
import shutil
import struct
import subprocess
import sys
import types
import typing
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import fastavro
import pydantic
import pytest
from fastavro.schema import load_schema, to_parsing_canonical_form

from services.contracts import models
from services.contracts.codec import AvroCodec, default_codec
from services.contracts.models import (
    TOP_LEVEL,
    Candidate,
    ConsentEvent,
    FlaggedInteraction,
    Judgment,
    Message,
    Record,
)
from services.runtime.errors import DecodeError, ValidationError
from tests.support.samples import SAMPLE_BUILDERS, sample_consent_event, sample_flagged_interaction

REPO = Path(__file__).resolve().parents[2]
SCHEMA_DIR = REPO / "schemas"
SCHEMA_FILES = sorted(SCHEMA_DIR.glob("*.avsc"))
RAW_SCHEMAS: dict[str, dict[str, Any]] = {path.stem: json.loads(path.read_text()) for path in SCHEMA_FILES}

RECORD_MODELS: dict[str, type[Record]] = {
    value.avro_name: value
    for value in vars(models).values()
    if isinstance(value, type) and issubclass(value, Record) and value is not Record
}
ENUMS: dict[str, type[StrEnum]] = {
    f"io.flagstream.{value.__name__}": value
    for value in vars(models).values()
    if isinstance(value, type) and issubclass(value, StrEnum) and value.__module__ == models.__name__
}

PRIMITIVES: dict[str, type] = {
    "null": type(None),
    "boolean": bool,
    "int": int,
    "long": int,
    "float": float,
    "double": float,
    "string": str,
    "bytes": bytes,
}
LOGICAL: dict[tuple[str, str], type] = {("long", "timestamp-millis"): datetime}


def crc64_avro(data: bytes) -> int:
    """CRC-64-AVRO (Rabin) as the Avro specification writes it, independent of fastavro."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp


def python_type(avro: Any) -> Any:
    """The pydantic annotation an Avro type must mirror to."""
    if isinstance(avro, list):
        return functools.reduce(operator.or_, [python_type(branch) for branch in avro])
    if isinstance(avro, str):
        if avro in PRIMITIVES:
            return PRIMITIVES[avro]
        if avro in RECORD_MODELS:
            return RECORD_MODELS[avro]
        if avro in ENUMS:
            return ENUMS[avro]
        raise AssertionError(f"type {avro} has no model and no enum in models.py")
    kind = avro["type"]
    if "logicalType" in avro:
        key = (kind, avro["logicalType"])
        assert key in LOGICAL, f"logical type {key} has no mapping in this test yet"
        return LOGICAL[key]
    if kind == "array":
        return list[python_type(avro["items"])]
    if kind == "map":
        return dict[str, python_type(avro["values"])]
    if kind in PRIMITIVES:
        return PRIMITIVES[kind]
    raise AssertionError(f"inline {kind} definition: schemas/ keeps one named type per file")


def normalized(annotation: Any) -> Any:
    """An order-insensitive, comparable form of a type annotation."""
    origin = typing.get_origin(annotation)
    if origin in (types.UnionType, typing.Union):
        return frozenset(normalized(arg) for arg in typing.get_args(annotation))
    if origin is not None:
        return (origin, tuple(normalized(arg) for arg in typing.get_args(annotation)))
    return annotation


@pytest.fixture(scope="module")
def codec() -> AvroCodec:
    return default_codec()


@pytest.fixture(scope="module")
def registry_codec() -> AvroCodec:
    return AvroCodec(schema_ids={101 + index: model for index, model in enumerate(TOP_LEVEL)})


def header(codec: AvroCodec, model: type[Record]) -> bytes:
    return b"\xc3\x01" + struct.pack("<Q", codec.fingerprint(model))


# --- schemas ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda path: path.stem)
def test_schema_parses_and_is_named_by_its_file(path: Path) -> None:
    raw = RAW_SCHEMAS[path.stem]
    assert f"{raw['namespace']}.{raw['name']}" == path.stem
    parsed = load_schema(str(path))
    # Each named type is defined once, before its first use, in the canonical form.
    fastavro.parse_schema(json.loads(to_parsing_canonical_form(parsed)))


def test_every_schema_has_a_mirror_and_every_mirror_a_schema() -> None:
    records = {name for name, raw in RAW_SCHEMAS.items() if raw["type"] == "record"}
    enums = {name for name, raw in RAW_SCHEMAS.items() if raw["type"] == "enum"}
    assert records | enums == set(RAW_SCHEMAS), "only records and enums are named types here"
    assert set(RECORD_MODELS) == records
    assert set(ENUMS) == enums


@pytest.mark.parametrize("name", sorted(RECORD_MODELS))
def test_model_mirrors_schema_field_for_field(name: str) -> None:
    model = RECORD_MODELS[name]
    schema = RAW_SCHEMAS[name]
    assert model.__name__ == schema["name"]
    assert list(model.model_fields) == [field["name"] for field in schema["fields"]]
    for avro_field in schema["fields"]:
        field = model.model_fields[avro_field["name"]]
        expected = python_type(avro_field["type"])
        assert normalized(field.annotation) == normalized(expected), (
            f"{name}.{avro_field['name']}: model {field.annotation}, schema {avro_field['type']}"
        )
        if "default" in avro_field:
            assert not field.is_required(), f"{name}.{avro_field['name']} needs a default"
            assert field.get_default(call_default_factory=True) == avro_field["default"]
        else:
            assert field.is_required(), f"{name}.{avro_field['name']} has a default the schema lacks"


@pytest.mark.parametrize("name", sorted(ENUMS))
def test_enum_symbols_equal_strenum_values(name: str) -> None:
    assert [member.value for member in ENUMS[name]] == RAW_SCHEMAS[name]["symbols"]
    assert RAW_SCHEMAS[name].get("default") in RAW_SCHEMAS[name]["symbols"], "enums need a default"


def test_top_level_and_samples_agree() -> None:
    assert set(SAMPLE_BUILDERS) == set(TOP_LEVEL)
    assert all(model in RECORD_MODELS.values() for model in TOP_LEVEL)


# --- fingerprints -----------------------------------------------------------------------------------


def test_crc64_reference_vectors() -> None:
    # From Avro's share/test/data/schema-tests.txt (published as signed 64-bit ints).
    assert crc64_avro(b'"null"') == 7195948357588979594
    assert crc64_avro(b'"boolean"') == -6970731678124411036 % 2**64


def test_fingerprint_is_crc64_of_parsing_canonical_form(codec: AvroCodec) -> None:
    canonical = (
        '{"name":"io.flagstream.Candidate","type":"record","fields":'
        '[{"name":"candidate_id","type":"string"},{"name":"content","type":"string"}]}'
    )
    assert codec.fingerprint(Candidate) == crc64_avro(canonical.encode())
    assert codec.fingerprint_hex(Candidate) == struct.pack("<Q", crc64_avro(canonical.encode())).hex()


def test_fingerprints_are_distinct_and_stable(codec: AvroCodec) -> None:
    prints = {codec.fingerprint(model) for model in RECORD_MODELS.values()}
    assert len(prints) == len(RECORD_MODELS)
    assert AvroCodec().fingerprint(FlaggedInteraction) == codec.fingerprint(FlaggedInteraction)
    assert default_codec() is codec


def test_schema_is_the_parsed_schema(codec: AvroCodec) -> None:
    for name, model in RECORD_MODELS.items():
        parsed = codec.schema(model)
        assert parsed["name"] == name
        assert [field["name"] for field in parsed["fields"]] == list(model.model_fields)


# --- round trips ------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", TOP_LEVEL, ids=lambda model: model.__name__)
def test_sample_round_trips_single_object(codec: AvroCodec, model: type[Record]) -> None:
    sample = SAMPLE_BUILDERS[model]()
    frame = codec.encode(sample)
    assert frame[:10] == header(codec, model)
    assert frame[2:10].hex() == codec.fingerprint_hex(model)
    decoded = codec.decode(frame, model)
    assert decoded == sample
    assert type(decoded) is model
    assert codec.encode(decoded) == frame


@pytest.mark.parametrize("model", TOP_LEVEL, ids=lambda model: model.__name__)
def test_sample_round_trips_confluent(registry_codec: AvroCodec, model: type[Record]) -> None:
    schema_id = 101 + TOP_LEVEL.index(model)
    sample = SAMPLE_BUILDERS[model]()
    frame = registry_codec.encode_confluent(sample, schema_id)
    assert frame[:5] == b"\x00" + struct.pack(">I", schema_id)
    assert frame[5:] == registry_codec.encode(sample)[10:], "both framings share one body"
    assert registry_codec.decode(frame, model) == sample


def test_nested_records_round_trip(codec: AvroCodec) -> None:
    flagged = sample_flagged_interaction()
    assert flagged.feedback is not None
    nested: list[Record] = [
        *flagged.messages,
        *flagged.candidates,
        *flagged.signals,
        flagged.decoder,
        flagged.feedback,
        flagged.consent,
    ]
    for record in nested:
        assert codec.decode(codec.encode(record), type(record)) == record


def test_optional_and_default_fields_round_trip(codec: AvroCodec) -> None:
    bare = sample_flagged_interaction(language=None, candidates=[], feedback=None)
    assert codec.decode(codec.encode(bare), FlaggedInteraction) == bare


def test_samples_are_deterministic_and_validated() -> None:
    for model, build in SAMPLE_BUILDERS.items():
        assert build() == build(), model
        assert build().model_dump_json() == build().model_dump_json(), model
    assert sample_flagged_interaction(language="de").language == "de"
    with pytest.raises(pydantic.ValidationError):
        sample_flagged_interaction(not_a_field=1)


def test_hand_built_single_object_frame_decodes(codec: AvroCodec) -> None:
    canonical = (
        '{"name":"io.flagstream.ConsentEvent","type":"record","fields":['
        '{"name":"event_id","type":"string"},{"name":"subject_id","type":"string"},'
        '{"name":"human_review","type":"boolean"},{"name":"training","type":"boolean"},'
        '{"name":"event_time","type":"long"},{"name":"source","type":"string"}]}'
    )
    sample = sample_consent_event()
    body = io.BytesIO()
    writer_schema = fastavro.parse_schema(RAW_SCHEMAS["io.flagstream.ConsentEvent"])
    fastavro.schemaless_writer(body, writer_schema, sample.model_dump())
    frame = b"\xc3\x01" + struct.pack("<Q", crc64_avro(canonical.encode())) + body.getvalue()
    assert codec.decode(frame, ConsentEvent) == sample


# --- errors -----------------------------------------------------------------------------------------


def reason_of(codec: AvroCodec, data: bytes, expected: type[Record]) -> str:
    with pytest.raises(DecodeError) as caught:
        codec.decode(data, expected)
    return caught.value.reason


def test_empty_bytes(codec: AvroCodec) -> None:
    assert reason_of(codec, b"", FlaggedInteraction) == "empty"


@pytest.mark.parametrize("data", [b"\x7b", b'{"interaction_id": "x"}', b"\xc3\x02" + bytes(20), b"\xc3"])
def test_unknown_magic(codec: AvroCodec, data: bytes) -> None:
    expected = "truncated" if data == b"\xc3" else "unknown_magic"
    assert reason_of(codec, data, FlaggedInteraction) == expected


def test_random_bytes(codec: AvroCodec) -> None:
    rng = random.Random(20261118)
    for _ in range(200):
        data = rng.randbytes(rng.randint(1, 400))
        with pytest.raises(DecodeError):
            codec.decode(data, FlaggedInteraction)


def test_random_bodies_behind_valid_headers(codec: AvroCodec, registry_codec: AvroCodec) -> None:
    rng = random.Random(7)
    body_reasons = {"truncated", "malformed_body", "trailing_bytes", "invalid_record"}
    for _ in range(500):
        body = rng.randbytes(rng.randint(0, 400))
        for frame, active in (
            (header(codec, FlaggedInteraction) + body, codec),
            (b"\x00" + struct.pack(">I", 101) + body, registry_codec),
        ):
            assert reason_of(active, frame, FlaggedInteraction) in body_reasons


@pytest.mark.parametrize("data", [b"\xc3\x01\x01\x02", b"\x00", b"\x00\x00\x00\x65"])
def test_short_header(registry_codec: AvroCodec, data: bytes) -> None:
    assert reason_of(registry_codec, data, FlaggedInteraction) == "truncated"


def test_unknown_fingerprint(codec: AvroCodec) -> None:
    frame = codec.encode(sample_consent_event())
    forged = frame[:2] + bytes(8) + frame[10:]
    assert reason_of(codec, forged, ConsentEvent) == "unknown_fingerprint"


def test_every_truncation_of_the_body(codec: AvroCodec) -> None:
    frame = codec.encode(sample_flagged_interaction())
    for cut in range(10, len(frame)):
        assert reason_of(codec, frame[:cut], FlaggedInteraction) == "truncated", cut


def test_trailing_bytes(codec: AvroCodec, registry_codec: AvroCodec) -> None:
    assert reason_of(codec, codec.encode(sample_consent_event()) + b"\x00", ConsentEvent) == "trailing_bytes"
    frame = registry_codec.encode_confluent(sample_consent_event(), 102) + b"junk"
    assert reason_of(registry_codec, frame, ConsentEvent) == "trailing_bytes"


def test_wrong_record_type(codec: AvroCodec, registry_codec: AvroCodec) -> None:
    assert reason_of(codec, codec.encode(sample_consent_event()), FlaggedInteraction) == "schema_mismatch"
    frame = registry_codec.encode_confluent(sample_consent_event(), 102)
    assert reason_of(registry_codec, frame, FlaggedInteraction) == "schema_mismatch"


def test_unknown_schema_id(codec: AvroCodec, registry_codec: AvroCodec) -> None:
    frame = registry_codec.encode_confluent(sample_consent_event(), 102)
    assert reason_of(codec, frame, ConsentEvent) == "unknown_schema_id"
    assert reason_of(registry_codec, b"\x00" + struct.pack(">I", 999) + frame[5:], ConsentEvent) == (
        "unknown_schema_id"
    )


@pytest.mark.parametrize(
    ("body", "why"),
    [(b"\x10\x02x", "enum index 8 of 4 symbols"), (b"\x02\x02\xff", "invalid UTF-8")],
)
def test_malformed_body(codec: AvroCodec, body: bytes, why: str) -> None:
    assert reason_of(codec, header(codec, Message) + body, Message) == "malformed_body", why


def test_body_that_does_not_validate(tmp_path: Path, codec: AvroCodec) -> None:
    # A writer whose ConsentEvent.human_review is a string: valid Avro, but not the model.
    shutil.copytree(SCHEMA_DIR, tmp_path, dirs_exist_ok=True)
    path = tmp_path / "io.flagstream.ConsentEvent.avsc"
    raw = json.loads(path.read_text())
    next(field for field in raw["fields"] if field["name"] == "human_review")["type"] = "string"
    path.write_text(json.dumps(raw))
    drifted = AvroCodec(tmp_path)
    personal = "dana.whitfield@example.com"
    body = io.BytesIO()
    datum = sample_consent_event().model_dump() | {"human_review": personal}
    fastavro.schemaless_writer(body, drifted.schema(ConsentEvent), datum)
    frame = header(drifted, ConsentEvent) + body.getvalue()
    with pytest.raises(DecodeError) as caught:
        drifted.decode(frame, ConsentEvent)
    assert caught.value.reason == "invalid_record"
    assert "human_review" in str(caught.value)
    assert personal not in str(caught.value), "error messages travel to DLQ headers and logs"
    assert caught.value.__cause__ is None
    assert reason_of(codec, frame, ConsentEvent) == "unknown_fingerprint", (
        "a changed schema changes the print"
    )


def test_decode_error_is_a_dead_letter(codec: AvroCodec) -> None:
    from services.runtime.errors import DeadLetterError

    with pytest.raises(DeadLetterError):
        codec.decode(b"\x01", Judgment)


def test_encoding_misuse(codec: AvroCodec, registry_codec: AvroCodec) -> None:
    class Stranger(Record):
        avro_name = "io.flagstream.Stranger"

    with pytest.raises(TypeError):
        codec.encode(Stranger())
    with pytest.raises(ValueError, match="schema id 101"):
        registry_codec.encode_confluent(sample_consent_event(), 101)
    with pytest.raises(ValueError, match="4 bytes"):
        codec.encode_confluent(sample_consent_event(), 2**32)
    with pytest.raises(ValidationError) as caught:
        codec.encode(SAMPLE_BUILDERS[Judgment](severity=2**63))
    assert caught.value.reason == "unencodable"
    assert str(2**63) not in str(caught.value)


def test_package_surface_loads_codec_lazily() -> None:
    probe = (
        "import sys, services.contracts as c;"
        "assert 'fastavro' not in sys.modules, 'models alone must not import fastavro';"
        "from services.contracts.codec import AvroCodec;"
        "assert c.AvroCodec is AvroCodec and c.default_codec() is c.default_codec()"
    )
    subprocess.run([sys.executable, "-c", probe], cwd=REPO, check=True)

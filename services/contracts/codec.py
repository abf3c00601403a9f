"""Avro wire codec for contract records: single-object encoding by default, Confluent framing with a registry.

Two framings share one schemaless Avro body:

    single-object   C3 01 | 8-byte little-endian CRC-64-AVRO fingerprint of the Parsing Canonical Form | body
    Confluent       00    | 4-byte big-endian schema id                                                | body

`AvroCodec.decode` accepts both and raises `DecodeError` with one of these reasons:

    empty               no bytes at all
    unknown_magic       first bytes are neither C3 01 nor 00
    truncated           header shorter than its framing, or the body ends early
    unknown_fingerprint single-object fingerprint of no shipped schema
    unknown_schema_id   Confluent schema id the codec was not given and its schema registry (if any) lacks
    unreadable_schema   the registry holds the id, but its schema is not Avro that fastavro can parse
    schema_mismatch     a known schema, but of another record than the one expected
    incompatible_schema the writer's (registry) schema cannot be read as the shipped one (Avro resolution)
    malformed_body      bytes that are not an Avro body of the schema (bad UTF-8, union or enum index, ...)
    trailing_bytes      bytes left over after the body
    invalid_record      the body decodes but does not validate into the pydantic model

A Confluent schema id is resolved, in order, from the ids the codec was given, then (once per id,
cached) from a `SchemaSource`: the schema registry, wired by `services.runtime.schema_registry`. A
registry schema is the writer's schema: the body is read with it and resolved into the schema shipped
in schemas/ (Avro schema resolution), so producers on an older or newer compatible version of a
record decode into the model this build knows. A registry that cannot be reached raises
`RetryableError` (the record is retried, never dead-lettered for it).

This is the only module of Flagstream that imports fastavro.
"""

from __future__ import annotations

import json
import struct
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pydantic
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError
from fastavro.schema import fingerprint as avro_fingerprint
from fastavro.schema import load_schema, to_parsing_canonical_form

from services.contracts import models
from services.contracts.models import Record
from services.runtime.errors import DecodeError, FatalError, ValidationError

__all__ = [
    "CONFLUENT_MAGIC",
    "SCHEMA_DIR",
    "SINGLE_OBJECT_MAGIC",
    "AvroCodec",
    "SchemaSource",
    "default_codec",
]

T = TypeVar("T", bound=Record)

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
"""The .avsc files shipped with Flagstream, one named type per file, named by full name."""

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
CONFLUENT_MAGIC = b"\x00"

SINGLE_OBJECT_HEADER = len(SINGLE_OBJECT_MAGIC) + 8
"""Bytes before the Avro body of a single-object record: the magic and the schema's 8-byte fingerprint."""
_CONFLUENT_HEADER = struct.Struct(">BI")


_Prepare = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class _Binding:
    """One record model bound to its parsed schema and single-object header."""

    model: type[Record]
    schema: dict[str, Any]
    fingerprint: bytes  # the 8 header bytes, little-endian as on the wire
    header: bytes
    prepare: _Prepare | None  # marks record branches of unions in a model_dump, or None if none


@dataclass(frozen=True, slots=True)
class _Writer:
    """What a Confluent schema id decodes with: the record's binding, and the writer's schema when it
    differs from the shipped one (None: the same canonical form, read without resolution)."""

    binding: _Binding
    schema: dict[str, Any] | None = None


class SchemaSource(Protocol):
    """Where the codec looks up Confluent schema ids it was not given: a schema registry."""

    def schema_text(self, schema_id: int) -> str | None:
        """The Avro schema (JSON text) registered under `schema_id`, or None if the registry has no such id.

        Raises RetryableError when the registry cannot be asked (unreachable, 5xx).
        """
        ...


def _registry_form(value: Any) -> Any:
    """A parsed fastavro schema without fastavro's private keys: plain Avro JSON, docs and defaults kept."""
    if isinstance(value, dict):
        return {key: _registry_form(item) for key, item in value.items() if not key.startswith("__")}
    if isinstance(value, list):
        return [_registry_form(item) for item in value]
    return value


def _union_tagger(
    schema: Any, named: Mapping[str, Any], seen: frozenset[str] = frozenset()
) -> _Prepare | None:
    """A function that rewrites a datum so each record in a union is fastavro's (name, value) tuple.

    Without the tuple fastavro picks a union branch by validating the value against every branch,
    which for a record costs more than writing the whole event. Returns None when `schema` holds
    no union of records, so untouched parts of an event cost nothing.
    """
    if isinstance(schema, str):
        if schema not in named or schema in seen:
            return None  # primitive, or a recursive reference: leave it to fastavro's matching
        return _union_tagger(named[schema], named, seen | {schema})
    if isinstance(schema, list):
        records = [
            definition
            for branch in schema
            if isinstance(definition := named.get(branch) if isinstance(branch, str) else branch, dict)
            and definition.get("type") == "record"
        ]
        if len(records) != 1:
            return None  # no record, or several: only fastavro's matching can tell those apart
        name: str = records[0]["name"]
        inner = _union_tagger(records[0], named, seen)

        def tag(value: Any) -> Any:
            if isinstance(value, dict):
                return (name, value if inner is None else inner(value))
            return value

        return tag
    if not isinstance(schema, dict):
        return None
    kind = schema.get("type")
    if kind == "record":
        steps = [
            (field["name"], step)
            for field in schema["fields"]
            if (step := _union_tagger(field["type"], named, seen | {schema["name"]})) is not None
        ]
        if not steps:
            return None

        def tag_fields(value: Any) -> Any:
            for field_name, step in steps:
                value[field_name] = step(value[field_name])
            return value

        return tag_fields
    if kind == "array":
        item = _union_tagger(schema["items"], named, seen)
        return None if item is None else (lambda items: [item(x) for x in items])
    if kind == "map":
        value_step = _union_tagger(schema["values"], named, seen)
        return None if value_step is None else (lambda values: {k: value_step(v) for k, v in values.items()})
    return None


def _record_models() -> tuple[type[Record], ...]:
    """Every named record model of the contracts, top-level or nested."""
    return tuple(
        value
        for value in vars(models).values()
        if isinstance(value, type) and issubclass(value, Record) and value.avro_name
    )


def _bind(model: type[Record], schema_dir: Path) -> _Binding:
    """Parse the model's schema and compute its fingerprint."""
    path = schema_dir / f"{model.avro_name}.avsc"
    if not path.is_file():
        raise FatalError(f"no schema for {model.__name__}: {path} does not exist", reason="missing_schema")
    try:
        schema = load_schema(str(path))
    except Exception as error:  # fastavro raises several unrelated types for a bad schema file
        raise FatalError(f"cannot parse {path}: {error}", reason="invalid_schema") from error
    if (
        not isinstance(schema, dict)
        or schema.get("type") != "record"
        or schema.get("name") != model.avro_name
    ):
        raise FatalError(f"{path} does not define the record {model.avro_name}", reason="invalid_schema")
    fingerprint = bytes.fromhex(avro_fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))
    prepare = _union_tagger(schema, schema.get("__named_schemas", {}))
    return _Binding(model, schema, fingerprint, SINGLE_OBJECT_MAGIC + fingerprint, prepare)


class AvroCodec:
    """Encodes contract records to Avro bytes and decodes them back, validated into their models."""

    def __init__(
        self,
        schema_dir: Path | None = None,
        schema_ids: Mapping[int, type[Record]] | None = None,
        registry: SchemaSource | None = None,
    ) -> None:
        """Parse every contract schema in `schema_dir`; `schema_ids` maps Confluent schema ids to records,
        `registry` resolves the ids it does not map."""
        directory = SCHEMA_DIR if schema_dir is None else schema_dir
        bindings = [_bind(model, directory) for model in _record_models()]
        self._by_model: dict[type[Record], _Binding] = {binding.model: binding for binding in bindings}
        self._by_fingerprint: dict[bytes, _Binding] = {}
        for binding in bindings:
            clash = self._by_fingerprint.setdefault(binding.fingerprint, binding)
            if clash is not binding:
                raise FatalError(
                    f"{binding.model.avro_name} and {clash.model.avro_name} share a fingerprint",
                    reason="invalid_schema",
                )
        self._by_name: dict[str, _Binding] = {binding.model.avro_name: binding for binding in bindings}
        self._by_schema_id: dict[int, _Writer] = {}
        for schema_id, model in (schema_ids or {}).items():
            if not 0 <= schema_id <= 0xFFFFFFFF:
                raise ValueError(f"schema id {schema_id} does not fit in 4 bytes")
            self._by_schema_id[schema_id] = _Writer(self._binding(model))
        self._registry = registry
        self._foreign: dict[int, str] = {}  # registry ids of records that are not Flagstream's
        self._lookup = threading.Lock()  # one registry request per id, even from several threads

    def _binding(self, model: type[Record]) -> _Binding:
        try:
            return self._by_model[model]
        except KeyError:
            raise TypeError(f"{model!r} is not a contract record") from None

    def schema(self, model: type[Record]) -> dict[str, Any]:
        """The parsed (fastavro) schema of a record model; shared, do not mutate."""
        return self._binding(model).schema

    def registry_schema(self, model: type[Record]) -> str:
        """The model's schema as one self-contained Avro JSON document, named types inlined where first
        used, docs and defaults kept: what is registered in a schema registry. Keys are sorted: fastavro
        orders a field's keys differently from run to run, and registries look a schema up by its text."""
        return json.dumps(_registry_form(self._binding(model).schema), separators=(",", ":"), sort_keys=True)

    def fingerprint(self, model: type[Record]) -> int:
        """CRC-64-AVRO fingerprint of the model's schema in Parsing Canonical Form, as an unsigned int."""
        return int.from_bytes(self._binding(model).fingerprint, "little")

    def fingerprint_hex(self, model: type[Record]) -> str:
        """The fingerprint's 8 bytes in hex, in wire order (as fastavro and Java's SchemaNormalization)."""
        return self._binding(model).fingerprint.hex()

    def encode(self, record: Record) -> bytes:
        """Avro single-object encoding of the record."""
        binding = self._binding(type(record))
        buffer = BytesIO()
        buffer.write(binding.header)
        self._write(buffer, binding, record)
        return buffer.getvalue()

    def encode_confluent(self, record: Record, schema_id: int) -> bytes:
        """Confluent framing of the record under a registry schema id.

        An id the codec was given must belong to the record's type; other ids are written as they come
        (the registry is the authority), but only ids in `schema_ids` decode.
        """
        binding = self._binding(type(record))
        registered = self._by_schema_id.get(schema_id)
        if registered is not None and registered.binding is not binding:
            other = registered.binding.model.avro_name
            raise ValueError(f"schema id {schema_id} is {other}, not {binding.model.avro_name}")
        buffer = BytesIO()
        try:
            buffer.write(_CONFLUENT_HEADER.pack(0, schema_id))
        except struct.error:
            raise ValueError(f"schema id {schema_id} does not fit in 4 bytes") from None
        self._write(buffer, binding, record)
        return buffer.getvalue()

    @staticmethod
    def _write(buffer: BytesIO, binding: _Binding, record: Record) -> None:
        try:
            datum = record.model_dump()
            schemaless_writer(
                buffer, binding.schema, datum if binding.prepare is None else binding.prepare(datum)
            )
        except (ValueError, TypeError, OverflowError) as error:
            # A validated model the schema cannot hold (e.g. an int beyond 64 bits). fastavro's message
            # quotes the value, which may be personal data, so only the error type travels on.
            raise ValidationError(
                f"{binding.model.avro_name} cannot be encoded ({type(error).__name__})", reason="unencodable"
            ) from None

    def decode(self, data: bytes, expected: type[T]) -> T:
        """Decode either framing into `expected`, or raise DecodeError with a machine-readable reason."""
        size = len(data)
        if size == 0:
            raise DecodeError("empty message", reason="empty")
        magic = data[0]
        if magic == SINGLE_OBJECT_MAGIC[0]:
            if size >= 2 and data[1] != SINGLE_OBJECT_MAGIC[1]:
                raise DecodeError(f"unknown magic {bytes(data[:2]).hex()}", reason="unknown_magic")
            if size < SINGLE_OBJECT_HEADER:
                raise DecodeError(f"single-object header cut at {size} bytes", reason="truncated")
            fingerprint = bytes(data[2:SINGLE_OBJECT_HEADER])
            binding = self._by_fingerprint.get(fingerprint)
            if binding is None:
                raise DecodeError(
                    f"unknown schema fingerprint {fingerprint.hex()}", reason="unknown_fingerprint"
                )
            offset = SINGLE_OBJECT_HEADER
            writer_schema: dict[str, Any] | None = None
        elif magic == CONFLUENT_MAGIC[0]:
            if size < _CONFLUENT_HEADER.size:
                raise DecodeError(f"Confluent header cut at {size} bytes", reason="truncated")
            schema_id: int = _CONFLUENT_HEADER.unpack_from(data)[1]
            writer = self._by_schema_id.get(schema_id) or self._resolve(schema_id)
            binding = writer.binding
            writer_schema = writer.schema
            offset = _CONFLUENT_HEADER.size
        else:
            raise DecodeError(f"unknown magic byte {magic:#04x}", reason="unknown_magic")

        if binding.model is not expected:
            raise DecodeError(
                f"expected {expected.avro_name}, got {binding.model.avro_name}", reason="schema_mismatch"
            )

        buffer = BytesIO(data)
        buffer.seek(offset)
        try:
            if writer_schema is None:
                raw = schemaless_reader(buffer, binding.schema, None)
            else:
                raw = schemaless_reader(buffer, writer_schema, binding.schema)
        except EOFError as error:
            raise DecodeError(f"{expected.avro_name} body ends early: {error}", reason="truncated") from error
        except SchemaResolutionError as error:
            raise DecodeError(
                f"{expected.avro_name}: the writer's schema cannot be read as the shipped one: {error}",
                reason="incompatible_schema",
            ) from error
        except Exception as error:
            # The reader fails on hostile bytes with IndexError, UnicodeDecodeError, OverflowError, ...;
            # a read that ran off the end is a truncation whatever it raised.
            reason = (
                "truncated"
                if buffer.tell() >= size and not isinstance(error, UnicodeDecodeError)
                else "malformed_body"
            )
            raise DecodeError(
                f"{expected.avro_name} body is not valid Avro: {type(error).__name__}: {str(error)[:200]}",
                reason=reason,
            ) from error
        if buffer.tell() != size:
            raise DecodeError(
                f"{size - buffer.tell()} bytes after the {expected.avro_name} body", reason="trailing_bytes"
            )
        try:
            return expected.model_validate(raw)
        except pydantic.ValidationError as error:
            # Name the fields and the problems, never the input values: they may be personal data.
            problems = "; ".join(
                f"{'.'.join(map(str, problem['loc']))}: {problem['msg']}"
                for problem in error.errors(include_url=False, include_input=False, include_context=False)
            )
            raise DecodeError(
                f"{expected.avro_name} does not validate: {problems}", reason="invalid_record"
            ) from None

    def _resolve(self, schema_id: int) -> _Writer:
        """Look a Confluent schema id up in the registry once, and remember what it decodes with."""
        if self._registry is None:
            raise DecodeError(f"unknown schema id {schema_id}", reason="unknown_schema_id")
        with self._lookup:
            known = self._by_schema_id.get(schema_id)
            if known is not None:
                return known
            foreign = self._foreign.get(schema_id)
            if foreign is None:
                text = self._registry.schema_text(schema_id)
                if text is None:
                    raise DecodeError(
                        f"schema id {schema_id} is not in the schema registry", reason="unknown_schema_id"
                    )
                try:
                    writer = parse_schema(json.loads(text))
                except Exception as error:  # fastavro raises several unrelated types for a bad schema
                    raise DecodeError(
                        f"schema id {schema_id}: the registry's schema does not parse "
                        f"({type(error).__name__}: {str(error)[:200]})",
                        reason="unreadable_schema",
                    ) from error
                name = writer.get("name") if isinstance(writer, dict) else None
                binding = self._by_name.get(name) if isinstance(name, str) else None
                if binding is not None and isinstance(writer, dict):
                    same = to_parsing_canonical_form(writer) == to_parsing_canonical_form(binding.schema)
                    resolved = _Writer(binding, None if same else writer)
                    self._by_schema_id[schema_id] = resolved
                    return resolved
                foreign = self._foreign[schema_id] = str(name or (writer if isinstance(writer, str) else "?"))
        raise DecodeError(
            f"schema id {schema_id} is {foreign}, not a Flagstream record", reason="schema_mismatch"
        )


@cache
def default_codec() -> AvroCodec:
    """The process-wide codec over the schemas shipped in schemas/ (single-object encoding)."""
    return AvroCodec()

"""The schema registry: the codec's lookups of Confluent schema ids, and `flagstream schemas register|check`.

Any Confluent-compatible registry works (Confluent Schema Registry, Apicurio Registry's ccompat API,
Karapace); `make registry-up` runs Apicurio locally. Subjects follow Confluent's default
TopicNameStrategy, `<topic>-value`, so producers that use Confluent's serializers with their default
settings write under the subjects registered here. Every subject is kept at BACKWARD compatibility
(or a stricter level an operator set): a consumer on the newest schema reads everything on its
topic, which is the evolution rule of schemas/README.md.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from services.contracts import (
    AuditEvent,
    ConsentEvent,
    ErasureRequest,
    FlaggedInteraction,
    Judgment,
    Record,
    RedactedInteraction,
    ResolvedJudgment,
    ReviewTask,
)
from services.runtime.errors import FatalError, RetryableError
from services.runtime.settings import Settings
from services.runtime.topics import (
    AUDIT,
    CONSENT,
    ERASURES,
    INTERACTIONS,
    JUDGMENTS,
    QUEUES,
    REDACTED,
    RESOLVED,
    task_topic,
)

if TYPE_CHECKING:
    from services.contracts import AvroCodec

log = logging.getLogger(__name__)

TOPIC_RECORDS: Mapping[str, type[Record]] = {
    INTERACTIONS: FlaggedInteraction,
    CONSENT: ConsentEvent,
    REDACTED: RedactedInteraction,
    JUDGMENTS: Judgment,
    RESOLVED: ResolvedJudgment,
    ERASURES: ErasureRequest,
    AUDIT: AuditEvent,
    **{task_topic(queue): ReviewTask for queue in QUEUES},
}
"""The record each contract topic carries (registry names, unprefixed): one `<topic>-value` subject each.
Dead-letter topics hold whatever bytes failed and the escalation-internal topic is private: no subject."""

GUARDING = frozenset({"BACKWARD", "BACKWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE"})
"""Subject compatibility levels that keep the evolution rule; `register` sets BACKWARD on any other."""

NOT_FOUND = 404


def subject(settings: Settings, topic: str) -> str:
    """The value subject of a registry topic under this deployment's prefix (TopicNameStrategy)."""
    return f"{settings.topic(topic)}-value"


def client(settings: Settings) -> Any:
    """A `confluent_kafka.schema_registry.SchemaRegistryClient` for the configured registry."""
    if not settings.schema_registry_url:
        raise FatalError("no schema registry configured: set FLAGSTREAM_SCHEMA_REGISTRY_URL")
    auth = settings.schema_registry_auth
    return _client(settings.schema_registry_url, None if auth is None else auth.get_secret_value())


def _client(url: str, auth: str | None) -> Any:
    from confluent_kafka.schema_registry import SchemaRegistryClient

    conf: dict[str, Any] = {"url": url, "timeout": 10}
    if auth is not None:
        conf["basic.auth.user.info"] = auth
    return SchemaRegistryClient(conf)


class RegistrySchemas:
    """The codec's `SchemaSource` over a schema registry: the writer's schema of a Confluent schema id.

    The client caches what it fetched and the codec caches what it parsed, so each id costs one
    request per process. The request blocks the worker's event loop for its duration, once per id.
    """

    def __init__(self, registry_client: Any, url: str) -> None:
        self._client = registry_client
        self._url = url

    def schema_text(self, schema_id: int) -> str | None:
        """The Avro schema registered under the id; None if the registry has none; RetryableError if
        it cannot be asked; FatalError if it refuses us (credentials)."""
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        try:
            schema = self._client.get_schema(schema_id)
        except SchemaRegistryError as error:
            if error.http_status_code == NOT_FOUND:
                return None
            if error.http_status_code in (401, 403):
                raise FatalError(
                    f"schema registry {self._url} refused the lookup of id {schema_id}: {error}"
                ) from error
            raise RetryableError(f"schema registry {self._url}: {error}") from error
        except Exception as error:  # httpx's transport errors: unreachable, timeout, reset
            raise RetryableError(
                f"schema registry {self._url} unreachable: {type(error).__name__}: {error}"
            ) from error
        return str(schema.schema_str)  # a Protobuf or JSON schema does not parse: unreadable_schema


def codec_for(settings: Settings) -> AvroCodec:
    """The codec a service decodes with: the shipped schemas, plus the registry when one is configured."""
    from services.contracts import default_codec

    if not settings.schema_registry_url:
        return default_codec()
    auth = settings.schema_registry_auth
    return _registry_codec(settings.schema_registry_url, None if auth is None else auth.get_secret_value())


@cache
def _registry_codec(url: str, auth: str | None) -> AvroCodec:
    from services.contracts import AvroCodec

    return AvroCodec(registry=RegistrySchemas(_client(url, auth), url))


Status = Literal["new", "unchanged", "compatible", "registered", "incompatible", "unguarded"]


@dataclass(frozen=True)
class SubjectReport:
    """What `register` or `check` found for one subject."""

    subject: str
    record: str
    status: Status
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status not in ("incompatible", "unguarded")


def _field_changes(registered: str, local: str) -> str:
    """The top-level field changes that a BACKWARD check refuses, in words (best effort)."""
    try:
        old = {field["name"]: field for field in json.loads(registered).get("fields", [])}
        new = {field["name"]: field for field in json.loads(local).get("fields", [])}
    except (ValueError, AttributeError, KeyError, TypeError):
        return ""
    added = [name for name, field in new.items() if name not in old and "default" not in field]
    retyped = [
        name
        for name, field in new.items()
        if name in old
        and json.dumps(field["type"], sort_keys=True) != json.dumps(old[name]["type"], sort_keys=True)
    ]
    parts = []
    if added:
        parts.append(f"fields added without a default: {', '.join(added)}")
    if retyped:
        parts.append(f"fields whose type changed: {', '.join(retyped)}")
    return "; ".join(parts)


def _inspect(registry: Any, name: str, schema: Any) -> tuple[Any | None, Any | None]:
    """(latest registered version or None, the registered version equal to `schema` or None)."""
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    try:
        latest = registry.get_latest_version(name)
    except SchemaRegistryError as error:
        if error.http_status_code == NOT_FOUND:
            return None, None
        raise
    try:
        same = registry.lookup_schema(name, schema)
    except SchemaRegistryError as error:
        if error.http_status_code != NOT_FOUND:
            raise
        same = None
    return latest, same


def _level(registry: Any, name: str) -> str | None:
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    try:
        return str(registry.get_compatibility(name))
    except SchemaRegistryError as error:
        if error.http_status_code == NOT_FOUND:
            return None
        raise


def _examine(
    settings: Settings, codec: AvroCodec, registry: Any, topics: Iterable[str], guard: bool
) -> list[tuple[SubjectReport, Any]]:
    """Compare each topic's shipped schema with its subject; with `guard`, set BACKWARD where needed."""
    from confluent_kafka.schema_registry import Schema

    found = []
    for topic in topics:
        model = TOPIC_RECORDS[topic]
        name = subject(settings, topic)
        schema = Schema(codec.registry_schema(model), "AVRO")
        found.append((_compare(registry, name, model.avro_name, schema, guard), schema))
    return found


def _compare(registry: Any, name: str, record: str, schema: Any, guard: bool) -> SubjectReport:
    """One subject's report: new, unchanged, compatible, incompatible, or unguarded (level too weak)."""
    latest, same = _inspect(registry, name, schema)
    if latest is None:
        return SubjectReport(name, record, "new")
    level = _level(registry, name)
    if level not in GUARDING:
        if not guard:
            advice = "`flagstream schemas register` sets BACKWARD"
            return SubjectReport(name, record, "unguarded", f"compatibility is {level}: {advice}")
        registry.set_compatibility(name, "BACKWARD")
        level = "BACKWARD"
    if same is not None:
        return SubjectReport(name, record, "unchanged", f"version {same.version}, schema id {same.schema_id}")
    if registry.test_compatibility(name, schema):
        return SubjectReport(name, record, "compatible", f"{level} with version {latest.version}")
    changes = _field_changes(latest.schema.schema_str or "", schema.schema_str or "")
    detail = f"not {level} compatible with version {latest.version} (schema id {latest.schema_id})"
    return SubjectReport(name, record, "incompatible", detail + (f": {changes}" if changes else ""))


def check(settings: Settings, codec: AvroCodec, topics: Iterable[str] = TOPIC_RECORDS) -> list[SubjectReport]:
    """Whether each shipped schema could be registered now (changes nothing in the registry)."""
    return [
        report
        for report, _ in _guarded(
            settings, lambda: _examine(settings, codec, client(settings), topics, False)
        )
    ]


def register(
    settings: Settings, codec: AvroCodec, topics: Iterable[str] = TOPIC_RECORDS
) -> list[SubjectReport]:
    """Register each shipped schema under its topic's subject at BACKWARD compatibility.

    All or nothing: when any subject refuses its schema, none is registered, and the reports say
    which and why.
    """

    def run() -> list[tuple[SubjectReport, Any]]:
        registry = client(settings)
        found = _examine(settings, codec, registry, topics, True)
        if not all(report.ok for report, _ in found):
            return found
        done = []
        for report, schema in found:
            if report.status == "unchanged":
                done.append((report, schema))
                continue
            if report.status == "new":
                registry.set_compatibility(report.subject, "BACKWARD")
            schema_id = registry.register_schema(report.subject, schema)
            version = registry.get_latest_version(report.subject).version
            done.append(
                (
                    SubjectReport(
                        report.subject,
                        report.record,
                        "registered",
                        f"version {version}, schema id {schema_id}",
                    ),
                    schema,
                )
            )
        return done

    return [report for report, _ in _guarded(settings, run)]


def _guarded(settings: Settings, run: Any) -> list[tuple[SubjectReport, Any]]:
    """Run a registry conversation; a failure of the registry itself becomes a RetryableError."""
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    try:
        result: list[tuple[SubjectReport, Any]] = run()
        return result
    except SchemaRegistryError as error:
        raise RetryableError(f"schema registry {settings.schema_registry_url}: {error}") from error
    except FatalError:
        raise
    except Exception as error:  # httpx's transport errors
        raise RetryableError(
            f"schema registry {settings.schema_registry_url} unreachable: {type(error).__name__}: {error}"
        ) from error

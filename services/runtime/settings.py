"""Settings of every Flagstream service, from environment variables (prefix FLAGSTREAM_)."""

from __future__ import annotations

import logging
import os
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.contracts.limits import SizeLimits
from services.runtime.errors import FatalError
from services.runtime.storage import S3Access, StorageRoot

REPO_ROOT = Path(__file__).resolve().parents[2]
DEV_PSEUDONYM_KEY = "flagstream-local-development-key-not-for-production"

log = logging.getLogger(__name__)


class Settings(BaseSettings):
    """One frozen settings object, read once at start; every field documents its env variable."""

    model_config = SettingsConfigDict(env_prefix="FLAGSTREAM_", frozen=True, extra="ignore")

    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092",
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "FLAGSTREAM_KAFKA_BOOTSTRAP_SERVERS"),
        description="Kafka bootstrap servers (env KAFKA_BOOTSTRAP_SERVERS). Default: the local broker.",
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT",
        description="How every Kafka client connects: PLAINTEXT locally; SASL_SSL against a cluster whose "
        "ACLs name each service's principal (deploy/k8s: Strimzi users with SCRAM-SHA-512 over TLS).",
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "SCRAM-SHA-512", description="SASL mechanism when the protocol is SASL_*."
    )
    kafka_sasl_username: str | None = Field(None, description="This service's Kafka principal (SASL).")
    kafka_sasl_password: SecretStr | None = Field(None, description="Its password (SASL).")
    kafka_ssl_ca_file: Path | None = Field(
        None, description="CA certificate that signed the brokers' TLS certificates (SSL, SASL_SSL)."
    )
    kafka_connect_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="Commands that need Kafka (topics create, erase, demo, run) stop with one line when "
        "no broker answers within this many seconds; a worker waits 60 s at least.",
    )
    topic_prefix: str = Field(
        "", description="Prefix of every topic and consumer group (isolates deployments and tests)."
    )
    partitions: int = Field(4, ge=1, description="Partitions of every topic the registry creates.")
    replication_factor: int = Field(
        1, ge=1, description="Replication factor of created topics (3 in production)."
    )
    data_dir: Path = Field(
        REPO_ROOT / "var" / "data",
        description="Local state: the Faust workers' stores and exit records, and the datasets unless "
        "storage_root says otherwise.",
    )
    storage_root: str | None = Field(
        None,
        description="Where the Delta datasets (`datasets/`), the erasure ledger (`ledger/`) and the dataset "
        "tags (`tags/`) live: a local folder or `s3://bucket/prefix` (an S3-compatible store, see the s3_* "
        "settings and docs/storage.md). Unset: data_dir.",
    )
    s3_endpoint_url: str | None = Field(
        None,
        description="Endpoint of an S3-compatible store (e.g. http://127.0.0.1:38333 for `make s3-up`); "
        "unset: AWS S3 of s3_region.",
    )
    s3_region: str = Field("us-east-1", description="Region of the S3 bucket (signing region).")
    s3_allow_http: bool = Field(False, description="Allow plain http to the S3 endpoint (local stores).")
    s3_virtual_hosted_style: bool = Field(
        False,
        description="Address buckets as `bucket.endpoint` (virtual-hosted) instead of `endpoint/bucket` "
        "(path style, what S3-compatible servers expect).",
    )
    s3_commit_mode: Literal["conditional_put", "dynamodb", "unsafe_rename"] = Field(
        "conditional_put",
        description="How a Delta commit to S3 is made exclusive: conditional_put (If-None-Match, AWS S3 "
        "and most compatible stores), dynamodb (delta-rs's lock table), unsafe_rename (no exclusion; "
        "one writer per table only). docs/storage.md.",
    )
    s3_dynamodb_table: str = Field(
        "delta_log", description="delta-rs's DynamoDB lock table, with s3_commit_mode=dynamodb."
    )
    aws_access_key_id: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("AWS_ACCESS_KEY_ID", "FLAGSTREAM_AWS_ACCESS_KEY_ID"),
        description="S3 access key id (env AWS_ACCESS_KEY_ID). Unset: object_store's own chain (instance "
        "profile, web identity).",
    )
    aws_secret_access_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("AWS_SECRET_ACCESS_KEY", "FLAGSTREAM_AWS_SECRET_ACCESS_KEY"),
        description="S3 secret access key (env AWS_SECRET_ACCESS_KEY); never logged.",
    )
    aws_session_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("AWS_SESSION_TOKEN", "FLAGSTREAM_AWS_SESSION_TOKEN"),
        description="S3 session token of temporary credentials (env AWS_SESSION_TOKEN).",
    )
    pseudonym_key: SecretStr | None = Field(
        None, description="HMAC-SHA256 key for pseudonyms, at least 32 bytes (or use the key file)."
    )
    pseudonym_key_file: Path | None = Field(None, description="File holding the HMAC key.")
    pseudonym_key_id: str = Field("dev-1", description="Id of the pseudonym key, recorded on each event.")
    redaction_policy: Path = Field(
        REPO_ROOT / "deploy" / "policies" / "redaction.yaml", description="Redaction policy file."
    )
    consent_default: Literal["deny", "review_only", "allow"] = Field(
        "deny",
        description="Consent assumed for a subject the gate has no record of: deny, review_only, allow.",
    )
    consent_trust_snapshots: bool = Field(
        True,
        description="Count the consent snapshot on each interaction as a consent record (else ledger only).",
    )
    escalation_policy: Path = Field(
        REPO_ROOT / "deploy" / "policies" / "escalation.yaml", description="Escalation policy file."
    )
    metrics_port: int | None = Field(
        None, description="Port of /metrics; default is the service's own port (9101-9104), 0 = any."
    )
    metrics_host: str = Field(
        "127.0.0.1",
        description="Address /metrics, /healthz and /readyz listen on: loopback locally, 0.0.0.0 in a "
        "pod so that the kubelet's probes and Prometheus reach them.",
    )
    sink_batch_rows: int = Field(1000, ge=1, description="Dataset sink commits every N rows ...")
    sink_batch_seconds: float = Field(2.0, gt=0, description="... or every T seconds, whichever first.")
    split_salt: SecretStr = Field(
        SecretStr("flagstream-split-v1"), description="Key of the stable train/heldout hash."
    )
    heldout_fraction: float = Field(0.1, ge=0, le=1, description="Share of conversations held out.")
    review_policy: Path = Field(
        REPO_ROOT / "deploy" / "policies" / "review.yaml",
        description="Review policy file: adjudication, gold rates and gold items.",
    )
    erasure_retention_hours: float = Field(
        168.0, ge=0, description="Vacuum removes dataset files unreferenced for longer than this."
    )
    sink_compact_commits: int = Field(
        100,
        ge=0,
        description="The dataset sink rewrites a table's small files into large ones after this many "
        "commits to it (0: never). Keeps readers fast and the sink's memory flat.",
    )
    vacuum_interval_seconds: float = Field(
        3600.0, gt=0, description="The dataset sink vacuums its tables this often (and after erasures)."
    )
    commit_stall_seconds: float = Field(
        30.0,
        gt=0,
        description="A Faust worker whose committed offset on a partition with lag has not moved for this "
        "long, while no event is in its handler, stops itself (exit 70) to be restarted; at half "
        "of it, it first fetches the partition again from the committed offset.",
    )
    changelog_segment_seconds: float = Field(
        600.0,
        gt=0,
        description="Faust table changelogs roll a segment this often, so the broker's log cleaner "
        "compacts them and a restarting worker restores the tables' state, not every update since the "
        "topic was created (services/runtime/topics.py: SEGMENT_MS).",
    )
    producer_linger_ms: int = Field(
        5,
        ge=0,
        le=1000,
        description="How long every producer of the services (librdkafka's and Faust's, for table "
        "changelogs) waits to fill a batch before sending it. Each hop of an event may wait this "
        "long; fewer, larger produce requests cost the broker less CPU per record.",
    )
    session_timeout_seconds: float = Field(
        20.0,
        gt=0,
        description="Kafka group session timeout of the Faust workers: how long a worker that died "
        "without leaving its group keeps its partitions from the others.",
    )
    max_record_bytes: int = Field(
        1_048_576,
        ge=65_536,
        le=16 * 1_048_576,
        description="The size contract: the largest encoded interaction the gate accepts (larger ones are "
        "dead-lettered `too_large`), and the largest redacted interaction it sends. Every topic's "
        "max.message.bytes, every producer's message.max.bytes and every consumer's fetch size derive "
        "from it (`Settings.limits`, docs/limits.md).",
    )
    crash_loop_limit: int = Field(
        3,
        ge=1,
        description="A record that stopped a worker this many times (its error is the record's, not the "
        "broker's) is dead-lettered `crash_loop` at the next start instead of handled again.",
    )
    schema_registry_url: str | None = Field(
        None,
        description="Confluent-compatible schema registry (e.g. http://127.0.0.1:8081/apis/ccompat/v7). "
        "When set, the codec resolves Confluent-framed records of schema ids it does not ship through it "
        "(cached), and `flagstream schemas` registers and checks against it. Unset: schemas/ only.",
    )
    schema_registry_auth: SecretStr | None = Field(
        None, description="`user:password` for the schema registry's HTTP basic auth, if it asks for one."
    )
    progress_interval_seconds: float = Field(
        10.0,
        gt=0,
        description="Every service reads every stage's committed and end offsets this often, for the "
        "lag and commit-progress metrics (services/runtime/progress.py).",
    )
    progress_window: int = Field(
        6,
        ge=2,
        description="Observations a partition's commit-progress state is judged over: a committed "
        "offset that stands still with lag for this many rounds is a stall (or a stop).",
    )
    log_level: str = Field("INFO", description="Log level of the services.")
    label_studio_url: str = Field(
        default_factory=lambda: f"http://127.0.0.1:{os.environ.get('LABEL_STUDIO_PORT') or 8080}",
        validation_alias=AliasChoices("LABEL_STUDIO_URL", "FLAGSTREAM_LABEL_STUDIO_URL"),
        description="Label Studio server of the label_studio connector (env LABEL_STUDIO_URL). Set, "
        "`make labeling-up` starts nothing. Default: the local one of scripts/label_studio.sh, on "
        "127.0.0.1:$LABEL_STUDIO_PORT (8080).",
    )
    label_studio_api_key: SecretStr = Field(
        SecretStr("flagstream-local-label-studio-token"),
        validation_alias=AliasChoices("LABEL_STUDIO_API_KEY", "FLAGSTREAM_LABEL_STUDIO_API_KEY"),
        description="API token of the connector's Label Studio user (env LABEL_STUDIO_API_KEY); the "
        "local server's preset admin gets this token.",
    )
    label_studio_poll_seconds: float = Field(
        2.0, gt=0, description="The connector reconciles annotations with Label Studio this often."
    )
    label_studio_batch_tasks: int = Field(
        200, ge=1, description="Most review tasks the connector imports into Label Studio per request."
    )
    label_studio_webhooks: bool = Field(
        True,
        description="The connector registers a webhook on each of its projects and reconciles a task as "
        "soon as Label Studio reports an annotation of it (a hint: the poll stays the source of truth).",
    )
    label_studio_webhook_url: str = Field(
        "",
        description="URL Label Studio calls for those webhooks: the connector's /label-studio/webhook, "
        "served beside /metrics (FLAGSTREAM_METRICS_HOST/PORT). Empty: http://<metrics host, or "
        "127.0.0.1 when it listens on all addresses>:<metrics port>/label-studio/webhook.",
    )

    @cached_property
    def limits(self) -> SizeLimits:
        """Record, topic, producer and fetch sizes, all derived from `max_record_bytes`."""
        return SizeLimits(self.max_record_bytes)

    @cached_property
    def pseudonym_key_bytes(self) -> bytes:
        """The HMAC key: from FLAGSTREAM_PSEUDONYM_KEY, else the key file, else the dev key."""
        if self.pseudonym_key is not None:
            return self.pseudonym_key.get_secret_value().encode()
        if self.pseudonym_key_file is not None:
            try:
                return self.pseudonym_key_file.read_bytes().strip()
            except OSError as exc:
                raise FatalError(f"pseudonym_key_file: cannot read {self.pseudonym_key_file}: {exc}") from exc
        log.warning("using the local development pseudonym key; set FLAGSTREAM_PSEUDONYM_KEY in production")
        return DEV_PSEUDONYM_KEY.encode()

    def topic(self, name: str) -> str:
        """The full name of a registry topic under this deployment's prefix."""
        return f"{self.topic_prefix}{name}"

    def group(self, service: str) -> str:
        """The consumer group / Faust app id of a service."""
        return f"{self.topic_prefix}flagstream-{service}"

    @property
    def storage(self) -> StorageRoot:
        """The root of datasets/, ledger/ and tags/: storage_root, else data_dir."""
        if self.storage_root is None:
            return StorageRoot.of(self.data_dir)
        access = S3Access(
            endpoint_url=self.s3_endpoint_url,
            region=self.s3_region,
            allow_http=self.s3_allow_http,
            virtual_hosted_style=self.s3_virtual_hosted_style,
            commit_mode=self.s3_commit_mode,
            dynamodb_table=self.s3_dynamodb_table,
            access_key_id=self.aws_access_key_id,
            secret_access_key=self.aws_secret_access_key,
            session_token=self.aws_session_token,
        )
        return StorageRoot.of(self.storage_root, access)

    @property
    def datasets_root(self) -> StorageRoot:
        """Where the Delta dataset tables live (`<storage>/datasets/<table>`)."""
        return self.storage / "datasets"

    @property
    def ledger_root(self) -> StorageRoot:
        """Where the erasure ledger lives: beside the datasets, not among them."""
        return self.storage / "ledger"

    @property
    def datasets_dir(self) -> Path:
        """The local folder of the dataset tables (for tools that read the disk; FatalError on S3)."""
        return self.datasets_root.path


def load_settings() -> Settings:
    """Read the settings from the environment."""
    return Settings()

"""Label Studio connector: review queues into Label Studio projects, annotations back as judgments.

A confluent-kafka loop, not Faust: its truth lives in Label Studio, and it commits input offsets
itself, only after Label Studio acknowledged the import of every task up to them.

- Projects: one per queue of the escalation policy (title `<prefix>flagstream <queue>`), created or
  updated at start from the queue's rubric (labeling config) and reviewers (overlap), with a
  "Priority order" data manager tab sorting by priority then deadline.
- Tasks: consumed from review.tasks.<queue>.v1 in batches, imported with one request per project,
  keyed by task id. The connector knows every task id Label Studio holds (read from Label Studio at
  start, kept up to date by its imports and reconciliations), so a replayed or re-delivered task is
  never imported twice, even after a crash between the import and the offset commit.
- Judgments: every `label_studio_poll_seconds` (and at start) the connector reads each project's
  annotations. Between polls, a webhook Label Studio calls on each annotation saved (registered on
  every project, served beside /metrics) makes the connector read that task at once. The webhook is
  only a hint: Label Studio sends it once, without retry, so the poll stays the source of truth.
  Each annotation version (id + updated_at) not yet in the ledger becomes one Judgment on
  review.judgments.v1, or, when it breaks its rubric, one record on review.judgments.v1.dlq with
  the reason (the task stays open). Once Kafka acknowledged them, the ledger
  (labeling.label_studio.ledger.v1, compacted, read back at start) records those versions as sent.
  A judgment's id is derived from the annotation version, so the one re-send a crash between the
  two can cause is the same judgment, which the review service counts once.
- Run one connector per deployment: reconciliation reads every project, not a partition of them.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from confluent_kafka import KafkaException, Message, Producer

from services.contracts import AvroCodec, ReviewTask, default_codec
from services.escalation.domain import load_escalation_policy
from services.label_studio.client import LabelStudio
from services.label_studio.domain import (
    TASK_KEY,
    annotation_version,
    judgment_from_annotation,
    labeling_config,
    order,
    rubric_for,
    task_data,
    webhook_hints,
)
from services.runtime import deadletter
from services.runtime.errors import DecodeError, FatalError, RetryableError, ValidationError
from services.runtime.kafka import make_consumer, make_producer, read_topic
from services.runtime.metrics import Metrics
from services.runtime.retry import RetryPolicy, RetryStopped
from services.runtime.settings import Settings
from services.runtime.topics import JUDGMENTS, LABEL_STUDIO_LEDGER, QUEUES, dlq, task_topic

SERVICE = "label_studio"
PRIORITY_VIEW = "Priority order"
FULL_SCAN_SECONDS = 60.0
"""A reconciliation reads every task of every project this often; the others read changed tasks only."""
SCAN_OVERLAP_SECONDS = 5.0
WEBHOOK_PATH = "/label-studio/webhook"
WEBHOOK_ACTIONS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_CREATED")
"""Label Studio actions the webhook is registered for: an annotation saved (or several at once)."""
WEBHOOK_MARK = "X-Flagstream-Connector"
"""Header Label Studio sends with the connector's webhooks: the deployment's consumer group, so the
connector recognises its own webhooks (and replaces them when its URL changes)."""
HINT_ATTEMPTS = 5
"""Reads of a hinted task that does not show the announced annotation yet, before the hint is left
to the poll."""

log = logging.getLogger(__name__)
RETRY = RetryPolicy(attempts=None, delay=0.5, backoff="exponential", max_delay=10.0)
"""Label Studio away: try again after 0.5 s, 1 s, 2 s, ... at most 10 s apart, until the loop stops."""
T = TypeVar("T")
_Out = tuple[str, bytes, bytes, Any]
"""One record to produce: registry topic name, key, value, headers (or None)."""


def project_title(settings: Settings, queue: str) -> str:
    """The title of a queue's project (Label Studio titles hold at most 50 characters)."""
    return f"{settings.topic_prefix}flagstream {queue}"[:50]


@dataclass
class Project:
    """A queue's Label Studio project and what the connector knows of it."""

    queue: str
    project_id: int
    view_id: int | None
    tasks: dict[str, int] = field(default_factory=dict)
    """Flagstream task id -> Label Studio task id, for every task the project holds."""


class Hints:
    """Tasks a webhook reported, waiting for the loop: filled by the HTTP thread, taken by the loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tasks: dict[int, tuple[frozenset[str], int]] = {}
        self._everything = False

    def add(self, task_id: int, annotation_id: str | None, attempts: int = 0) -> None:
        """Read this task soon, expecting that annotation in it (when known)."""
        with self._lock:
            announced, tried = self._tasks.get(task_id, (frozenset(), attempts))
            self._tasks[task_id] = (announced | ({annotation_id} if annotation_id else set()), tried)

    def add_all(self) -> None:
        """A webhook that names no task: read every project's changed tasks soon."""
        with self._lock:
            self._everything = True

    def take(self) -> tuple[dict[int, tuple[frozenset[str], int]], bool]:
        """Every waiting hint (task id -> (announced annotation ids, reads so far)), and whether a
        webhook named no task; the hints are gone afterwards."""
        with self._lock:
            tasks, everything = self._tasks, self._everything
            self._tasks, self._everything = {}, False
            return tasks, everything

    def put_back(self, tasks: dict[int, tuple[frozenset[str], int]], everything: bool) -> None:
        """Hints taken by a reconciliation that failed: keep them for the next attempt."""
        with self._lock:
            for task_id, (announced, tried) in tasks.items():
                mine, _ = self._tasks.get(task_id, (frozenset(), tried))
                self._tasks[task_id] = (announced | mine, tried)
            self._everything = self._everything or everything

    def __bool__(self) -> bool:
        with self._lock:
            return bool(self._tasks) or self._everything


class Connector:
    """The consume -> import -> commit loop and the reconciliation of annotations."""

    def __init__(self, settings: Settings, client: LabelStudio, metrics: Metrics, codec: AvroCodec) -> None:
        self.settings = settings
        self.client = client
        self.metrics = metrics
        self.codec = codec
        self.policy = load_escalation_policy(settings.escalation_policy)
        self.projects: dict[str, Project] = {}
        self.ledger: dict[str, str] = {}
        """Annotation id -> the last version sent (as a judgment or to the dead-letter topic)."""
        self.producer: Producer | None = None
        self.unsure: set[str] = set()
        """Queues whose last import failed: Label Studio may have taken it without answering."""
        self.last_reconcile = 0.0
        self.last_pass: datetime | None = None
        """When the last successful reconciliation began (this host's clock)."""
        self.last_full_scan: datetime | None = None
        self.hints = Hints()
        self.webhook_url: str | None = None
        """Where Label Studio should send annotation webhooks; None: no webhooks (poll only)."""

    # -- projects ------------------------------------------------------------------------------

    def project_fields(self, queue: str) -> dict[str, Any]:
        """The settings of a queue's project: config from its rubric, overlap from its reviewers."""
        spec = self.policy.queues[queue]
        rubric = rubric_for(spec.rubric_id)
        return {
            "title": project_title(self.settings, queue),
            "description": f"Flagstream review queue {queue}: rubric {rubric.rubric_id} "
            f"{spec.rubric_version}, {spec.reviewers} reviewer(s) per task, SLA {spec.sla_minutes} min.",
            "label_config": labeling_config(spec.rubric_id),
            "maximum_annotations": spec.reviewers,
            "sampling": "Sequential sampling",
            "show_collab_predictions": False,
            "show_annotation_history": False,
            "enable_empty_annotation": False,
        }

    def ensure_projects(self) -> None:
        """Create or update one project per policy queue, with its priority tab; learn its tasks."""
        existing = {p["title"]: p for p in self.client.projects()}
        for queue in QUEUES:
            if queue not in self.policy.queues:
                continue
            fields = self.project_fields(queue)
            found = existing.get(fields["title"])
            if found is None:
                project = self.client.create_project(fields)
                log.info("label_studio: created project %s for queue %s", project["id"], queue)
            else:
                project = self.client.update_project(int(found["id"]), fields)
            project_id = int(project["id"])
            view_id = self._priority_view(project_id)
            known = Project(queue, project_id, view_id)
            self._learn(known)
            self.projects[queue] = known
        log.info(
            "label_studio: %d projects on %s, %d tasks known",
            len(self.projects),
            self.client.url,
            sum(len(p.tasks) for p in self.projects.values()),
        )

    def _learn(self, project: Project) -> None:
        """Read every task id the project holds from Label Studio."""
        for task in self.client.tasks(project.project_id):
            key = (task.get("data") or {}).get(TASK_KEY)
            if key:
                project.tasks[str(key)] = int(task["id"])

    def _priority_view(self, project_id: int) -> int:
        for view in self.client.views(project_id):
            if (view.get("data") or {}).get("title") == PRIORITY_VIEW:
                return int(view["id"])
        view = self.client.create_view(
            project_id,
            {
                "title": PRIORITY_VIEW,
                "ordering": ["tasks:data.rank"],
                "filters": {"conjunction": "and", "items": []},
            },
        )
        return int(view["id"])

    def webhook_fields(self, url: str) -> dict[str, Any]:
        """The connector's webhook: annotation actions, the payload (for task ids), its mark."""
        return {
            "url": url,
            "send_payload": True,
            "send_for_all_actions": False,
            "actions": list(WEBHOOK_ACTIONS),
            "is_active": True,
            "headers": {WEBHOOK_MARK: self.settings.group(SERVICE)},
        }

    def ensure_webhooks(self) -> None:
        """One webhook of this connector per project, pointing at `webhook_url` (idempotent).

        The connector's own webhooks are those marked with its consumer group (or with its URL): one is
        kept or updated, the others (an earlier URL, a duplicate) are deleted, and with webhooks off all
        of them are. A server that refuses the URL (Label Studio's SSRF guard refuses loopback and
        private addresses unless SSRF_PROTECTION_ENABLED=false) leaves the connector polling only.
        """
        url = self.webhook_url
        try:
            for project in self.projects.values():
                self._ensure_webhook(project, url)
        except FatalError as exc:  # refused URL, no webhook permission, no webhook API
            log.warning("label_studio: webhooks refused (%s); reconciling by polling only", exc)
            self.metrics.outcome("webhook_refused", "label_studio")
            self.webhook_url = None
            return
        if url is not None:
            log.info("label_studio: webhooks on %d projects call %s", len(self.projects), url)

    def _ensure_webhook(self, project: Project, url: str | None) -> None:
        mark = self.settings.group(SERVICE)
        ours = [
            w
            for w in self.client.webhooks(project.project_id)
            if int(w.get("project") or -1) == project.project_id
            and ((w.get("headers") or {}).get(WEBHOOK_MARK) == mark or (url and w.get("url") == url))
        ]
        keep = next((w for w in ours if url and w.get("url") == url), None)
        for webhook in ours:
            if webhook is not keep:
                self.client.delete_webhook(int(webhook["id"]))
        if url is None:
            return
        fields = self.webhook_fields(url)
        if keep is None:
            self.client.create_webhook({**fields, "project": project.project_id})
        elif any(
            (sorted(keep.get(k) or []) if k == "actions" else keep.get(k))
            != (sorted(v) if k == "actions" else v)
            for k, v in fields.items()
        ):
            self.client.update_webhook(int(keep["id"]), fields)

    def webhook_app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """WSGI handler of the webhook (HTTP thread): note the tasks it names, answer at once."""

        def answer(status: str, body: bytes) -> list[bytes]:
            start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
            return [body]

        if environ.get("REQUEST_METHOD") != "POST":
            return answer("405 Method Not Allowed", b"POST only\n")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if not 0 < length <= self.settings.limits.record_bytes:
            return answer("413 Content Too Large", b"empty or too large\n")
        try:
            payload = json.loads(environ["wsgi.input"].read(length))
        except ValueError:
            return answer("400 Bad Request", b"not JSON\n")
        if not isinstance(payload, dict):
            return answer("400 Bad Request", b"not a JSON object\n")
        action = str(payload.get("action", ""))
        hinted = webhook_hints(payload)
        for task_id, annotation_id in hinted:
            self.hints.add(task_id, annotation_id)
        if not hinted:
            self.hints.add_all()
        self.metrics.outcome("webhook", action if action in WEBHOOK_ACTIONS else "other")
        return answer("200 OK", b"ok\n")

    # -- tasks in ------------------------------------------------------------------------------

    def import_batch(self, messages: list[Message]) -> int:
        """Import the batch's new tasks (one request per project, priority order); returns how many."""
        for queue in sorted(self.unsure):  # learn what a failed import left before importing again
            self._learn(self.projects[queue])
            self.unsure.discard(queue)
        fresh: dict[str, dict[str, ReviewTask]] = defaultdict(dict)
        for msg in messages:
            try:
                task = self.codec.decode(msg.value() or b"", ReviewTask)
            except DecodeError as exc:
                # The review service dead-letters undecodable tasks of the same topic; counted here.
                self.metrics.outcome("undecodable_task", exc.reason)
                continue
            project = self.projects.get(task.queue)
            if project is None:
                log.error(
                    "label_studio: task %s names queue %r, which has no project", task.task_id, task.queue
                )
                self.metrics.outcome("unknown_queue", "no_project")
                continue
            if task.task_id in project.tasks or task.task_id in fresh[task.queue]:
                self.metrics.outcome("duplicate_task", task.queue)
                continue
            fresh[task.queue][task.task_id] = task
        imported = 0
        for queue, tasks in fresh.items():
            project = self.projects[queue]
            ordered = order(tasks.values())
            for start in range(0, len(ordered), self.settings.label_studio_batch_tasks):
                chunk = ordered[start : start + self.settings.label_studio_batch_tasks]
                try:
                    ids = self.client.import_tasks(project.project_id, [task_data(t) for t in chunk])
                except RetryableError:
                    self.unsure.add(queue)
                    raise
                for task, ls_id in zip(chunk, ids, strict=True):
                    project.tasks[task.task_id] = ls_id
                self.metrics.outcome("imported", queue, len(chunk))
                imported += len(chunk)
        return imported

    # -- annotations out -----------------------------------------------------------------------

    def load_ledger(self) -> None:
        """Read the ledger topic to its end."""
        for msg in read_topic(self.settings, self.settings.topic(LABEL_STUDIO_LEDGER), timeout=60):
            if msg.key() is not None:
                entry = json.loads(msg.value() or b"{}")
                self.ledger[(msg.key() or b"").decode()] = str(entry.get("version", ""))
        log.info("label_studio: ledger holds %d annotation versions", len(self.ledger))

    def reconcile(self) -> int:
        """Send each annotation version not sent yet; returns how many were sent (judgment or DLQ).

        Every FULL_SCAN_SECONDS (and at start) every task is read; in between only the tasks Label
        Studio changed since the previous pass began, less SCAN_OVERLAP_SECONDS (saving or updating an
        annotation updates its task). The overlap absorbs clock skew between this host and Label
        Studio's; the full scans catch whatever a skewed clock or a filter change would still miss.
        """
        assert self.producer is not None
        started = datetime.now(UTC)
        full = (
            self.last_full_scan is None
            or (started - self.last_full_scan).total_seconds() >= FULL_SCAN_SECONDS
        )
        query: dict[str, Any] = {}
        if not full and self.last_pass is not None:
            since = self.last_pass - timedelta(seconds=SCAN_OVERLAP_SECONDS)
            query = {
                "filters": {
                    "conjunction": "and",
                    "items": [
                        {
                            "filter": "filter:tasks:updated_at",
                            "operator": "greater",
                            "type": "Datetime",
                            "value": since.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                        }
                    ],
                }
            }
        outputs: list[_Out] = []
        pending: dict[str, str] = {}
        for queue, project in self.projects.items():
            for task in self.client.tasks(project.project_id, **query):
                self._collect(queue, project, task, outputs, pending)
        if not outputs:
            self._scanned(started, full)
            return 0
        # Judgments (and dead letters) first, acknowledged, then their ledger entries: a crash between
        # the two re-sends those versions after the restart with the same judgment ids, which the review
        # service counts once (duplicate_judgment); the other order could lose them. Not a Kafka
        # transaction: its commit markers leave offset gaps that consumers of review.judgments.v1 (the
        # review service's Stage) read as lost records.
        self._emit(outputs, pending)
        self._scanned(started, full)
        return len(pending)

    def reconcile_hinted(self) -> int:
        """Read the tasks webhooks reported and send their new annotation versions; returns how many.

        The same ledger check as `reconcile`, in the same thread, so a version the poll sent (or will
        send) is sent once. A task that does not show the annotation its webhook announced yet is read
        again on the next turns of the loop (HINT_ATTEMPTS reads), then left to the poll.
        """
        tasks, everything = self.hints.take()
        try:
            if everything:
                return self.reconcile()  # a pass over the changed tasks of every project
            by_id = {p.project_id: (q, p) for q, p in self.projects.items()}
            outputs: list[_Out] = []
            pending: dict[str, str] = {}
            for task_id, (announced, attempts) in tasks.items():
                task = self.client.task(task_id)
                if task is None:
                    continue
                found = by_id.get(int(task.get("project") or -1))
                if found is None:
                    continue  # a task of a project this connector does not manage
                seen = {str(a.get("id")) for a in task.get("annotations") or []}
                if announced - seen and attempts + 1 < HINT_ATTEMPTS:
                    self.hints.add(task_id, None, attempts + 1)
                    for annotation_id in announced - seen:
                        self.hints.add(task_id, annotation_id, attempts + 1)
                self._collect(found[0], found[1], task, outputs, pending)
            if outputs:
                self._emit(outputs, pending)
            return len(pending)
        except RetryableError:
            self.hints.put_back(tasks, everything)
            raise

    def _collect(
        self, queue: str, project: Project, task: dict[str, Any], outputs: list[_Out], pending: dict[str, str]
    ) -> None:
        """Add the records of a task's annotation versions not sent yet (judgment or dead letter, then
        its ledger entry) to outputs."""
        data = task.get("data") or {}
        key = data.get(TASK_KEY)
        if not key:
            return
        project.tasks.setdefault(str(key), int(task["id"]))
        for annotation in task.get("annotations") or []:
            if annotation.get("was_cancelled"):
                continue  # skipped by the reviewer: no judgment
            annotation_id = str(annotation["id"])
            version = annotation_version(annotation)
            if self.ledger.get(annotation_id) == version or pending.get(annotation_id) == version:
                continue
            pending[annotation_id] = version
            outputs.append(self._output(queue, str(key), data, annotation))
            outputs.append(
                (
                    LABEL_STUDIO_LEDGER,
                    annotation_id.encode(),
                    json.dumps(
                        {"version": version, "task_id": str(key), "project": project.project_id}
                    ).encode(),
                    None,
                )
            )

    def _emit(self, outputs: list[_Out], pending: dict[str, str]) -> None:
        """Send the records, judgments (and dead letters) first and acknowledged, then the ledger."""
        self._send([o for o in outputs if o[0] != LABEL_STUDIO_LEDGER])
        self._send([o for o in outputs if o[0] == LABEL_STUDIO_LEDGER])
        self.ledger.update(pending)

    def _scanned(self, started: datetime, full: bool) -> None:
        self.last_pass = started
        if full:
            self.last_full_scan = started

    def _send(self, outputs: list[_Out]) -> None:
        assert self.producer is not None
        failures: list[str] = []

        def delivered(err: object, _msg: object) -> None:
            if err is not None:
                failures.append(str(err))

        for topic, key, value, headers in outputs:
            self.producer.produce(
                self.settings.topic(topic), key=key, value=value, headers=headers, on_delivery=delivered
            )
        remaining = self.producer.flush(30)
        if remaining or failures:
            raise RetryableError(f"{remaining} records unacknowledged, failures: {failures[:3]}")

    def _output(self, queue: str, task_id: str, data: dict[str, Any], annotation: dict[str, Any]) -> _Out:
        try:
            judgment = judgment_from_annotation(data, annotation)
        except ValidationError as exc:
            log.warning(
                "label_studio: annotation %s of task %s dead-lettered: %s", annotation["id"], task_id, exc
            )
            self.metrics.outcome("annotation_dead_lettered", exc.reason)
            # Only what the reviewer answered and where: not the reviewer's name or e-mail.
            record = {
                "task_id": task_id,
                "queue": queue,
                "label_studio_task": annotation.get("task"),
                "annotation_id": annotation["id"],
                "version": annotation_version(annotation),
                "reason": exc.reason,
                "result": annotation.get("result"),
            }
            # Not a Kafka record: the origin is the Label Studio project, with no partition or offset;
            # it goes to review.judgments.v1's dead letters, where its judgment would have gone.
            letter = deadletter.build(
                origin=f"label_studio:{queue}",
                partition=-1,
                offset=-1,
                key=task_id.encode(),
                value=json.dumps(record).encode(),
                error=exc,
                reason=exc.reason,
                service=SERVICE,
            )
            return dlq(JUDGMENTS), task_id.encode(), letter.value, letter.headers
        self.metrics.outcome("judgment_emitted", queue)
        return JUDGMENTS, task_id.encode(), self.codec.encode(judgment), None

    # -- the loop ------------------------------------------------------------------------------

    def _retry(self, what: str, stop: threading.Event, attempt: Callable[[], T]) -> T | None:
        """attempt(), retried while Label Studio is away (RETRY); None once `stop` is set."""

        def beat_then_attempt() -> T:
            self.metrics.health.beat()  # waiting for Label Studio is the loop turning, not a hang
            return attempt()

        def count(exc: BaseException, failures: int, wait: float) -> None:
            self.metrics.outcome("retried", "label_studio_unavailable")

        try:
            return RETRY.call(f"label_studio: {what}", beat_then_attempt, on_retry=count, stop=stop)
        except RetryStopped:
            return None

    def run(self, stop: threading.Event) -> None:
        """Until stop is set: import tasks, commit offsets after each import, reconcile annotations."""
        settings = self.settings
        self._retry("project set-up", stop, self.ensure_projects)
        self._retry("webhook set-up", stop, self.ensure_webhooks)
        if stop.is_set():
            return
        self.load_ledger()
        self.producer = make_producer(settings)
        self._retry("reconciliation", stop, self.reconcile)
        self.last_reconcile = time.monotonic()
        consumer = make_consumer(settings, settings.group(SERVICE))
        consumer.subscribe([settings.topic(task_topic(q)) for q in QUEUES])
        try:
            while not stop.is_set():
                self.metrics.health.beat()
                messages = [m for m in consumer.consume(num_messages=500, timeout=0.2) if not m.error()]
                if messages:
                    if self._retry("import", stop, functools.partial(self.import_batch, messages)) is None:
                        break  # stopping before Label Studio took the batch: offsets stay uncommitted
                    try:
                        consumer.commit(asynchronous=False)
                    except KafkaException as exc:  # a rebalance: the tasks are in Label Studio, the
                        # next commit (or a re-delivery, recognised by task id) covers these offsets
                        log.warning("label_studio: offset commit failed (%s)", exc)
                if self.hints:
                    self._retry("hinted reconciliation", stop, self.reconcile_hinted)
                if time.monotonic() - self.last_reconcile >= settings.label_studio_poll_seconds:
                    self._retry("reconciliation", stop, self.reconcile)
                    self.last_reconcile = time.monotonic()
        finally:
            consumer.close()
            self.producer.flush(30)


def run(settings: Settings, stop: threading.Event | None = None) -> None:
    """Run the connector as a process: metrics, then the loop until SIGTERM/SIGINT."""
    from services.local import interrupted
    from services.runtime.worker import provision

    provision(settings)
    metrics = Metrics(SERVICE)
    client = LabelStudio(settings.label_studio_url, settings.label_studio_api_key.get_secret_value())
    connector = Connector(settings, client, metrics, default_codec())
    port = metrics.serve(settings.metrics_port, settings.metrics_host, {WEBHOOK_PATH: connector.webhook_app})
    log.info("%s: metrics on http://%s:%d/metrics", SERVICE, settings.metrics_host, port)
    if settings.label_studio_webhooks:
        connector.webhook_url = webhook_url(settings, port)
    try:
        connector.run(stop or interrupted())
    finally:
        client.close()


def webhook_url(settings: Settings, port: int) -> str:
    """The URL Label Studio should call: the setting, else this process's metrics address."""
    if settings.label_studio_webhook_url:
        return settings.label_studio_webhook_url
    host = settings.metrics_host if settings.metrics_host not in ("", "0.0.0.0", "::") else "127.0.0.1"
    return f"http://{host}:{port}{WEBHOOK_PATH}"

"""The Label Studio connector against a real Label Studio server and the real broker.

Review tasks of every queue type land once each in their queue's project with the rubric's config;
annotations saved through the REST API (as the labeling page saves them) become judgments, then
resolutions and Delta rows; annotations that break the rubric are dead-lettered and the task stays
open; a connector SIGKILLed mid-import and mid-reconciliation duplicates nothing; canary PII planted
upstream reaches neither Label Studio's API nor its database file.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from deltalake import DeltaTable
from integration_support import env_of, free_port
from label_studio_support import (
    CODEC,
    LOCAL_DATA,
    SCRIPT,
    ConnectorProcess,
    ReviewerClient,
    ServiceProcess,
    judgments,
    projects_of,
    tasks_by_key,
    text,
    valid_result,
)
from test_review_service import Review

from services.contracts import Candidate, ResolvedJudgment, ReviewTask, Verdict, utcnow
from services.escalation.domain import load_escalation_policy
from services.label_studio.domain import TASK_KEY, labeling_config
from services.local import LocalStack, Progress, scrape, total, wait_until
from services.review.domain import Vote, adjudication_task, load_review_policy
from services.runtime.kafka import make_producer, read_topic
from services.runtime.metrics import PIPELINE as SERVICES
from services.runtime.pseudonyms import Pseudonymizer
from services.runtime.settings import REPO_ROOT, Settings
from services.runtime.topics import INTERACTIONS, JUDGMENTS, RESOLVED, dlq, task_topic
from services.simulators.label_studio_reviewers import LabelStudioReviewers
from services.simulators.traffic import generate
from tests.support.samples import sample_judgment, sample_redacted_interaction, sample_review_task

pytestmark = pytest.mark.integration

POLICY = load_escalation_policy(REPO_ROOT / "deploy" / "policies" / "escalation.yaml")


def _send(settings: Settings, *tasks: ReviewTask) -> None:
    producer = make_producer(settings)
    for task in tasks:
        producer.produce(
            settings.topic(task_topic(task.queue)), key=task.task_id.encode(), value=CODEC.encode(task)
        )
    assert producer.flush(30) == 0


def _task(queue: str, name: str, **changes: object) -> ReviewTask:
    spec = POLICY.queues[queue]
    now = utcnow()
    interaction_id = f"int-{name}-{uuid.uuid4().hex[:6]}"
    fields: dict[str, object] = {
        "task_id": f"task-{name}-{uuid.uuid4().hex[:6]}",
        "interaction_id": interaction_id,
        "queue": queue,
        "priority": spec.priority,
        "required_reviewers": spec.reviewers,
        "rubric_id": spec.rubric_id,
        "rubric_version": spec.rubric_version,
        "created_at": now,
        "deadline": now + timedelta(minutes=spec.sla_minutes),
        "interaction": sample_redacted_interaction(
            interaction_id=interaction_id, subject_pseudonym=f"sp-{name}"
        ),
    }
    fields.update(changes)
    return sample_review_task(**fields)


def _adjudication_task() -> ReviewTask:
    disputed = _task("urgent", "disputed")
    votes = [
        Vote(
            sample_judgment(task_id=disputed.task_id, judgment_id=f"j-{n}", verdict=v), reviewer=f"r{n}" * 32
        )
        for n, v in enumerate((Verdict.safe, Verdict.unsafe))
    ]
    spec = load_review_policy(REPO_ROOT / "deploy" / "policies" / "review.yaml").adjudication
    return adjudication_task(disputed, votes, spec, utcnow())


def _every_queue_type() -> dict[str, ReviewTask]:
    preference = sample_redacted_interaction(
        interaction_id=f"int-preference-{uuid.uuid4().hex[:6]}",
        candidates=[Candidate(candidate_id="cand-b", content="Here is a kinder reply.")],
    )
    tasks = {
        "urgent": _task("urgent", "urgent"),
        "borderline": _task("borderline", "borderline"),
        "over_refusal": _task("over_refusal", "refusal"),
        "preference": _task(
            "preference", "preference", interaction=preference, interaction_id=preference.interaction_id
        ),
        "calibration": _task("calibration", "calibration"),
        "adjudication": _adjudication_task(),
    }
    return tasks


def _no_gold_review_policy(tmp_path: Path) -> Path:
    document = yaml.safe_load((REPO_ROOT / "deploy" / "policies" / "review.yaml").read_text())
    document["gold_rates"] = {}
    path = tmp_path / "review.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_tasks_of_every_queue_land_once_and_annotations_become_delta_rows(
    settings: Settings, tmp_path: Path, label_studio: ReviewerClient, cleanup: None
) -> None:
    review = Review(settings, tmp_path, _no_gold_review_policy(tmp_path))
    sink = ServiceProcess(settings, tmp_path, "dataset_sink")
    connector = ConnectorProcess(settings, tmp_path)
    review.start()
    sink.start()
    connector.start()
    try:
        # policy_review gets three tasks whose arrival order is not their priority order.
        later = _task("policy_review", "later")  # priority 1, deadline in 24 h
        _send(settings, later)
        assert wait_until(lambda: connector.metric("flagstream_events_total", outcome="imported") >= 1, 90)
        soon = _task("policy_review", "soon", deadline=utcnow() + timedelta(hours=1))
        first = _task("policy_review", "first", priority=0, deadline=utcnow() + timedelta(hours=48))
        tasks = {**_every_queue_type(), "policy_review": later}
        everything = [*tasks.values(), soon, first]
        _send(settings, *everything, *everything)  # every task delivered twice: a replay

        expected = {q: {t.task_id for t in everything if t.queue == q} for q in POLICY.queues}

        def landed() -> bool:
            projects = projects_of(label_studio, settings)
            return all(
                set(tasks_by_key(label_studio, int(projects[q]["id"]))) == ids for q, ids in expected.items()
            )

        assert wait_until(landed, 60), f"tasks did not land; see {connector.log}"
        assert wait_until(
            lambda: connector.metric("flagstream_events_total", outcome="duplicate_task") >= 1, 30
        )
        projects = projects_of(label_studio, settings)
        by_queue = {q: tasks_by_key(label_studio, int(p["id"])) for q, p in projects.items()}
        for queue, found in by_queue.items():
            assert all(len(copies) == 1 for copies in found.values()), f"duplicate task in {queue}"
            project = projects[queue]
            spec = POLICY.queues[queue]
            assert project["label_config"].strip() == labeling_config(spec.rubric_id).strip()
            assert project["maximum_annotations"] == spec.reviewers
        # Reviewers see redacted content and no gold flag or subject pseudonym.
        urgent = by_queue["urgent"][tasks["urgent"].task_id][0]
        assert urgent["data"]["response"] == tasks["urgent"].interaction.response
        assert "is_gold" not in repr(urgent) and "sp-urgent" not in repr(urgent)
        adjudication = next(iter(by_queue["adjudication"].values()))[0]
        assert adjudication["data"]["prior_verdicts"] == "reviewer 1: safe, reviewer 2: unsafe"

        # "Label all tasks" from the priority tab opens the most urgent, earliest-deadline task first.
        view = next(v for v in label_studio.views(int(projects["policy_review"]["id"])))
        opened = label_studio.next_task(int(projects["policy_review"]["id"]), int(view["id"]))
        assert opened is not None and opened["data"][TASK_KEY] == first.task_id
        assert opened["data"][TASK_KEY] != later.task_id  # first imported, but last in priority order

        # An annotation that breaks the rubric is dead-lettered and the task stays open.
        borderline = by_queue["borderline"][tasks["borderline"].task_id][0]
        broken = [r for r in valid_result("harm-severity") if r["from_name"] != "rationale"]
        bad = label_studio.create_annotation(int(borderline["id"]), broken)
        assert wait_until(lambda: len(read_topic(settings, settings.topic(dlq(JUDGMENTS)))) >= 1, 60), (
            f"no dead letter; see {connector.log}"
        )
        [dead] = read_topic(settings, settings.topic(dlq(JUDGMENTS)))
        headers = {k: (v or b"").decode() for k, v in dead.headers() or []}
        assert headers["dlq.error.reason"] == "missing_rationale"
        assert connector.metric("flagstream_events_total", outcome="annotation_dead_lettered") == 1
        assert all(j.task_id != tasks["borderline"].task_id for j in judgments(settings))

        # Valid annotations on every task, and the broken one fixed by its reviewer.
        annotated = [*tasks.values(), soon, first]
        for task in annotated:
            if task.queue == "borderline":
                continue
            ls_task = by_queue[task.queue][task.task_id][0]
            label_studio.create_annotation(int(ls_task["id"]), valid_result(task.rubric_id))
        label_studio.update_annotation(int(bad["id"]), [*broken, text("rationale", "Insults a coworker.")])

        def judged() -> bool:
            return {j.task_id for j in judgments(settings)} == {t.task_id for t in annotated}

        assert wait_until(judged, 60), f"not every annotation became a judgment; see {connector.log}"
        sent = judgments(settings)
        assert len({j.judgment_id for j in sent}) == len(sent) == len(annotated)
        me = label_studio.whoami()
        assert {j.reviewer_id for j in sent} == {f"label-studio:{me['id']}"}
        assert all(me["email"] not in repr(j) for j in sent)

        # urgent needs two reviewers: one annotation keeps it open; every other task resolves.
        resolvable = {t.task_id for t in annotated if t.queue != "urgent"}

        def resolved() -> set[str]:
            return {
                CODEC.decode(m.value() or b"", ResolvedJudgment).task.task_id
                for m in read_topic(settings, settings.topic(RESOLVED))
            }

        assert wait_until(lambda: resolved() == resolvable, 90), f"resolved {resolved()} of {resolvable}"
        table = settings.datasets_dir / "safety_labels"

        def rows() -> int:
            try:
                return int(DeltaTable(str(table)).to_pyarrow_table().num_rows)
            except Exception:  # not created yet
                return 0

        assert wait_until(lambda: rows() >= len(resolvable), 90), f"{rows()} Delta rows"
        # The review service accepted every judgment: the connector's dead letter is the only one.
        assert len(read_topic(settings, settings.topic(dlq(JUDGMENTS)))) == 1
        delta = DeltaTable(str(table)).to_pyarrow_table()
        assert sorted(delta.column("task_id").to_pylist()) == sorted(resolvable)
        pseudonym = Pseudonymizer(settings.pseudonym_key_bytes, settings.pseudonym_key_id).pseudonymize(
            f"label-studio:{me['id']}"
        )
        assert all(pseudonym in r for r in delta.column("reviewer_pseudonyms").to_pylist())
    finally:
        connector.stop()
        sink.stop()
        review.stop()


def test_connector_sigkilled_mid_import_and_mid_reconciliation_duplicates_nothing(
    settings: Settings, tmp_path: Path, label_studio: ReviewerClient, cleanup: None
) -> None:
    tasks = [_task("policy_review", f"k{n}") for n in range(120)]
    _send(settings, *tasks)
    review = Review(settings, tmp_path, _no_gold_review_policy(tmp_path))
    sink = ServiceProcess(settings, tmp_path, "dataset_sink")
    connector = ConnectorProcess(settings, tmp_path, FLAGSTREAM_LABEL_STUDIO_BATCH_TASKS="5")
    connector.start()
    review.start()
    sink.start()
    try:

        def imported() -> dict[str, list[dict[str, object]]]:
            projects = projects_of(label_studio, settings)
            if "policy_review" not in projects:
                return {}
            return tasks_by_key(label_studio, int(projects["policy_review"]["id"]))

        assert wait_until(lambda: len(imported()) >= 10, 90, interval=0.1), f"see {connector.log}"
        connector.kill()
        partial = len(imported())
        assert partial < len(tasks), "the import finished before the kill: nothing was tested"
        connector.start()

        def diagnosis() -> str:
            found = imported()
            strangers = [
                {k: v for k, v in found[k][0]["data"].items() if k not in ("conversation", "response")}
                | {"ls_id": found[k][0]["id"], "project": found[k][0]["project"]}
                for k in sorted(set(found) - {t.task_id for t in tasks})[:3]
            ]
            copies = sum(len(c) for c in found.values())
            return (
                f"{len(found)} task ids, {copies} tasks, ids not produced: {strangers}; see {connector.log}"
            )

        assert wait_until(lambda: len(imported()) == len(tasks), 90), diagnosis()
        _send(settings, *tasks[:40])  # a replay after the restart
        assert wait_until(
            lambda: connector.metric("flagstream_events_total", outcome="duplicate_task") >= 40, 60
        )
        found = imported()
        assert sorted(found) == sorted(t.task_id for t in tasks)
        assert all(len(copies) == 1 for copies in found.values())

        # Annotate 30 tasks; kill the connector as soon as the first judgment is out.
        chosen = tasks[:30]
        for task in chosen:
            label_studio.create_annotation(int(found[task.task_id][0]["id"]), valid_result("harm-severity"))
        assert wait_until(lambda: len(judgments(settings)) >= 1, 60, interval=0.1)
        connector.kill()
        connector.start()
        assert wait_until(lambda: len({j.task_id for j in judgments(settings)}) == 30, 60)
        time.sleep(3)  # several reconciliations after the restart
        sent = judgments(settings)
        # One judgment per annotation. A kill between a judgment's acknowledgement and its ledger entry
        # may re-send it: the same judgment (same id, same content), which review counts once.
        assert len({j.judgment_id for j in sent}) == 30
        assert len({j.model_dump_json() for j in sent}) == 30
        assert len(imported()) == len(tasks)
        table = settings.datasets_dir / "safety_labels"

        def rows() -> list[str]:
            try:
                return list(DeltaTable(str(table)).to_pyarrow_table().column("task_id").to_pylist())
            except Exception:  # not created yet
                return []

        assert wait_until(lambda: len(rows()) >= 30, 90), f"{len(rows())} Delta rows"
        time.sleep(2)
        assert sorted(rows()) == sorted(t.task_id for t in chosen)
    finally:
        connector.stop()
        sink.stop()
        review.stop()


CANARIES = ("canary.ls.q7z@example.com", "+1 415 555 0199", "4556 7375 8689 9855")
ID_CANARY = "lscanary4k1"
EVENTS = 400


def test_canary_pii_planted_upstream_never_reaches_label_studio(
    settings: Settings, tmp_path: Path, label_studio: ReviewerClient, cleanup: None
) -> None:
    ports = {name: free_port() for name in SERVICES}
    stack = LocalStack(settings, log_dir=tmp_path / "log", env=env_of(settings), ports=ports)
    connector = ConnectorProcess(settings, tmp_path)
    stack.start()
    connector.start()
    try:
        producer = make_producer(settings)
        for record in generate(
            EVENTS, seed=14, malformed_rate=0.0, text_canaries=CANARIES, id_canary=ID_CANARY, codec=CODEC
        ):
            producer.produce(settings.topic(INTERACTIONS), key=record.key, value=record.value)
        assert producer.flush(60) == 0

        def metric(service: str, name: str) -> float:
            stack.check()
            try:
                return total(scrape(ports[service]), name)
            except OSError:  # not serving yet
                return 0.0

        def routed() -> float:
            return metric("escalation", "flagstream_routed_total")

        def gated() -> float:
            return metric("privacy_gate", "flagstream_events_total")

        assert wait_until(lambda: gated() >= EVENTS, 180, interval=1.0), f"gate saw {gated()}"

        def in_label_studio() -> list[str]:
            return [
                repr(t)
                for p in projects_of(label_studio, settings).values()
                for t in label_studio.tasks(int(p["id"]))
            ]

        def escalation_done() -> bool:  # every event the gate kept has its escalation outcome
            stack.check()
            progress = Progress.read(ports)
            outcomes = sum(
                progress.escalation.get(o, 0) for o in ("routed", "not_escalated", "dead_lettered")
            )
            return progress.gated >= EVENTS and outcomes >= progress.passed_gate

        assert wait_until(escalation_done, 180, interval=1.0), "escalation did not finish"
        # Every routed task (and the gold tasks review injects) lands.
        assert wait_until(lambda: len(in_label_studio()) >= routed() > 0, 120, interval=2.0), (
            f"{len(in_label_studio())} tasks in Label Studio, {routed()} routed; see {connector.log}"
        )
        blobs = in_label_studio()
        assert len(blobs) >= routed() >= 20, f"only {routed()} tasks routed: too few to test"
        print(f"{len(blobs)} Label Studio tasks from {routed():.0f} routed of {EVENTS} events")
        # The canaries were planted: they are in the raw ingress topic.
        raw = b"".join(m.value() or b"" for m in read_topic(settings, settings.topic(INTERACTIONS)))
        assert all(c.encode() in raw for c in (*CANARIES, ID_CANARY))
        api = "\n".join(blobs)
        for canary in (*CANARIES, ID_CANARY):
            assert canary not in api, f"{canary} reached Label Studio's API"
        if LOCAL_DATA.exists():  # the local server's SQLite database (and its write-ahead log)
            for path in LOCAL_DATA.glob("label_studio.sqlite3*"):
                content = path.read_bytes()
                for canary in (*CANARIES, ID_CANARY):
                    assert canary.encode() not in content, f"{canary} in {path}"
    finally:
        connector.stop()
        stack.stop()


def test_label_studio_restarted_while_reviewers_annotate_loses_and_repeats_no_judgment(
    settings: Settings, tmp_path: Path, label_studio: ReviewerClient, cleanup: None
) -> None:
    status = subprocess.run([str(SCRIPT), "status"], capture_output=True, text=True, cwd=REPO_ROOT)
    if os.environ.get("LABEL_STUDIO_URL") or not status.stdout.startswith("running"):
        pytest.skip("stops and starts Label Studio: needs the local server of this checkout")
    tasks = [_task("policy_review", f"o{n}") for n in range(10)]
    _send(settings, *tasks)
    connector = ConnectorProcess(settings, tmp_path)
    connector.start()
    try:

        def imported() -> dict[str, list[dict[str, object]]]:
            projects = projects_of(label_studio, settings)
            if "policy_review" not in projects:
                return {}
            return tasks_by_key(label_studio, int(projects["policy_review"]["id"]))

        assert wait_until(lambda: len(imported()) == len(tasks), 90), f"see {connector.log}"
        found = imported()
        for task in tasks[:5]:
            label_studio.create_annotation(int(found[task.task_id][0]["id"]), valid_result("harm-severity"))
        subprocess.run([str(SCRIPT), "down"], check=True, cwd=REPO_ROOT)  # no webhook, no API for a while
        assert wait_until(lambda: connector.metric("flagstream_events_total", outcome="retried") >= 1, 30)
        subprocess.run([str(SCRIPT), "up"], check=True, cwd=REPO_ROOT)
        for task in tasks[5:]:
            label_studio.create_annotation(int(found[task.task_id][0]["id"]), valid_result("harm-severity"))
        assert wait_until(lambda: len({j.task_id for j in judgments(settings)}) == 10, 60), (
            f"see {connector.log}"
        )
        time.sleep(2)  # more reconciliations
        sent = judgments(settings)
        assert len(sent) == 10 and len({j.judgment_id for j in sent}) == 10
        assert connector.alive()
    finally:
        connector.stop()


def test_simulated_reviewers_annotate_in_label_studio_until_every_queue_resolves(
    settings: Settings, tmp_path: Path, label_studio: ReviewerClient, cleanup: None
) -> None:
    review = Review(settings, tmp_path, _no_gold_review_policy(tmp_path))
    connector = ConnectorProcess(settings, tmp_path)
    review.start()
    connector.start()
    tasks = [*_every_queue_type().values(), _task("policy_review", "sim")]
    _send(settings, *tasks)
    reviewers = LabelStudioReviewers(settings, agreement=1.0, interval_seconds=0.5)
    worker = threading.Thread(target=reviewers.run, daemon=True)
    worker.start()
    try:

        def resolved() -> set[str]:
            return {
                CODEC.decode(m.value() or b"", ResolvedJudgment).task.task_id
                for m in read_topic(settings, settings.topic(RESOLVED))
            }

        # urgent needs two reviewers: two distinct Label Studio users annotate it.
        assert wait_until(lambda: resolved() == {t.task_id for t in tasks}, 120), (
            f"resolved {resolved()}; see {connector.log}, {review.log}"
        )
        sent = judgments(settings)
        urgent = [j for j in sent if j.queue == "urgent"]
        assert len({j.reviewer_id for j in urgent}) == 2
        assert len(sent) == len(tasks) + 1
    finally:
        reviewers.stop.set()
        worker.join(30)
        connector.stop()
        review.stop()

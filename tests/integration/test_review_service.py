"""The review service on the real broker: consensus, adjudication, gold scoring, dead letters, restarts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from integration_support import env_of, free_port

from services.contracts import Judgment, ResolvedJudgment, ReviewTask, Verdict, default_codec, utcnow
from services.contracts.samples import sample_judgment, sample_redacted_interaction, sample_review_task
from services.local import scrape, total, wait_until
from services.review.domain import adjudication_task_id, resolution_id_for
from services.runtime.kafka import make_producer, read_topic
from services.runtime.settings import REPO_ROOT, Settings
from services.runtime.topics import JUDGMENTS, RESOLVED, dlq, task_topic

CODEC = default_codec()


class Review:
    """The review worker as a child process."""

    def __init__(self, settings: Settings, tmp_path: Path, policy: Path) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            **env_of(settings),
            "FLAGSTREAM_METRICS_PORT": str(self.port),
            "FLAGSTREAM_REVIEW_POLICY": str(policy),
        }
        self.log = tmp_path / "review.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "worker", "review"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=REPO_ROOT,
            )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def metric(self, name: str, **labels: str) -> float:
        try:
            return total(scrape(self.port), name, **labels)
        except OSError:
            return 0.0


@pytest.fixture
def review_policy(tmp_path: Path) -> Path:
    """The shipped review policy with every urgent task injecting a gold task, and none elsewhere."""
    document = yaml.safe_load((REPO_ROOT / "deploy" / "policies" / "review.yaml").read_text())
    document["gold_rates"] = {"urgent": 1.0}
    path = tmp_path / "review.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture
def review(settings: Settings, tmp_path: Path, review_policy: Path) -> Iterator[Review]:
    worker = Review(settings, tmp_path, review_policy)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


def _task(n: int, queue: str, reviewers: int) -> ReviewTask:
    now = utcnow()
    return sample_review_task(
        task_id=f"task-{n}",
        interaction_id=f"int-{n}",
        queue=queue,
        required_reviewers=reviewers,
        created_at=now,
        deadline=now + timedelta(hours=1),
        interaction=sample_redacted_interaction(interaction_id=f"int-{n}", subject_pseudonym=f"sp-{n}"),
    )


def _judgment(task: ReviewTask, reviewer: str, verdict: Verdict, **changes: object) -> Judgment:
    fields: dict[str, object] = {
        "judgment_id": f"j-{task.task_id}-{reviewer}",
        "task_id": task.task_id,
        "interaction_id": task.interaction_id,
        "queue": task.queue,
        "reviewer_id": reviewer,
        "verdict": verdict,
    }
    return sample_judgment(**{**fields, **changes})


def _send(settings: Settings, *records: ReviewTask | Judgment) -> None:
    producer = make_producer(settings)
    for record in records:
        topic = task_topic(record.queue) if isinstance(record, ReviewTask) else JUDGMENTS
        producer.produce(settings.topic(topic), key=record.task_id.encode(), value=CODEC.encode(record))
    assert producer.flush(30) == 0


def _resolved(settings: Settings) -> dict[str, ResolvedJudgment]:
    records = read_topic(settings, settings.topic(RESOLVED))
    decoded = [CODEC.decode(m.value() or b"", ResolvedJudgment) for m in records]
    by_id = {r.resolution_id: r for r in decoded}
    assert len(by_id) == len(decoded), "a task was resolved twice"
    return by_id


def _await(predicate: Callable[[], bool], what: str, review: Review) -> None:
    assert wait_until(predicate, timeout=180, interval=0.5), f"{what}; log:\n{review.log.read_text()[-3000:]}"


def test_consensus_adjudication_gold_and_bad_judgments(settings: Settings, review: Review) -> None:
    agree, split, early, solo, unfit = (
        _task(1, "urgent", 2),
        _task(2, "urgent", 2),
        _task(3, "borderline", 1),
        _task(4, "policy_review", 1),
        _task(5, "policy_review", 1),
    )
    # Both overtake their tasks; the second waits, then is dead-lettered when its task comes.
    waited_wrong = _judgment(unfit, "r4", Verdict.safe, queue="borderline", judgment_id="j-waited-wrong")
    _send(settings, _judgment(early, "r1", Verdict.safe), waited_wrong)
    _send(settings, agree, split, early, solo, unfit)
    _send(
        settings,
        _judgment(agree, "r1", Verdict.unsafe),
        _judgment(agree, "r1", Verdict.unsafe),  # a replay: counted once
        _judgment(agree, "r1", Verdict.safe, judgment_id="j-again"),  # the same reviewer again: once
        _judgment(agree, "r2", Verdict.unsafe),
        _judgment(split, "r1", Verdict.unsafe),
        _judgment(split, "r2", Verdict.safe),
        _judgment(solo, "r3", Verdict.unsafe, queue="borderline", judgment_id="j-wrong-queue"),
        _judgment(_task(99, "borderline", 1), "r3", Verdict.safe),  # its task never comes: it waits
    )
    # Disagreement opened an adjudication task carrying both votes.
    adjudications: list[ReviewTask] = []

    def adjudication_opened() -> bool:
        adjudications[:] = [
            CODEC.decode(m.value() or b"", ReviewTask)
            for m in read_topic(settings, settings.topic(task_topic("adjudication")))
        ]
        return bool(adjudications)

    _await(adjudication_opened, "no adjudication task", review)
    (adjudication,) = adjudications
    assert adjudication.task_id == adjudication_task_id(split.task_id)
    assert adjudication.adjudicates == split.task_id
    assert sorted(adjudication.prior_verdicts) == ["safe", "unsafe"]
    _send(settings, _judgment(adjudication, "r9", Verdict.unsafe), _judgment(solo, "r3", Verdict.safe))

    # Gold tasks were injected for both urgent tasks; score one right and one wrong.
    golds: list[ReviewTask] = []

    def gold_injected() -> bool:
        golds[:] = [
            t
            for m in read_topic(settings, settings.topic(task_topic("urgent")))
            if (t := CODEC.decode(m.value() or b"", ReviewTask)).is_gold
        ]
        return len(golds) == 2

    _await(gold_injected, "gold tasks not injected", review)
    _send(settings, _judgment(golds[0], "r1", Verdict.unsafe), _judgment(golds[1], "r2", Verdict.safe))

    resolved: dict[str, ResolvedJudgment] = {}

    def settled() -> bool:
        resolved.update(_resolved(settings))
        gold_scored = review.metric("flagstream_review_gold_judgments_total")
        return len(resolved) == 4 and gold_scored == 2

    _await(settled, f"not settled: {sorted(resolved)}", review)
    by_task = {r.task.adjudicates or r.task.task_id: r for r in resolved.values()}
    assert set(by_task) == {agree.task_id, split.task_id, early.task_id, solo.task_id}
    assert by_task[agree.task_id].method == "consensus"
    assert len(by_task[agree.task_id].reviewer_pseudonyms) == 2
    assert by_task[split.task_id].method == "adjudicated"
    assert by_task[split.task_id].resolution_id == resolution_id_for(split.task_id)
    assert by_task[split.task_id].agreement == pytest.approx(2 / 3)
    assert by_task[early.task_id].method == "single"
    assert by_task[solo.task_id].verdict is Verdict.safe
    assert not any(r.task.is_gold or r.task.interaction_id.startswith("gold-") for r in resolved.values())
    # No raw reviewer id leaves the service.
    assert not {"r1", "r2", "r3", "r9"} & {p for r in resolved.values() for p in r.reviewer_pseudonyms}
    assert review.metric("flagstream_review_gold_judgments_total", result="correct") == 1
    assert review.metric("flagstream_review_gold_judgments_total", result="incorrect") == 1
    assert review.metric("flagstream_events_total", outcome="duplicate_judgment") == 1
    assert review.metric("flagstream_events_total", outcome="duplicate_reviewer") == 1
    assert review.metric("flagstream_events_total", outcome="adjudication_opened") == 1
    # units (unsafe, unsafe) and (unsafe, safe): observed disagreement equals chance, alpha = 0
    alpha = [
        v for (name, labels), v in scrape(review.port).items() if name == "flagstream_review_agreement_alpha"
    ]
    assert alpha == [pytest.approx(0.0)]

    # Each dead letter names its judgment's true position in review.judgments.v1 (what `flagstream
    # dlq` shows and replays by): the one dead-lettered as it came, and the one that waited for its task.
    dead: list[Any] = []

    def dead_lettered() -> bool:
        dead[:] = read_topic(settings, settings.topic(dlq(JUDGMENTS)))
        return len(dead) >= 2

    _await(dead_lettered, "two dead letters", review)
    positions = {
        CODEC.decode(m.value() or b"", Judgment).judgment_id: (m.partition(), m.offset())
        for m in read_topic(settings, settings.topic(JUDGMENTS))
    }
    letters = {CODEC.decode(m.value() or b"", Judgment).judgment_id: m for m in dead}
    assert sorted(letters) == ["j-waited-wrong", "j-wrong-queue"]
    for judgment_id, letter in letters.items():
        headers = {k: (v or b"").decode() for k, v in letter.headers() or []}
        assert headers["dlq.error.reason"] == "wrong_queue"
        assert headers["dlq.origin.topic"] == JUDGMENTS
        assert headers["dlq.service"] == "review"
        position = int(headers["dlq.origin.partition"]), int(headers["dlq.origin.offset"])
        assert position == positions[judgment_id], judgment_id
    assert letters["j-waited-wrong"].key() == unfit.task_id.encode()

    # A late judgment for a settled task is recorded, not counted.
    _send(settings, _judgment(agree, "r7", Verdict.safe))
    _await(lambda: review.metric("flagstream_events_total", outcome="late_judgment") == 1, "late", review)
    assert len(_resolved(settings)) == 4

    def gauges() -> bool:  # the two gold tasks each wait for their second reviewer
        return review.metric("flagstream_review_open_tasks", queue="urgent") == 2 and (
            review.metric("flagstream_review_oldest_open_task_seconds", queue="urgent") > 0
        )

    _await(gauges, "queue gauges", review)


def test_votes_survive_a_restart(settings: Settings, review: Review) -> None:
    task = _task(7, "urgent", 2)
    _send(settings, task, _judgment(task, "r1", Verdict.unsafe))
    _await(
        lambda: review.metric("flagstream_events_total", outcome="judgment_counted") == 1,
        "first vote",
        review,
    )
    review.stop()
    review.start()  # the open task and its first vote come back from the table changelogs
    _send(settings, task, _judgment(task, "r1", Verdict.unsafe), _judgment(task, "r2", Verdict.unsafe))

    def resolved_once() -> bool:
        found = _resolved(settings)
        return len(found) == 1 and next(iter(found.values())).method == "consensus"

    _await(resolved_once, "not resolved after restart", review)
    (resolved,) = _resolved(settings).values()
    assert len(resolved.reviewer_pseudonyms) == 2
    # the resent task and first judgment are recognised (more than once if the stop came before the
    # offsets were committed: at least once, deduplicated on ids)
    assert review.metric("flagstream_events_total", outcome="duplicate_task") >= 1
    assert review.metric("flagstream_events_total", outcome="duplicate_judgment") >= 1

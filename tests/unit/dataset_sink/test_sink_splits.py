"""assign_split: stable keyed hash, one conversation in one split, the asked-for heldout share."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sink_factories import make_resolved

from services.contracts.models import ResolvedJudgment
from services.dataset_sink.domain import assign_split, split_key
from services.runtime.errors import FatalError

SALT = "flagstream-2025"
REPO = Path(__file__).resolve().parents[3]


def test_split_is_pinned() -> None:
    # Changing the hash would silently move examples between train and heldout across dataset versions.
    got = [assign_split(f"int-{i}", salt=SALT, heldout_fraction=0.1) for i in range(20)]
    assert got == ["heldout"] + ["train"] * 19


def test_split_is_stable_across_processes() -> None:
    code = (
        "from services.dataset_sink.domain import assign_split;"
        f"print(','.join(assign_split(f'k{{i}}', salt={SALT!r}, heldout_fraction=0.3) for i in range(200)))"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    here = ",".join(assign_split(f"k{i}", salt=SALT, heldout_fraction=0.3) for i in range(200))
    assert other.stdout.strip() == here


def test_salt_draws_a_different_split() -> None:
    keys = [f"k{i}" for i in range(2000)]
    a = [assign_split(k, salt="a", heldout_fraction=0.5) for k in keys]
    b = [assign_split(k, salt="b", heldout_fraction=0.5) for k in keys]
    assert 0.4 < sum(x != y for x, y in zip(a, b, strict=True)) / len(keys) < 0.6


def _with_text(n: int, request: str, response: str, **task: object) -> ResolvedJudgment:
    resolved = make_resolved(n)
    interaction = resolved.task.interaction
    messages = [*interaction.messages[:-1], interaction.messages[-1].model_copy(update={"content": request})]
    interaction = interaction.model_copy(update={"messages": messages, "response": response})
    return resolved.model_copy(
        update={"task": resolved.task.model_copy(update={"interaction": interaction, **task})}
    )


def test_one_conversation_shares_a_split_whatever_its_ids_queue_or_cluster() -> None:
    for c in range(200):
        request, response = f"How do I fix problem {c}? <PERSON_1> asked.", f"Try fix number {c}."
        members = [
            _with_text(c * 10, request, response),
            _with_text(c * 10 + 1, request, response, queue="urgent", cluster_id=None),
            _with_text(c * 10 + 2, request, response, queue="borderline", cluster_id=f"cl-{c}"),
            # placeholder numbering, case and spacing do not make another conversation
            _with_text(c * 10 + 3, request.replace("<PERSON_1>", "<PERSON_2>").upper(), f" {response} "),
        ]
        assert len({split_key(m) for m in members}) == 1
        assert len({assign_split(split_key(m), salt=SALT, heldout_fraction=0.5) for m in members}) == 1


def test_other_conversations_get_other_keys() -> None:
    a = _with_text(1, "How do I boil an egg?", "Six minutes.")
    assert split_key(a) != split_key(_with_text(1, "How do I boil an egg?", "Eight minutes."))
    assert split_key(a) != split_key(_with_text(1, "How do I boil two eggs?", "Six minutes."))
    assert split_key(a).startswith("conversation:")


@pytest.mark.parametrize("fraction", [0.05, 0.1, 0.2, 0.5])
def test_heldout_share_is_close_to_the_fraction(fraction: float) -> None:
    n = 10_000
    heldout = sum(
        assign_split(f"int-{i:06d}", salt=SALT, heldout_fraction=fraction) == "heldout" for i in range(n)
    )
    # 4 standard deviations of a binomial(n, fraction): fails by chance about once in 16 000 runs
    assert abs(heldout / n - fraction) < 4 * (fraction * (1 - fraction) / n) ** 0.5


def test_extremes_and_monotone_growth() -> None:
    keys = [f"k{i}" for i in range(1000)]
    assert {assign_split(k, salt=SALT, heldout_fraction=0.0) for k in keys} == {"train"}
    assert {assign_split(k, salt=SALT, heldout_fraction=1.0) for k in keys} == {"heldout"}
    small = {k for k in keys if assign_split(k, salt=SALT, heldout_fraction=0.1) == "heldout"}
    large = {k for k in keys if assign_split(k, salt=SALT, heldout_fraction=0.2) == "heldout"}
    assert small < large  # growing the heldout share never moves a heldout example back into train


@pytest.mark.parametrize("fraction", [-0.1, 1.5, float("nan")])
def test_fraction_out_of_range_is_fatal(fraction: float) -> None:
    with pytest.raises(FatalError):
        assign_split("k", salt=SALT, heldout_fraction=fraction)

"""assign_split: stable keyed hash, near-duplicates together, the asked-for heldout share."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sink_factories import make_resolved

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


def test_near_duplicates_share_a_split() -> None:
    for cluster in range(200):
        members = [make_resolved(cluster * 10 + i, cluster_id=f"cl-{cluster}") for i in range(5)]
        splits = {assign_split(split_key(m), salt=SALT, heldout_fraction=0.5) for m in members}
        assert len(splits) == 1


def test_split_key_falls_back_to_the_interaction() -> None:
    assert split_key(make_resolved(4, cluster_id="cl-1")) == "cl-1"
    assert split_key(make_resolved(4)) == "int-000004"


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

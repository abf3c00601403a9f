"""Train/heldout assignment: a keyed hash of the example's cluster, stable across runs and processes."""

from __future__ import annotations

import hashlib
import hmac
from typing import Literal

from services.contracts.models import ResolvedJudgment
from services.runtime.errors import FatalError

Split = Literal["train", "heldout"]

_SCALE = float(1 << 64)


def split_key(resolved: ResolvedJudgment) -> str:
    """The key that decides the split: the near-duplicate cluster when known, else the interaction."""
    return resolved.task.cluster_id or resolved.task.interaction.interaction_id


def assign_split(key: str, *, salt: str, heldout_fraction: float) -> Split:
    """Put `key` in "heldout" with probability `heldout_fraction`, the same way every time for one salt.

    HMAC-SHA256 keyed by `salt`, so nobody can steer an example into the heldout set without the salt,
    and a new salt draws a fresh split. Growing the fraction only moves keys from train to heldout.
    """
    if not 0.0 <= heldout_fraction <= 1.0:
        raise FatalError(f"heldout_fraction must be within [0, 1], got {heldout_fraction!r}")
    digest = hmac.new(salt.encode(), key.encode(), hashlib.sha256).digest()
    point = int.from_bytes(digest[:8], "big") / _SCALE  # uniform in [0, 1)
    return "heldout" if point < heldout_fraction else "train"

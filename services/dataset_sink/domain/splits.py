"""Train/heldout assignment: a keyed hash of the example's conversation, stable across runs and processes."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Literal

from services.contracts.models import RedactedInteraction, ResolvedJudgment, Role
from services.runtime.errors import FatalError

Split = Literal["train", "heldout"]

_SCALE = float(1 << 64)


_PLACEHOLDER_NUMBER = re.compile(r"<([A-Z][A-Z_]*?)_\d+>")


def conversation_key(interaction: RedactedInteraction) -> str:
    """What makes two examples the same conversation: the user's turns and the response, as redacted,
    with the numbering of placeholders (`<PERSON_2>`), case and whitespace left out."""
    turns = [m.content for m in interaction.messages if m.role is Role.user]
    text = _PLACEHOLDER_NUMBER.sub(r"<\1>", "\n".join([*turns, interaction.response]))
    return "conversation:" + hashlib.sha256(" ".join(text.casefold().split()).encode()).hexdigest()


def split_key(resolved: ResolvedJudgment) -> str:
    """The key that decides the split: the conversation's text, so that an example and every other
    with the same conversation (another interaction id, another queue, a replay) share a split.

    Not the near-duplicate cluster: clusters are per queue and formed in arrival order, so the same
    conversation reviewed in two queues, or in a queue without dedup, could land in both splits.
    """
    return conversation_key(resolved.task.interaction)


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

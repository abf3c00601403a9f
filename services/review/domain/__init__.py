"""Pure review logic: checking judgments against their tasks and settling tasks."""

from services.review.domain.consensus import SINGLE, check_judgment, resolution_id_for, resolve

__all__ = ["SINGLE", "check_judgment", "resolution_id_for", "resolve"]

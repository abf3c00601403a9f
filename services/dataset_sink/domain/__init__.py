"""Pure dataset-sink logic: row shapes of the dataset tables and the train/heldout split."""

from services.dataset_sink.domain.rows import (
    DECODER_TYPE,
    MESSAGE_TYPE,
    SAFETY_LABELS,
    SAFETY_LABELS_SCHEMA,
    TABLE_SCHEMAS,
    rows_to_arrow,
    safety_label_row,
)
from services.dataset_sink.domain.splits import Split, assign_split, split_key

__all__ = [
    "DECODER_TYPE",
    "MESSAGE_TYPE",
    "SAFETY_LABELS",
    "SAFETY_LABELS_SCHEMA",
    "TABLE_SCHEMAS",
    "Split",
    "assign_split",
    "rows_to_arrow",
    "safety_label_row",
    "split_key",
]

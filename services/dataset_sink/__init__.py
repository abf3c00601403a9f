"""Dataset sink: resolved judgments to versioned Delta tables, exactly once per source offset."""

"""Tools for on-call: `flagstream status`, `trace` and `dlq`, on the broker, the metrics and the datasets."""

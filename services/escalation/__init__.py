"""Escalation: scores redacted interactions and routes the risky ones to human review queues."""

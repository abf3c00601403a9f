"""Shared plumbing of every service: settings, errors, topics, Kafka clients, metrics, dead letters."""

"""Monitoring rules: one module per rule, each a typed function over a session and an as-of time."""

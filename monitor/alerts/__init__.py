"""Alerts: notifiers (one module per kind), the outbox they are delivered from, and routing."""

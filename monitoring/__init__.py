"""Interruptions, rules, alerts and notifications, remediation cases, reliability, reports, jobs."""

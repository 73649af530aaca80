"""Prometheus metrics, dashboards and alert rules for SREs."""

"""Grafana dashboards built from code and provisioned as JSON."""

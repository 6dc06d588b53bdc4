"""The heatwatch command and the wiring of adapters."""

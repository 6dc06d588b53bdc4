"""Benchmark scripts; each prints figures beside a baseline."""

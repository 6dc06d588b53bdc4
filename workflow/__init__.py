"""The workflow port: incidents (analyzer) and the work that follows (alerts), in one SQLite file.

`unit.WorkflowDb` opens it; its repositories read, and `unit()` gives repositories that write
in one transaction. This package is a bottom layer: it imports nothing else of heatwatch.
"""

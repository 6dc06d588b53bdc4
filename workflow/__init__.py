"""The durable workflow store: incidents (analyzer) and the work that follows (alerts)."""

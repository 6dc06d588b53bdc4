"""Time-series stores behind one small interface: InfluxDB (v1 HTTP API) and SQLite."""

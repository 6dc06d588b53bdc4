"""The analyze-cycle bench's raw loader writes exactly the lines the Store would."""

from __future__ import annotations

from bench.analyze_cycle import line_chunks, readings
from storage.lineprotocol import LineEncoder


def test_raw_lines_equal_the_store_encoding() -> None:
    rooms, meters, subs, hours = 12, 23, 3, 17  # meter 7's open sensor and the pump trip
    want = sorted(LineEncoder().encode(readings(rooms, meters, subs, hours)).splitlines())
    chunks = list(line_chunks(rooms, meters, subs, hours, lines_per_chunk=5))
    got = sorted(b"".join(body for body, _ in chunks).splitlines())
    assert got == want
    assert sum(n for _, n in chunks) == len(want)
    assert all(n <= 5 and body.count(b"\n") == n for body, n in chunks)

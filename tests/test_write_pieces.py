"""A body longer than one request is cut at newlines, and each request carries the arrivals
of its own lines (one 204 stores both), on the real influxd."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import storage.influx as influx_module
from storage.arrivals import HOUR_MS, ArrivalsLog, hours_by_regex, touched_hours
from storage.influx import InfluxStore, _chunks
from tests.services import Influxd

LINE = st.sampled_from([b"room,device_id=a temp_c=1.5 1764115200000", b"x y=1i 5", b"",
                        b"  ", b"meter,device_id=m energy_kwh=2.0 1764118800000"])


@settings(max_examples=300, deadline=None)
@given(st.lists(LINE, max_size=40), st.integers(1, 7), st.booleans())
def test_pieces_hold_every_line_in_order(lines: list[bytes], max_lines: int,
                                         newline_at_end: bool) -> None:
    body = b"\n".join(lines) + (b"\n" if newline_at_end else b"")
    pieces = list(_chunks(body, max_lines))
    kept = [line for line in body.split(b"\n") if line.strip()]
    assert [line for p in pieces for line in p.split(b"\n") if line.strip()] == kept
    for p in pieces:
        assert p.strip()  # never a blank request
        if body.count(b"\n") > max_lines:
            assert p.endswith(b"\n") and p.count(b"\n") <= max_lines


class _Recording(InfluxStore):
    def __init__(self, url: str, database: str) -> None:
        super().__init__(url, database)
        self.requests: list[bytes] = []

    def _post(self, body: bytes) -> None:
        self.requests.append(body)
        super()._post(body)


def test_each_request_logs_the_hours_of_its_own_lines(influxd_shared: Influxd,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(influx_module, "MAX_LINES_PER_REQUEST", 3)
    inner = _Recording(influxd_shared.url, "write_pieces")
    log = ArrivalsLog(inner)
    h0 = 1_764_115_200_000
    lines = [f"room,device_id=r{i} temp_c=20.5 {h0 + i * HOUR_MS}" for i in range(7)]
    log.write_lines(lines)
    assert len(inner.requests) == 3  # 3 + 3 + 1 readings
    for request in inner.requests:
        readings = [x for x in request.split(b"\n") if x.startswith(b"room")]
        arrivals = [x for x in request.split(b"\n") if x.startswith(b"heatwatch_arrivals")]
        assert len(readings) in (3, 1)
        # the arrivals in this request are exactly the hours of the readings in it
        assert {int(a.split(b"hour=")[1].split(b"i")[0]) for a in arrivals} == \
            hours_by_regex(b"\n".join(readings) + b"\n")[b"room"]
    stored = inner.query_csv('SELECT count("temp_c") FROM "room"')
    assert int(stored[0]["count"]) == 7
    touched = touched_hours(log, 0)
    assert touched is not None
    assert touched["room"] == {h0 + i * HOUR_MS for i in range(7)}

"""The arrivals log's hours of a body: the numpy column path equals the line-by-line regex on
every body, the encoders' own and arbitrary bytes (a mismatch would make the incremental
analyzer skip an hour a batch touched)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from district.readings import Reading
from storage.arrivals import HOUR_MS, WATCHED, _hours_by_columns, hours_by_regex, hours_of
from storage.lineprotocol import LineEncoder

# ms timestamps around the column path's edges: 12, 13 and 14 digits, negative
TIMESTAMPS = st.one_of(st.integers(946_684_800_000, 4_102_444_800_000),
                       st.integers(-10**13, 10**15))
NAMES = st.sampled_from([*WATCHED, "rooms", "roo", "meter_com", "heatwatch_arrivals",
                         "room\\,x", "meter\\ x"])


@st.composite
def lines(draw: st.DrawFn) -> bytes:
    name = draw(NAMES)
    sep = draw(st.sampled_from([",device_id=a", " ", "\t", ",a=b\\ c"]))
    fields = draw(st.sampled_from(["temp_c=1.5", "x=1i", 'note="a b 12"', ""]))
    ts = draw(TIMESTAMPS)
    tail = draw(st.sampled_from([f" {ts}", f" {ts}\r", "", f" {ts} ", f"  {ts}"]))
    return f"{name}{sep} {fields}{tail}".encode()


@settings(max_examples=400, deadline=None)
@given(st.lists(lines(), max_size=30), st.booleans())
def test_columns_equal_the_regex_on_line_shaped_bodies(body_lines: list[bytes],
                                                        blank: bool) -> None:
    body = b"\n".join(body_lines) + (b"\n\n" if blank else b"\n")
    assert hours_of(body) == hours_by_regex(body)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_columns_equal_the_regex_on_any_bytes(body: bytes) -> None:
    assert hours_of(body) == hours_by_regex(body)
    assert hours_of(body + b"\n") == hours_by_regex(body + b"\n")


def test_an_encoded_batch_takes_the_column_path() -> None:
    t0 = 1_764_115_200_000
    readings = [Reading(m, {"device_id": f"d{i}"}, {"x": 1.0}, t0 + i * 1_800_000)
                for i, m in enumerate(["room", "meter", "substation", "room", "weather",
                                       "meter_comm", "heatwatch_collector"])]
    body = LineEncoder().encode(readings)
    got = _hours_by_columns(body)
    assert got is not None  # the fast path, not the fallback
    assert got == hours_by_regex(body)
    h = t0 // HOUR_MS
    assert got == {b"room": {h, h + 1}, b"meter": {h}, b"substation": {h + 1},
                   b"weather": {h + 2}, b"meter_comm": {h + 2}}


def test_the_shortest_lines_at_both_ends_of_a_body() -> None:
    """The column path reads eight bytes at a time up to each line's edges: a body that
    starts and ends with the shortest line it takes still reads as the regex reads it."""
    h = 1_764_115_200_000
    for body in (b"x %d\nroom, %d\n" % (h, h), b"room, %d\nx %d\n" % (h, h + HOUR_MS),
                 b"meter %d\n" % h, b"x %d\n" % h, b"room, %d\n" % h):
        got = _hours_by_columns(body)
        assert got is not None
        assert got == hours_by_regex(body)
    assert _hours_by_columns(b"room, %d\nroom, %d\n" % (h, h + HOUR_MS)) == {
        b"room": {h // HOUR_MS, h // HOUR_MS + 1}}

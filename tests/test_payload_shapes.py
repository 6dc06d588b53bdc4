"""The plain-shape path (collector/payload_shapes.py) writes exactly the lines the reference
path writes, accepts nothing the reference refuses, and is taken for the usual arrays."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from collector.payload_lines import parse_lines
from collector.payload_shapes import _BOOL, _FLOAT, _INT, _TS, plain_lines
from collector.payloads import Registered, parse_indexed
from district.readings import KINDS, FieldType
from district.records import load_records
from storage.lineprotocol import LineEncoder
from tests.records_fixture import write_records

TOPICS = {"room": "heat/room/r1", "meter": "heat/meter/m1", "substation": "heat/substation/s1",
          "weather": "heat/weather/w1"}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Mapping[str, Registered]:
    from heatwatch import bootstrap

    return bootstrap.registry(load_records(write_records(tmp_path_factory.mktemp("records"))))


@settings(max_examples=500, deadline=None)
@given(st.from_regex(_FLOAT, fullmatch=True))
def test_a_plain_float_reads_back_as_written(text: str) -> None:
    assert repr(float(text)) == text
    assert json.loads(text) == float(text)


@settings(max_examples=300, deadline=None)
@given(st.from_regex(_INT, fullmatch=True), st.from_regex(_TS, fullmatch=True),
       st.from_regex(_BOOL, fullmatch=True))
def test_plain_ints_times_and_bools_read_back_as_written(i: str, ts: str, b: str) -> None:
    assert str(int(i)) == i and -(1 << 63) <= int(i) < (1 << 63)
    assert 946_684_800 <= int(ts) < 4_102_444_800 and str(int(ts) * 1000) == ts + "000"
    assert json.dumps(json.loads(b)) == b


def value(ftype: FieldType, odd: bool) -> st.SearchStrategy[Any]:
    """Values a device sends: plain ones, and with odd, some only the reference may judge."""
    if ftype is FieldType.BOOL:
        return st.booleans() | st.sampled_from([0, 1, None, "true"]) if odd else st.booleans()
    if ftype is FieldType.INT:
        ints = st.integers(-10**6, 10**6)
        return ints | st.integers() | st.sampled_from([1.0, 2.5, True]) if odd else ints
    plain = (st.integers(-10**7, 10**7) | st.integers(-10**12, 10**12)).flatmap(
        lambda n: st.sampled_from([n / 10**k for k in range(7)]))
    if not odd:  # mostly what devices send: two decimals
        return st.integers(-10**7, 10**7).map(lambda n: n / 100) | plain
    return plain | st.floats() | st.integers(-10, 10) | st.sampled_from([0.0, -0.0, 1e-5, True])


@st.composite
def plain_message(draw: st.DrawFn) -> tuple[str, str, bytes]:
    kind = draw(st.sampled_from(sorted(KINDS)))
    schema = KINDS[kind]
    odd = draw(st.booleans())  # else every element in the plain shape, values of any size
    docs = []
    for _ in range(draw(st.integers(1, 6))):
        ts = st.integers(1_000_000_000, 3_999_999_999)
        doc: dict[str, Any] = {"ts": draw(ts | st.integers(0, 5 * 10**9) | st.floats(1e9, 4e9)
                                          if odd else ts)}
        for name, ftype in schema.required.items():
            if not odd or draw(st.integers(0, 30)):  # sometimes missing
                doc[name] = draw(value(ftype, odd))
        for name, ftype in schema.optional.items():
            if odd and not draw(st.integers(0, 5)):
                doc[name] = draw(value(ftype, odd))
        if odd and not draw(st.integers(0, 20)):
            doc = dict(reversed(doc.items()))  # another key order
        docs.append(doc)
    body: Any = docs if len(docs) > 1 or draw(st.booleans()) else docs[0]
    compact = draw(st.booleans())
    text = json.dumps(body, separators=(",", ":") if compact else None)
    return kind, TOPICS[kind], text.encode()


@settings(max_examples=800, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(msg=plain_message())
def test_the_plain_path_equals_the_reference(registry: Mapping[str, Registered],
                                             msg: tuple[str, str, bytes]) -> None:
    kind, topic, payload = msg
    readings, indexes, rejections = parse_indexed(topic, payload, registry)
    encoder = LineEncoder()
    assert parse_lines(topic, payload, registry, encoder) == (
        [encoder.line(r) for r in readings], indexes, rejections)
    plain = plain_lines(kind, encoder.series(kind, registry[topic.split("/")[2]].tags),
                        payload)
    event("plain path" if plain is not None else "reference path")
    if plain is not None:  # taken only where the reference keeps every element
        assert not rejections and plain == [encoder.line(r) for r in readings]


def test_the_usual_arrays_take_the_plain_path(registry: Mapping[str, Registered]) -> None:
    encoder = LineEncoder()
    room = json.dumps([{"ts": 1764115200 + i, "temp_c": 18.5 + i} for i in range(3)])
    assert plain_lines("room", "room,device_id=r1", room.encode()) == [
        "room,device_id=r1 temp_c=18.5 1764115200000",
        "room,device_id=r1 temp_c=19.5 1764115201000",
        "room,device_id=r1 temp_c=20.5 1764115202000"]
    meter = {"ts": 1764115200, "energy_kwh": 1234.56, "volume_m3": 78.9, "power_kw": 12.5,
             "flow_m3h": 0.42, "supply_c": 70.1, "return_c": 45.0, "status": 0}
    payload = json.dumps([meter], separators=(",", ":")).encode()
    readings, _, _ = parse_indexed("heat/meter/m1", payload, registry)
    series = encoder.series("meter", registry["m1"].tags)
    assert plain_lines("meter", series, payload) == [encoder.line(r) for r in readings]
    # an optional field, a float ts, a NaN: the reference path
    for doc in ({"ts": 1764115200, "temp_c": 18.5, "rh_pct": 40.0},
                {"ts": 1764115200.5, "temp_c": 18.5}):
        assert plain_lines("room", "room,device_id=r1", json.dumps(doc).encode()) is None
    assert plain_lines("room", "room", b'{"ts": 1764115200, "temp_c": NaN}') is None


@st.composite
def oddly_spaced(draw: st.DrawFn) -> tuple[str, str, bytes]:
    """A plain message whose every optional space (after a comma or colon) is drawn on its
    own, and now and then a space where JSON allows one but the shape does not."""
    kind = draw(st.sampled_from(sorted(KINDS)))
    fields = KINDS[kind].required
    space = st.sampled_from(["", " "])
    objects = []
    for _ in range(draw(st.integers(1, 4))):
        parts = [f'{{"ts":{draw(space)}{draw(st.integers(1_000_000_000, 3_999_999_999))}']
        for name, ftype in fields.items():
            v = json.dumps(draw(value(ftype, False)))
            parts.append(f',{draw(space)}"{name}":{draw(space)}{v}')
        objects.append("".join(parts) + "}")
    text = "[" + "".join(o if i == 0 else "," + draw(space) + o
                         for i, o in enumerate(objects)) + "]"
    if draw(st.integers(0, 5)) == 0:  # a stray space JSON allows: the reference decides
        at = draw(st.sampled_from([i for i, c in enumerate(text) if c in "[{,:}]"]))
        text = text[:at + 1] + " " + text[at + 1:]
    return kind, TOPICS[kind], text.encode()


@settings(max_examples=800, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(msg=oddly_spaced())
def test_any_spacing_the_shape_allows_cuts_the_same_values(
        registry: Mapping[str, Registered], msg: tuple[str, str, bytes]) -> None:
    kind, topic, payload = msg
    readings, _, rejections = parse_indexed(topic, payload, registry)
    encoder = LineEncoder()
    plain = plain_lines(kind, encoder.series(kind, registry[topic.split("/")[2]].tags),
                        payload)
    event("plain path" if plain is not None else "reference path")
    if plain is not None:
        assert not rejections and plain == [encoder.line(r) for r in readings]

"""Contract payloads: every valid form parses, every invalid one is refused with its cause."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.payloads import CAUSES, Registered, parse_message

REG = {
    "r1": Registered("room", {"device_id": "r1", "account_id": "A1", "building_id": "B1",
                              "substation_id": "S1", "room_type": "bedroom"}),
    "m1": Registered("meter", {"device_id": "m1"}),
    "s1": Registered("substation", {"device_id": "s1", "substation_id": "S1"}),
    "w1": Registered("weather", {"device_id": "w1"}),
}
METER = {"ts": 1764115200, "energy_kwh": 1234.5, "volume_m3": 56.789, "power_kw": 4.2,
         "flow_m3h": 0.36, "supply_c": 55.1, "return_c": 45.0, "status": 0}
SUBSTATION = {"ts": 1764115200, "supply_c": 55.0, "return_c": 45.0, "supply_mpa": 0.45,
              "return_mpa": 0.35, "flow_m3h": 120.0, "makeup_m3h": 0.5, "pump_on": True}


def parse(topic: str, doc: object) -> tuple[list[Any], list[Any]]:
    payload = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return parse_message(topic, payload, REG)


def test_room_object_is_tagged_from_records_not_payload() -> None:
    good, bad = parse("heat/room/r1", {"ts": 1764115200, "temp_c": 19.5, "rh_pct": 40,
                                       "building_id": "FORGED"})
    assert bad == []
    (r,) = good
    assert r.measurement == "room"
    assert r.ts_ms == 1764115200000
    assert r.fields == {"temp_c": 19.5, "rh_pct": 40.0}
    assert r.tags["building_id"] == "B1" and r.tags["room_type"] == "bedroom"


def test_every_kind_parses() -> None:
    for topic, doc in [("heat/meter/m1", METER), ("heat/substation/s1", SUBSTATION),
                       ("heat/weather/w1", {"ts": 1764115200.5, "outdoor_c": -5})]:
        good, bad = parse(topic, doc)
        assert bad == [] and len(good) == 1
    good, _ = parse("heat/meter/m1", METER)
    assert good[0].fields["status"] == 0 and isinstance(good[0].fields["status"], int)
    good, _ = parse("heat/substation/s1", SUBSTATION)
    assert good[0].fields["pump_on"] is True


def test_rfc3339_and_epoch_agree_and_fractions_keep_milliseconds() -> None:
    a, _ = parse("heat/room/r1", {"ts": "2025-11-26T08:00:00+08:00", "temp_c": 20})
    b, _ = parse("heat/room/r1", {"ts": "2025-11-26T00:00:00Z", "temp_c": 20})
    c, _ = parse("heat/room/r1", {"ts": 1764115200.123, "temp_c": 20})
    assert a[0].ts_ms == b[0].ts_ms == 1764115200000
    assert c[0].ts_ms == 1764115200123


def test_array_keeps_valid_elements_and_refuses_bad_ones() -> None:
    doc: list[dict[str, Any]] = [{"ts": 1764115200 + i, "temp_c": 20.0 + i} for i in range(5)]
    doc[1]["temp_c"] = "warm"
    del doc[3]["ts"]
    good, bad = parse("heat/room/r1", doc)
    assert [r.fields["temp_c"] for r in good] == [20.0, 22.0, 24.0]
    assert sorted(r.cause for r in bad) == ["missing_ts", "wrong_type"]
    # each refused element is kept on its own, not the whole array
    assert sorted(str(json.loads(r.raw)["temp_c"]) for r in bad) == ["23.0", "warm"]


def test_each_invalid_form_has_its_cause() -> None:
    cases = {
        "bad_json": ("heat/room/r1", b"{not json"),
        "missing_ts": ("heat/room/r1", {"temp_c": 20}),
        "bad_ts": ("heat/room/r1", {"ts": "yesterday", "temp_c": 20}),
        "missing_field": ("heat/room/r1", {"ts": 1764115200}),
        "wrong_type": ("heat/room/r1", {"ts": 1764115200, "temp_c": True}),
        "not_finite": ("heat/room/r1", b'{"ts": 1764115200, "temp_c": NaN}'),
        "unknown_device": ("heat/room/nobody", {"ts": 1764115200, "temp_c": 20}),
        "kind_mismatch": ("heat/room/m1", {"ts": 1764115200, "temp_c": 20}),
        "bad_topic": ("heat/room/r1/extra", {"ts": 1764115200, "temp_c": 20}),
        "too_large": ("heat/room/r1", b"[" + b" " * (1 << 20) + b"]"),
        "bad_shape": ("heat/room/r1", [1, 2]),
    }
    for cause, (topic, doc) in cases.items():
        good, bad = parse(topic, doc)
        assert good == [], cause
        assert bad and all(r.cause == cause for r in bad), (cause, bad)
        assert cause in CAUSES


def test_other_type_errors() -> None:
    assert parse("heat/meter/m1", {**METER, "status": 1.5})[1][0].cause == "wrong_type"
    assert parse("heat/meter/m1", {**METER, "status": 3.0})[0][0].fields["status"] == 3
    assert parse("heat/substation/s1", {**SUBSTATION, "pump_on": 1})[1][0].cause == "wrong_type"
    assert parse("heat/room/r1", {"ts": "2025-11-26T08:00:00", "temp_c": 1})[1][0].cause == \
        "bad_ts"
    assert parse("heat/room/r1", {"ts": 1e300, "temp_c": 1})[1][0].cause == "bad_ts"
    assert parse("heat/room/r1", b'{"ts": 1764115200, "temp_c": 1e999}')[1][0].cause == \
        "not_finite"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["ts", "temp_c", "status", "x"]) | st.text(max_size=5),
                      children, max_size=5),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(payload=st.binary(max_size=200) | json_values.map(
    lambda v: json.dumps(v).encode()), topic=st.sampled_from(
    ["heat/room/r1", "heat/meter/m1", "heat/substation/s1", "heat/x/r1", "heat/room/"]))
def test_no_payload_crashes_the_parser(payload: bytes, topic: str) -> None:
    good, bad = parse_message(topic, payload, REG)
    assert all(r.cause in CAUSES for r in bad)
    assert len(good) + len(bad) >= 1

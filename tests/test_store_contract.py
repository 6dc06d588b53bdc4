"""One contract, both backends: what every Store must do, against SQLite and a real InfluxDB."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator

import numpy as np
import pytest

from district.readings import KINDS, TAG_KEYS, FieldType, Reading
from storage.influx import InfluxStore
from storage.influxql import parse_tags
from storage.sqlite import SqliteStore

# 2026-01-10T00:00:00Z: inside the 1830 d retention policy InfluxDB applies to writes
T0 = 1_768_003_200_000
HOUR = 3_600_000


@pytest.fixture(params=["sqlite", pytest.param("influx", marks=pytest.mark.services)])
def store(request, tmp_path) -> Iterator[SqliteStore | InfluxStore]:
    if request.param == "sqlite":
        s: SqliteStore | InfluxStore = SqliteStore(tmp_path / "readings.sqlite")
        yield s
        s.close()
        return
    influxd = request.getfixturevalue("influxd_shared")
    db = "t_" + uuid.uuid4().hex[:12]
    s = InfluxStore(influxd.url, db)
    yield s
    s.execute(f'DROP DATABASE "{db}"')
    s.close()


def room(device: str, ts_ms: int, **fields: float | int | bool) -> Reading:
    tags = {"device_id": device, "building_id": "b1", "room_type": "bedroom"}
    return Reading("room", tags, dict(fields) or {"temp_c": 20.0}, ts_ms)


def sample_value(kind: str, name: str, ftype: FieldType, i: int) -> float | int | bool:
    if ftype is FieldType.BOOL:
        return i % 2 == 0
    if ftype is FieldType.INT:
        return 1000 + 7 * i
    return round(10.0 + 0.1 * i + len(name) / 8, 3)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_roundtrip_each_kind_with_tags(store, kind):
    schema = KINDS[kind]
    names = {**schema.required, **schema.optional}
    readings = []
    for i in range(6):
        device = f"{kind}-{i % 2}"
        tags = {"device_id": device, "account_id": f"a{i % 2}", "building_id": "b1",
                "substation_id": "s1", "room_type": "living" if kind == "room" else ""}
        fields = {n: sample_value(kind, n, t, i) for n, t in names.items()}
        readings.append(Reading(kind, tags, fields, T0 + i * 60_000))
    store.write(readings)

    frame = store.read_window(kind, T0, T0 + HOUR, tags=TAG_KEYS)

    assert len(frame) == 6
    assert sorted(frame.fields) == sorted(names)
    expected = sorted(readings, key=lambda r: (r.tags["device_id"], r.ts_ms))
    assert frame.ts_ms.tolist() == [r.ts_ms for r in expected]
    for key in TAG_KEYS:
        assert frame.tags[key].tolist() == [r.tags[key] for r in expected]
    for name in names:
        assert frame.fields[name].dtype == np.float64
        assert frame.fields[name].tolist() == [float(r.fields[name]) for r in expected]


def test_window_is_start_inclusive_end_exclusive(store):
    store.write([room("r1", T0 - 1), room("r1", T0), room("r1", T0 + 999),
                 room("r1", T0 + 1000)])

    frame = store.read_window("room", T0, T0 + 1000)

    assert frame.ts_ms.tolist() == [T0, T0 + 999]
    assert frame.device_id.tolist() == ["r1", "r1"]


def test_missing_fields_read_as_nan(store):
    store.write([room("r1", T0, temp_c=19.0, rh_pct=40.0), room("r1", T0 + 1, temp_c=19.5)])

    frame = store.read_window("room", T0, T0 + 10, fields=["temp_c", "rh_pct"])

    assert frame.fields["temp_c"].tolist() == [19.0, 19.5]
    assert frame.fields["rh_pct"][0] == 40.0
    assert math.isnan(frame.fields["rh_pct"][1])


def test_points_without_any_selected_field_are_left_out(store):
    # InfluxQL returns no row for a point none of whose selected fields is set
    store.write([room("r1", T0, temp_c=19.0), room("r1", T0 + 1, rh_pct=40.0)])

    frame = store.read_window("room", T0, T0 + 10, fields=["rh_pct"])

    assert frame.ts_ms.tolist() == [T0 + 1]
    assert frame.fields["rh_pct"].tolist() == [40.0]


def test_bools_read_as_one_and_zero(store):
    tags = {"device_id": "s1"}
    store.write([Reading("substation", tags, {"pump_on": True, "supply_c": 55.0}, T0),
                 Reading("substation", tags, {"pump_on": False, "supply_c": 30.0}, T0 + 1)])

    frame = store.read_window("substation", T0, T0 + 10, fields=["pump_on"])

    assert frame.fields["pump_on"].tolist() == [1.0, 0.0]


def test_same_batch_twice_is_counted_once(store):
    batch = [room(f"r{d}", T0 + i * 1000, temp_c=18.0 + i) for d in range(3) for i in range(5)]
    store.write(batch)
    store.write(batch)

    assert len(store.read_window("room", T0, T0 + HOUR)) == 15


def test_later_write_of_same_series_and_time_wins_and_merges_fields(store):
    store.write([room("r1", T0, temp_c=18.0, rh_pct=40.0)])
    store.write([room("r1", T0, temp_c=21.5)])

    frame = store.read_window("room", T0, T0 + 1, fields=["temp_c", "rh_pct"])

    assert len(frame) == 1
    assert frame.fields["temp_c"].tolist() == [21.5]
    # a field the new point lacks keeps its old value, as InfluxDB merges
    assert frame.fields["rh_pct"].tolist() == [40.0]


def test_repeated_point_within_one_batch_last_wins(store):
    store.write([room("r1", T0, temp_c=1.0), room("r1", T0, temp_c=2.0, rh_pct=3.0),
                 room("r1", T0, temp_c=4.0)])

    frame = store.read_window("room", T0, T0 + 1, fields=["temp_c", "rh_pct"])

    assert frame.fields["temp_c"].tolist() == [4.0]
    assert frame.fields["rh_pct"].tolist() == [3.0]


def test_out_of_order_writes_read_back_sorted(store):
    store.write([room("r2", T0 + 3000), room("r1", T0 + 2000)])
    store.write([room("r1", T0), room("r2", T0 + 1000), room("r1", T0 + 1000)])

    frame = store.read_window("room", T0, T0 + HOUR)

    assert frame.device_id.tolist() == ["r1", "r1", "r1", "r2", "r2"]
    assert frame.ts_ms.tolist() == [T0, T0 + 1000, T0 + 2000, T0 + 1000, T0 + 3000]


def test_latest_is_the_newest_point_per_device(store):
    store.write([room("r1", T0 + 5000, temp_c=22.0), room("r1", T0, temp_c=18.0),
                 room("r2", T0 + 1000, temp_c=19.0), room("r2", T0 + 2000, temp_c=19.5),
                 room("r3", T0 - HOUR, temp_c=17.0)])

    frame = store.latest("room", tags=("device_id", "building_id"))

    assert frame.device_id.tolist() == ["r1", "r2", "r3"]
    assert frame.ts_ms.tolist() == [T0 + 5000, T0 + 2000, T0 - HOUR]
    assert frame.fields["temp_c"].tolist() == [22.0, 19.5, 17.0]
    assert frame.tags["building_id"].tolist() == ["b1", "b1", "b1"]


def test_hourly_mean_per_device(store):
    readings = [room("r1", T0 + m * 600_000, temp_c=17.0 + m) for m in range(12)]  # 2 hours
    readings += [room("r2", T0 + HOUR + 60_000, temp_c=30.0)]
    store.write(readings)

    frame = store.read_aggregate("room", T0, T0 + 2 * HOUR, 3600, ["temp_c"])

    assert frame.device_id.tolist() == ["r1", "r1", "r2"]
    assert frame.ts_ms.tolist() == [T0, T0 + HOUR, T0 + HOUR]
    # r1: 17..22 in the first hour, 23..28 in the second
    assert frame.fields["temp_c"].tolist() == [19.5, 25.5, 30.0]


def test_aggregate_buckets_shift_by_offset_and_count(store):
    # a local day in UTC+8 starts at 16:00 UTC: offset the buckets by 16 h
    day = 86_400_000
    store.write([room("r1", T0 + 15 * HOUR), room("r1", T0 + 17 * HOUR),
                 room("r1", T0 + 18 * HOUR)])

    frame = store.read_aggregate("room", T0 - day, T0 + day, 86_400, ["temp_c"], fn="count",
                                 offset_s=16 * 3600)

    assert frame.ts_ms.tolist() == [T0 - 8 * HOUR, T0 + 16 * HOUR]
    assert frame.fields["temp_c"].tolist() == [1.0, 2.0]


def test_several_aggregates_in_one_pass(store):
    store.write([room("r1", T0, temp_c=18.0), room("r1", T0 + 20 * 60_000, temp_c=21.0),
                 room("r2", T0 + 5 * 60_000, temp_c=19.5)])

    frame = store.read_aggregate("room", T0, T0 + HOUR, 3600, ["temp_c"],
                                 fn=("mean", "min", "max"))

    assert frame.device_id.tolist() == ["r1", "r2"]
    assert frame.fields["mean_temp_c"].tolist() == [19.5, 19.5]
    assert frame.fields["min_temp_c"].tolist() == [18.0, 19.5]
    assert frame.fields["max_temp_c"].tolist() == [21.0, 19.5]
    assert "temp_c" not in frame.fields


def test_unknown_measurement_is_an_empty_frame(store):
    store.write([room("r1", T0)])

    with_fields = store.read_window("nothing_here", T0, T0 + HOUR, fields=["temp_c"])
    all_fields = store.read_window("nothing_here", T0, T0 + HOUR)
    empty_window = store.read_window("room", T0 + HOUR, T0 + 2 * HOUR, fields=["temp_c"])

    assert len(with_fields) == 0 and with_fields.fields["temp_c"].shape == (0,)
    assert with_fields.device_id.shape == (0,)
    assert len(all_fields) == 0 and all_fields.fields == {}
    assert len(empty_window) == 0 and list(empty_window.fields) == ["temp_c"]
    assert len(store.latest("nothing_here")) == 0
    assert len(store.read_aggregate("nothing_here", T0, T0 + HOUR, 60, ["temp_c"])) == 0


def test_tag_values_with_spaces_commas_and_equals(store):
    odd = "r 1,a=b\\c"
    store.write([room(odd, T0, temp_c=20.0), room("r2", T0, temp_c=21.0)])

    window = store.read_window("room", T0, T0 + 1)
    latest = store.latest("room")
    hourly = store.read_aggregate("room", T0, T0 + HOUR, 3600, ["temp_c"])

    for frame in (window, latest, hourly):
        assert frame.device_id.tolist() == [odd, "r2"]
        assert frame.fields["temp_c"].tolist() == [20.0, 21.0]


def test_empty_tags_read_as_empty_strings(store):
    store.write([Reading("room", {"device_id": "r1", "room_type": ""}, {"temp_c": 20.0}, T0)])

    frame = store.read_window("room", T0, T0 + 1, tags=("device_id", "room_type", "nope"))

    assert frame.tags["room_type"].tolist() == [""]
    assert frame.tags["nope"].tolist() == [""]


def test_non_finite_value_is_rejected(store):
    from storage.base import StoreRejected

    with pytest.raises(StoreRejected):
        store.write([room("r1", T0, temp_c=math.inf)])


def test_20k_point_batch_roundtrip(store):
    n = 20_000
    batch = [room(f"r{i % 400:03d}", T0 + (i // 400) * 60_000, temp_c=15.0 + (i % 97) / 10)
             for i in range(n)]
    store.write(batch)

    frame = store.read_window("room", T0, T0 + HOUR, fields=["temp_c"])

    assert len(frame) == n
    expected = sorted(batch, key=lambda r: (r.tags["device_id"], r.ts_ms))
    assert frame.device_id.tolist() == [r.tags["device_id"] for r in expected]
    assert np.array_equal(frame.fields["temp_c"], [r.fields["temp_c"] for r in expected])


def test_parse_tags_undoes_influx_escaping():
    assert parse_tags(r"device_id=r\ 1\,a\=b,room_type=bed\ room") == {
        "device_id": "r 1,a=b", "room_type": "bed room"}
    assert parse_tags("device_id=") == {"device_id": ""}
    assert parse_tags("") == {}


def test_read_device_is_one_devices_raw_points_oldest_first(store):
    meter = {"building_id": "b1", "account_id": "a1", "substation_id": "s1"}
    store.write([
        Reading("meter", {**meter, "device_id": "m1"}, {"energy_kwh": 12.0, "flow_m3h": 0.4},
                T0 + 2 * HOUR),
        Reading("meter", {**meter, "device_id": "m1"}, {"energy_kwh": 10.0, "flow_m3h": 0.3},
                T0),
        Reading("meter", {**meter, "device_id": "m2"}, {"energy_kwh": 99.0}, T0 + HOUR),
        # a device id that needs quoting in a query is still one device
        Reading("meter", {**meter, "device_id": "m'3 x"}, {"energy_kwh": 5.0}, T0 + HOUR),
        Reading("meter", {**meter, "device_id": "m1"}, {"energy_kwh": 14.0}, T0 + 5 * HOUR),
    ])

    frame = store.read_device("meter", "m1", T0, T0 + 5 * HOUR)

    assert frame.ts_ms.tolist() == [T0, T0 + 2 * HOUR]
    assert frame.device_id.tolist() == ["m1", "m1"]
    assert frame.fields["energy_kwh"].tolist() == [10.0, 12.0]
    assert frame.fields["flow_m3h"].tolist() == [0.3, 0.4]
    only = store.read_device("meter", "m'3 x", T0, T0 + 5 * HOUR, fields=["energy_kwh"])
    assert only.fields["energy_kwh"].tolist() == [5.0]
    assert len(store.read_device("meter", "nobody", T0, T0 + 5 * HOUR)) == 0
    assert len(store.read_device("no_such_measurement", "m1", T0, T0 + HOUR)) == 0

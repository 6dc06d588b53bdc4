"""End to end on real servers: mosquitto → collector → InfluxDB, across crashes."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from collector.mqtt_collector import MqttCollector
from heatwatch import bootstrap
from heatwatch.config import load_config
from tests.harness import (
    T0,
    CollectorProcess,
    Publisher,
    influx_count,
    influx_query,
    room_district,
    room_messages,
    wait_for,
    write_config,
)
from tests.services import Influxd, Mosquitto

pytestmark = pytest.mark.services

METER = {"energy_kwh": 1234.5, "volume_m3": 56.789, "power_kw": 4.2, "flow_m3h": 0.36,
         "supply_c": 55.1, "return_c": 45.0, "status": 0}


def _collector(tmp_path: Path, mosquitto: Mosquitto, influxd: Influxd, n_rooms: int = 0
               ) -> tuple[MqttCollector, bootstrap.OpenedStore]:
    cfg = load_config(write_config(
        tmp_path / "heatwatch.toml", records=room_district(tmp_path / "records", n_rooms),
        data_dir=tmp_path / "var", mqtt_port=mosquitto.port, influx_url=influxd.url))
    opened = bootstrap.open_store(cfg)
    c = MqttCollector(cfg.mqtt, cfg.collector, bootstrap.registry(bootstrap.records(cfg)),
                      opened.store, bootstrap.open_deadletters(cfg),
                      spool_stats=opened.spool_stats)
    c.start()
    assert c.wait_connected()
    return c, opened


def test_contract_payloads_stored_once_and_bad_ones_counted(
    tmp_path: Path, mosquitto: Mosquitto, influxd: Influxd
) -> None:
    collector, opened = _collector(tmp_path, mosquitto, influxd)
    valid = [
        ("heat/room/r1", {"ts": T0, "temp_c": 19.5}),
        ("heat/room/r1", {"ts": "2025-11-26T08:10:00+08:00", "temp_c": 19.6, "rh_pct": 41}),
        # a backlog flush, out of order and late
        ("heat/room/r2", [{"ts": T0 + 1800, "temp_c": 20.1}, {"ts": T0 - 3600, "temp_c": 20.3},
                          {"ts": T0 + 600, "temp_c": 20.2}]),
        ("heat/meter/m1", {"ts": T0, **METER}),
        ("heat/substation/s1", {"ts": T0, "supply_c": 55.0, "return_c": 45.0,
                                "supply_mpa": 0.45, "return_mpa": 0.35, "flow_m3h": 120.0,
                                "makeup_m3h": 0.5, "pump_on": True, "outdoor_c": -5.0}),
        ("heat/weather/w1", {"ts": T0 + 0.25, "outdoor_c": -6.5}),
        # the same reading again (a device retry): stored once
        ("heat/room/r1", {"ts": T0, "temp_c": 19.5}),
    ]
    invalid = {
        "bad_json": ("heat/room/r1", b"{oops"),
        "missing_ts": ("heat/room/r1", {"temp_c": 20}),
        "wrong_type": ("heat/room/r1", {"ts": T0 + 5, "temp_c": "20"}),
        "not_finite": ("heat/room/r1", b'{"ts": 1764115200, "temp_c": NaN}'),
        "unknown_device": ("heat/room/ghost", {"ts": T0, "temp_c": 20}),
        "too_large": ("heat/room/r1", b"[" + b" " * (1 << 20) + b"]"),
        "bad_topic": ("heat/room/r1/extra", {"ts": T0, "temp_c": 20}),
    }
    pub = Publisher(mosquitto.port)
    msgs = valid + list(invalid.values())
    # an array mixing good and bad readings keeps the good ones
    msgs.append(("heat/room/r2", [{"ts": T0 + 7200, "temp_c": 21.0}, {"ts": T0 + 7260}]))
    pub.publish((t, d if isinstance(d, bytes) else json.dumps(d).encode()) for t, d in msgs)
    pub.wait()
    wait_for(lambda: collector.stats.messages >= len(msgs), 30, "collector to take every message")
    # the collector keeps running after all that: a later reading still lands
    pub.publish([("heat/room/r1", json.dumps({"ts": T0 + 9000, "temp_c": 18.0}).encode())])
    pub.wait()
    wait_for(lambda: collector.stats.messages >= len(msgs) + 1, 30, "the last message")
    pub.close()
    collector.stop()
    opened.store.close()

    db = "heatwatch"
    assert influx_count(influxd.url, db, "room", "temp_c") == 2 + 3 + 1 + 1
    assert influx_count(influxd.url, db, "meter", "energy_kwh") == 1
    assert influx_count(influxd.url, db, "substation", "supply_c") == 1
    assert influx_count(influxd.url, db, "weather", "outdoor_c") == 1
    rows = influx_query(influxd.url, db,
                        'SELECT temp_c, building_id, room_type FROM room WHERE device_id=\'r2\'')
    assert [float(r["temp_c"]) for r in rows] == [20.3, 20.2, 20.1, 21.0]  # time order
    assert {r["building_id"] for r in rows} == {"B1"} and {r["room_type"] for r in rows} == {
        "living"}
    rows = influx_query(influxd.url, db, "SELECT * FROM weather")
    assert int(rows[0]["time"]) == T0 * 1000 + 250

    dl = bootstrap.open_deadletters(load_config(tmp_path / "heatwatch.toml"))
    counts = dl.counts()
    for cause in invalid:
        assert counts.get(cause, 0) >= 1, (cause, counts)
    assert counts["missing_field"] == 1  # the bad element of the mixed array
    assert collector.stats.rejected == counts
    big = dl.recent(cause="too_large")[0]
    assert big.payload_bytes > 1 << 20 and len(big.payload) <= 64 * 1024
    dl.close()
    # the health measurement made it to the store with the rejection counts
    health = influx_query(influxd.url, db, "SELECT * FROM heatwatch_rejections")
    assert {r["cause"] for r in health} >= set(invalid)


def test_influxd_killed_mid_stream_loses_nothing(
    tmp_path: Path, mosquitto: Mosquitto, influxd: Influxd
) -> None:
    n_rooms, n_steps = 200, 100  # 20,000 readings
    collector, opened = _collector(tmp_path, mosquitto, influxd, n_rooms)
    messages = room_messages(n_rooms, n_steps, per_message=5)
    events: dict[str, float] = {}

    def outage(n: int) -> None:
        if n == len(messages) // 4:
            influxd.kill()
            events["killed"] = time.monotonic()

    pub = Publisher(mosquitto.port)
    pub.publish(messages, rate_per_s=400, during=outage)
    pub.wait()
    wait_for(lambda: collector.stats.messages >= len(messages), 60, "collector to take all")
    assert opened.spool_stats is not None
    spool_stats = opened.spool_stats
    spool = spool_stats()
    assert spool.get("batches", 0) > 0, f"nothing was spooled while influxd was down: {spool}"
    assert collector.stats.acked == len(messages)  # acked after the spool write
    time.sleep(max(0.0, events["killed"] + 20 - time.monotonic()))
    influxd.start()
    wait_for(lambda: spool_stats().get("batches", 1) == 0, 60, "spool to drain")
    collector.stop()
    opened.store.close()
    pub.close()
    assert influx_count(influxd.url, "heatwatch", "room", "temp_c") == n_rooms * n_steps
    # the spool's depth and age were visible as a metric in the store
    rows = influx_query(influxd.url, "heatwatch", "SELECT max(spool_batches), "
                        "max(spool_oldest_age_s) FROM heatwatch_collector")
    assert float(rows[0]["max"]) > 0 and float(rows[0]["max_1"]) > 0


def test_collector_sigkilled_mid_stream_loses_nothing(
    tmp_path: Path, mosquitto: Mosquitto, influxd: Influxd
) -> None:
    n_rooms, n_steps = 100, 200  # 20,000 readings, one per message
    config = write_config(tmp_path / "heatwatch.toml",
                          records=room_district(tmp_path / "records", n_rooms),
                          data_dir=tmp_path / "var", mqtt_port=mosquitto.port,
                          influx_url=influxd.url)
    proc = CollectorProcess(config, tmp_path / "collector.log")
    proc.start()
    wait_for(lambda: "connected to" in (tmp_path / "collector.log").read_text(), 30,
             "collector to connect")
    messages = room_messages(n_rooms, n_steps)
    killed = threading.Event()

    def crash(n: int) -> None:
        if n == len(messages) // 3:
            proc.sigkill()
            killed.set()
        if n == len(messages) // 2:
            proc.start()  # same client id: the broker kept the session and the unacked

    pub = Publisher(mosquitto.port)
    pub.publish(messages, rate_per_s=3000, during=crash)
    pub.wait()
    assert killed.is_set()
    want = n_rooms * n_steps
    wait_for(lambda: influx_count(influxd.url, "heatwatch", "room", "temp_c") >= want, 90,
             "every reading in InfluxDB")
    assert proc.sigterm() == 0
    pub.close()
    assert influx_count(influxd.url, "heatwatch", "room", "temp_c") == want


def test_mosquitto_restarted_mid_stream_loses_nothing(
    tmp_path: Path, mosquitto: Mosquitto, influxd: Influxd
) -> None:
    n_rooms, n_steps = 100, 200
    collector, opened = _collector(tmp_path, mosquitto, influxd, n_rooms)
    messages = room_messages(n_rooms, n_steps)

    def restart(n: int) -> None:
        if n == len(messages) // 2:
            mosquitto.restart()

    pub = Publisher(mosquitto.port)
    pub.publish(messages, rate_per_s=3000, during=restart)
    pub.wait()
    want = n_rooms * n_steps
    wait_for(lambda: influx_count(influxd.url, "heatwatch", "room", "temp_c") >= want, 90,
             "every reading in InfluxDB")
    assert collector.stats.connects >= 2  # it reconnected by itself
    collector.stop()
    opened.store.close()
    pub.close()
    assert influx_count(influxd.url, "heatwatch", "room", "temp_c") == want

"""`heatwatch collect` as a process: MQTT and Modbus meters into a real InfluxDB together."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.profiles import load_profile
from simulators.modbus_gateway import GatewaySim, synthetic_meter
from tests.harness import (
    CollectorProcess,
    Publisher,
    influx_count,
    influx_query,
    wait_for,
    write_config,
)
from tests.records_fixture import DEVICES, write_records
from tests.services import Influxd, Mosquitto, free_port

pytestmark = pytest.mark.services


@pytest.fixture
def gateway() -> Iterator[GatewaySim]:
    """A real pymodbus gateway with two generic meters, served from its own loop."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    sim = GatewaySim(load_profile("generic-heat-meter"),
                     lambda unit: synthetic_meter(1, unit) if unit in (1, 2) else None)
    asyncio.run_coroutine_threadsafe(sim.start(), loop).result(10)
    yield sim
    asyncio.run_coroutine_threadsafe(sim.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)


def test_collect_runs_both_protocols_and_isolates_a_dead_gateway(
    tmp_path: Path, mosquitto: Mosquitto, influxd: Influxd, gateway: GatewaySim
) -> None:
    dead_port = free_port()  # nothing listens here: a gateway that is down
    devices = DEVICES + (
        f"mb1,meter,A2,,,,modbus,127.0.0.1,{gateway.port},1,generic-heat-meter\n"
        f"mb2,meter,A2,,,,modbus,127.0.0.1,{gateway.port},2,generic-heat-meter\n"
        f"mb3,meter,A2,,,,modbus,127.0.0.1,{dead_port},1,generic-heat-meter\n"
    )
    config = write_config(
        tmp_path / "c.toml", records=write_records(tmp_path / "rec", devices=devices),
        data_dir=tmp_path / "var", mqtt_port=mosquitto.port, influx_url=influxd.url,
        extra="[modbus]\ninterval_s = 1.0\ntimeout_s = 0.5\nbackoff_s = 0.2\n"
              "backoff_max_s = 0.5\n")
    proc = CollectorProcess(config, tmp_path / "collector.log")
    proc.start()
    try:
        wait_for(lambda: "connected to" in (tmp_path / "collector.log").read_text(), 30,
                 "collector to subscribe")
        pub = Publisher(mosquitto.port)
        pub.publish([("heat/room/r1",
                      json.dumps({"ts": time.time(), "temp_c": 20.1}).encode())])
        pub.wait()
        pub.close()
        db = "heatwatch"
        wait_for(lambda: influx_count(influxd.url, db, "meter", "energy_kwh") >= 6, 60,
                 "three polls of the live gateway's two meters")
        wait_for(lambda: influx_count(influxd.url, db, "room", "temp_c") == 1, 30, "MQTT")
        wait_for(lambda: bool(influx_query(influxd.url, db,
                                           "SELECT * FROM heatwatch_modbus")), 30, "health")
    finally:
        assert proc.sigterm() == 0
    rows = influx_query(influxd.url, db, "SELECT energy_kwh, device_id FROM meter")
    assert {r["device_id"] for r in rows} == {"mb1", "mb2"}
    assert {float(r["energy_kwh"]) for r in rows if r["device_id"] == "mb1"} == {
        synthetic_meter(1, 1)["energy_kwh"]}
    faults = influx_query(influxd.url, db, "SELECT ok, device_id, cause FROM meter_comm")
    assert faults and {r["device_id"] for r in faults} == {"mb3"}
    assert {r["cause"] for r in faults} <= {"connect_failed", "timeout", "disconnected"}
    health = influx_query(influxd.url, db,
                          "SELECT last(connected) FROM heatwatch_modbus GROUP BY gateway")
    by_gw = {r["tags"].split("=", 1)[1]: int(r["last"]) for r in health}
    assert by_gw == {f"127.0.0.1:{gateway.port}": 1, f"127.0.0.1:{dead_port}": 0}

"""End to end on real servers: simulated devices → mosquitto → the real collector → InfluxDB →
`heatwatch analyze --once --at` → incidents and derived series in InfluxDB."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from heatwatch.commands.analyze import analyze_command
from simulators.scenario import load_scenario
from tests.harness import (
    collecting,
    incident_keys,
    incidents_json,
    influx_query,
    reading_payload,
    sample_config,
    wait_stored,
)
from tests.services import Influxd, Mosquitto
from tests.test_analyzer_scenarios import HERE, district_readings, summarise

pytestmark = pytest.mark.services

FOLDERS = ["pump_trip_8h_outage_escalates_at_8h_no_cold_rooms", "leak_makeup_4pct_at_s1",
           "sensor_open_185c_meter_fault_non_human", "status_tamper_is_human_inspection"]


@pytest.mark.parametrize("name", FOLDERS)
def test_scenario_through_collector_and_influxdb(name: str, tmp_path: Path, mosquitto: Mosquitto,
                                                 influxd_shared: Influxd,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    folder = HERE / "scenarios" / "analyzer" / name
    sc = load_scenario(folder / "scenario.toml")
    db = "e2e_" + name.split("_")[0] + str(abs(hash(name)) % 10_000)
    cfg = sample_config(tmp_path, mqtt_port=mosquitto.port, influx_url=influxd_shared.url,
                        database=db, client_id=f"analyzer-e2e-{name[:20]}")
    readings = district_readings(sc)
    # every device speaks MQTT here (meters too, as heat/meter/<id>); comm faults are the
    # Modbus poller's and none of these scenarios has one
    assert not [r for r in readings if r.measurement not in ("room", "meter", "substation",
                                                             "weather")]
    with collecting(cfg, f"devices-{name[:20]}") as (_, pub):
        pub.publish(reading_payload(r) for r in readings)
        pub.wait()
        wait_stored(influxd_shared.url, db, readings,
                    {"meter": "energy_kwh", "room": "temp_c", "substation": "supply_c"})

    assert analyze_command(cfg, once=True, at=sc.end_s) == 0
    rows = incidents_json(cfg, capsys)
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    assert incident_keys(rows) == incident_keys(expected["incidents"])
    for want in expected.get("details", []):
        (row,) = [r for r in rows if r["kind"] == want["kind"] and r["subject"] == want["subject"]]
        for k, v in want["match"].items():
            assert row["details"][k] == v

    # the derived series reached InfluxDB with their field types
    comp = influx_query(influxd_shared.url, db, 'SELECT * FROM "compliance" WHERE time >= '
                        f'{int(sc.start_s * 1000)}ms')
    assert len(comp) == 2 * int(sc.duration_s // 86400)  # two substations, whole days
    assert all(float(r["rate"]) >= 0.97 for r in comp if r["rate"])
    states = influx_query(influxd_shared.url, db,
                          'SELECT max("out") FROM "outage_state" GROUP BY "substation_id"')
    tripped = {r["tags"].split("=")[1] for r in states if r["max"] == "1"}
    assert tripped == ({"S2"} if name.startswith("pump_trip") else set())

    # the same evaluation again: the same incidents, nothing new
    assert analyze_command(cfg, once=True, at=sc.end_s) == 0
    assert "no changes" in capsys.readouterr().out
    assert summarise([]) == []

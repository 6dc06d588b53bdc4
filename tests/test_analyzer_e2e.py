"""End to end on real servers: simulated devices → mosquitto → the real collector → InfluxDB →
`heatwatch analyze --once --at` → incidents and derived series in InfluxDB."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from collector.mqtt_collector import MqttCollector
from district.readings import Reading
from heatwatch import bootstrap
from heatwatch.commands.analyze import analyze_command, incidents_command
from heatwatch.config import load_config
from simulators.scenario import load_scenario
from tests.harness import ROOT, Publisher, influx_count, influx_query, wait_for, write_config
from tests.services import Influxd, Mosquitto
from tests.test_analyzer_scenarios import HERE, district_readings, summarise

pytestmark = pytest.mark.services

FOLDERS = ["pump_trip_8h_outage_escalates_at_8h_no_cold_rooms", "leak_makeup_4pct_at_s1",
           "sensor_open_185c_meter_fault_non_human", "status_tamper_is_human_inspection"]


def _payload(r: Reading) -> tuple[str, bytes]:
    doc = {"ts": r.ts_ms / 1000, **r.fields}
    return f"heat/{r.measurement}/{r.tags['device_id']}", json.dumps(doc).encode()


@pytest.mark.parametrize("name", FOLDERS)
def test_scenario_through_collector_and_influxdb(name: str, tmp_path: Path, mosquitto: Mosquitto,
                                                 influxd_shared: Influxd,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    folder = HERE / "scenarios" / "analyzer" / name
    sc = load_scenario(folder / "scenario.toml")
    db = "e2e_" + name.split("_")[0] + str(abs(hash(name)) % 10_000)
    cfg = load_config(write_config(
        tmp_path / "heatwatch.toml", records=ROOT / "district" / "sample",
        data_dir=tmp_path / "var", mqtt_port=mosquitto.port, influx_url=influxd_shared.url,
        database=db, client_id=f"analyzer-e2e-{name[:20]}"), env={})
    readings = district_readings(sc)
    # every device speaks MQTT here (meters too, as heat/meter/<id>); comm faults are the
    # Modbus poller's and none of these scenarios has one
    assert not [r for r in readings if r.measurement not in ("room", "meter", "substation",
                                                             "weather")]
    opened = bootstrap.open_store(cfg)
    collector = MqttCollector(cfg.mqtt, cfg.collector, bootstrap.registry(bootstrap.records(cfg)),
                              opened.store, bootstrap.open_deadletters(cfg))
    collector.start()
    assert collector.wait_connected()
    pub = Publisher(mosquitto.port, client_id=f"devices-{name[:20]}")
    try:
        pub.publish(_payload(r) for r in readings)
        pub.wait()
        n_meter = sum(r.measurement == "meter" for r in readings)
        wait_for(lambda: influx_count(influxd_shared.url, db, "meter", "energy_kwh") >= n_meter,
                 120, "meter readings in InfluxDB")
        for kind, fld in (("room", "temp_c"), ("substation", "supply_c")):
            n = sum(r.measurement == kind for r in readings)

            def stored(k: str = kind, f: str = fld, n: int = n) -> bool:
                return influx_count(influxd_shared.url, db, k, f) >= n

            wait_for(stored, 120, f"{kind} readings in InfluxDB")
    finally:
        pub.close()
        collector.stop()
        opened.store.close()

    assert analyze_command(cfg, once=True, at=sc.end_s) == 0
    assert incidents_command(cfg, all_=True, json_=True) == 0
    out = capsys.readouterr().out
    rows = json.loads(out[out.index("["):])
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    got = sorted(({"kind": r["kind"], "subject": r["subject"], "cause": r["cause"]}
                  for r in rows), key=lambda d: (d["kind"], d["subject"], d["cause"]))
    assert got == sorted(expected["incidents"], key=lambda d: (d["kind"], d["subject"],
                                                               d["cause"]))
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

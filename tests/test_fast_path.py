"""The fast path on real services (issue 11): a leak's readings published over MQTT → the real
collector → InfluxDB (with the arrivals log) → the analyzer's substation cycle, running at its
own pace on the wall clock → the alerts loop → the leak's work order in the outbox; and an
outage passing 24 h → the residents' notices. Functional checks with a generous wait, not
timing assertions (the figure is in bench/fast_path.py)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from alerts.config import AlertsConfig
from alerts.service import build_service, run_loop
from analyzer.runner import Runner, Watermarks
from analyzer.state import WindowState
from collector.mqtt_collector import MqttCollector
from district.readings import Reading
from district.records import load_records
from heatwatch import bootstrap
from heatwatch.commands.analyze import run_forever
from heatwatch.config import load_config
from simulators.scenario import load_scenario
from tests.harness import ROOT, Publisher, write_config
from tests.services import Influxd, Mosquitto
from tests.test_analyzer_scenarios import SCENARIO_ANALYZER, TZ, district_readings
from workflow.incidents import IncidentStore

pytestmark = pytest.mark.services

H = 3_600_000


def crews(port: int) -> dict[str, object]:
    return {"crew": [{"id": "east", "substations": ["S1"], "channels": ["mq"]},
                     {"id": "north", "substations": ["S2"], "channels": ["mq"]}],
            "channel": [{"name": "mq", "kind": "mqtt", "host": "127.0.0.1", "port": port}],
            "http": {"enabled": False}}

SCENARIO = """
name = "fast-path"
start = 2024-12-02T00:00:00+08:00
duration = "30h"
speed = 3600
seed = 7
records = ""
step = "1m"
meter_update = "5m"
[weather]
daily_mean_c = -5.0
diurnal_amplitude_c = 4.0
[intervals]
room = "30m"
substation = "5m"
weather = "10m"
[[behaviour]]
name = "pump_trip"
target = "S2"
start = "357m"
duration = "25h"
[[behaviour]]
name = "leak"
target = "S1"
start = "29h"
duration = "1h"
makeup_pct = 4.0
holding_mpa = 0.25
"""


def _payload(r: Reading) -> tuple[str, bytes]:
    return f"heat/{r.measurement}/{r.tags['device_id']}", \
        json.dumps({"ts": r.ts_ms / 1000, **r.fields}).encode()


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    con = sqlite3.connect(str(db))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _wait(what: str, check: Callable[[], bool], timeout_s: float) -> float:
    t = time.monotonic()
    while time.monotonic() - t < timeout_s:
        if check():
            return time.monotonic() - t
        time.sleep(0.25)
    raise AssertionError(f"{what}: not within {timeout_s} s")


def test_leak_order_and_outage_notices_follow_the_substation_cycle(
        tmp_path: Path, mosquitto: Mosquitto, influxd_shared: Influxd) -> None:
    (tmp_path / "scenario.toml").write_text(SCENARIO, encoding="utf-8")
    sc = load_scenario(tmp_path / "scenario.toml")
    records = load_records(sc.records_dir)
    # district time is shifted so the leak's last reading is now: the outage at S2 began
    # 24 h less a minute or so ago, the leak at S1 an hour ago
    now = int(time.time() * 1000)
    shift = (now // 60_000) * 60_000 - (int(sc.start_s * 1000) + 30 * H) + 2 * 60_000
    readings = [replace(r, ts_ms=r.ts_ms + shift) for r in district_readings(sc, records)]
    leak_from = int(sc.start_s * 1000) + 29 * H + shift
    readings = [r for r in readings if r.ts_ms <= now]
    live = [r for r in readings if r.ts_ms >= leak_from and r.measurement == "substation"]
    history = [r for r in readings if r not in live]

    cfg = load_config(write_config(
        tmp_path / "heatwatch.toml", records=ROOT / "district" / "sample",
        data_dir=tmp_path / "var", mqtt_port=mosquitto.port, influx_url=influxd_shared.url,
        database="fast_path", client_id="fast-path-collector",
        extra="[analyzer]\nsubstation_interval_s = 3.0\n"), env={})
    opened = bootstrap.open_store(cfg)
    store = opened.store
    for i in range(0, len(history), 20_000):
        store.write(history[i:i + 20_000])
    wf_path = tmp_path / "workflow.sqlite"
    runner = Runner(store, records, IncidentStore(wf_path), cfg.analyzer, TZ,
                    Watermarks(wf_path))
    runner.state = WindowState(runner.reader, tmp_path / "state")
    collector = MqttCollector(cfg.mqtt, cfg.collector, bootstrap.registry(records), store,
                              bootstrap.open_deadletters(cfg))
    svc = build_service(AlertsConfig.from_mapping(crews(mosquitto.port)), records,
                        str(tmp_path / "var"), workflow_path=wf_path,
                        rules=SCENARIO_ANALYZER.rules())
    stop = threading.Event()
    threads = [threading.Thread(target=run_forever, args=(runner, cfg.analyzer, TZ, stop)),
               threading.Thread(target=run_loop, args=(svc, stop))]
    collector.start()
    assert collector.wait_connected()
    for t in threads:
        t.start()
    pub = Publisher(mosquitto.port, client_id="fast-path-devices")
    try:
        # the analyzer has caught up on the history: the outage is open, no leak yet
        _wait("the outage at S2 found",
              lambda: bool(_rows(wf_path, "SELECT 1 FROM alert_order WHERE incident_kind = "
                                          "'outage' AND substation_id = 'S2'")), 120)
        assert not _rows(wf_path, "SELECT 1 FROM incident WHERE kind = 'leak'")
        passes_24h = int(sc.start_s * 1000) + 357 * 60_000 + shift + 24 * H
        if time.time() * 1000 < passes_24h - 5_000:
            assert not _rows(wf_path, "SELECT 1 FROM notice")
        # the outage passes 24 h a minute or so after now: notices to its residents
        _wait("the residents' notices of the 24 h outage",
              lambda: bool(_rows(wf_path, "SELECT 1 FROM notice")), 240)
        print(f"outage passes 24 h -> notices: {time.time() - passes_24h / 1000:.1f} s")
        # the leak's evidence is published live, as the station would
        pub.publish(_payload(r) for r in sorted(live, key=lambda r: r.ts_ms))
        pub.wait()
        waited = _wait("the leak found", lambda: bool(_rows(
            wf_path, "SELECT 1 FROM incident WHERE kind = 'leak'")), 120)
        print(f"leak evidence published -> leak incident: {waited:.1f} s")
        waited = _wait("the leak's work order in the outbox", lambda: bool(_rows(
            wf_path, "SELECT 1 FROM outbox o JOIN alert_order a ON o.dedup_key LIKE "
                     "a.order_id || ':%' WHERE a.incident_kind = 'leak'")), 120)
        leak = _rows(wf_path, "SELECT subject FROM incident WHERE kind = 'leak'")
        assert leak == [("S1",)]
        print(f"leak evidence published -> order in outbox: {waited:.1f} s")
    finally:
        stop.set()
        for t in threads:
            t.join(60)
        collector.stop()
        pub.client.loop_stop()
        flush = getattr(store, "flush", None)
        if callable(flush):
            flush()
        store.close()

"""Go-live: a district whose devices start reporting at different hours over its first day, a
few that never report, and a gateway of five meters that dies. Silence counts only from a
device's first reading (or its commissioned date); the never-heard-from are one incident per
gateway or building after the grace period; the dead gateway is one incident, one order
(issue 9)."""

from __future__ import annotations

import datetime as dt
import shutil
import zlib
from pathlib import Path

import pytest

from alerts.config import AlertsConfig
from alerts.service import AlertsService
from analyzer.config import AnalyzerConfig
from analyzer.runner import Runner, Watermarks
from district.readings import Reading
from district.records import load_records
from simulators.scenario import SAMPLE_RECORDS_DIR, parse_scenario
from storage.sqlite import SqliteStore
from tests.test_alerts_support import ManualClock
from tests.test_analyzer_scenarios import TZ, district_readings
from workflow.details import MeterCommDetails, SensorFaultDetails
from workflow.incidents import IncidentStore
from workflow.unit import WorkflowDb

H_MS = 3_600_000
DEAD_GW = "127.0.0.1:15099"
NEVER_ROOMS = ("T-B05-0105-liv", "T-B05-0105-bed", "T-B05-0203-liv")
NEVER_METERS = ("M-B01-0103", "M-B01-0105")
MOVED = ("M-B01-0605", "M-B01-0703", "M-B01-0705", "M-B01-0805", "M-B01-0904")


def go_live_records(folder: Path) -> Path:
    """The sample district with five meters of one gateway moved behind a gateway of their own."""
    shutil.copytree(SAMPLE_RECORDS_DIR, folder)
    lines = (folder / "devices.csv").read_text(encoding="utf-8").splitlines()
    out = []
    for line in lines:
        if line.split(",")[0] in MOVED:
            line = line.replace(",127.0.0.1,15022,", ",127.0.0.1,15099,")
        out.append(line)
    (folder / "devices.csv").write_text("\n".join(out) + "\n", encoding="utf-8")
    return folder


def go_live_hour(device_id: str) -> int:
    """Each device starts reporting at its own hour of the first day (0–19 h)."""
    return zlib.crc32(device_id.encode()) % 20


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int, int]:
    tmp = tmp_path_factory.mktemp("go_live")
    records = go_live_records(tmp / "records")
    sc = parse_scenario({
        "name": "go_live", "start": dt.datetime(2024, 12, 2, tzinfo=TZ), "duration": "48h",
        "seed": 20241210, "records": str(records), "meter_update": "5m",
        "weather": {"daily_mean_c": -5.0, "diurnal_amplitude_c": 4.0},
        "behaviour": [{"name": "gateway_down", "target": DEAD_GW, "start": "30h",
                       "duration": "18h"}]}, "go_live")
    rec = load_records(records)
    start = int(sc.start_s * 1000)
    kept: list[Reading] = []
    for r in district_readings(sc, rec):
        dev = r.tags.get("device_id", "")
        if dev in NEVER_ROOMS or dev in NEVER_METERS:
            continue
        if r.ts_ms < start + go_live_hour(dev) * H_MS:
            continue  # not commissioned yet: nothing, not even a failed poll
        kept.append(r)
    store = SqliteStore(tmp / "readings.sqlite")
    store.write(kept)
    store.close()
    return records, tmp / "readings.sqlite", start, int(sc.end_s * 1000)


def test_go_live_gives_no_false_silence_and_one_incident_per_dead_gateway(
        district: tuple[Path, Path, int, int], tmp_path: Path) -> None:
    records, db, start, end = district
    rec = load_records(records)
    store = SqliteStore(db)
    path = tmp_path / "workflow.sqlite"
    wf = IncidentStore(path)
    runner = Runner(store, rec, wf, AnalyzerConfig(), TZ, Watermarks(path))
    for h in range(1, 49):
        runner.run_cycle(start + h * H_MS)
    found = wf.find(include_closed=True)
    store.close()

    comm = [i for i in found if i.kind == "meter_comm"]
    silent = [i for i in found if i.kind == "sensor_fault" and i.cause == "silent"]
    # no device is silent before its first reading: no comm loss, no silent sensor, no dark
    # station (the substations and the weather station go live at their own hours too)
    assert silent == []
    assert [i for i in found if i.kind == "station_comm"] == []
    assert {go_live_hour(d) for d in ("SUB-S1", "SUB-S2", "WX-1")} != {0}
    (gw,) = [i for i in comm if i.cause == "comm"]
    assert gw.subject == f"gateway {DEAD_GW}" and gw.started_ms == start + 30 * H_MS
    assert isinstance(gw.details, MeterCommDetails)
    assert sorted(gw.details.devices) == sorted(MOVED) and gw.details.meters == 5
    # the never heard from: one incident per gateway (meters) and per building (rooms), raised
    # once the grace period (24 h) since the district's first reading has passed
    (never_m,) = [i for i in comm if i.cause == "never_reported"]
    assert never_m.subject == "gateway 127.0.0.1:15021"
    assert isinstance(never_m.details, MeterCommDetails)
    assert sorted(never_m.details.devices) == sorted(NEVER_METERS)
    (never_r,) = [i for i in found if i.kind == "sensor_fault" and i.cause == "never_reported"]
    assert never_r.subject == "building B05"
    assert isinstance(never_r.details, SensorFaultDetails)
    assert sorted(never_r.details.devices) == sorted(NEVER_ROOMS)
    assert never_r.started_ms == never_m.started_ms == start + 24 * H_MS
    assert len(comm) == 2

    # alerts: the dead gateway is one repair order, not one per meter
    clock = ManualClock(end)
    svc = AlertsService(AlertsConfig.from_mapping({}), rec, WorkflowDb(path), {}, clock)
    svc.step(end)
    orders = svc.db.orders.find(include_closed=True)
    gw_orders = [o for o in orders if o.incident_key == gw.key]
    assert len(gw_orders) == 1
    assert not [o for o in orders if o.incident_key in
                {i.key for i in comm if i.subject.startswith("M-")}]


def test_a_commissioned_device_is_expected_from_its_date(
        district: tuple[Path, Path, int, int], tmp_path: Path) -> None:
    """A meter commissioned on the first day that never reports is in comm loss from that
    date, as itself: the company said it should be there."""
    records, db, start, end = district
    folder = tmp_path / "records"
    shutil.copytree(records, folder)
    devices = folder / "devices.csv"
    lines = devices.read_text(encoding="utf-8").splitlines()
    lines[0] += ",commissioned"
    lines[1:] = [ln + (",2024-12-03" if ln.startswith("M-B01-0103,") else ",")
                 for ln in lines[1:]]
    devices.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rec = load_records(folder)
    assert rec.devices["M-B01-0103"].commissioned == dt.date(2024, 12, 3)
    store = SqliteStore(db)
    wf = IncidentStore(tmp_path / "w.sqlite")
    Runner(store, rec, wf, AnalyzerConfig(), TZ, Watermarks(tmp_path / "w.sqlite")
           ).run_cycle(end)
    store.close()
    comm = {(i.subject, i.cause): i for i in wf.find(include_closed=True, kind="meter_comm")}
    assert comm[("M-B01-0103", "comm")].started_ms == start + 24 * H_MS
    # the other one is still "never reported", alone behind its gateway
    never = comm[("gateway 127.0.0.1:15021", "never_reported")].details
    assert isinstance(never, MeterCommDetails) and never.devices == ["M-B01-0105"]


def test_devices_lists_the_never_heard_from(district: tuple[Path, Path, int, int],
                                            tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from heatwatch.cli import main

    records, db, start, end = district
    data = tmp_path / "var"
    data.mkdir()
    shutil.copy(db, data / "readings.sqlite")
    toml = tmp_path / "heatwatch.toml"
    toml.write_text(f'[site]\nrecords_dir = "{records}"\ndata_dir = "{data}"\n'
                    '[store]\nbackend = "sqlite"\n', encoding="utf-8")

    def iso(ms: int) -> str:
        return dt.datetime.fromtimestamp(ms / 1000, TZ).isoformat()

    assert main(["analyze", "--config", str(toml), "--from", iso(start), "--to", iso(end)]) == 0
    capsys.readouterr()
    assert main(["devices", "--config", str(toml), "--never", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(r["device_id"] for r in rows) == sorted(NEVER_ROOMS + NEVER_METERS)
    assert main(["devices", "--config", str(toml)]) == 0
    assert f"{len(NEVER_ROOMS) + len(NEVER_METERS)} of " in capsys.readouterr().out
    # a back-fill's bounds are the operator's to get right: one line, exit 2
    assert main(["analyze", "--config", str(toml), "--to", iso(end)]) == 2
    assert main(["analyze", "--config", str(toml), "--from", iso(end), "--to", iso(start)]) == 2
    assert "--from must be before --to" in capsys.readouterr().err

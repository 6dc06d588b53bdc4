"""`heatwatch scorecard`: four weeks of hourly readings from the slow-fault simulator written to
the real SQLite store for the sample district (a valve stuck open at S1, a bypass in B09), then
the command's ranking and JSON read back through the store."""

from __future__ import annotations

import datetime as dt
import json
import os
import zoneinfo
from pathlib import Path

import numpy as np
import pytest

from alerts.handlers import OpenOrder, plans_for
from analyzer.detectors.early import raise_early_warnings
from analyzer.index import DistrictIndex
from district.readings import Reading
from documents.browser import screenshot
from heatwatch import bootstrap
from heatwatch.cli import main
from heatwatch.config import Config, load_config
from heatwatch.early_job import EarlyWarningJob
from policy.service import ServiceLimits, step_due_ms
from simulators.slow_faults import SliceSpec, SlowFault, draw_slice
from workflow.details import EarlyWarningDetails
from workflow.incidents import IncidentStore

FIRST = dt.date(2026, 12, 7)  # a Monday
DAYS = 28
DAY = FIRST + dt.timedelta(days=DAYS - 1)


def _write(cfg: Config) -> None:
    rec = bootstrap.records(cfg)
    index = DistrictIndex.from_records(rec)
    reg = bootstrap.registry(rec)
    spec = SliceSpec(n_stations=2, days=DAYS, step_min=60, buildings_per_station=6,
                     meters_per_building=4, loss=0.02, meter_loss=0.02, seed=11, outages=0,
                     dark=0, cold_snaps=1, life_noise=0.5,
                     faults=(SlowFault("valve", 0, 15.5), SlowFault("bypass", 1, 16.0, 8)))
    sl = draw_slice(spec)
    tz = zoneinfo.ZoneInfo(cfg.site.timezone)
    t0 = int(dt.datetime.combine(FIRST, dt.time(), tz).timestamp() * 1000)
    out: list[Reading] = []
    for h in range(DAYS * 24):
        ts = t0 + h * 3_600_000 + 60_000
        out.append(Reading("weather", reg["WX-1"].tags, {"outdoor_c": float(sl.outdoor_c[h])},
                           ts))
        for i, dev in enumerate(index.substation_device):
            f = {k: float(getattr(sl, g)[i, h]) for k, g in (
                ("supply_c", "supply_c"), ("return_c", "return_c"), ("flow_m3h", "flow_m3h"),
                ("makeup_m3h", "makeup_m3h"))}
            if not np.isnan(f["supply_c"]):
                out.append(Reading("substation", reg[dev].tags, {**f, "pump_on": True}, ts))
    seen: dict[int, int] = {}
    for m, mid in enumerate(index.meters):
        b = int(index.meter_building[m])
        j = seen[b] = seen.get(b, -1) + 1
        row = b * 4 + j % 4
        for h in range(0, DAYS * 24):
            f = {"supply_c": sl.meter_supply_c[row, h], "return_c": sl.meter_return_c[row, h],
                 "flow_m3h": sl.meter_flow_m3h[row, h], "power_kw": sl.meter_power_kw[row, h]}
            if not np.isnan(f["supply_c"]):
                out.append(Reading("meter", reg[mid].tags, {k: float(v) for k, v in f.items()},
                                   t0 + h * 3_600_000 + 120_000))
    opened = bootstrap.open_store(cfg, spool=False)
    try:
        for a in range(0, len(out), 20_000):
            opened.store.write(out[a : a + 20_000])
    finally:
        opened.store.close()


@pytest.fixture(scope="module")
def cfg_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("scorecard")
    path = tmp / "heatwatch.toml"
    path.write_text(f'[site]\ndata_dir = "{tmp}"\n')
    _write(load_config(path, env={}))
    return path


def test_scorecard_ranks_the_faulty_station_and_building_first(
        cfg_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scorecard", "--config", str(cfg_path), "--day", DAY.isoformat(),
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["day"] == DAY.isoformat() and data["energy_cny_kwh"] == 0.16
    top = data["stations"][0]
    assert top["substation_id"] == "S1" and top["rank"] == 1
    assert top["warning"]["cause"] == "valve"
    assert top["return_excess_k"] > 1.0 and top["wasted_kwh"] > 0
    assert top["wasted_cny"] == pytest.approx(top["wasted_kwh"] * 0.16, rel=1e-3)
    # S2's return rises with its bypassed building's: the building is named below
    assert data["stations"][1]["substation_id"] == "S2"
    assert set(top["residual_z"]) == {"dt", "return", "supply", "flow", "supply_gap", "makeup"}
    b = data["buildings"][0]
    assert b["building_id"] == "B09" and b["substation_id"] == "S2"
    assert b["return_excess_k"] > 1.0 and b["energy_kwh"] > 0


def test_scorecard_table_and_a_bad_day(cfg_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scorecard", "--config", str(cfg_path), "--day", DAY.isoformat()]) == 0
    text = capsys.readouterr().out
    assert "S1" in text.splitlines()[2] and "valve" in text
    assert main(["scorecard", "--config", str(cfg_path), "--day", "28.12.2026"]) != 0
    err = capsys.readouterr().err
    assert "not a date" in err and "Traceback" not in err


def test_early_warnings_open_incidents_that_order_a_maintenance_inspection(
        cfg_path: Path, tmp_path: Path) -> None:
    cfg = load_config(cfg_path, env={})
    rec = bootstrap.records(cfg)
    index = DistrictIndex.from_records(rec)
    tz = zoneinfo.ZoneInfo(cfg.site.timezone)
    inc = IncidentStore(tmp_path / "wf.sqlite")
    opened = bootstrap.open_store(cfg, read_only=True, spool=False)
    try:
        now = int(dt.datetime.combine(DAY, dt.time(6), tz).timestamp() * 1000)
        ev = raise_early_warnings(opened.store, index, inc, DAY, tz, now)
        assert {(getattr(e.details, "cause", ""), e.event) for e in ev} >= {
            ("valve", "opened"), ("poor_cooling", "opened")}
        got = {i.subject: i for i in inc.find(kind="early_warning")}
        assert got["S1"].cause == "valve" and got["building B09"].substation_id == "S2"
        det = got["S1"].details
        assert isinstance(det, EarlyWarningDetails) and det.evidence["flow"] > 1.0
        # the next day the same warnings keep their incidents (no new key, no event)
        later = now + 86_400_000
        again = raise_early_warnings(opened.store, index, inc, DAY, tz, later)
        assert [e.event for e in again if e.key == got["S1"].key] in ([], ["updated"])
        # a day long before the faults: nothing open any more, so the incidents close
        early_day = FIRST + dt.timedelta(days=15)
        closed = raise_early_warnings(opened.store, index, inc, early_day, tz, later + 1)
        assert {e.key for e in closed if e.event == "closed"} >= {got["S1"].key}
    finally:
        opened.store.close()
        inc.close()
    plan = plans_for(got["S1"], "opened", rec)[0]
    assert isinstance(plan, OpenOrder) and plan.kind == "maintenance"
    assert "调节阀" in plan.what
    # three working days: raised on a Friday, due at the end of the next Wednesday
    fri = int(dt.datetime(2026, 12, 4, 9, 0, tzinfo=tz).timestamp() * 1000)
    due = step_due_ms("maintenance", fri, ServiceLimits())["on_site"]
    assert due == int(dt.datetime(2026, 12, 10, tzinfo=tz).timestamp() * 1000)
    # past 2026 chinese-calendar has no schedule: Monday to Friday, not a failed order
    # (Thursday 31 Dec: Friday 1 Jan, Monday 4, Tuesday 5; due at the end of the Tuesday)
    thu = int(dt.datetime(2026, 12, 31, 9, 0, tzinfo=tz).timestamp() * 1000)
    due = step_due_ms("maintenance", thu, ServiceLimits())["on_site"]
    assert due == int(dt.datetime(2027, 1, 6, tzinfo=tz).timestamp() * 1000)


def test_the_morning_report_has_the_early_page(cfg_path: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    cfg = load_config(cfg_path, env={})
    index = DistrictIndex.from_records(bootstrap.records(cfg))
    tz = zoneinfo.ZoneInfo(cfg.site.timezone)
    inc = IncidentStore(cfg.workflow_path())
    opened = bootstrap.open_store(cfg, spool=False)
    try:
        now = int(dt.datetime.combine(DAY, dt.time(6), tz).timestamp() * 1000)
        raise_early_warnings(opened.store, index, inc, DAY, tz, now)
    finally:
        opened.store.close()
        inc.close()
    assert main(["report", "--config", str(cfg_path), "--day", DAY.isoformat(), "--json"]) == 0
    early = json.loads(capsys.readouterr().out)["early"]
    assert {(w["subject"], w["cause"]) for w in early["warnings"]} >= {
        ("S1", "valve"), ("building B09", "poor_cooling")}
    assert early["ranking"][0]["substation_id"] == "S1" and early["ranking"][0]["warning"] == 1
    out = tmp_path / "report.html"
    assert main(["report", "--config", str(cfg_path), "--day", DAY.isoformat(), "--format",
                 "html", "--out", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert "早期预警与能效排名" in html and "调节阀卡在开位" in html and "楼栋 B09" in html
    shots = Path(os.environ.get("HEATWATCH_SHOTS") or tmp_path)
    png = shots / "report-early.png"
    screenshot(html, png, height_px=2600)
    assert png.stat().st_size > 10_000


def test_the_daily_job_judges_yesterday_once_after_its_hour(cfg_path: Path) -> None:
    cfg = load_config(cfg_path, env={})
    tz = zoneinfo.ZoneInfo(cfg.site.timezone)
    job = EarlyWarningJob(cfg, bootstrap.records(cfg),
                          lambda: bootstrap.open_store(cfg, spool=False).store)
    after = DAY + dt.timedelta(days=1)
    early_ms = int(dt.datetime.combine(after, dt.time(2), tz).timestamp() * 1000)
    job(early_ms)  # before the hour: nothing judged yet
    assert job.done is None
    at_ms = int(dt.datetime.combine(after, dt.time(cfg.analyzer.city.early.run_hour), tz)
                .timestamp() * 1000)
    job(at_ms)
    assert job.done == DAY
    inc = IncidentStore(cfg.workflow_path())
    try:
        assert {(i.subject, i.cause) for i in inc.find(kind="early_warning")} >= {
            ("S1", "valve")}
    finally:
        inc.close()

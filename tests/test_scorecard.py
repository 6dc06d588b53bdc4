"""`heatwatch scorecard`: four weeks of hourly readings from the slow-fault simulator written to
the real SQLite store for the sample district (a valve stuck open at S1, a bypass in B09), then
the command's ranking and JSON read back through the store."""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from pathlib import Path

import numpy as np
import pytest

from analyzer.index import DistrictIndex
from district.readings import Reading
from heatwatch import bootstrap
from heatwatch.cli import main
from heatwatch.config import Config, load_config
from simulators.slow_faults import SliceSpec, SlowFault, draw_slice

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

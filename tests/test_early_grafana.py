"""The early-warning dashboard's every query on a real influxd, against the scorecards the
daily job writes (`early_score`) for a simulated slice with a valve stuck open at S01."""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
import urllib.parse
import urllib.request
import zoneinfo
from pathlib import Path
from typing import Any

import pytest

from analyzer.early_store import day_ms, score_readings
from bench.early import analyse_slice
from grafana.dashboards import queries
from grafana.early import early
from policy.rules import DEFAULT_TARIFF
from simulators.slow_faults import SliceSpec, SlowFault, draw_slice
from storage.influx import InfluxStore
from tests.dashboard_preview import render

FIRST = dt.date(2026, 12, 7)
DAYS = 35
TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
STATIONS = [f"S{i:02d}" for i in range(1, 7)]


def _query(url: str, db: str, q: str) -> dict[str, Any]:
    body = urllib.parse.urlencode({"db": db, "q": q, "epoch": "ms"}).encode()
    with urllib.request.urlopen(f"{url}/query", body, timeout=60) as resp:
        (result,) = json.loads(resp.read())["results"]
    return dict(result)


@pytest.mark.services
def test_every_early_panel_runs_and_ranks_the_faulty_station_first(influxd_shared: Any
                                                                   ) -> None:
    spec = SliceSpec(n_stations=len(STATIONS), days=DAYS, step_min=15, seed=5, life_noise=0.5,
                     faults=(SlowFault("valve", 0, 18.0),))
    sl = draw_slice(spec)
    res = analyse_slice(sl)
    db = "early_dashboard"
    store = InfluxStore(influxd_shared.url, db)
    store.write(score_readings(res, STATIONS, FIRST, TZ, DEFAULT_TARIFF.energy_cny_kwh))
    t0, t1 = day_ms(FIRST, TZ), day_ms(FIRST + dt.timedelta(days=DAYS), TZ)
    found: dict[str, list[dict[str, Any]]] = {}
    for p, t in queries(early()):
        q = t["query"].replace("$timeFilter", f"time >= {t0}ms and time <= {t1}ms")
        q = q.replace("$__interval", p.get("interval") or "1m").replace("$substation", "S01")
        assert "$" not in q.replace("$/", ""), q
        result = _query(influxd_shared.url, db, q)
        assert "error" not in result, (p["title"], q, result)
        series = [s for s in result.get("series", [])
                  if any(v is not None for row in s["values"] for v in row[1:])]
        assert series, f"{p['title']} is empty: {q}"
        found[p["title"]] = series
    # what the wall would show, drawn from these results (looked at: $HEATWATCH_SHOTS)
    shots = Path(os.environ.get("HEATWATCH_SHOTS") or Path(tempfile.gettempdir())
                 / "heatwatch-shots")
    shots.mkdir(parents=True, exist_ok=True)
    png = shots / "dashboard-early.png"
    render(early(), found, png)
    assert png.stat().st_size > 20_000
    ranking = found["能效排名 Ranking"]
    cols = ranking[0]["columns"]
    by_station = {s["tags"]["substation_id"]: dict(zip(cols, s["values"][0], strict=True))
                  for s in ranking}
    assert set(by_station) == set(STATIONS)
    top = max(by_station, key=lambda k: by_station[k]["wasted_kwh"])
    assert top == "S01" and by_station["S01"]["warning"] == 1
    assert by_station["S01"]["return_excess_k"] > max(
        by_station[s]["return_excess_k"] for s in STATIONS[1:])
    assert found["早期预警 Early warnings open"][0]["values"][0][1] == 1
    sig = found["热负荷特征 Heat-load signature (kW)"][0]
    assert sig["columns"] == ["time", "power_kw", "expected_kw"]
    # one point a judged day, but for a day the station was too dark to judge
    known = int((res.days.coverage[0, res.first_judged_day:] >= 0.5).sum())
    assert len([r for r in sig["values"] if r[1] is not None]) == known
    store.close()

"""City-scale timing of the early-warning scorecards, beside `bench/analyze.py`: 1,500 stations
and 500,000 heat meters (20 per building, 25,000 buildings) over a season of daily aggregates
(121 days). Times each step of the vectorised pipeline, and beside it the baseline: the same
robust fits done station by station in a Python loop (numpy per row, the way one would write
it first), measured on a sample and scaled to the city.

    .venv/bin/python bench/early_city.py [--scale 1.0] [--chunk 50000] [--seed 7]

Meters are scored in chunks of whole stations (`--chunk` meters at most), so the peak memory
stays near one chunk's arrays; a building's neighbours are on its own station, so no chunk
needs another.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyzer.early import templates  # noqa: E402
from analyzer.kernels.early_drift import drift_warnings  # noqa: E402
from analyzer.kernels.early_signs import (  # noqa: E402
    StationDays,
    baseline_mask,
    building_scores,
    robust_line,
    station_scores,
)
from policy.early import DEFAULT_EARLY  # noqa: E402

DAYS, STATIONS, METERS, PER_BUILDING = 121, 1_500, 500_000, 20


def timed(table: dict[str, float], key: str, fn: Callable[[], Any]) -> Any:
    t = time.perf_counter()
    out = fn()
    table[key] = table.get(key, 0.0) + time.perf_counter() - t
    return out


def city_days(n_st: int, n_m: int, rng: np.random.Generator) -> dict[str, Any]:
    """Synthetic daily aggregates on a season's weather."""
    out = -5.0 + 6.0 * np.sin(np.arange(DAYS) / DAYS * np.pi - np.pi / 2) ** 2 \
        + rng.normal(0, 2.0, DAYS)
    sup = 55.0 - 0.8 * (out + 5.0) + rng.normal(0, 0.3, (n_st, DAYS)) \
        + rng.uniform(-1, 1, (n_st, 1))
    drop = 10.0 * (18.0 - out) / 23.0 * rng.uniform(0.85, 1.15, (n_st, 1))
    flow = rng.uniform(20, 60, (n_st, 1)) * (1 + rng.normal(0, 0.01, (n_st, DAYS)))
    st = StationDays(np.broadcast_to(out, (n_st, DAYS)).copy(), sup, sup - drop, flow,
                     np.full((n_st, DAYS), 0.005) + rng.normal(0, 2e-4, (n_st, DAYS)),
                     np.ones((n_st, DAYS)))
    n_b = n_m // PER_BUILDING
    b_station = np.sort(rng.integers(0, n_st, n_b)).astype(np.intp)
    m_building = np.repeat(np.arange(n_b), PER_BUILDING).astype(np.intp)
    m_sup = (sup[b_station][m_building] - 0.5).astype(np.float64)
    m_ret = m_sup - (drop[b_station][m_building] * rng.uniform(0.85, 1.15, (n_m, 1)))
    m_flow = rng.uniform(0.3, 0.9, (n_m, 1)) * np.ones((1, DAYS))
    return {"out": out, "st": st, "b_station": b_station, "m_building": m_building,
            "m_sup": m_sup, "m_ret": m_ret + rng.normal(0, 0.1, (n_m, DAYS)), "m_flow": m_flow,
            "m_pow": 1.16 * m_flow * (m_sup - m_ret)}


def score_meters(c: dict[str, Any], chunk: int, table: dict[str, float]) -> int:
    """Buildings and their warnings, chunk by chunk of whole stations; returns warnings."""
    b_station, m_building = c["b_station"], c["m_building"]
    free = (np.arange(DAYS) % 7 >= 5).astype(np.float64)
    first_m = np.searchsorted(m_building, np.arange(b_station.size + 1))
    n_warn, b0 = 0, 0
    while b0 < b_station.size:
        b1 = int(np.searchsorted(first_m, first_m[b0] + chunk, side="right")) - 1
        b1 = max(b1, b0 + 1)
        # whole stations only
        b1 = int(np.searchsorted(b_station, b_station[b1 - 1], side="right"))
        m0, m1 = first_m[b0], first_m[b1]
        st_local = b_station[b0:b1] - b_station[b0]
        use = baseline_mask(b1 - b0, DAYS, DEFAULT_EARLY.baseline_days, 14)
        part = [c[k][m0:m1] for k in ("m_sup", "m_ret", "m_flow", "m_pow")]
        t = time.perf_counter()
        bs = building_scores(c["out"], part[0], part[1], part[2], part[3],
                             m_building[m0:m1] - b0, st_local, use, free)
        table["buildings: scores"] = table.get("buildings: scores", 0) + time.perf_counter() - t
        z = bs.z.copy()
        z[:, :14] = np.nan
        t = time.perf_counter()
        w = drift_warnings(z, np.ones((1, 1)))
        table["buildings: drift"] = table.get("buildings: drift", 0) + time.perf_counter() - t
        n_warn += len(w)
        b0 = b1
    return n_warn


def loop_baseline(st: StationDays, rows: int) -> float:
    """Seconds per station for the robust fits done one station at a time."""
    t = time.perf_counter()
    for r in range(rows):
        for y in (st.dt_k[r], st.return_c[r], st.supply_c[r], np.log(st.flow_m3h[r])):
            use = np.zeros(DAYS, dtype=np.bool_)
            use[:14] = True
            robust_line(st.outdoor_c[r : r + 1], y[None, :], use[None, :], 0.15)
    return (time.perf_counter() - t) / rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--chunk", type=int, default=50_000)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    n_st, n_m = int(STATIONS * a.scale), int(METERS * a.scale) // PER_BUILDING * PER_BUILDING
    table: dict[str, float] = {}
    c = timed(table, "synthetic data", lambda: city_days(n_st, n_m, np.random.default_rng(a.seed)))
    use = baseline_mask(n_st, DAYS, DEFAULT_EARLY.baseline_days, 14)
    free = (np.arange(DAYS) % 7 >= 5).astype(np.float64)
    sc = timed(table, "stations: scores", lambda: station_scores(c["st"], use, free=free))
    z = sc.z.copy()
    z[:, :14] = np.nan
    sw = timed(table, "stations: drift", lambda: drift_warnings(z, templates()))
    bw = score_meters(c, a.chunk, table)
    per_station = loop_baseline(c["st"], min(100, n_st))
    work = sum(v for k, v in table.items() if k != "synthetic data")
    print(f"{n_st:,} stations, {n_m:,} meters, {n_m // PER_BUILDING:,} buildings, {DAYS} days")
    for k, v in table.items():
        print(f"  {k:<22} {v:8.2f} s")
    print(f"  {'total (scorecards)':<22} {work:8.2f} s")
    print(f"  baseline: station fits one station at a time ≈ {per_station * n_st:8.2f} s "
          f"(vectorised: {table['stations: scores']:.2f} s)")
    weeks = n_st * (DAYS - 14) / 7
    print(f"  warnings on the synthetic city (no faults in it): {len(sw)} stations "
          f"({100 * len(sw) / weeks:.2f} per 100 station-weeks), {bw} buildings")
    print(f"  peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

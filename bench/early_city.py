"""City-scale timing of the early-warning scorecards, beside `bench/analyze.py`: 1,500 stations
and 500,000 heat meters (20 per building, 25,000 buildings) over a season of daily aggregates
(121 days, 1 % of the meter-days lost). Times each step of the vectorised pipeline, and beside
it the baselines: the same robust fits done station by station in a Python loop (numpy per
row, the way one would write it first), measured on a sample and scaled to the city; and the
building kernel as it was before it was sped up (`bench/early_baseline.py`), run on the same
chunks in the same process, with how far its results are from the current kernel's.

    .venv/bin/python bench/early_city.py [--scale 1.0] [--chunk 100000] [--seed 7] [--no-baseline]

Meters are scored in chunks of whole stations (`--chunk` meters at most), so the peak memory
stays near one chunk's arrays; a building's neighbours are on its own station, so no chunk
needs another.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyzer.early import templates  # noqa: E402
from analyzer.kernels.early_drift import drift_warnings  # noqa: E402
from analyzer.kernels.early_signs import (  # noqa: E402
    BuildingScores,
    StationDays,
    baseline_mask,
    building_scores,
    robust_line,
    station_scores,
)
from bench.early_baseline import building_scores as baseline_building_scores  # noqa: E402
from policy.early import DEFAULT_EARLY  # noqa: E402

DAYS, STATIONS, METERS, PER_BUILDING = 121, 1_500, 500_000, 20
LOST_METER_DAYS = 0.01  # the kernels' NaN paths cost time too: real meters miss days


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
    m = {"m_sup": m_sup, "m_ret": m_ret + rng.normal(0, 0.1, (n_m, DAYS)), "m_flow": m_flow,
         "m_pow": 1.16 * m_flow * (m_sup - m_ret)}
    lost = rng.integers(0, n_m * DAYS, int(LOST_METER_DAYS * n_m * DAYS))
    for grid in m.values():
        grid.reshape(-1)[lost] = np.nan  # a meter-day lost loses every channel
    return {"out": out, "st": st, "b_station": b_station, "m_building": m_building, **m}


KERNELS: dict[str, Callable[..., BuildingScores]] = {
    "buildings: scores": building_scores, "buildings: baseline": baseline_building_scores}


def score_meters(c: dict[str, Any], chunk: int, table: dict[str, float],
                 kernels: tuple[str, ...]) -> tuple[int, dict[str, float]]:
    """Buildings and their warnings, chunk by chunk of whole stations, with each kernel in
    turn on the same chunk (timed apart; its peak memory traced on the first chunk in a run
    of its own); returns the warnings and
    how far the later kernels' results are from the first's."""
    b_station, m_building = c["b_station"], c["m_building"]
    free = (np.arange(DAYS) % 7 >= 5).astype(np.float64)
    first_m = np.searchsorted(m_building, np.arange(b_station.size + 1))
    n_warn, b0 = 0, 0
    diff = {"max |Δz|": 0.0, "max |Δreturn excess| K": 0.0, "outlier flags that differ": 0.0}
    while b0 < b_station.size:
        b1 = int(np.searchsorted(first_m, first_m[b0] + chunk, side="right")) - 1
        b1 = max(b1, b0 + 1)
        # whole stations only
        b1 = int(np.searchsorted(b_station, b_station[b1 - 1], side="right"))
        m0, m1 = first_m[b0], first_m[b1]
        st_local = b_station[b0:b1] - b_station[b0]
        use = baseline_mask(b1 - b0, DAYS, DEFAULT_EARLY.baseline_days, 14)
        part = [c[k][m0:m1] for k in ("m_sup", "m_ret", "m_flow", "m_pow")]
        args = (c["out"], *part, m_building[m0:m1] - b0, st_local, use, free)
        got: list[BuildingScores] = []
        for name in kernels:
            got.append(timed(table, name, partial(KERNELS[name], *args)))
            if b0 == 0:  # traced apart: tracing every allocation slows the kernels down
                table[f"{name} peak MB"] = traced_peak_mb(partial(KERNELS[name], *args))
        for other in got[1:]:
            diff["max |Δz|"] = max(diff["max |Δz|"], _gap(got[0].z, other.z))
            diff["max |Δreturn excess| K"] = max(diff["max |Δreturn excess| K"],
                                                 _gap(got[0].return_excess_k,
                                                      other.return_excess_k))
            diff["outlier flags that differ"] += float(
                (got[0].meter_outlier != other.meter_outlier).sum())
        z = got[0].z.copy()
        z[:, :14] = np.nan
        w = timed(table, "buildings: drift", partial(drift_warnings, z, np.ones((1, 1))))
        n_warn += len(w)
        b0 = b1
    return n_warn, diff


def traced_peak_mb(fn: Callable[[], Any]) -> float:
    """The most memory (MB) allocated at once during one call, beyond what was before it."""
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def _gap(a: np.ndarray, b: np.ndarray) -> float:
    """Largest difference, infinite where one is NaN and the other is not."""
    if not np.array_equal(np.isnan(a), np.isnan(b)):
        return float("inf")
    return float(np.nanmax(np.abs(a - b), initial=0.0))


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
    ap.add_argument("--chunk", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-baseline", action="store_true",
                    help="skip the building kernel as it was before the speed-up")
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
    kernels = tuple(KERNELS)[: 1 if a.no_baseline else 2]
    bw, diff = score_meters(c, a.chunk, table, kernels)
    per_station = loop_baseline(c["st"], min(100, n_st))
    work = sum(v for k, v in table.items() if k not in ("synthetic data", kernels[-1])
               and "peak" not in k) if len(kernels) > 1 else \
        sum(v for k, v in table.items() if k != "synthetic data" and "peak" not in k)
    print(f"{n_st:,} stations, {n_m:,} meters, {n_m // PER_BUILDING:,} buildings, {DAYS} days"
          f" (meters in chunks of {a.chunk:,})")
    for k, v in table.items():
        if "peak" not in k:
            print(f"  {k:<22} {v:8.2f} s")
    print(f"  {'total (scorecards)':<22} {work:8.2f} s")
    for name in kernels:
        print(f"  {name}: {table[f'{name} peak MB']:,.0f} MB traced peak (first chunk)")
    if len(kernels) > 1:
        print(f"  building kernel {table[kernels[1]] / table[kernels[0]]:.1f}× faster than the "
              "baseline; results against it: " + ", ".join(f"{k} {v:.3g}"
                                                           for k, v in diff.items()))
    print(f"  baseline: station fits one station at a time ≈ {per_station * n_st:8.2f} s "
          f"(vectorised: {table['stations: scores']:.2f} s)")
    weeks = n_st * (DAYS - 14) / 7
    print(f"  warnings on the synthetic city (no faults in it): {len(sw)} stations "
          f"({100 * len(sw) / weeks:.2f} per 100 station-weeks), {bw} buildings")
    print(f"  peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

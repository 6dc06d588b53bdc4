"""City-scale benchmark of the analyzer kernels, side by side with an idiomatic pandas version.

Synthetic city over a 48 h window: 60,000 room sensors hourly, 500,000 heat meters hourly
(20 per building), 1,500 substations at 5 min. Prints each kernel's wall time, the total,
peak memory, the pandas times, and whether both give the same results. The steps the
detectors add on real telemetry (values carried forward while fresh, unknown slots bridged,
clearances merged, stuck judged against the building) are timed as rows of their own; the
pandas check covers the kernels they feed. It stays one file over 600 lines: each pandas
version sits beside the synthetic data it checks, to be read top to bottom.

    .venv/bin/python bench/analyze.py [--scale 0.1] [--chunk 10000] [--workers 2] [--no-pandas]
    .venv/bin/python bench/meter_speed.py [--scale 1.0] [--rounds 5]  (the meter kernel alone)
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyzer.detectors.sensors import silence_groups  # noqa: E402
from analyzer.grid import (  # noqa: E402
    HOUR_MS,
    TimeAxis,
    group_sum,
    to_grid,
)
from analyzer.kernels.leak_signs import (  # noqa: E402
    held_leaks,
)
from analyzer.kernels.meter_signs import MeterGrid, detect_meter_faults  # noqa: E402
from analyzer.kernels.outage_spans import (  # noqa: E402
    building_out_slots,
    held_outages,
    substation_out_slots,
)
from analyzer.kernels.room_temps import (  # noqa: E402
    assess_rooms,
    breaches,
    compliance,
    stuck_in_building,
    trailing_mean,
)
from analyzer.runs import intervals, runs_at_least  # noqa: E402
from analyzer.signals import (  # noqa: E402
    bridge_unknown,
    carry_forward,
    confirmed_runs,
    hold_state,
    stale_slots,
)
from bench.kernels import (  # noqa: E402
    cold_room_signals,
    company_compliance,
    detect_building_outages,
    detect_leaks,
    detect_substation_outages,
    downsample_all,
)
from policy.rooms import RoomState  # noqa: E402
from policy.rules import (  # noqa: E402
    Cause,
    LeakRules,
    MeterRules,
    OutageRules,
    RoomRules,
    SignalRules,
)

HOURS = 48
METERS_PER_BUILDING = 20
SUB_STEP_MS = 5 * 60_000
SUB_AXIS = TimeAxis(0, SUB_STEP_MS, HOURS * 12)


@dataclass
class Figures:
    """Wall times per step, and the equality checks."""

    kernel_s: dict[str, float] = field(default_factory=dict)
    pandas_s: dict[str, float] = field(default_factory=dict)
    grid_s: dict[str, float] = field(default_factory=dict)
    thread_s: dict[str, float] = field(default_factory=dict)
    checks: dict[str, bool] = field(default_factory=dict)
    kernel_peak_bytes: int = 0
    # kernels timed for the pandas check whose work the detectors now do in a held step
    superseded: set[str] = field(default_factory=set)

    def add(self, table: dict[str, float], key: str, seconds: float) -> None:
        table[key] = table.get(key, 0.0) + seconds


def timed(fig: Figures, table: dict[str, float], key: str, fn: Callable[[], Any],
          trace: bool = False) -> Any:
    """Add `fn`'s wall time to `table[key]`; with `trace`, first a traced run for peak memory.

    The traced run doubles as the warm-up, so first-call costs stay out of the timing.
    """
    if trace:
        tracemalloc.start()
        fn()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        fig.kernel_peak_bytes = max(fig.kernel_peak_bytes, peak)
    t0 = time.perf_counter()
    out = fn()
    fig.add(table, key, time.perf_counter() - t0)
    return out


# ---------------------------------------------------------------- synthetic city

@dataclass
class City:
    n_rooms: int
    n_meters: int
    n_subs: int
    n_buildings: int
    building_sub: np.ndarray


def make_city(scale: float) -> City:
    n_subs = max(2, round(1500 * scale))
    n_meters = max(METERS_PER_BUILDING, round(500_000 * scale) // METERS_PER_BUILDING
                   * METERS_PER_BUILDING)
    n_buildings = n_meters // METERS_PER_BUILDING
    building_sub = (np.arange(n_buildings) * n_subs) // n_buildings
    return City(max(10, round(60_000 * scale)), n_meters, n_subs, n_buildings, building_sub)


def make_rooms(city: City, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n, t = city.n_rooms, HOURS
    base = rng.normal(20.5, 1.6, size=(n, 1))
    hours = np.arange(t)
    temp = base + 0.8 * np.sin(2 * np.pi * (hours - 4) / 24) + rng.normal(0, 0.3, size=(n, t))
    temp = np.round(temp, 1)
    pick = rng.random(n)
    temp[pick < 0.005, 20:] = 17.0  # stuck
    temp[(pick >= 0.005) & (pick < 0.010), :30] = np.nan  # silent
    temp[(pick >= 0.010) & (pick < 0.012), 40] = 85.0  # out of range
    temp[(pick >= 0.012) & (pick < 0.040), 30:] -= 6.0  # going cold on day 2
    temp[rng.random((n, t)) < 0.02] = np.nan  # lost samples
    building = rng.integers(0, city.n_buildings, n)
    return {
        "temp_c": temp.astype(np.float32),
        "counted": rng.random(n) < 0.9,
        "building": building,
        "substation": city.building_sub[building],
        "outdoor": rng.uniform(-9.5, 0.0, size=(city.n_subs, 2)),
        "design": np.full(city.n_subs, -7.0),
    }


def make_meters(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    t = HOURS
    flow = np.clip(rng.normal(0.5, 0.1, size=(n, 1)) + rng.normal(0, 0.02, size=(n, t)), 0.05,
                   None)
    noise = rng.normal(0, 0.3, size=(n, t))
    supply = rng.uniform(50, 60, size=(n, 1)) + noise
    ret = supply - rng.uniform(6, 12, size=(n, 1))
    volume = rng.uniform(100, 5000, size=(n, 1)) + np.cumsum(flow, axis=1)
    energy = rng.uniform(1e3, 2e5, size=(n, 1)) + np.cumsum(flow * (supply - ret) * 1.16, axis=1)
    status = np.zeros((n, t), np.uint16)
    pick = rng.random(n)
    hit = rng.random((n, t)) < 0.002
    status[hit] = (1 << rng.integers(0, 9, size=int(hit.sum()))).astype(np.uint16)
    supply[pick < 0.001, 10:14] = 185.0
    ret[(pick >= 0.001) & (pick < 0.002), 30:] = 0.0
    frozen = np.nonzero((pick >= 0.002) & (pick < 0.003))[0]
    energy[frozen, 21:25] = energy[frozen, 20:21]
    swapped = (pick >= 0.003) & (pick < 0.004)
    supply[swapped, 5:14], ret[swapped, 5:14] = ret[swapped, 5:14], supply[swapped, 5:14].copy()
    energy[(pick >= 0.004) & (pick < 0.005), 40:] -= 50.0
    energy[(pick >= 0.005) & (pick < 0.006), 33:] += 2.0
    dead = (pick >= 0.006) & (pick < 0.009)
    gaps = dead[:, None] & (rng.random((n, t)) < 0.2)
    gaps |= rng.random((n, t)) < 0.001
    for grid in (energy, volume, flow, supply, ret):
        grid[gaps] = np.nan
    status[gaps] = 0
    # a few buildings lose flow for 3 h (all their meters): building outages
    b = n // METERS_PER_BUILDING
    out_b = np.nonzero(rng.random(b) < 0.01)[0]
    rows = (out_b[:, None] * METERS_PER_BUILDING + np.arange(METERS_PER_BUILDING)).ravel()
    flow[rows, 12:15] = 0.0
    return {"energy_kwh": energy, "volume_m3": volume, "flow_m3h": flow.astype(np.float32),
            "supply_c": supply.astype(np.float32), "return_c": ret.astype(np.float32),
            "status": status}


def make_substations(city: City, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n, t = city.n_subs, HOURS * 12
    pump = np.ones((n, t), np.float32)
    supply = (55 + rng.normal(0, 1, size=(n, t))).astype(np.float32)
    ret = (supply - 10 + rng.normal(0, 0.5, size=(n, t))).astype(np.float32)
    flow = (rng.uniform(80, 200, size=(n, 1)) * (1 + rng.normal(0, 0.02, size=(n, t))))
    makeup = flow * rng.uniform(0.002, 0.01, size=(n, t))
    hold = 0.35 + rng.normal(0, 0.005, size=(n, t))
    pick = rng.random(n)
    starts = rng.integers(0, t - 40, size=n)
    lengths = rng.integers(2, 400, size=n)
    slot = np.arange(t)
    window = (slot >= starts[:, None]) & (slot < (starts + lengths)[:, None])
    pump[(pick < 0.05)[:, None] & window] = 0  # pump trips, from 10 min to 33 h
    cold = (pick >= 0.05) & (pick < 0.08)
    supply[cold[:, None] & window] = 30.0
    ret[cold[:, None] & window] = 29.5
    leak = (pick >= 0.08) & (pick < 0.10)
    makeup[leak[:, None] & window] *= 8.0
    sag = (pick >= 0.10) & (pick < 0.12)
    hold[sag[:, None] & window] -= 0.11
    lost = rng.random((n, t)) < 0.001
    for grid in (pump, supply, ret, flow, makeup, hold):
        grid[lost] = np.nan
    return {"pump_on": pump, "supply_c": supply, "return_c": ret, "flow_m3h": flow,
            "makeup_m3h": makeup, "hold_mpa": hold}


# ---------------------------------------------------------------- pandas, the same rules

def pd_long(grids: dict[str, np.ndarray], key: str) -> Any:
    """The frame a resample-per-device pipeline yields: one row per device and slot."""
    import pandas as pd

    n, t = next(iter(grids.values())).shape
    cols: dict[str, Any] = {key: np.repeat(np.arange(n), t), "slot": np.tile(np.arange(t), n)}
    for name, grid in grids.items():
        cols[name] = grid.ravel()
    return pd.DataFrame(cols)


def pd_run_len(mask: Any, key: Any) -> Any:
    """Length of the run of True each row belongs to, per device (0 where False)."""
    run = (mask != mask.groupby(key).shift()).cumsum()
    return mask.groupby(run).transform("size").where(mask, 0)


def pd_rooms(r: dict[str, np.ndarray], axis: TimeAxis, rules: RoomRules) -> dict[str, Any]:
    import pandas as pd

    df = pd_long({"temp_c": r["temp_c"].astype(np.float64)}, "room")
    df["day"] = df["slot"] // axis.slots_per_day
    df["in_range"] = df["temp_c"].between(rules.valid_min_c, rules.valid_max_c)
    df["valid_c"] = df["temp_c"].where(df["in_range"])
    df["oor"] = df["temp_c"].notna() & ~df["in_range"]
    g = df.groupby("room", sort=False)
    same = (g["valid_c"].diff().abs() <= rules.stuck_tolerance_c)
    need = axis.slots_for(rules.stuck_h * 60)
    run = (~same).cumsum()
    pairs = same.groupby(run).transform("sum")
    df["stuck"] = df["valid_c"].notna() & (pairs >= need - 1)
    day = df.groupby(["room", "day"], sort=True).agg(
        mean_c=("valid_c", "mean"), count=("valid_c", "count"), oor=("oor", "any"),
        stuck=("stuck", "any"),
    )
    day["mean_c"] = day["mean_c"].round(6)
    day["silent"] = day["count"] < np.ceil(rules.min_day_coverage * axis.slots_per_day)
    room = pd.DataFrame({"substation": r["substation"], "building": r["building"],
                         "counted": r["counted"]})
    day = day.join(room, on="room")
    outdoor = pd.DataFrame(r["outdoor"]).stack().rename("outdoor").rename_axis(["substation",
                                                                                 "day"])
    day = day.join(outdoor, on=["substation", "day"])
    day["excluded"] = day["outdoor"] < r["design"][day["substation"]]
    state = np.where(day["mean_c"] < rules.min_c, RoomState.COLD, RoomState.PASS)
    state = np.where(day["excluded"], RoomState.EXCLUDED, state)
    state = np.where(day["silent"] | day["stuck"] | day["oor"], RoomState.SENSOR_FAULT, state)
    day["state"] = np.where(day["counted"], state, RoomState.NOT_COUNTED)
    day["pass"] = day["state"] == RoomState.PASS
    day["measured"] = day["pass"] | (day["state"] == RoomState.COLD)
    sub = day.groupby(["substation", "day"])[["pass", "measured"]].sum()
    sub["rate"] = sub["pass"] / sub["measured"]
    breach = sub.index[sub["rate"] < rules.target_rate]
    w = axis.slots_for(rules.trailing_h * 60)
    roll = g["valid_c"].rolling(w, min_periods=int(np.ceil(rules.trailing_min_coverage * w)))
    df["trail"] = roll.mean().reset_index(level=0, drop=True).round(6)
    df = df.join(day["state"], on=["room", "day"])
    eligible = df["state"].isin([RoomState.PASS, RoomState.COLD])
    low = df[eligible & (df["trail"] < rules.min_c)]
    first = low.groupby(["room", "day"])["slot"].min()
    return {"state": day["state"].to_numpy().reshape(-1, 2), "breaches": set(breach.tolist()),
            "signals": set(zip(first.index.get_level_values(0), first.to_numpy(), strict=True))}


def pd_meters(m: dict[str, np.ndarray], axis: TimeAxis, rules: MeterRules) -> dict[Cause, Any]:
    df = pd_long({k: v.astype(np.float64) if k != "status" else v.astype(np.int64)
                  for k, v in m.items()}, "meter")
    g = df.groupby("meter", sort=False)
    present = df["energy_kwh"].notna()
    out: dict[Cause, Any] = {}
    for bit in rules.status_bits:
        out[Cause(bit)] = present & ((df["status"] // (1 << bit)) % 2 == 1)
    tol = rules.exact_tolerance_c
    short = opened = oor = False
    for col in ("supply_c", "return_c"):
        s = present & ((df[col] - rules.short_c).abs() <= tol)
        o = present & ((df[col] - rules.open_c).abs() <= tol)
        r = present & ~s & ~o & ((df[col] < rules.valid_min_c) | (df[col] > rules.valid_max_c))
        short, opened, oor = s | short, o | opened, r | oor
    out[Cause.SENSOR_SHORT], out[Cause.SENSOR_OPEN], out[Cause.TEMP_OUT_OF_RANGE] = (
        short, opened, oor)
    temps_ok = present & ~short & ~opened & ~oor & df["supply_c"].notna() & df["return_c"].notna()
    e_prev = df["energy_kwh"].where(present).groupby(df["meter"]).ffill().groupby(
        df["meter"]).shift()
    v_valid = present & df["volume_m3"].notna()
    v_prev = df["volume_m3"].where(v_valid).groupby(df["meter"]).ffill().groupby(
        df["meter"]).shift()
    out[Cause.ENERGY_DECREASED] = present & (df["energy_kwh"] < e_prev)
    out[Cause.VOLUME_DECREASED] = v_valid & (df["volume_m3"] < v_prev)
    flowing = present & (df["flow_m3h"] > 0)
    dt = df["supply_c"] - df["return_c"]
    consecutive = present & present.groupby(df["meter"]).shift(fill_value=False)
    d_e = g["energy_kwh"].diff()
    d_v = g["volume_m3"].diff()
    k = rules.k_kwh_m3k
    step_h = axis.step_ms / 3_600_000
    whole = (df["energy_kwh"] % 1.0 == 0) | df["energy_kwh"].isna()
    res_e = np.where(whole.groupby(df["meter"]).transform("all"), 1.0,
                     rules.energy_resolution_kwh)
    v_step = df["flow_m3h"] * step_h
    frozen = consecutive & flowing & (
        ((d_v == 0) & (v_step >= rules.volume_resolution_m3))
        | ((d_e == 0) & temps_ok & (dt >= rules.dtheta_min_k) & (v_step * dt * k >= res_e)))
    out[Cause.TOTAL_FROZEN] = pd_run_len(frozen, df["meter"]) >= rules.frozen_intervals
    swapped = temps_ok & flowing & (dt < 0)
    need = int(np.floor(rules.swapped_h * 3_600_000 / axis.step_ms + 1e-9)) + 1
    out[Cause.SENSORS_SWAPPED] = pd_run_len(swapped, df["meter"]) >= need
    dtheta = 0.5 * (dt + dt.groupby(df["meter"]).shift())
    ok_prev = temps_ok.groupby(df["meter"]).shift(fill_value=False)
    out[Cause.ENERGY_MISMATCH] = pd_mismatch(df, d_e, d_v, dtheta, consecutive & temps_ok
                                             & ok_prev, res_e, step_h, rules)
    out[Cause.COMM_LOSS] = pd_run_len(~present, df["meter"]) >= rules.comm_loss_intervals
    return out


def pd_mismatch(df: Any, d_e: Any, d_v: Any, dtheta: Any, valid: Any, res_e: Any,
                step_h: float, rules: MeterRules) -> Any:
    """The growing-window energy check (policy/meters.py), one window length at a time."""
    key, k = df["meter"], rules.k_kwh_m3k
    q = d_v / step_h
    qi, qs = rules.qp_m3h / rules.qp_over_qi, rules.qp_m3h * rules.qs_over_qp
    ok = valid & d_e.notna() & d_v.notna() & (dtheta >= rules.dtheta_min_k) & (q >= qi) & (
        q <= qs)
    e_exp = (d_v * dtheta * k).where(ok, 0.0)
    ratio = rules.dtheta_min_k / dtheta
    pct = np.minimum(2.0 + 0.02 * rules.qp_m3h / q, rules.flow_cap_pct) + (
        0.5 + 3.0 * ratio) + (0.5 + ratio)
    lim = (pct * e_exp / 100).where(ok, 0.0)
    miss = (d_e - e_exp).where(ok, 0.0)
    th = dtheta.where(ok, 0.0)
    tv = (th - th.groupby(key).shift()).abs().where(ok & ok.groupby(key).shift(
        fill_value=False), 0.0)
    sums = {n: x.groupby(key).cumsum() for n, x in (("bad", (~ok).astype(float)),
                                                      ("miss", miss), ("lim", lim), ("tv", tv))}
    undecided, fault = ok.copy(), ok & False
    ladder: list[int] = []
    w, top = 1, round(rules.verdict_max_h / step_h)
    while w < top:
        ladder, w = [*ladder, w], w * 2
    for w in [*ladder, top]:
        def win(name: str, w: int = w) -> Any:
            c = sums[name]
            return c - c.groupby(key).shift(w, fill_value=0.0)
        full = win("bad") < 0.5
        m, lw = win("miss"), win("lim")
        inner = win("tv") - tv.groupby(key).shift(w - 1)
        qz = res_e + rules.volume_resolution_m3 * k * (th.groupby(key).shift(w - 1) + th + inner)
        able = undecided & full & (qz <= rules.verdict_quantisation_share * lw)
        fail = able & (m.abs() > lw + qz)
        done = able & (fail | (m.abs() < lw - qz))
        undecided = undecided & full & ~done
        for back in range(w):
            fault |= fail.groupby(key).shift(-back, fill_value=False)
    return fault


def pd_intervals(mask: Any, key: Any, slot: Any) -> set[tuple[int, int, int]]:
    """Runs of True per device as (device, start, end exclusive)."""
    run = (mask != mask.groupby(key).shift()).cumsum()
    sel = mask.to_numpy()
    agg = slot[sel].groupby([key[sel], run[sel]]).agg(["min", "max"])
    return set(zip(agg.index.get_level_values(0).tolist(), agg["min"].tolist(),
                   (agg["max"] + 1).tolist(), strict=True))


def pd_building_outages(m: dict[str, np.ndarray], running: np.ndarray, first_building: int,
                        rules: OutageRules) -> set[tuple[int, int, int]]:
    df = pd_long({k: m[k].astype(np.float64) for k in ("flow_m3h", "supply_c", "return_c")},
                 "meter")
    df["building"] = df["meter"] // METERS_PER_BUILDING
    df["present"] = df["flow_m3h"].notna()
    df["dead"] = df["present"] & ((df["flow_m3h"] <= rules.no_flow_m3h)
                                  | ((df["supply_c"] - df["return_c"]) < rules.min_dt_k))
    b = df.groupby(["building", "slot"], sort=True)[["present", "dead"]].sum().reset_index()
    run_ok = running[b["building"].to_numpy() + first_building, b["slot"].to_numpy()]
    out = (b["present"] > 0) & (b["dead"] == b["present"]) & run_ok
    return pd_intervals(out, b["building"], b["slot"])


def pd_substations(s: dict[str, np.ndarray], axis: TimeAxis, orules: OutageRules,
                   lrules: LeakRules) -> dict[str, set[tuple[int, int, int]]]:
    df = pd_long({k: v.astype(np.float64) for k, v in s.items()}, "sub")
    out = (df["pump_on"] == 0) | ((df["supply_c"] < orules.min_supply_c)
                                  & ((df["supply_c"] - df["return_c"]) < orules.min_dt_k))
    long_out = out & (pd_run_len(out, df["sub"]) >= axis.slots_for(orules.min_duration_min))
    w = axis.slots_for(lrules.window_h * 60)
    g = df.groupby("sub", sort=False)
    m_sum = g["makeup_m3h"].rolling(w, min_periods=w).sum().reset_index(level=0, drop=True)
    f_sum = g["flow_m3h"].rolling(w, min_periods=w).sum().reset_index(level=0, drop=True)
    share = (m_sum / f_sum.where(f_sum > 0)).round(9)
    makeup = share > lrules.makeup_share
    ref = g["hold_mpa"].transform("median")
    sag = (ref - df["hold_mpa"]) >= lrules.sag_mpa - 1e-9
    sag = sag & (pd_run_len(sag, df["sub"]) >= axis.slots_for(lrules.sag_min_duration_min))
    return {"outages": pd_intervals(long_out, df["sub"], df["slot"]),
            "makeup": pd_intervals(makeup, df["sub"], df["slot"]),
            "sag": pd_intervals(sag, df["sub"], df["slot"])}


def iv_set(mask: np.ndarray, offset: int = 0) -> set[tuple[int, int, int]]:
    iv = intervals(mask)
    return set(zip((iv.row + offset).tolist(), iv.start.tolist(), iv.end.tolist(), strict=True))


# ---------------------------------------------------------------- the held steps

def room_signals(rooms: dict[str, np.ndarray], city: City, rr: RoomRules,
                 sig: SignalRules) -> Any:
    """What the room detectors add: stuck judged against the building, values held while
    fresh, cold spells bridged over unknown hours and dated by their first reading."""
    temp = rooms["temp_c"]
    stuck = stuck_in_building(temp, TimeAxis(0, HOUR_MS, HOURS), rooms["building"],
                              city.n_buildings, rr)
    carry_forward(temp, stale_slots(sig.room_stale_h * HOUR_MS, HOUR_MS))
    known = ~np.isnan(temp)
    with np.errstate(invalid="ignore"):
        below = np.where(known, temp < rr.min_c, hold_state(temp < rr.min_c, known))
        confirm = trailing_mean(temp, TimeAxis(0, HOUR_MS, HOURS), rr) < rr.min_c
    return stuck, confirmed_runs(bridge_unknown(below, ~known), confirm)


def sub_signals(subs: dict[str, np.ndarray], axis: TimeAxis, orules: OutageRules,
                lrules: LeakRules, sig: SignalRules) -> Any:
    """What the substation detectors run: readings held while fresh, unknown slots bridged,
    clearances up to the merge gap merged, leaks dated by their first sign."""
    k = stale_slots(sig.substation_stale_min * 60_000, SUB_STEP_MS)
    held = {f: carry_forward(g, k) for f, g in subs.items()}
    known = ~np.isnan(held["pump_on"]) | (~np.isnan(held["supply_c"])
                                          & ~np.isnan(held["return_c"]))
    out = substation_out_slots(held["pump_on"], held["supply_c"], held["return_c"], orules)
    return (held_outages(out, known, axis, orules, sig),
            held_leaks(held["flow_m3h"], held["makeup_m3h"], held["hold_mpa"], axis, lrules,
                       sig))


def held_buildings(m: dict[str, np.ndarray], mb: np.ndarray, nb: int, running: np.ndarray,
                   orules: OutageRules, sig: SignalRules) -> Any:
    """The building detector's path: meter values held while fresh, buildings bridged."""
    k = stale_slots(sig.meter_stale_h * HOUR_MS, HOUR_MS)
    held = {f: carry_forward(m[f], k) for f in ("flow_m3h", "supply_c", "return_c")}
    out = building_out_slots(held["flow_m3h"], held["supply_c"], held["return_c"], mb, nb,
                             running, orules)
    known = group_sum(~np.isnan(held["flow_m3h"]), mb, nb) > 0
    return held_outages(out, known, TimeAxis(0, HOUR_MS, HOURS), orules, sig)


def silences(rooms: dict[str, np.ndarray], known: np.ndarray, rr: RoomRules,
             sig: SignalRules) -> Any:
    """What the silence detectors add: stations unknown past their limit, rooms silent past
    theirs, grouped by building when they went quiet together."""
    stations = intervals(runs_at_least(~known, SUB_AXIS.slots_for(sig.substation_silent_min)))
    room_axis = TimeAxis(0, HOUR_MS, HOURS)
    quiet = runs_at_least(np.isnan(rooms["temp_c"]),
                          room_axis.slots_for((sig.room_stale_h + rr.silent_h) * 60))
    iv = intervals(quiet)
    runs = list(zip(iv.row.tolist(), iv.start.tolist(), iv.end.tolist(), strict=True))
    return stations, silence_groups(runs, rooms["building"],
                                    room_axis.slots_for(sig.room_stale_h * 60))


# ---------------------------------------------------------------- the run

def run(scale: float, chunk: int, workers: int, with_pandas: bool, seed: int) -> Figures:
    fig = Figures()
    city = make_city(scale)
    rng = np.random.default_rng(seed)
    print(f"city: {city.n_rooms:,} rooms, {city.n_meters:,} meters in {city.n_buildings:,} "
          f"buildings, {city.n_subs:,} substations, {HOURS} h")
    room_axis = TimeAxis(0, HOUR_MS, HOURS)
    sub_axis = TimeAxis(0, SUB_STEP_MS, HOURS * 12)
    rr, mr, orules, lrules = RoomRules(), MeterRules(), OutageRules(), LeakRules()

    rooms = make_rooms(city, rng)
    # gridding: the long arrays a store returns, made dense (timed apart from the kernels)
    present = ~np.isnan(rooms["temp_c"])
    r_row, r_slot = np.nonzero(present)
    long_ts = r_slot.astype(np.int64) * HOUR_MS + 60_000
    grid = timed(fig, fig.grid_s, "rooms to_grid", lambda: to_grid(
        r_row, long_ts, rooms["temp_c"][present], city.n_rooms, room_axis))
    fig.checks["rooms grid round-trip"] = bool(np.array_equal(grid, rooms["temp_c"],
                                                              equal_nan=True))

    def room_kernels() -> dict[str, Any]:
        days = assess_rooms(rooms["temp_c"], room_axis, rooms["counted"], rooms["substation"],
                            rooms["outdoor"], rooms["design"], rr)
        sub = compliance(days.state, rooms["substation"], city.n_subs)
        compliance(days.state, rooms["building"], city.n_buildings)
        company_compliance(days.state)
        sig = cold_room_signals(rooms["temp_c"], room_axis, days, rr)
        return {"state": days.state, "breaches": breaches(sub, rr), "signals": sig}

    rk = timed(fig, fig.kernel_s, "rooms", room_kernels, trace=True)
    sig = SignalRules()
    timed(fig, fig.kernel_s, "rooms: carry-forward, stuck, spells",
          partial(room_signals, rooms, city, rr, sig), trace=True)

    subs = make_substations(city, rng)
    sk = timed(fig, fig.kernel_s, "outages (substations)", lambda: detect_substation_outages(
        subs["pump_on"], subs["supply_c"], subs["return_c"], sub_axis, orules), trace=True)
    running_fn = lambda: downsample_all(  # noqa: E731
        ~substation_out_slots(subs["pump_on"], subs["supply_c"], subs["return_c"], orules), 12)
    running_sub = timed(fig, fig.kernel_s, "outages (buildings)", running_fn, trace=True)
    running = running_sub[city.building_sub]
    lk = timed(fig, fig.kernel_s, "leaks", lambda: detect_leaks(
        subs["flow_m3h"], subs["makeup_m3h"], subs["hold_mpa"], sub_axis, lrules), trace=True)

    timed(fig, fig.kernel_s, "substations: carry-forward, merge",
          partial(sub_signals, subs, sub_axis, orules, lrules, sig), trace=True)
    fig.superseded |= {"outages (substations)", "leaks"}
    known = ~np.isnan(carry_forward(subs["pump_on"],
                                    stale_slots(sig.substation_stale_min * 60_000, SUB_STEP_MS)))
    timed(fig, fig.kernel_s, "silence: stations, rooms by building",
          partial(silences, rooms, known, rr, sig), trace=True)

    # meters: chunks of a cache-friendly size, spread over worker threads (numpy drops the GIL)
    firsts = list(range(0, city.n_meters, chunk))
    data = [make_meters(min(chunk, city.n_meters - f), np.random.default_rng(seed + 1 + f))
            for f in firsts]
    thread_s: dict[str, float] = {}

    def meter_chunk(i: int) -> tuple[Any, Any]:
        m, first = data[i], firsts[i]
        n = m["flow_m3h"].shape[0]
        fb, nb = first // METERS_PER_BUILDING, n // METERS_PER_BUILDING
        t0 = time.perf_counter()
        faults = detect_meter_faults(MeterGrid(**m), room_axis, mr)
        t1 = time.perf_counter()
        mb = np.arange(n) // METERS_PER_BUILDING
        bo = detect_building_outages(m["flow_m3h"], m["supply_c"], m["return_c"], mb, nb,
                                     running[fb:fb + nb], room_axis, orules)
        t2 = time.perf_counter()
        held_buildings(m, mb, nb, running[fb:fb + nb], orules, sig)
        t3 = time.perf_counter()
        thread_s["meters"] = thread_s.get("meters", 0.0) + t1 - t0
        thread_s["outages (buildings)"] = thread_s.get("outages (buildings)", 0.0) + t2 - t1
        thread_s["carry-forward (buildings)"] = (thread_s.get("carry-forward (buildings)", 0.0)
                                                 + t3 - t2)
        return faults, bo

    def all_chunks() -> list[tuple[Any, Any]]:
        thread_s.clear()
        with ThreadPoolExecutor(workers) as ex:
            return list(ex.map(meter_chunk, range(len(firsts))))

    results = timed(fig, fig.kernel_s, f"meters + building outages ({workers} threads)",
                    all_chunks, trace=True)
    for k, v in thread_s.items():
        fig.thread_s[k] = v
    n_faults = sum(len(f) for f, _ in results)
    n_bout = sum(len(bo) for _, bo in results)
    meters_equal = True
    bout_equal = True
    if with_pandas:
        for i, (faults, bo) in enumerate(results):
            m, first = data[i], firsts[i]
            n = m["flow_m3h"].shape[0]
            pm = timed(fig, fig.pandas_s, "meters", partial(pd_meters, m, room_axis, mr))
            for cause, pmask in pm.items():
                mask = np.zeros((n, HOURS), dtype=bool)
                sel = faults.cause == cause
                for r, a, b in zip(faults.meter[sel], faults.start[sel], faults.end[sel],
                                   strict=True):
                    mask[r, a:b] = True
                meters_equal &= bool(np.array_equal(mask, pmask.to_numpy().reshape(n, -1)))
            pb = timed(fig, fig.pandas_s, "outages (buildings)", partial(
                pd_building_outages, m, running, first // METERS_PER_BUILDING, orules))
            bout_equal &= pb == set(zip(bo.row.tolist(), bo.start.tolist(), bo.end.tolist(),
                                        strict=True))
    data.clear()
    print(f"found: {len(rk['breaches'])} compliance breaches, {len(rk['signals'])} cold-room "
          f"signals, {len(sk)} substation outages, {n_bout} building outages, {len(lk)} leaks, "
          f"{n_faults:,} meter fault intervals")

    if with_pandas:
        pr = timed(fig, fig.pandas_s, "rooms", lambda: pd_rooms(rooms, room_axis, rr))
        fig.checks["rooms: states"] = bool(np.array_equal(pr["state"], rk["state"]))
        fig.checks["rooms: breaches"] = pr["breaches"] == {(b.substation, b.day)
                                                           for b in rk["breaches"]}
        sig = rk["signals"]
        fig.checks["rooms: cold signals"] = pr["signals"] == set(zip(
            sig.room.tolist(), sig.slot.tolist(), strict=True))
        ps = timed(fig, fig.pandas_s, "substations (outages+leaks)",
                   lambda: pd_substations(subs, sub_axis, orules, lrules))
        fig.checks["outages: substations"] = ps["outages"] == set(zip(
            sk.row.tolist(), sk.start.tolist(), sk.end.tolist(), strict=True))
        leaks = {int(k): set(zip(lk.substation[lk.sign == k].tolist(),
                                 lk.start[lk.sign == k].tolist(), lk.end[lk.sign == k].tolist(),
                                 strict=True)) for k in (1, 2)}
        fig.checks["leaks: make-up"] = ps["makeup"] == leaks[1]
        fig.checks["leaks: pressure sag"] = ps["sag"] == leaks[2]
        fig.checks["meters: every cause mask"] = meters_equal
        fig.checks["outages: buildings"] = bout_equal
    return fig


def report(fig: Figures) -> None:
    print("\nkernels (wall s):")
    for k, v in fig.kernel_s.items():
        print(f"  {k:<28} {v:8.3f}")
    total = sum(fig.kernel_s.values())
    print(f"  {'TOTAL':<28} {total:8.3f}   (every row)")
    path = sum(v for k, v in fig.kernel_s.items() if k not in fig.superseded)
    print(f"  {'TOTAL on the analyzer path':<28} {path:8.3f}   (target < 1 s; without "
          f"{', '.join(sorted(fig.superseded)) or 'nothing'}, which the held steps replace)")
    for k, v in fig.thread_s.items():
        print(f"  within threads: {k:<12} {v:8.3f} thread-s")
    for k, v in fig.grid_s.items():
        print(f"  gridding: {k:<18} {v:8.3f}")
    print(f"peak memory allocated by one kernel step (tracemalloc): "
          f"{fig.kernel_peak_bytes / 2**20:,.0f} MiB")
    print(f"process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} "
          "MiB")
    if fig.pandas_s:
        print("\npandas (wall s):")
        for k, v in fig.pandas_s.items():
            print(f"  {k:<28} {v:8.3f}")
        ptotal = sum(fig.pandas_s.values())
        print(f"  {'TOTAL':<28} {ptotal:8.3f}   speed-up {ptotal / total:,.1f}× (target ≥ 10×)")
        threaded = [k for k in fig.kernel_s if "threads" in k]
        one_core = (total - sum(fig.kernel_s[k] for k in threaded) + sum(fig.thread_s.values()))
        print(f"  single-thread kernels {one_core:.3f} s: speed-up {ptotal / one_core:,.1f}× "
              "core for core")
        print("\nsame results as pandas:")
        for k, ok in fig.checks.items():
            print(f"  {'yes' if ok else 'NO ':<4} {k}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="share of the city (1.0 = full)")
    ap.add_argument("--chunk", type=int, default=10_000,
                    help="meters per chunk (small enough to stay in cache)")
    ap.add_argument("--workers", type=int, default=2, help="threads for the meter chunks")
    ap.add_argument("--no-pandas", action="store_true", help="skip the pandas comparison")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    chunk = max(METERS_PER_BUILDING, args.chunk // METERS_PER_BUILDING * METERS_PER_BUILDING)
    fig = run(args.scale, chunk, args.workers, not args.no_pandas, args.seed)
    report(fig)
    return 0 if all(fig.checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())

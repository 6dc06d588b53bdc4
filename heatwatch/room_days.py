"""A season's room days as the analyzer judges them, read from the store: each household's
bedrooms' and living rooms' daily means on the days that count. `heatwatch refunds` pays the
cold ones by band; a measurement's refund period ends on the first day they show the flat heated
(issue 22)."""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from analyzer.detectors.base import Context
from analyzer.detectors.room_days import judge_rooms
from analyzer.grid import DAY_MS, HOUR_MS, TimeAxis, index_ids
from analyzer.index import DistrictIndex
from analyzer.kernels.room_temps import assess_rooms
from analyzer.window import Window, WindowReader
from district.records import Records
from policy.calls import CallLimits, meter_delivers_heat
from policy.rooms import RoomState, is_counted
from policy.rules import CityRules
from policy.season import SeasonDays
from storage.base import Store

FloatGrid = npt.NDArray[np.float64]


def outdoor_daily(store: Store, subs: list[str], season: SeasonDays, offset_s: int) -> FloatGrid:
    """(substations, days) outdoor daily mean: the station's own sensor, else the weather."""
    out = np.full((len(subs), season.n_days), np.nan)
    wx = store.read_aggregate("weather", season.start_ms, season.end_ms, 86400, ["outdoor_c"],
                              "mean", tags=(), offset_s=offset_s)
    if len(wx):
        idx = (wx.ts_ms - season.start_ms) // DAY_MS
        ok = (idx >= 0) & (idx < season.n_days)
        out[:, idx[ok]] = wx.fields["outdoor_c"][ok]
    own = store.read_aggregate("substation", season.start_ms, season.end_ms, 86400,
                               ["outdoor_c"], "mean", tags=("substation_id",),
                               offset_s=offset_s)
    if len(own):
        row = index_ids(own.tags["substation_id"], np.array(subs, dtype=np.str_))
        idx = (own.ts_ms - season.start_ms) // DAY_MS
        val = own.fields["outdoor_c"]
        ok = (row >= 0) & (idx >= 0) & (idx < season.n_days) & np.isfinite(val)
        out[row[ok], idx[ok]] = val[ok]
    return out


def judged_rooms(store: Store, records: Records, rules: CityRules, season: SeasonDays
                 ) -> tuple[list[str], FloatGrid, npt.NDArray[np.int8]] | None:
    """The season's room days judged as the analyzer judges them (`judge_rooms`: silence,
    stuck thermometers in their building, out of range, days before a room's first reading,
    days colder than design): the rooms, their daily means and each day's RoomState."""
    ix = DistrictIndex.from_records(records)
    axis = TimeAxis(season.start_ms, HOUR_MS, season.n_days * 24)
    grids = WindowReader(store, ix).rooms(axis)
    if not ix.rooms or grids is None:
        return None
    outdoor = outdoor_daily(store, ix.substations, season, season.offset_s)
    w = Window(season.end_ms, axis, axis, None, outdoor, grids, None)
    w = replace(w, first_seen_ms=w.first_readings(ix))
    ctx = Context(ix, records, rules, season.tz)
    # outage days are the outage compensation's (outage_day_mask), not judged away here
    judged = judge_rooms(ctx, w, np.zeros(grids["mean"].shape, dtype=bool))
    assert judged is not None
    means = assess_rooms(judged.valid, axis, ix.room_counted, ix.room_sub, outdoor,
                         ix.design_outdoor_c, rules.rooms, judged.stuck).daily_mean_c
    return ix.rooms, np.asarray(means, dtype=np.float64), judged.state


def account_daily_means(store: Store, records: Records, rules: CityRules, season: SeasonDays
                        ) -> dict[str, FloatGrid]:
    """Per account with room sensors: its bedrooms' and living rooms' daily mean (°C) on days
    that count (NaN on sensor-fault days, days colder than design, and days without data)."""
    judged = judged_rooms(store, records, rules, season)
    if judged is None:
        return {}
    rooms, means, state = judged
    dev = records.devices
    # docs/rules.md: only a measured day of a working sensor on a normal day counts
    ok = (state == RoomState.PASS) | (state == RoomState.COLD)
    by_account: dict[str, list[int]] = {}
    for i, r in enumerate(rooms):
        if is_counted(dev[r].room_type) and dev[r].account_id:
            by_account.setdefault(dev[r].account_id, []).append(i)
    out: dict[str, FloatGrid] = {}
    for aid, idx in by_account.items():
        vals = np.where(ok[idx], means[idx], np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a day no room counts: NaN
            out[aid] = np.asarray(np.nanmean(vals, axis=0), dtype=np.float64)
    return out


def meter_heated_days(store: Store, records: Records, season: SeasonDays, limits: CallLimits
                      ) -> dict[str, dict[dt.date, bool]]:
    """Per metered account, whether its heat meter's daily mean delivered heat on each season
    day with readings (policy.calls.meter_delivers_heat: flow and a supply-return gap)."""
    owner = {d.device_id: d.account_id for d in records.devices.values()
             if d.kind == "meter" and d.account_id}
    if not owner:
        return {}
    got = store.read_aggregate("meter", season.start_ms, season.end_ms, 86400,
                               ["flow_m3h", "supply_c", "return_c"], "mean",
                               offset_s=season.offset_s)
    out: dict[str, dict[dt.date, bool]] = {}
    f = got.fields
    for i, (dev, ts) in enumerate(zip(got.device_id.tolist(), got.ts_ms.tolist(), strict=True)):
        aid = owner.get(dev)
        if aid is None or not {"flow_m3h", "supply_c", "return_c"} <= f.keys():
            continue
        day = season.first + dt.timedelta(days=(int(ts) - season.start_ms) // DAY_MS)
        on = meter_delivers_heat(float(f["flow_m3h"][i]), float(f["supply_c"][i]),
                                 float(f["return_c"][i]), limits)
        days = out.setdefault(aid, {})
        days[day] = days.get(day, False) or on
    return out

"""Early fault finding on what the store holds: hourly means of the stations' and households'
meters' readings over the baseline and the judged days, the scorecards and warnings of
`analyzer.early`, and the day's ranking by the heat and return temperature wasted.

The store does the hourly means (`read_aggregate`), so a season of 5-min telemetry costs a
few hundred thousand rows, not millions of points.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from analyzer.early import EarlyResult, MeterDays, StationGrids, analyse
from analyzer.grid import DAY_MS, HOUR_MS, TimeAxis
from analyzer.index import DistrictIndex
from analyzer.kernels.early_signs import HOURS_A_DAY, K_KWH_PER_M3K, nan_mean
from analyzer.window import WindowReader, frame_grid
from district.readings import FieldValue, Reading
from policy.calendar import CalendarError, ChinaCalendar
from policy.early import CHANNELS, DEFAULT_EARLY, EarlyRules
from storage.base import Store

Floats = npt.NDArray[np.float64]
STATION_FIELDS = ("supply_c", "return_c", "flow_m3h", "makeup_m3h", "pump_on", "outdoor_c")
METER_FIELDS = ("supply_c", "return_c", "flow_m3h", "power_kw")


def free_days(first: dt.date, days: int, calendar: ChinaCalendar | None = None) -> Floats:
    """1.0 on the days off work (China's calendar: holidays and 调休), else 0.0; weekends only
    for a year no schedule covers."""
    cal = calendar or ChinaCalendar()
    out = np.zeros(days)
    for i in range(days):
        d = first + dt.timedelta(days=i)
        try:
            out[i] = 0.0 if cal.is_working_day(d) else 1.0
        except CalendarError:
            out[i] = float(d.weekday() >= 5)
    return out


def _axis(first: dt.date, days: int, tz: dt.tzinfo) -> TimeAxis:
    t0 = dt.datetime.combine(first, dt.time(), tz)
    return TimeAxis(int(t0.timestamp() * 1000), HOUR_MS, days * 24)


def read_grids(store: Store, index: DistrictIndex, axis: TimeAxis
               ) -> tuple[StationGrids, MeterDays | None]:
    """Hourly station grids and the meters' daily means from the store."""
    end = axis.t0_ms + axis.n_slots * axis.step_ms
    fr = store.read_aggregate("substation", axis.t0_ms, end, 3600, list(STATION_FIELDS), "mean",
                              tags=("substation_id",))
    g = {f: frame_grid(fr, index.substations, "substation_id", f, axis) if f in fr.fields
         else np.full((len(index.substations), axis.n_slots), np.nan) for f in STATION_FIELDS}
    weather = WindowReader(store, index).stations(axis)
    outdoor = g["outdoor_c"]
    if weather is not None:
        city = nan_mean(weather, axis=0)
        outdoor = np.where(np.isnan(outdoor), city[None, :], outdoor)
    # an hour counts only when the pump ran all of it
    pump = np.where(np.isnan(g["pump_on"]), np.nan, (g["pump_on"] >= 1.0 - 1e-9) * 1.0)
    grids = StationGrids(outdoor, g["supply_c"], g["return_c"], g["flow_m3h"], g["makeup_m3h"],
                         24, pump)
    mf = store.read_aggregate("meter", axis.t0_ms, end, 3600, list(METER_FIELDS), "mean")
    if len(mf) == 0 or not index.meters:
        return grids, None
    m = [frame_grid(mf, index.meters, "device_id", f, axis) for f in METER_FIELDS]
    return grids, MeterDays.from_hourly(m[0], m[1], m[2], m[3], index.meter_building,
                                        index.building_sub)


def early_for_day(store: Store, index: DistrictIndex, day: dt.date, tz: dt.tzinfo,
                  rules: EarlyRules = DEFAULT_EARLY, judged_days: int = 14
                  ) -> tuple[EarlyResult, dt.date]:
    """Scorecards and warnings up to and including `day`: the baseline's days before the
    judged ones. Returns the result and its first day."""
    days = rules.baseline_days + judged_days
    first = day - dt.timedelta(days=days - 1)
    grids, meters = read_grids(store, index, _axis(first, days, tz))
    return analyse(grids, meters, free_days(first, days), rules), first


@dataclass(frozen=True, slots=True)
class Ranked:
    """One station's or building's line of the day's ranking."""

    id: str
    substation_id: str
    wasted_kwh: float
    wasted_cny: float | None
    return_c: float
    return_excess_k: float
    dt_k: float
    extra: dict[str, object]


def _num(x: float) -> float:
    return round(float(x), 3) if np.isfinite(x) else float("nan")


def station_waste(res: EarlyResult) -> tuple[Floats, Floats]:
    """Each station's heat wasted per day (kWh: the heat above its own signature for the
    day's temperature, and the heat its excess return carried back) and the signature's
    expected mean power (kW), stations × days."""
    sc, days = res.stations, res.days
    power = days.power_kw
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = power / (1 + sc.signature_dev)
        over_sig = np.maximum(sc.signature_dev, 0.0) * expected
        back = np.maximum(sc.return_excess_k, 0.0) * K_KWH_PER_M3K * days.flow_m3h
    return np.nan_to_num((np.nan_to_num(over_sig) + np.nan_to_num(back)) * HOURS_A_DAY), expected


def rank_stations(res: EarlyResult, index: DistrictIndex, price: Decimal, first: dt.date
                  ) -> list[Ranked]:
    """Stations on the result's last day, most heat wasted first."""
    d, sc, days = -1, res.stations, res.days
    wasted = station_waste(res)[0][:, d]
    open_ = {int(r): (k, int(o)) for r, k, o, c in zip(
        res.station_warnings.row, res.station_warnings.cause, res.station_warnings.opened,
        res.station_warnings.closed, strict=True) if c < 0}
    out = []
    for i, sid in enumerate(index.substations):
        w = open_.get(i)
        warning = None if w is None else {"cause": res.cause_name(False, int(w[0])),
                                          "since": (first + dt.timedelta(days=w[1])).isoformat()}
        out.append(Ranked(
            sid, sid, _num(wasted[i]), _num(float(Decimal(str(wasted[i])) * price)),
            _num(days.return_c[i, d]), _num(sc.return_excess_k[i, d]), _num(days.dt_k[i, d]),
            {"flow_per_kwh": _num(sc.flow_per_kwh[i, d]),
             "signature_dev_pct": _num(100 * sc.signature_dev[i, d]),
             "balance_point_c": _num(sc.balance_point_c[i]),
             "supply_c": _num(days.supply_c[i, d]),
             "makeup_pct": _num(100 * days.makeup_share[i, d]),
             "outdoor_c": _num(days.outdoor_c[i, d]),
             "residual_z": {c: _num(sc.z[i, d, j]) for j, c in enumerate(CHANNELS)},
             "warning": warning}))
    return sorted(out, key=lambda r: (-r.wasted_kwh, -np.nan_to_num(r.return_excess_k)))


def rank_buildings(res: EarlyResult, index: DistrictIndex, price: Decimal) -> list[Ranked]:
    """Buildings on the last day by the share of their heat their excess return carried
    back over their neighbours' (money from their meters' energy), most first."""
    b = res.buildings
    if b is None:
        return []
    d = -1
    dt_k = b.supply_c[:, d] - b.return_c[:, d]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.clip(np.maximum(b.return_excess_k[:, d], 0.0) / dt_k, 0.0, 1.0)
    wasted = np.nan_to_num(share * b.energy_kwh[:, d])
    outl = b.meter_outlier[:, d]
    out = []
    for i, bid in enumerate(index.buildings):
        meters = [index.meters[m] for m in np.flatnonzero(outl & (index.meter_building == i))]
        out.append(Ranked(
            bid, index.substations[int(index.building_sub[i])], _num(wasted[i]),
            _num(float(Decimal(str(wasted[i])) * price)), _num(b.return_c[i, d]),
            _num(b.return_excess_k[i, d]), _num(dt_k[i]),
            {"energy_kwh": _num(b.energy_kwh[i, d]), "flow_per_kwh": _num(b.flow_per_kwh[i, d]),
             "meters_standing_out": meters}))
    return sorted(out, key=lambda r: (-r.wasted_kwh, -np.nan_to_num(r.return_excess_k)))


def score_readings(res: EarlyResult, stations: list[str], first: dt.date, tz: dt.tzinfo,
                   price: Decimal) -> list[Reading]:
    """The judged days' station scorecards as the `early_score` series (one point per
    station and day at its local midnight), for Grafana's ranking and signature."""
    wasted, expected = station_waste(res)
    days, sc = res.days, res.stations
    n_days = int(wasted.shape[-1])
    warned = np.zeros_like(wasted, dtype=np.bool_)
    w = res.station_warnings
    for r, o, c in zip(w.row, w.opened, w.closed, strict=True):
        warned[r, o : (c if c >= 0 else n_days)] = True
    cols = {"wasted_kwh": wasted, "wasted_cny": wasted * float(price),
            "return_c": days.return_c, "return_excess_k": sc.return_excess_k,
            "dt_k": days.dt_k, "power_kw": days.power_kw, "expected_kw": expected,
            "outdoor_c": days.outdoor_c}
    out = []
    for d in range(res.first_judged_day, n_days):
        ts = day_ms(first + dt.timedelta(days=d), tz)
        for i, sid in enumerate(stations):
            f: dict[str, FieldValue] = {k: round(float(v[i, d]), 3) for k, v in cols.items()
                                        if np.isfinite(v[i, d])}
            if "power_kw" in f:
                f["warning"] = int(warned[i, d])
                out.append(Reading("early_score", {"substation_id": sid}, f, ts))
    return out


def day_ms(day: dt.date, tz: dt.tzinfo) -> int:
    """A local day's start in epoch ms."""
    return int(dt.datetime.combine(day, dt.time(), tz).timestamp() * 1000)


__all__ = ["DAY_MS", "Ranked", "day_ms", "early_for_day", "free_days", "rank_buildings",
           "rank_stations", "read_grids", "score_readings"]

"""The meter's side of a dispute (计量争议): each season day's actual first and last reading
from the raw readings, and the fault intervals with what each means for the bill."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from analyzer.billing import day_increments
from analyzer.grid import DAY_MS, HOUR_MS
from policy.meters import MeterSpecs, out_of_range_steps
from policy.rules import DEFAULT_METERS, MeterRules
from storage.base import Frame
from workflow.details import MeterCommDetails, MeterFaultDetails
from workflow.incidents import Incident

FloatArray = np.ndarray[Any, np.dtype[np.float64]]

METER_FIELDS = ("energy_kwh", "volume_m3", "supply_c", "return_c", "flow_m3h")


def _num(x: float, digits: int) -> float | None:
    return None if not np.isfinite(x) else round(float(x), digits)


def _comm_counts(comm: Frame, start_ms: int, n_days: int) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Failed polls per season day."""
    comm_n = np.zeros(n_days, dtype=np.int64)
    if len(comm):
        idx = (comm.ts_ms - start_ms) // DAY_MS
        ok = (idx >= 0) & (idx < n_days)
        comm_n[idx[ok]] = np.nan_to_num(comm.fields["cause_code"][ok]).astype(np.int64)
    return comm_n


def _went_down(x: FloatArray, before: float) -> bool:
    """Whether a cumulative total fell below the previous reading or within the day."""
    x = x[np.isfinite(x)]
    return bool(len(x) and ((np.isfinite(before) and x[0] < before)
                            or bool((np.diff(x) < 0).any())))


def _mean(x: FloatArray) -> float:
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a day without the field
        return float(np.nanmean(x)) if len(x) else np.nan


@dataclass(frozen=True, slots=True)
class _Days:
    """One meter's points cut into days; day 0 is the day before the season."""

    meter: Frame
    fields: dict[str, FloatArray]
    lo: np.ndarray[Any, np.dtype[np.intp]]
    hi: np.ndarray[Any, np.dtype[np.intp]]

    @classmethod
    def of(cls, meter: Frame, start_ms: int, n_days: int) -> _Days:
        ts = meter.ts_ms
        day = (ts - start_ms) // DAY_MS if len(meter) else np.zeros(0, dtype=np.int64)
        f = {k: meter.fields.get(k, np.full(len(meter), np.nan)) for k in METER_FIELDS}
        # slices of each day's points; index 0 is the day before the season
        lo = np.searchsorted(day, np.arange(-1, n_days), side="left")
        hi = np.searchsorted(day, np.arange(-1, n_days), side="right")
        return cls(meter, f, lo, hi)

    def values(self, name: str, d: int) -> FloatArray:
        return self.fields[name][self.lo[d]:self.hi[d]]

    def ends(self, name: str) -> tuple[FloatArray, FloatArray]:
        """(first, last) finite value of a field per day, NaN on a day without one."""
        n = len(self.lo)
        first, last = np.full(n, np.nan), np.full(n, np.nan)
        for d in range(n):
            x = self.values(name, d)
            x = x[np.isfinite(x)]
            if len(x):
                first[d], last[d] = x[0], x[-1]
        return first, last


def out_of_range_hours(meter: Frame, start_ms: int, n_days: int,
                       rules: MeterRules = DEFAULT_METERS,
                       outages: Sequence[tuple[int, int]] = ()) -> FloatArray:
    """Hours per season day between consecutive readings that moved heat or water outside the
    meter's rated range (Δθ < Δθmin, q < qi or q > qs; policy/meters.py): intervals the
    mismatch check gives no verdict on. A step counts on the day of its later reading; a step
    during a supply outage ([start, end) in `outages`) is the outage's, not counted."""
    out = np.zeros(n_days)
    if len(meter) < 2:
        return out
    f = meter.fields
    nan = np.full(len(meter), np.nan)
    e, v = f.get("energy_kwh", nan), f.get("volume_m3", nan)
    sup, ret = f.get("supply_c", nan), f.get("return_c", nan)
    with np.errstate(invalid="ignore"):
        temps_ok = ((sup >= rules.valid_min_c) & (sup <= rules.valid_max_c)
                    & (ret >= rules.valid_min_c) & (ret <= rules.valid_max_c))
    dt_k = sup - ret
    step_h = np.diff(meter.ts_ms) / HOUR_MS
    oor = out_of_range_steps(np.diff(e)[None], np.diff(v)[None],
                             (0.5 * (dt_k[1:] + dt_k[:-1]))[None],
                             (temps_ok[1:] & temps_ok[:-1])[None], step_h[None],
                             MeterSpecs.of(1, rules))[0]
    day = (meter.ts_ms[1:] - start_ms) // DAY_MS
    keep = oor & (day >= 0) & (day < n_days)
    for a, b in outages:
        keep &= (meter.ts_ms[1:] <= a) | (meter.ts_ms[:-1] >= b)
    np.add.at(out, day[keep], step_h[keep])
    return out


def daily_readings(meter: Frame, comm: Frame, start_ms: int, n_days: int,
                   first_day: dt.date, tz: dt.tzinfo, outdoor_c: FloatArray | None = None,
                   rules: MeterRules = DEFAULT_METERS,
                   outages: Sequence[tuple[int, int]] = ()) -> list[dict[str, Any]]:
    """One row per season day from the meter's raw readings (the store's per-device read).

    `meter` holds one meter's points oldest first, from one day before the season (its last
    total is the first day's previous reading); `comm` its daily failed-poll counts from the
    season start. First and last are the day's actual first and last readings, with times;
    the day's kWh and m³ are the billing's day increments of them. A day with intervals
    outside the rated range says how many hours (`out_of_range_h`; absent on the others).
    """
    days = _Days.of(meter, start_ms, n_days)
    comm_n = _comm_counts(comm, start_ms, n_days)
    e_first, e_last = days.ends("energy_kwh")
    v_first, v_last = days.ends("volume_m3")
    # heat of the day: from the latest total before it, or within the day at first
    kwh = day_increments(e_first[None, 1:], e_last[None, 1:], e_last[:1])[0]
    m3 = day_increments(v_first[None, 1:], v_last[None, 1:], v_last[:1])[0]

    oor_h = out_of_range_hours(meter, start_ms, n_days, rules, outages)

    def clock(ms: int) -> str:
        return dt.datetime.fromtimestamp(ms / 1000, tz).strftime("%H:%M")

    out: list[dict[str, Any]] = []
    prev_e, prev_v = e_last[0], v_last[0]
    for d in range(1, n_days + 1):
        a, b = days.lo[d], days.hi[d]
        n = int(b - a)
        went_down = bool(n and (_went_down(days.values("energy_kwh", d), prev_e)
                                or _went_down(days.values("volume_m3", d), prev_v)))
        out.append({
            "date": (first_day + dt.timedelta(days=d - 1)).isoformat(),
            "readings": n, "missing": n == 0, "comm_faults": int(comm_n[d - 1]),
            "first_at": clock(int(meter.ts_ms[a])) if n else None,
            "last_at": clock(int(meter.ts_ms[b - 1])) if n else None,
            "first_energy_kwh": _num(e_first[d], 2), "last_energy_kwh": _num(e_last[d], 2),
            "first_volume_m3": _num(v_first[d], 3), "last_volume_m3": _num(v_last[d], 3),
            "kwh": _num(kwh[d - 1], 2) if n else None, "m3": _num(m3[d - 1], 3) if n else None,
            "mean_supply_c": _num(_mean(days.values("supply_c", d)), 2),
            "mean_return_c": _num(_mean(days.values("return_c", d)), 2),
            "mean_flow_m3h": _num(_mean(days.values("flow_m3h", d)), 3),
            "outdoor_mean_c": (None if outdoor_c is None else _num(float(outdoor_c[d - 1]), 1)),
            "total_went_down": went_down,
        })
        if oor_h[d - 1] > 0:
            out[-1]["out_of_range_h"] = round(float(oor_h[d - 1]), 2)
        if n:
            prev_e = e_last[d] if np.isfinite(e_last[d]) else prev_e
            prev_v = v_last[d] if np.isfinite(v_last[d]) else prev_v
    return out


def billing_meaning(inc: Incident) -> str:
    """What a fault interval means for the bill, in the rule's words."""
    if inc.kind == "meter_comm":
        return ("通讯中断 (comm loss): 表内累计值不丢失，期间热量计入下一次读数，仍按计量计费 "
                "(metered, the heat is counted at the next reading)")
    if isinstance(inc.details, MeterFaultDetails) and inc.details.human:
        # docs/rules.md: human causes (tamper, magnet, cover, seal) are not area-billed: inspection
        return ("人为原因 (human cause): 不按面积计费，按计量计费并转稽查 "
                "(billed as metered, sent to inspection 稽查)")
    # docs/rules.md: a meter damaged by a non-human cause -> that period is billed by area
    return ("非人为损坏 (non-human): 故障日按面积计费 = 面积单价 × 面积 × 故障天数 ÷ 采暖天数 "
            "(billed by area for the fault days)")


def _subject(subject: str) -> str:
    """An incident's subject as the resident may read it: a gateway's address is internal."""
    return "通讯网关 gateway" if subject.startswith("gateway ") else subject


def fault_rows(incidents: Sequence[Incident], tz: dt.tzinfo) -> list[dict[str, Any]]:
    """Fault and comm-loss intervals of the meter, oldest first, with cause and class."""
    def iso(ms: int) -> str:
        return dt.datetime.fromtimestamp(ms / 1000, tz).isoformat(timespec="minutes")

    out = []
    for i in sorted(incidents, key=lambda x: (x.started_ms, x.key)):
        d = i.details
        fault = d if isinstance(d, MeterFaultDetails) else MeterFaultDetails()
        end = i.closed_ms if i.closed_ms is not None else i.updated_ms
        cls = "comm" if i.kind == "meter_comm" else ("human" if fault.human else "non_human")
        out.append({
            "kind": i.kind, "subject": _subject(i.subject), "start": iso(i.started_ms),
            "end": None if i.closed_ms is None else iso(i.closed_ms),
            "ongoing": i.closed_ms is None,
            "hours": round((end - i.started_ms) / 3_600_000, 2),
            "cause": d.cause if isinstance(d, MeterFaultDetails | MeterCommDetails) else "",
            "causes": list(fault.causes), "text": fault.text, "class": cls,
            "billing": billing_meaning(i),
        })
    return out

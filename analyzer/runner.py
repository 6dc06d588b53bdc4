"""One analyzer cycle as of an instant: read windows from the store, run the kernels, keep
incidents and write the derived series back. The store is any backend with read_aggregate."""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from analyzer import derived
from analyzer.billing import Basis
from analyzer.config import AnalyzerConfig
from analyzer.grid import DAY_MS, HOUR_MS, TimeAxis, by_day, daily_mean, index_ids, to_grid
from analyzer.leaks import LeakSign, detect_leaks, makeup_share
from analyzer.meters import MeterGrid, detect_meter_faults
from analyzer.outages import (
    detect_building_outages,
    detect_substation_outages,
    outage_days,
    substation_out_slots,
)
from analyzer.rooms import (
    RoomState,
    assess_rooms,
    compliance,
    stuck_slots,
    trailing_mean,
)
from analyzer.rules import CAUSE_TEXT, Cause, CityRules
from analyzer.runs import intervals, runs_at_least
from district.readings import COMM_FAULT_MEASUREMENT, Reading
from district.records import Records
from storage.base import Frame, Store
from workflow.details import (
    BuildingOutageDetails,
    ComplianceDetails,
    IncidentDetails,
    LeakDetails,
    MeterCommDetails,
    MeterFaultDetails,
    OutageDetails,
    RoomColdDetails,
    SensorFaultDetails,
)
from workflow.incidents import INCIDENT_KINDS, Incident, IncidentEvent, IncidentStore, incident_key

FloatGrid = npt.NDArray[np.float64]
BoolGrid = npt.NDArray[np.bool_]

METER_FIELDS = ("energy_kwh", "volume_m3", "flow_m3h", "supply_c", "return_c", "status")
SUB_FIELDS = ("supply_c", "return_c", "flow_m3h", "makeup_m3h", "return_mpa", "outdoor_c")




# -- the district as index arrays, built once from the records --------------------------------

@dataclass(frozen=True, slots=True, eq=False)
class DistrictIndex:
    """Device, building and substation orders the grids use, and how they relate."""

    substations: list[str]
    design_outdoor_c: FloatGrid
    buildings: list[str]
    building_sub: npt.NDArray[np.intp]
    rooms: list[str]
    room_sub: npt.NDArray[np.intp]
    room_counted: BoolGrid
    meters: list[str]
    meter_building: npt.NDArray[np.intp]
    meter_tags: list[dict[str, str]]
    meter_gateway: list[str]
    accounts_per_sub: npt.NDArray[np.int64]
    billed_accounts: list[str]  # accounts with a meter, in meter order of their first meter
    billed_meter: npt.NDArray[np.intp]
    account_tags: list[dict[str, str]]

    @classmethod
    def from_records(cls, rec: Records) -> DistrictIndex:
        subs = sorted(rec.substations)
        sub_i = {s: i for i, s in enumerate(subs)}
        bld = sorted(rec.buildings)
        bld_i = {b: i for i, b in enumerate(bld)}
        rooms = sorted(d.device_id for d in rec.devices_of("room"))
        meters = sorted(d.device_id for d in rec.devices_of("meter"))
        dev = rec.devices
        per_sub = np.zeros(len(subs), dtype=np.int64)
        for a in rec.accounts.values():
            per_sub[sub_i[rec.buildings[a.building_id].substation_id]] += 1
        billed: dict[str, int] = {}
        for i, m in enumerate(meters):
            billed.setdefault(dev[m].account_id, i)
        accounts = sorted(billed)
        return cls(
            substations=subs,
            design_outdoor_c=np.array([rec.substations[s].design_outdoor_c for s in subs]),
            buildings=bld,
            building_sub=np.array([sub_i[rec.buildings[b].substation_id] for b in bld],
                                  dtype=np.intp),
            rooms=rooms,
            room_sub=np.array([sub_i[dev[r].substation_id] for r in rooms], dtype=np.intp),
            # DOMAIN: only bedrooms and living rooms are held to 18 °C
            room_counted=np.array([dev[r].room_type in ("bedroom", "living") for r in rooms]),
            meters=meters,
            meter_building=np.array([bld_i[dev[m].building_id] for m in meters], dtype=np.intp),
            meter_tags=[{k: v for k, v in dev[m].tags().items() if k != "room_type"}
                        for m in meters],
            meter_gateway=[f"{dev[m].host}:{dev[m].port}" if dev[m].protocol == "modbus" else ""
                           for m in meters],
            accounts_per_sub=per_sub,
            billed_accounts=accounts,
            billed_meter=np.array([billed[a] for a in accounts], dtype=np.intp),
            account_tags=[{"account_id": a, "building_id": rec.accounts[a].building_id,
                           "substation_id": rec.buildings[rec.accounts[a].building_id]
                           .substation_id} for a in accounts],
        )


# -- the watermark: the last instant a cycle evaluated, kept next to the incidents -------------

class Watermarks:
    """Named instants in the workflow SQLite (table analyzer_watermark)."""

    def __init__(self, path: Path | str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS analyzer_watermark "
                         "(name TEXT PRIMARY KEY, at_ms INTEGER NOT NULL)")
        self._db.commit()

    def get(self, name: str) -> int | None:
        row = self._db.execute("SELECT at_ms FROM analyzer_watermark WHERE name = ?",
                               (name,)).fetchone()
        return None if row is None else int(row[0])

    def set(self, name: str, at_ms: int) -> None:
        with self._db:
            self._db.execute("INSERT INTO analyzer_watermark (name, at_ms) VALUES (?, ?) "
                             "ON CONFLICT(name) DO UPDATE SET at_ms = excluded.at_ms",
                             (name, int(at_ms)))

    def close(self) -> None:
        self._db.close()


# -- results ----------------------------------------------------------------------------------

@dataclass(slots=True)
class Evaluation:
    """What one evaluation found: incidents, the kinds and subjects it examined, derived points."""

    at_ms: int
    window_start_ms: int
    incidents: list[Incident] = field(default_factory=list)
    kinds: set[str] = field(default_factory=set)
    scope: dict[str, set[str]] = field(default_factory=dict)
    derived: list[Reading] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class CycleResult:
    """A finished cycle: its evaluation and the lifecycle events it caused."""

    evaluation: Evaluation
    events: list[IncidentEvent]
    catch_up: int = 0


def _intervals_of(mask: BoolGrid) -> list[tuple[int, int, int]]:
    iv = intervals(mask)
    return [(int(r), int(s), int(e)) for r, s, e in zip(iv.row, iv.start, iv.end, strict=True)]


def _frame_grid(frame: Frame, ids: Sequence[str], key: str, name: str, axis: TimeAxis,
                how: str = "mean", dtype: type[np.floating] = np.float64) -> FloatGrid:
    if len(frame) == 0:
        return np.full((len(ids), axis.n_slots), np.nan, dtype=dtype)
    row = index_ids(frame.tags[key], np.array(ids, dtype=np.str_))
    return np.asarray(to_grid(row, frame.ts_ms, frame.fields[name], len(ids), axis, how, dtype),
                      dtype=np.float64)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or touching [start, end) spans as one."""
    out: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


class Runner:
    """Evaluates the district as of an instant; wired with a store, records and the workflow."""

    def __init__(self, store: Store, records: Records, workflow: IncidentStore,
                 cfg: AnalyzerConfig, tz: dt.tzinfo, watermarks: Watermarks | None = None,
                 log: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.records = records
        self.workflow = workflow
        self.cfg = cfg
        self.rules: CityRules = cfg.rules()
        self.tz = tz
        self.watermarks = watermarks
        self.index = DistrictIndex.from_records(records)
        self.log = log or (lambda _m: None)

    # -- the cycle ----------------------------------------------------------------------------
    def run_cycle(self, at_ms: int) -> CycleResult:
        """Catch up on missed time (bounded), evaluate as of at_ms, reconcile, write back."""
        lookback_ms = int(self.cfg.lookback_h * HOUR_MS)
        last = self.watermarks.get("cycle") if self.watermarks else None
        steps: list[int] = []
        if last is not None and at_ms - last > lookback_ms:
            # the analyzer was down longer than a window: replay the gap a window at a time
            t = max(last, at_ms - int(self.cfg.max_catchup_h * HOUR_MS)) + lookback_ms
            while t < at_ms:
                steps.append(t)
                t += lookback_ms
        for t in steps:
            self._apply(self.evaluate(t))
        ev = self.evaluate(at_ms)
        events = self._apply(ev)
        return CycleResult(ev, events, len(steps))

    def _apply(self, ev: Evaluation) -> list[IncidentEvent]:
        t = time.perf_counter()
        found = self._carry_over(ev)
        events = self.workflow.reconcile(found, ev.at_ms, ev.kinds, ev.scope)
        if self.cfg.write_back and ev.derived:
            self.store.write(ev.derived)
        ev.timings_s["write"] = time.perf_counter() - t
        if self.watermarks is not None:
            prev = self.watermarks.get("cycle")
            self.watermarks.set("cycle", max(ev.at_ms, prev or 0))
        return events

    def _carry_over(self, ev: Evaluation) -> list[Incident]:
        """An interval open at the window start keeps the key of the incident it continues."""
        prior: dict[tuple[str, str, str], Incident] = {}
        for inc in self.workflow.find(include_closed=True):
            # it continues only if it was still running when the window began
            if inc.started_ms > ev.window_start_ms or (
                    inc.closed_ms is not None and inc.closed_ms < ev.window_start_ms):
                continue
            k = (inc.kind, inc.subject, inc.cause)
            if k not in prior or inc.started_ms < prior[k].started_ms:
                prior[k] = inc
        out = []
        for inc in ev.incidents:
            before = prior.get((inc.kind, inc.subject, inc.cause))
            if inc.open_at_window_start and before is not None:
                inc.key, inc.started_ms = before.key, before.started_ms
                self._redo_duration(inc, ev.at_ms)
            out.append(inc)
        return out

    def _redo_duration(self, inc: Incident, at_ms: int) -> None:
        """Durations count from the incident's own start, not the window's."""
        d = inc.details
        hours = ((inc.closed_ms if inc.closed_ms is not None else at_ms) - inc.started_ms) / HOUR_MS
        if isinstance(d, SensorFaultDetails | MeterFaultDetails | MeterCommDetails):
            d.hours = hours
        if isinstance(d, OutageDetails | BuildingOutageDetails):
            o = self.rules.outages
            d.duration_h = round(hours, 2)
            d.escalations_h = [m for m in o.escalation_h if hours >= m - 1e-9]
            d.over_24h = hours >= o.over_h - 1e-9
        if isinstance(d, OutageDetails):
            d.compensation_days = int(outage_days(np.array([hours]),
                                                  self.rules.compensation)[0])

    # -- the evaluation (reads only) ----------------------------------------------------------
    def window_start_ms(self, at_ms: int) -> int:
        """Local midnight of the day the lookback reaches into."""
        start = dt.datetime.fromtimestamp((at_ms - self.cfg.lookback_h * HOUR_MS) / 1000, self.tz)
        midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
        return int(midnight.timestamp() * 1000)

    def evaluate(self, at_ms: int) -> Evaluation:
        """Everything the kernels find in the window ending at at_ms (deterministic)."""
        t0 = self.window_start_ms(at_ms)
        ev = Evaluation(at_ms, t0)
        n_h = (at_ms - t0) // HOUR_MS
        if n_h <= 0:
            return ev
        hour_axis = TimeAxis(t0, HOUR_MS, int(n_h))
        step_ms = self.cfg.outages.step_s * 1000
        sub_axis = TimeAxis(t0, step_ms, int((at_ms - t0) // step_ms))

        clock = time.perf_counter()
        subs = self._read_substations(sub_axis)
        outdoor = self._read_outdoor(hour_axis, subs, sub_axis)
        rooms = self._read_rooms(hour_axis)
        meters = self._read_meters(hour_axis)
        ev.timings_s["read"] = time.perf_counter() - clock

        clock = time.perf_counter()
        sub_out_h = self._substations(ev, sub_axis, hour_axis, subs)
        if rooms is not None:
            self._rooms(ev, hour_axis, rooms, outdoor, sub_out_h)
        if meters is not None:
            self._meters(ev, hour_axis, meters, sub_out_h)
        ev.timings_s["kernels"] = time.perf_counter() - clock
        return ev

    # -- reading --------------------------------------------------------------------------------
    def _read_substations(self, axis: TimeAxis) -> dict[str, FloatGrid] | None:
        end = axis.t0_ms + axis.n_slots * axis.step_ms
        fr = self.store.read_aggregate("substation", axis.t0_ms, end, axis.step_ms // 1000,
                                       SUB_FIELDS, "mean", tags=("substation_id",))
        if len(fr) == 0:
            return None
        out = {f: _frame_grid(fr, self.index.substations, "substation_id", f, axis)
               for f in SUB_FIELDS}
        # InfluxQL cannot average a boolean: the pump state is read as points, last per slot
        pump = self.store.read_window("substation", axis.t0_ms, end, ["pump_on"],
                                      tags=("substation_id",))
        out["pump_on"] = _frame_grid(pump, self.index.substations, "substation_id", "pump_on",
                                     axis, "last")
        return out

    def _read_outdoor(self, axis: TimeAxis, subs: dict[str, FloatGrid] | None,
                      sub_axis: TimeAxis) -> FloatGrid:
        """Outdoor daily mean per substation: its own sensor, else the weather stations' mean."""
        fr = self.store.read_aggregate("weather", axis.t0_ms, axis.t0_ms + axis.n_slots *
                                       axis.step_ms, 3600, ["outdoor_c"], "mean", tags=())
        n_sub = len(self.index.substations)
        city = np.full((1, axis.n_slots), np.nan)
        if len(fr):
            city = to_grid(np.zeros(len(fr), dtype=np.intp), fr.ts_ms, fr.fields["outdoor_c"], 1,
                           axis, "mean", np.float64)
        city_daily, _ = daily_mean(city, axis.slots_per_day)
        out = np.broadcast_to(city_daily, (n_sub, city_daily.shape[1])).copy()
        if subs is not None:
            own_daily, count = daily_mean(subs["outdoor_c"], sub_axis.slots_per_day)
            k = min(out.shape[1], own_daily.shape[1])
            out[:, :k] = np.where(count[:, :k] > 0, own_daily[:, :k], out[:, :k])
        return np.asarray(out, dtype=np.float64)

    def _read_rooms(self, axis: TimeAxis) -> dict[str, FloatGrid] | None:
        end = axis.t0_ms + axis.n_slots * axis.step_ms
        # hourly mean, min and max in one pass over the rooms, in the store
        fns = ("mean", "min", "max")
        fr = self.store.read_aggregate("room", axis.t0_ms, end, 3600, ["temp_c"], fns)
        if len(fr) == 0:
            return None
        return {fn: _frame_grid(fr, self.index.rooms, "device_id", f"{fn}_temp_c", axis)
                for fn in fns}

    def _read_meters(self, axis: TimeAxis) -> dict[str, Any] | None:
        end = axis.t0_ms + axis.n_slots * axis.step_ms
        fr = self.store.read_window("meter", axis.t0_ms, end, METER_FIELDS)
        comm = self.store.read_window(COMM_FAULT_MEASUREMENT, axis.t0_ms, end, ["ok"],
                                      tags=("device_id", "cause"))
        if len(fr) == 0 and len(comm) == 0:
            return None
        # meters are read hourly: the last reading of each hour is the hour's reading
        out: dict[str, Any] = {f: _frame_grid(fr, self.index.meters, "device_id", f, axis,
                                              "last") for f in METER_FIELDS}
        n = len(self.index.meters)
        comm_grid = np.zeros((n, axis.n_slots), dtype=bool)
        causes: dict[int, str] = {}
        if len(comm):
            row = index_ids(comm.device_id, np.array(self.index.meters, dtype=np.str_))
            slot = axis.slot_of(comm.ts_ms)
            keep = (row >= 0) & (slot >= 0) & (slot < axis.n_slots)
            comm_grid[row[keep], slot[keep]] = True
            for r, c in zip(row[keep], comm.tags["cause"][keep], strict=True):
                causes[int(r)] = str(c)
        # a reading that arrived in the same hour as a failed poll wins
        comm_grid &= np.isnan(out["energy_kwh"])
        out["comm"] = comm_grid
        out["comm_cause"] = causes
        return out

    # -- substations: outages and leaks -----------------------------------------------------
    def _substations(self, ev: Evaluation, axis: TimeAxis, hour_axis: TimeAxis,
                     subs: dict[str, FloatGrid] | None) -> BoolGrid:
        """Outage and leak incidents; returns (substations, hours) 'system not normal'."""
        ix, rules = self.index, self.rules
        n_sub = len(ix.substations)
        affected = np.zeros((n_sub, hour_axis.n_slots), dtype=bool)
        if subs is None:
            return affected
        ev.kinds |= {"outage", "leak"}
        ev.scope["outage"] = set(ix.substations)
        ev.scope["leak"] = set(ix.substations)
        pump, sup, ret = subs["pump_on"], subs["supply_c"], subs["return_c"]
        outs = detect_substation_outages(pump, sup, ret, axis, rules.outages)
        out_mask = np.zeros(pump.shape, dtype=bool)
        comp = rules.compensation
        for o in outs.items():
            out_mask[o.row, (o.start_ms - axis.t0_ms) // axis.step_ms:
                     (o.end_ms - axis.t0_ms) // axis.step_ms] = True
            sid = ix.substations[o.row]
            s, e = ((o.start_ms - axis.t0_ms) // axis.step_ms,
                    (o.end_ms - axis.t0_ms) // axis.step_ms)
            with np.errstate(invalid="ignore"):
                pump_off = bool((pump[o.row, s:e] == 0).any())
            reason = ("circulation pump stopped" if pump_off
                      else "secondary supply below 35 °C with supply−return under 2 K")
            ev.incidents.append(self._incident(
                "outage", sid, o.start_ms, None if o.ongoing else o.end_ms, "",
                substation_id=sid, open_at_start=s == 0,
                details=OutageDetails(
                    duration_h=round(o.duration_h, 2), ongoing=o.ongoing,
                    escalations_h=list(o.escalations_h), over_24h=o.over_24h, reason=reason,
                    affected_accounts=int(ix.accounts_per_sub[o.row]),
                    compensation_days=int(outage_days(np.array([o.duration_h]), comp)[0]))))
        if self.cfg.write_back:
            ev.derived += derived.outage_state_readings(ix.substations, axis, out_mask)

        # DOMAIN: rooms are held to 18 °C only while the system is normal; an outage and the
        # trailing window after it are "not normal" for that substation's rooms
        per_h = HOUR_MS // axis.step_ms
        raw_out = substation_out_slots(pump, sup, ret, rules.outages) | out_mask
        hourly = np.asarray(by_day(raw_out, per_h).any(axis=2), dtype=bool)[:, :hour_axis.n_slots]
        affected[:, :hourly.shape[1]] = hourly
        recover = hour_axis.slots_for(rules.rooms.trailing_h * 60)
        spread = affected.copy()
        for k in range(1, recover + 1):
            spread[:, k:] |= affected[:, :-k]
        affected = spread

        leaks = detect_leaks(subs["flow_m3h"], subs["makeup_m3h"], subs["return_mpa"], axis,
                             rules.leaks)
        share = makeup_share(subs["flow_m3h"], subs["makeup_m3h"], axis, rules.leaks)
        by_sub: dict[int, list[tuple[int, int, int]]] = {}
        for r, s, e, sign in zip(leaks.substation, leaks.start, leaks.end, leaks.sign,
                                 strict=True):
            by_sub.setdefault(int(r), []).append((int(s), int(e), int(sign)))
        leaking = np.zeros(pump.shape, dtype=bool)
        for r, spans in sorted(by_sub.items()):
            for s, e in _merge([(a, b) for a, b, _ in spans]):
                leaking[r, s:e] = True
                signs = sorted({LeakSign(k).name.lower() for a, b, k in spans
                                if a < e and b > s})
                hold = subs["return_mpa"][r, s:e]
                seg = share[r, s:e]
                sid = ix.substations[r]
                ongoing = e == axis.n_slots
                ev.incidents.append(self._incident(
                    "leak", sid, int(axis.ts_ms(s)), None if ongoing else int(axis.ts_ms(e)),
                    "", substation_id=sid, open_at_start=s == 0,
                    details=LeakDetails(signs=signs, ongoing=ongoing,
                                        makeup_share_max=_round(_nan_max(seg), 4),
                                        holding_mpa_min=_round(-_nan_max(-hold), 3))))
        if self.cfg.write_back:
            sag = _holding_reference(subs["return_mpa"])[:, None] - subs["return_mpa"]
            ev.derived += derived.leak_state_readings(ix.substations, axis, leaking, share, sag)
        return affected

    # -- rooms: cold rooms, sensor faults, compliance --------------------------------------
    def _rooms(self, ev: Evaluation, axis: TimeAxis, g: dict[str, FloatGrid],
               outdoor_daily: FloatGrid, affected: BoolGrid) -> None:
        ix, rr = self.index, self.rules.rooms
        ev.kinds |= {"room_cold", "sensor_fault", "compliance_breach"}
        ev.scope["room_cold"] = ev.scope["sensor_fault"] = set(ix.rooms)
        ev.scope["compliance_breach"] = set(ix.substations)
        mean, lo, hi = g["mean"], g["min"], g["max"]
        with np.errstate(invalid="ignore"):
            below, above = lo < rr.valid_min_c, hi > rr.valid_max_c
        oor = below | above
        # an hour holding an out-of-range sample carries that sample, so the kernel sees it
        temp = np.where(below, lo, np.where(above, hi, mean))
        present = ~np.isnan(temp)
        any_data = present.any(axis=0)
        first = int(np.argmax(any_data)) if any_data.any() else axis.n_slots
        missing = ~present
        missing[:, :first] = False  # before the first reading anywhere, nothing is known
        silent = runs_at_least(missing, axis.slots_for(self.cfg.rooms.silent_h * 60))
        valid = np.where(oor, np.nan, temp)
        stuck = stuck_slots(valid, axis, rr)

        days = assess_rooms(temp, axis, ix.room_counted, ix.room_sub, outdoor_daily,
                            ix.design_outdoor_c, rr)
        state = days.state.copy()
        spd = axis.slots_per_day
        fault_day = by_day(silent | stuck | oor, spd).any(axis=2)
        counted = ix.room_counted[:, None]
        state[fault_day & counted] = RoomState.SENSOR_FAULT
        not_normal = np.asarray(by_day(affected, spd).any(axis=2), dtype=bool)[ix.room_sub]
        judged = (state == RoomState.PASS) | (state == RoomState.COLD)
        state[judged & not_normal] = RoomState.EXCLUDED
        # days before any data are not days the rooms were measured
        first_day = first // spd
        state[:, :first_day] = RoomState.EXCLUDED

        # the fast signal: trailing mean below 18 °C on a judged day, system normal
        tm = trailing_mean(valid, axis, rr)
        with np.errstate(invalid="ignore"):
            low = tm < rr.min_c
        eligible_day = (state == RoomState.PASS) | (state == RoomState.COLD)
        low &= np.repeat(eligible_day, spd, axis=1)[:, :axis.n_slots]
        low &= ~affected[ix.room_sub]
        for r, s, e in _intervals_of(low):
            rid = ix.rooms[r]
            ongoing = e == axis.n_slots
            ev.incidents.append(self._incident(
                "room_cold", rid, int(axis.ts_ms(s)), None if ongoing else int(axis.ts_ms(e)),
                "", substation_id=ix.substations[ix.room_sub[r]],
                building_id=self.records.devices[rid].building_id,
                account_id=self.records.devices[rid].account_id, open_at_start=s == 0,
                details=RoomColdDetails(
                    trailing_h=rr.trailing_h, ongoing=ongoing,
                    lowest_trailing_mean_c=_round(float(np.nanmin(tm[r, s:e])), 1))))

        for cause, mask in (("silent", silent), ("stuck", stuck), ("out_of_range", oor)):
            for r, s, e in _intervals_of(mask):
                rid = ix.rooms[r]
                ongoing = e == axis.n_slots
                ev.incidents.append(self._incident(
                    "sensor_fault", rid, int(axis.ts_ms(s)),
                    None if ongoing else int(axis.ts_ms(e)), cause,
                    substation_id=ix.substations[ix.room_sub[r]],
                    building_id=self.records.devices[rid].building_id,
                    account_id=self.records.devices[rid].account_id, open_at_start=s == 0,
                    details=SensorFaultDetails(hours=(e - s) * axis.step_ms / HOUR_MS,
                                               ongoing=ongoing)))

        comp = compliance(state, ix.room_sub, len(ix.substations))
        day_start = [axis.t0_ms + d * DAY_MS for d in range(state.shape[1])]
        complete = [d for d in range(state.shape[1]) if (d + 1) * spd <= axis.n_slots]
        rate = comp.rate
        for d in complete:
            for s, sid in enumerate(ix.substations):
                # DOMAIN: a substation day below 97 % is an incident; nothing measured never is
                if np.isfinite(rate[s, d]) and rate[s, d] < rr.target_rate:
                    ev.incidents.append(self._incident(
                        "compliance_breach", sid, day_start[d], day_start[d] + DAY_MS, "",
                        substation_id=sid,
                        details=ComplianceDetails(
                            day=self._date(day_start[d]), rate=_round(rate[s, d], 4),
                            passing=int(comp.passing[s, d]),
                            measured=int(comp.measured[s, d]))))
        if self.cfg.write_back:
            ev.derived += derived.compliance_readings(ix.substations, day_start, comp, complete)

    # -- meters: faults, comm loss, building outages, billing basis ---------------------------
    def _meters(self, ev: Evaluation, axis: TimeAxis, g: dict[str, Any],
                affected: BoolGrid) -> None:
        ix, mr = self.index, self.rules.meters
        ev.kinds |= {"meter_fault", "meter_comm", "building_outage"}
        ev.scope["meter_fault"] = set(ix.meters)
        gateways = {gw for gw in ix.meter_gateway if gw}
        ev.scope["meter_comm"] = set(ix.meters) | {f"gateway {gw}" for gw in gateways}
        ev.scope["building_outage"] = set(ix.buildings)
        comm: BoolGrid = g["comm"]
        mg = MeterGrid(g["energy_kwh"], g["volume_m3"], g["flow_m3h"], g["supply_c"],
                       g["return_c"], np.nan_to_num(g["status"]).astype(np.int64), comm)
        present = ~np.isnan(g["energy_kwh"]) | comm
        any_data = present.any(axis=0)
        first = int(np.argmax(any_data)) if any_data.any() else axis.n_slots
        faults = detect_meter_faults(mg, axis, mr)
        not_normal = affected[ix.building_sub[ix.meter_building]]

        n, t = mg.shape
        state = np.zeros((n, t), dtype=np.int8)
        cause_grid = np.full((n, t), -1, dtype=np.int16)
        comm_spans: list[tuple[int, int, int]] = []
        spans: dict[tuple[int, bool], list[tuple[int, int, int]]] = {}
        for m, s, e, c, h in zip(faults.meter, faults.start, faults.end, faults.cause,
                                 faults.human, strict=True):
            m, s, e, c, h = int(m), int(s), int(e), int(c), bool(h)
            if c == Cause.COMM_LOSS:
                s = max(s, first)  # before the first reading anywhere, nothing is known
                if e - s >= mr.comm_loss_intervals:
                    comm_spans.append((m, s, e))
                    state[m, s:e] = np.maximum(state[m, s:e], derived.STATE_COMM)
                continue
            if c == Cause.ENERGY_MISMATCH and not_normal[m, s:e].all():
                # DOMAIN: a substation outage is not a meter fault; the loop restarting
                # upsets ΔV·Δθ·k for an hour or two on every meter it feeds
                continue
            spans.setdefault((m, h), []).append((s, e, c))
            state[m, s:e] = derived.STATE_HUMAN if h else np.maximum(state[m, s:e],
                                                                      derived.STATE_FAULT)
            cause_grid[m, s:e] = np.where(cause_grid[m, s:e] < 0, c, cause_grid[m, s:e])

        spd = axis.slots_per_day
        n_days = -(-t // spd)
        nonhuman_day = np.zeros((n, n_days), dtype=bool)
        human_day = np.zeros((n, n_days), dtype=bool)
        day_cause = np.full((n, n_days), -1, dtype=np.int16)
        for (m, h), items in sorted(spans.items()):
            for s, e in _merge([(a, b) for a, b, _ in items]):
                causes = sorted({c for a, b, c in items if a < e and b > s})
                mid = self.index.meters[m]
                dev = self.records.devices[mid]
                ongoing = e == t
                cls = "human" if h else "non_human"
                ev.incidents.append(self._incident(
                    "meter_fault", mid, int(axis.ts_ms(s)),
                    None if ongoing else int(axis.ts_ms(e)), cls,
                    substation_id=dev.substation_id, building_id=dev.building_id,
                    account_id=dev.account_id, open_at_start=s == 0,
                    details=MeterFaultDetails(
                        cause=Cause(causes[0]).name.lower(),
                        causes=[Cause(c).name.lower() for c in causes],
                        text="; ".join(CAUSE_TEXT[Cause(c)] for c in causes),
                        human=h, fault_class=cls, ongoing=ongoing,
                        hours=(e - s) * axis.step_ms / HOUR_MS)))
                d0, d1 = s // spd, (e - 1) // spd + 1
                # DOMAIN: human causes go to inspection, non-human ones are area-billed
                (human_day if h else nonhuman_day)[m, d0:d1] = True
                for d in range(d0, d1):
                    if day_cause[m, d] < 0 or h:
                        day_cause[m, d] = causes[0]

        self._comm_incidents(ev, axis, comm_spans, g["comm_cause"])

        # DOMAIN: a building is out when its meters show no flow / no ΔT while its substation
        # runs; a substation outage is its own incident
        running = ~affected[ix.building_sub]
        bo = detect_building_outages(g["flow_m3h"], g["supply_c"], g["return_c"],
                                     ix.meter_building, len(ix.buildings), running, axis,
                                     self.rules.outages)
        for o in bo.items():
            bid = ix.buildings[o.row]
            ev.incidents.append(self._incident(
                "building_outage", bid, o.start_ms, None if o.ongoing else o.end_ms, "",
                substation_id=ix.substations[ix.building_sub[o.row]], building_id=bid,
                open_at_start=o.start_ms == axis.t0_ms,
                details=BuildingOutageDetails(
                    duration_h=round(o.duration_h, 2), ongoing=o.ongoing,
                    escalations_h=list(o.escalations_h), over_24h=o.over_24h)))

        if self.cfg.write_back:
            ev.derived += derived.meter_state_readings(ix.meters, ix.meter_tags, axis, state,
                                                       cause_grid)
            bm = ix.billed_meter
            basis = np.full((len(bm), n_days), Basis.METERED, dtype=np.int8)
            basis[nonhuman_day[bm]] = Basis.AREA
            basis[human_day[bm]] = Basis.INSPECTION
            kwh = _daily_kwh(g["energy_kwh"][bm], spd)
            day_start = [axis.t0_ms + d * DAY_MS for d in range(n_days)]
            keep = [d for d in range(n_days) if (d + 1) * spd > first]
            ev.derived += derived.billing_day_readings(
                ix.account_tags, [day_start[d] for d in keep], basis[:, keep],
                day_cause[bm][:, keep], kwh[:, keep])

    def _comm_incidents(self, ev: Evaluation, axis: TimeAxis, spans: list[tuple[int, int, int]],
                        causes: dict[int, str]) -> None:
        """One incident per meter, or one per gateway when all its meters went quiet together."""
        ix = self.index
        per_gw: dict[str, list[int]] = {}
        for i, gw in enumerate(ix.meter_gateway):
            if gw:
                per_gw.setdefault(gw, []).append(i)
        by_start: dict[tuple[str, int], list[tuple[int, int, int]]] = {}
        for m, s, e in spans:
            by_start.setdefault((ix.meter_gateway[m], s), []).append((m, s, e))
        for (gw, s), items in sorted(by_start.items()):
            members = per_gw.get(gw, [])
            if gw and len(members) >= 2 and len(items) == len(members):
                e = max(x[2] for x in items)
                ongoing = e == axis.n_slots
                ev.incidents.append(self._incident(
                    "meter_comm", f"gateway {gw}", int(axis.ts_ms(s)),
                    None if ongoing else int(axis.ts_ms(e)), "comm", open_at_start=s == 0,
                    details=MeterCommDetails(gateway=gw, meters=len(items), ongoing=ongoing,
                                             cause=causes.get(items[0][0], "missing"),
                                             hours=(e - s) * axis.step_ms / HOUR_MS)))
                continue
            for m, s2, e in items:
                mid = ix.meters[m]
                dev = self.records.devices[mid]
                ongoing = e == axis.n_slots
                ev.incidents.append(self._incident(
                    "meter_comm", mid, int(axis.ts_ms(s2)),
                    None if ongoing else int(axis.ts_ms(e)), "comm",
                    substation_id=dev.substation_id, building_id=dev.building_id,
                    account_id=dev.account_id, open_at_start=s2 == 0,
                    details=MeterCommDetails(gateway=gw, ongoing=ongoing,
                                             cause=causes.get(m, "missing"),
                                             hours=(e - s2) * axis.step_ms / HOUR_MS)))

    # -- helpers --------------------------------------------------------------------------------
    def _incident(self, kind: str, subject: str, started_ms: int, closed_ms: int | None,
                  cause: str, *, substation_id: str = "", building_id: str = "",
                  account_id: str = "", open_at_start: bool = False,
                  details: IncidentDetails) -> Incident:
        return Incident(incident_key(kind, subject, started_ms, cause), kind, subject,
                        started_ms, substation_id, building_id, account_id, cause,
                        closed_ms=closed_ms, details=details,
                        open_at_window_start=open_at_start)

    def _date(self, ms: int) -> str:
        return dt.datetime.fromtimestamp(ms / 1000, self.tz).date().isoformat()


def _nan_max(x: npt.NDArray[np.floating]) -> float:
    return float(np.nanmax(x)) if np.isfinite(x).any() else float("nan")


def _holding_reference(hold_mpa: FloatGrid) -> FloatGrid:
    """Each substation's median holding pressure in the window, as the leak kernel takes it."""
    ref = np.full(hold_mpa.shape[0], np.nan)
    some = ~np.isnan(hold_mpa).all(axis=1)
    if some.any():
        ref[some] = np.nanmedian(hold_mpa[some], axis=1)
    return ref


def _round(x: float, digits: int) -> float | None:
    return None if not np.isfinite(x) else round(float(x), digits)


def _daily_kwh(energy_kwh: FloatGrid, slots_per_day: int) -> FloatGrid:
    """Energy per day: the day's last total minus the last total before it (NaN if unknown)."""
    days = by_day(energy_kwh, slots_per_day)
    n, nd, _ = days.shape
    valid = ~np.isnan(days)
    has = valid.any(axis=2)
    last_idx = slots_per_day - 1 - np.argmax(valid[:, :, ::-1], axis=2)
    last = np.take_along_axis(days, last_idx[:, :, None], axis=2)[:, :, 0]
    last = np.where(has, last, np.nan)
    # carry the latest known total forward across days without a reading
    carried = last.copy()
    for d in range(1, nd):
        carried[:, d] = np.where(np.isnan(carried[:, d]), carried[:, d - 1], carried[:, d])
    prev = np.full((n, nd), np.nan)
    prev[:, 1:] = carried[:, :-1]
    out: FloatGrid = np.where(has, last - prev, np.nan)
    return out


def all_kinds() -> tuple[str, ...]:
    """The incident kinds a full evaluation may raise."""
    return INCIDENT_KINDS

"""One evaluation window read from the store once, as grids: substations on their step, rooms,
meters and outdoor temperature hourly. The detectors take these grids; none reads the store."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from analyzer.first_seen import FirstSeen
from analyzer.grid import HOUR_MS, TimeAxis, daily_mean, index_ids, to_grid
from analyzer.index import DistrictIndex
from analyzer.signals import carry_forward, stale_slots
from district.readings import COMM_FAULT_MEASUREMENT
from policy.rules import SignalRules
from storage.base import Frame, Store

FloatGrid = npt.NDArray[np.float64]
BoolGrid = npt.NDArray[np.bool_]

METER_FIELDS = ("energy_kwh", "volume_m3", "flow_m3h", "supply_c", "return_c", "status")
SUB_FIELDS = ("supply_c", "return_c", "flow_m3h", "makeup_m3h", "return_mpa", "outdoor_c")
ROOM_FNS = ("mean", "min", "max")
SUB_READ_POINTS = 500_000  # substation points per query, about (memory stays bounded)


@dataclass(frozen=True, slots=True, eq=False)
class MeterWindow:
    """Hourly meter fields (the hour's last reading), failed polls, and each meter's poll cause."""

    fields: dict[str, FloatGrid]
    comm: BoolGrid
    comm_cause: dict[int, str] = field(default_factory=dict)
    # what the detectors derive from these grids alone (the fields held while fresh, each
    # building's meter counts), computed once while the grids stay the same
    memo: dict[Any, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, eq=False)
class Window:
    """What one cycle read; a kind with no data in the window is None."""

    at_ms: int
    hours: TimeAxis
    steps: TimeAxis  # the substations' slots
    substations: dict[str, FloatGrid] | None
    outdoor_daily_c: FloatGrid  # (substations, days)
    rooms: dict[str, FloatGrid] | None  # hourly mean, min and max
    meters: MeterWindow | None
    sub_known: BoolGrid | None = None  # substation slots with a fresh reading (after `held`)
    weather: FloatGrid | None = None  # each weather station's hourly outdoor temperature
    # each device's first reading ever (what the analyzer has seen, this window included)
    first_seen_ms: Mapping[str, int] = field(default_factory=dict)

    @property
    def data_start_ms(self) -> int | None:
        """The district's first reading ever, as far as the analyzer knows."""
        seen = self.first_seen_ms
        if isinstance(seen, FirstSeen):
            return seen.earliest
        return min(seen.values()) if seen else None

    def held(self, signals: SignalRules) -> Window:
        """The substation grids with each reading carried forward while fresh."""
        if self.substations is None:
            return self
        k = stale_slots(signals.substation_stale_min * 60_000, self.steps.step_ms)
        subs = {f: carry_forward(g, k) for f, g in self.substations.items()}
        known = ~np.isnan(subs["pump_on"]) | (~np.isnan(subs["supply_c"])
                                              & ~np.isnan(subs["return_c"]))
        return replace(self, substations=subs, sub_known=known)

    def first_readings(self, index: DistrictIndex,
                       known: FirstSeen | None = None) -> dict[str, int]:
        """Each device's first reading in this window (rooms, meters, substations); a device
        `known` to have read before the window's start is not looked for."""
        out: dict[str, int] = {}
        grids: list[tuple[list[str], FloatGrid | None, TimeAxis]] = [
            (index.rooms, None if self.rooms is None else self.rooms["mean"], self.hours),
            (index.meters, None if self.meters is None else self.meters.fields["energy_kwh"],
             self.hours),
            # substation grids are by substation: each row's device
            (index.substation_device,
             None if self.substations is None else self.substations["supply_c"], self.steps),
            (index.weather_stations, self.weather, self.hours)]
        for ids, grid, axis in grids:
            if grid is None:
                continue
            # a steady analyzer has seen nearly every device: only the others are scanned
            rows = np.arange(len(ids)) if known is None else known.rows_after(ids, axis.t0_ms)
            present = ~np.isnan(grid[rows])
            hit = present.any(axis=1)
            rows, first = rows[hit], np.argmax(present[hit], axis=1)
            for r, s in zip(rows, first, strict=True):
                if ids[int(r)]:
                    out[ids[int(r)]] = int(axis.ts_ms(int(s)))
        return out


def frame_grid(frame: Frame, ids: Sequence[str], key: str, name: str, axis: TimeAxis,
               how: str = "mean") -> FloatGrid:
    """One field of a frame as an (ids, slots) grid, NaN where nothing was read."""
    if len(frame) == 0:
        return np.full((len(ids), axis.n_slots), np.nan)
    row = index_ids(frame.tags[key], np.array(ids, dtype=np.str_))
    return np.asarray(to_grid(row, frame.ts_ms, frame.fields[name], len(ids), axis, how,
                              np.float64), dtype=np.float64)


def _end(axis: TimeAxis) -> int:
    return axis.t0_ms + axis.n_slots * axis.step_ms


class WindowReader:
    """Reads a window from any store with read_aggregate, pushing aggregation into it."""

    def __init__(self, store: Store, index: DistrictIndex) -> None:
        self.store = store
        self.index = index

    def read(self, t0_ms: int, at_ms: int, step_ms: int) -> Window:
        """The grids from t0_ms (a local midnight) up to the last whole hour before at_ms."""
        hours = TimeAxis(t0_ms, HOUR_MS, max(int((at_ms - t0_ms) // HOUR_MS), 0))
        steps = TimeAxis(t0_ms, step_ms, max(int((at_ms - t0_ms) // step_ms), 0))
        subs = self.substations(steps)
        outdoor, weather = self.outdoor(hours, subs, steps)
        return Window(at_ms, hours, steps, subs, outdoor, self.rooms(hours), self.meters(hours),
                      weather=weather)

    def substations(self, axis: TimeAxis) -> dict[str, FloatGrid] | None:
        """Each substation's fields on the step axis: the mean of a slot's points (the pump
        state: its last), None when no substation reported in the window.

        Read as points and put on the grid here: InfluxDB 1.x spends far longer on six
        `mean()`s grouped by time and station than on sending the points (0.5-2 s against
        0.16 s for an hour of 1,500 stations). The points come a piece of the window at a
        time, each sized from the densest piece so far, so memory stays bounded at any
        reporting interval."""
        ids = self.index.substations
        out = {f: np.full((len(ids), axis.n_slots), np.nan) for f in (*SUB_FIELDS, "pump_on")}
        seen, dense = False, 0.0  # the most points per slot a piece has held
        a, per = 0, max(1, min(axis.n_slots, HOUR_MS // axis.step_ms))
        while a < axis.n_slots:
            b = min(a + per, axis.n_slots)
            piece = TimeAxis(axis.t0_ms + a * axis.step_ms, axis.step_ms, b - a)
            fr = self.store.read_window("substation", piece.t0_ms, _end(piece),
                                        (*SUB_FIELDS, "pump_on"), tags=("substation_id",))
            if len(fr):
                seen = True
                for f in out:
                    out[f][:, a:b] = frame_grid(fr, ids, "substation_id", f, piece,
                                                "last" if f == "pump_on" else "mean")
            # the next piece: sized by the densest piece so far, at most twice as long as
            # this one; after empty pieces only (before go-live) as long, not the rest at once
            dense = max(dense, len(fr) / (b - a))
            if dense:
                per = max(1, min(2 * (b - a), int(SUB_READ_POINTS / dense)))
            a = b
        return out if seen else None

    def outdoor(self, axis: TimeAxis, subs: dict[str, FloatGrid] | None,
                sub_axis: TimeAxis) -> tuple[FloatGrid, FloatGrid | None]:
        """Outdoor daily mean per substation: its own sensor, else the weather stations' mean;
        and the stations' hourly grid."""
        stations = self.stations(axis)
        return outdoor_daily(len(self.index.substations), axis, stations, subs, sub_axis), \
            stations

    def stations(self, axis: TimeAxis) -> FloatGrid | None:
        """Each weather station's hourly outdoor temperature; None if none reported."""
        fr = self.store.read_aggregate("weather", axis.t0_ms, _end(axis), 3600, ["outdoor_c"],
                                       "mean", tags=("device_id",))
        if len(fr) == 0:
            return None
        return frame_grid(fr, self.index.weather_stations, "device_id", "outdoor_c", axis)

    def rooms(self, axis: TimeAxis) -> dict[str, FloatGrid] | None:
        # hourly mean, min and max in one pass over the rooms, in the store
        fr = self.store.read_aggregate("room", axis.t0_ms, _end(axis), 3600, ["temp_c"],
                                       ROOM_FNS)
        if len(fr) == 0:
            return None
        return {fn: frame_grid(fr, self.index.rooms, "device_id", f"{fn}_temp_c", axis)
                for fn in ROOM_FNS}

    def meters(self, axis: TimeAxis) -> MeterWindow | None:
        parts = self.meter_parts(axis)
        return None if parts is None else assemble_meters(*parts)

    def meter_parts(self, axis: TimeAxis) -> tuple[dict[str, FloatGrid], BoolGrid,
                                                   dict[tuple[int, int], str]] | None:
        """Hourly meter fields, failed polls as read, and each failed poll's cause by
        (row, slot); None when neither was read."""
        end = _end(axis)
        fr = self.store.read_window("meter", axis.t0_ms, end, METER_FIELDS)
        comm = self.store.read_window(COMM_FAULT_MEASUREMENT, axis.t0_ms, end, ["ok"],
                                      tags=("device_id", "cause"))
        if len(fr) == 0 and len(comm) == 0:
            return None
        ids = self.index.meters
        # meters are read hourly: the last reading of each hour is the hour's reading
        fields = {f: frame_grid(fr, ids, "device_id", f, axis, "last") for f in METER_FIELDS}
        comm_grid = np.zeros((len(ids), axis.n_slots), dtype=bool)
        causes: dict[tuple[int, int], str] = {}
        if len(comm):
            row = index_ids(comm.device_id, np.array(ids, dtype=np.str_))
            slot = axis.slot_of(comm.ts_ms)
            keep = (row >= 0) & (slot >= 0) & (slot < axis.n_slots)
            comm_grid[row[keep], slot[keep]] = True
            order = np.argsort(np.asarray(comm.ts_ms)[keep], kind="stable")
            for r, s, c in zip(row[keep][order], slot[keep][order],
                               comm.tags["cause"][keep][order], strict=True):
                causes[(int(r), int(s))] = str(c)  # the latest poll of the slot wins
        return fields, comm_grid, causes


def assemble_meters(fields: dict[str, FloatGrid], comm: BoolGrid,
                    causes: Mapping[tuple[int, int], str]) -> MeterWindow:
    """The meter window: each meter's latest poll cause; a reading that arrived in the same
    hour as a failed poll wins."""
    last: dict[int, tuple[int, str]] = {}
    for (r, s), c in causes.items():
        if r not in last or s >= last[r][0]:
            last[r] = (s, c)
    return MeterWindow(fields, comm & np.isnan(fields["energy_kwh"]),
                       {r: c for r, (_, c) in last.items()})


def outdoor_daily(n_sub: int, axis: TimeAxis, stations: FloatGrid | None,
                  subs: dict[str, FloatGrid] | None, sub_axis: TimeAxis) -> FloatGrid:
    """Outdoor daily mean per substation: its own sensor, else the weather stations' mean."""
    city = np.full((1, axis.n_slots), np.nan)
    if stations is not None:
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an hour no station reported
            city = np.nanmean(stations, axis=0, keepdims=True)
    city_daily, _ = daily_mean(city, axis.slots_per_day)
    out = np.broadcast_to(city_daily, (n_sub, city_daily.shape[1])).copy()
    if subs is not None:
        own_daily, count = daily_mean(subs["outdoor_c"], sub_axis.slots_per_day)
        k = min(out.shape[1], own_daily.shape[1])
        out[:, :k] = np.where(count[:, :k] > 0, own_daily[:, :k], out[:, :k])
    return np.asarray(out, dtype=np.float64)

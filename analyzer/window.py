"""One evaluation window read from the store once, as grids: substations on their step, rooms,
meters and outdoor temperature hourly. The detectors take these grids; none reads the store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from analyzer.grid import HOUR_MS, TimeAxis, daily_mean, index_ids, to_grid
from analyzer.index import DistrictIndex
from district.readings import COMM_FAULT_MEASUREMENT
from storage.base import Frame, Store

FloatGrid = npt.NDArray[np.float64]
BoolGrid = npt.NDArray[np.bool_]

METER_FIELDS = ("energy_kwh", "volume_m3", "flow_m3h", "supply_c", "return_c", "status")
SUB_FIELDS = ("supply_c", "return_c", "flow_m3h", "makeup_m3h", "return_mpa", "outdoor_c")
ROOM_FNS = ("mean", "min", "max")


@dataclass(frozen=True, slots=True, eq=False)
class MeterWindow:
    """Hourly meter fields (the hour's last reading), failed polls, and each meter's poll cause."""

    fields: dict[str, FloatGrid]
    comm: BoolGrid
    comm_cause: dict[int, str] = field(default_factory=dict)


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
        return Window(at_ms, hours, steps, subs, self.outdoor(hours, subs, steps),
                      self.rooms(hours), self.meters(hours))

    def substations(self, axis: TimeAxis) -> dict[str, FloatGrid] | None:
        end = _end(axis)
        fr = self.store.read_aggregate("substation", axis.t0_ms, end, axis.step_ms // 1000,
                                       SUB_FIELDS, "mean", tags=("substation_id",))
        if len(fr) == 0:
            return None
        ids = self.index.substations
        out = {f: frame_grid(fr, ids, "substation_id", f, axis) for f in SUB_FIELDS}
        # InfluxQL cannot average a boolean: the pump state is read as points, last per slot
        pump = self.store.read_window("substation", axis.t0_ms, end, ["pump_on"],
                                      tags=("substation_id",))
        out["pump_on"] = frame_grid(pump, ids, "substation_id", "pump_on", axis, "last")
        return out

    def outdoor(self, axis: TimeAxis, subs: dict[str, FloatGrid] | None,
                sub_axis: TimeAxis) -> FloatGrid:
        """Outdoor daily mean per substation: its own sensor, else the weather stations' mean."""
        fr = self.store.read_aggregate("weather", axis.t0_ms, _end(axis), 3600, ["outdoor_c"],
                                       "mean", tags=())
        n_sub = len(self.index.substations)
        city = np.full((1, axis.n_slots), np.nan)
        if len(fr):
            city = to_grid(np.zeros(len(fr), dtype=np.intp), fr.ts_ms, fr.fields["outdoor_c"],
                           1, axis, "mean", np.float64)
        city_daily, _ = daily_mean(city, axis.slots_per_day)
        out = np.broadcast_to(city_daily, (n_sub, city_daily.shape[1])).copy()
        if subs is not None:
            own_daily, count = daily_mean(subs["outdoor_c"], sub_axis.slots_per_day)
            k = min(out.shape[1], own_daily.shape[1])
            out[:, :k] = np.where(count[:, :k] > 0, own_daily[:, :k], out[:, :k])
        return np.asarray(out, dtype=np.float64)

    def rooms(self, axis: TimeAxis) -> dict[str, FloatGrid] | None:
        # hourly mean, min and max in one pass over the rooms, in the store
        fr = self.store.read_aggregate("room", axis.t0_ms, _end(axis), 3600, ["temp_c"],
                                       ROOM_FNS)
        if len(fr) == 0:
            return None
        return {fn: frame_grid(fr, self.index.rooms, "device_id", f"{fn}_temp_c", axis)
                for fn in ROOM_FNS}

    def meters(self, axis: TimeAxis) -> MeterWindow | None:
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
        causes: dict[int, str] = {}
        if len(comm):
            row = index_ids(comm.device_id, np.array(ids, dtype=np.str_))
            slot = axis.slot_of(comm.ts_ms)
            keep = (row >= 0) & (slot >= 0) & (slot < axis.n_slots)
            comm_grid[row[keep], slot[keep]] = True
            for r, c in zip(row[keep], comm.tags["cause"][keep], strict=True):
                causes[int(r)] = str(c)
        # a reading that arrived in the same hour as a failed poll wins
        comm_grid &= np.isnan(fields["energy_kwh"])
        return MeterWindow(fields, comm_grid, causes)

"""Whole-array compositions of the analyzer's kernels that only the tests and the benches call:
the detectors (analyzer/detectors/) compose the same kernels their own way, window by window.
Kept here, beside their callers, so the product holds no code that nothing in it runs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analyzer.grid import TimeAxis, by_day
from analyzer.kernels.leak_signs import Leaks, holding_reference, leaks_of, makeup_share
from analyzer.kernels.meter_signs import MeterFaults
from analyzer.kernels.outage_spans import (
    Outages,
    building_out_slots,
    outages_of,
    substation_out_slots,
)
from analyzer.kernels.room_temps import Compliance, RoomDays, compliance, trailing_mean
from analyzer.runs import first_true, intervals, runs_at_least
from policy.rooms import RoomState, is_cold
from policy.rules import (
    DEFAULT_LEAKS,
    DEFAULT_OUTAGES,
    DEFAULT_ROOMS,
    Cause,
    LeakRules,
    OutageRules,
    RoomRules,
)

FloatGrid = npt.NDArray[np.floating]
BoolGrid = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]


def company_compliance(state: npt.NDArray[np.int8]) -> Compliance:
    """Compliance of the whole company per day (one group)."""
    return compliance(state, np.zeros(state.shape[0], dtype=np.intp), 1)


@dataclass(frozen=True, slots=True, eq=False)
class ColdRoomSignals:
    """Rooms whose trailing mean fell below the minimum: room, day, first slot, that mean."""

    room: IntArray
    day: IntArray
    slot: IntArray
    trailing_mean_c: FloatGrid

    def __len__(self) -> int:
        return int(self.room.shape[0])


def cold_room_signals(
    temp_c: FloatGrid, axis: TimeAxis, days: RoomDays, rules: RoomRules = DEFAULT_ROOMS
) -> ColdRoomSignals:
    """Dispatch's faster signal: each room day's first slot whose trailing mean is cold."""
    tm = trailing_mean(temp_c, axis, rules)
    spd = axis.slots_per_day
    low = is_cold(tm, rules)
    # a faulty, excluded or uncounted room day never signals
    eligible = (days.state == RoomState.PASS) | (days.state == RoomState.COLD)
    low_days = by_day(low, spd) & eligible[:, :, None]
    first = first_true(low_days)
    room, day = np.nonzero(first >= 0)
    slot = day * spd + first[room, day]
    return ColdRoomSignals(room.astype(np.intp), day.astype(np.intp), slot.astype(np.intp),
                           tm[room, slot])


def detect_substation_outages(
    pump_on: FloatGrid,
    supply_c: FloatGrid,
    return_c: FloatGrid,
    axis: TimeAxis,
    rules: OutageRules = DEFAULT_OUTAGES,
) -> Outages:
    """Substation outages lasting at least the minimum duration."""
    return outages_of(substation_out_slots(pump_on, supply_c, return_c, rules), axis, rules)


def detect_building_outages(
    flow_m3h: FloatGrid,
    supply_c: FloatGrid,
    return_c: FloatGrid,
    meter_building: IntArray,
    n_buildings: int,
    substation_running: BoolGrid,
    axis: TimeAxis,
    rules: OutageRules = DEFAULT_OUTAGES,
) -> Outages:
    """Building outages (while the substation runs) lasting at least the minimum duration."""
    out = building_out_slots(flow_m3h, supply_c, return_c, meter_building, n_buildings,
                             substation_running, rules)
    return outages_of(out, axis, rules)


def detect_leaks(
    flow_m3h: FloatGrid,
    makeup_m3h: FloatGrid,
    hold_mpa: FloatGrid,
    axis: TimeAxis,
    rules: LeakRules = DEFAULT_LEAKS,
    reference_mpa: FloatGrid | None = None,
) -> Leaks:
    """Suspected leaks per substation; the pressure reference defaults to each one's median."""
    with np.errstate(invalid="ignore"):
        # docs/rules.md: make-up water above 2 % of circulating flow per hour means a leak
        makeup = makeup_share(flow_m3h, makeup_m3h, axis, rules) > rules.makeup_share
    if reference_mpa is None:
        ref = holding_reference(hold_mpa)
    else:
        ref = np.asarray(reference_mpa, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        # docs/rules.md: the pressure-holding point sags (e.g. 0.35 -> 0.25 MPa)
        sag = (ref[:, None] - hold_mpa) >= rules.sag_mpa - 1e-9
    sag = runs_at_least(sag, axis.slots_for(rules.sag_min_duration_min))
    return leaks_of(intervals(makeup), intervals(sag), axis)


def downsample_all(mask: BoolGrid, factor: int) -> BoolGrid:
    """Coarser slots: True when all of the `factor` fine slots are True."""
    n, t = mask.shape
    pad = -(-t // factor) * factor - t
    if pad:
        mask = np.concatenate([mask, np.ones((n, pad), dtype=bool)], axis=1)
    out: BoolGrid = np.asarray(mask.reshape(n, -1, factor).all(axis=2), dtype=bool)
    return out


def causes_by_day(faults: MeterFaults, meter: int, slots_per_day: int) -> dict[int, list[Cause]]:
    """The fault causes touching each day of one meter."""
    out: dict[int, list[Cause]] = {}
    rows = np.nonzero(faults.meter == meter)[0]
    for i in rows:
        first = int(faults.start[i]) // slots_per_day
        last = (int(faults.end[i]) - 1) // slots_per_day
        for d in range(first, last + 1):
            c = Cause(int(faults.cause[i]))
            if c not in out.setdefault(d, []):
                out[d].append(c)
    return out

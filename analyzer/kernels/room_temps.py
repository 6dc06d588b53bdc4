"""Room temperatures: daily pass/fail, sensor faults, compliance, cold-room signals, refunds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analyzer.grid import TimeAxis, by_day, daily_mean, group_sum
from analyzer.runs import ffill_index, intervals, runs_at_least
from analyzer.signals import hold_state
from policy.rooms import (
    RoomState,
    SensorFault,
    in_valid_range,
    is_cold,
    meets_target,
    room_day_state,
    silent_days,
)
from policy.rules import (
    DEFAULT_ROOMS,
    RoomRules,
)

FloatGrid = npt.NDArray[np.floating]
BoolGrid = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]

# means are compared after rounding here: summation order must not decide a threshold
NOISE_DECIMALS = 6


@dataclass(frozen=True, slots=True, eq=False)
class RoomDays:
    """Per room and day: the daily mean of valid samples, the state and any sensor fault bits."""

    daily_mean_c: FloatGrid
    state: npt.NDArray[np.int8]
    fault: npt.NDArray[np.int8]


def stuck_slots(temp_c: FloatGrid, axis: TimeAxis, rules: RoomRules) -> BoolGrid:
    """Slots inside a stretch of unchanged readings lasting at least `stuck_h`."""
    need = axis.slots_for(rules.stuck_h * 60)
    if need <= 1:
        return ~np.isnan(temp_c)
    same = np.zeros(temp_c.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        same[:, 1:] = np.abs(np.diff(temp_c, axis=1)) <= rules.stuck_tolerance_c
    # `same` marks the later slot of each unchanged pair; need-1 pairs span need samples,
    # so only rows with at least that many unchanged pairs can hold such a run
    rows = np.flatnonzero(np.count_nonzero(same, axis=1) >= need - 1)
    stuck = np.zeros(temp_c.shape, dtype=bool)
    if rows.size:
        pairs = runs_at_least(same[rows], need - 1)
        pairs[:, :-1] |= pairs[:, 1:]
        stuck[rows] = pairs
    return stuck


def stuck_in_building(temp_c: FloatGrid, axis: TimeAxis, building: IntArray, n_buildings: int,
                      rules: RoomRules = DEFAULT_ROOMS) -> BoolGrid:
    """Slots inside a stretch of at least `stuck_h` where each reading repeats the previous one
    (within the tolerance, across missing slots), unless the room's building is flat as a
    whole over that stretch: most of its other rooms within `flat_building_range_c` too is an
    outage or a steady building, not a broken sensor."""
    need = axis.slots_for(rules.stuck_h * 60)
    runs = np.zeros(temp_c.shape, dtype=bool)
    present_all = ~np.isnan(temp_c)
    with np.errstate(invalid="ignore"):
        flat = np.zeros(temp_c.shape, dtype=bool)
        flat[:, 1:] = ~(np.abs(np.diff(temp_c, axis=1)) > rules.stuck_tolerance_c)
    # a stuck stretch holds need - 1 slots that repeat or miss: only such rows are worked out
    rows = np.flatnonzero(np.count_nonzero(flat, axis=1) >= need - 1)
    if rows.size == 0:
        return runs
    sub, present = temp_c[rows], present_all[rows]
    prev_idx = np.full(sub.shape, -1, dtype=np.int32)
    prev_idx[:, 1:] = ffill_index(present)[:, :-1]
    prev = np.take_along_axis(sub, np.maximum(prev_idx, 0), axis=1)
    with np.errstate(invalid="ignore"):
        same = present & (prev_idx >= 0) & (np.abs(sub - prev) <= rules.stuck_tolerance_c)
    # a run of k repeating readings spans k + 1 readings: the first one counts too
    held = runs_at_least(hold_state(same, present), max(need - 1, 1))
    held[:, :-1] |= held[:, 1:] & present[:, :-1]
    runs[rows] = held
    b = np.asarray(building, dtype=np.intp)
    iv = intervals(runs)
    if len(iv) == 0:
        return runs
    order = np.argsort(b, kind="stable")
    bounds = np.searchsorted(b[order], np.arange(n_buildings + 1))
    for r, s, e in zip(iv.row, iv.start, iv.end, strict=True):
        members = order[bounds[b[r]]:bounds[b[r] + 1]]
        others = members[members != r]
        seg = temp_c[others, s:e]
        seen = ~np.isnan(seg).all(axis=1)
        if not seen.any():
            continue
        with np.errstate(invalid="ignore"):
            spread = np.nanmax(seg[seen], axis=1) - np.nanmin(seg[seen], axis=1)
        if (spread <= rules.flat_building_range_c + 1e-9).mean() >= rules.flat_building_share:
            runs[r, s:e] = False
    return runs


def assess_rooms(
    temp_c: FloatGrid,
    axis: TimeAxis,
    counted: npt.NDArray[np.bool_],
    substation: IntArray,
    outdoor_daily_c: FloatGrid,
    design_outdoor_c: FloatGrid,
    rules: RoomRules = DEFAULT_ROOMS,
    stuck: BoolGrid | None = None,
) -> RoomDays:
    """Label every room day PASS / COLD / SENSOR_FAULT / EXCLUDED / NOT_COUNTED.

    `temp_c` is (rooms, slots); `counted` marks bedrooms and living rooms; `outdoor_daily_c`
    is (substations, days) and `design_outdoor_c` (substations,); `stuck` the stuck slots
    when the caller knows better than `stuck_slots` (the building around each room).
    """
    spd = axis.slots_per_day
    in_range = in_valid_range(temp_c, rules)
    present = ~np.isnan(temp_c)
    out_of_range = present & ~in_range
    valid = np.where(in_range, temp_c, np.nan)
    mean, count = daily_mean(valid, spd)
    # docs/rules.md: 0.1 °C resolution; float noise far below it must not flip a day at 18.0
    mean = np.round(mean, NOISE_DECIMALS)
    n_days = mean.shape[1]
    slots_in_day = np.minimum(spd, axis.n_slots - np.arange(n_days) * spd)
    silent = silent_days(count, slots_in_day, rules)
    stuck_day = by_day(stuck_slots(valid, axis, rules) if stuck is None else stuck,
                       spd).any(axis=2)
    oor = by_day(out_of_range, spd).any(axis=2)
    fault = (
        silent * SensorFault.SILENT + stuck_day * SensorFault.STUCK + oor * SensorFault.OUT_OF_RANGE
    ).astype(np.int8)

    sub = np.asarray(substation, dtype=np.intp)
    with np.errstate(invalid="ignore"):
        # docs/rules.md: outdoor daily mean below the design outdoor temperature -> excluded
        cold_day = outdoor_daily_c[:, :n_days] < np.asarray(design_outdoor_c)[:, None]
    state = room_day_state(is_cold(mean, rules), fault, cold_day[sub],
                           np.asarray(counted, dtype=bool))
    return RoomDays(mean, state, fault)


@dataclass(frozen=True, slots=True, eq=False)
class Compliance:
    """Per group and day: rooms passing, rooms measured, and the rate (NaN if none measured)."""

    passing: npt.NDArray[np.int64]
    measured: npt.NDArray[np.int64]
    faulty: npt.NDArray[np.int64]
    excluded: npt.NDArray[np.int64]

    @property
    def rate(self) -> FloatGrid:
        with np.errstate(invalid="ignore", divide="ignore"):
            out: FloatGrid = np.where(self.measured > 0, self.passing / self.measured, np.nan)
        return out


def compliance(state: npt.NDArray[np.int8], group: IntArray, n_groups: int) -> Compliance:
    """Compliance rate (室温合格率) of each group (substation, building…) per day."""
    # docs/rules.md: rate = rooms passing ÷ rooms measured
    g = np.asarray(group, dtype=np.intp)
    passing = group_sum(state == RoomState.PASS, g, n_groups)
    measured = passing + group_sum(state == RoomState.COLD, g, n_groups)
    faulty = group_sum(state == RoomState.SENSOR_FAULT, g, n_groups)
    excluded = group_sum(state == RoomState.EXCLUDED, g, n_groups)
    return Compliance(
        passing.astype(np.int64), measured.astype(np.int64),
        faulty.astype(np.int64), excluded.astype(np.int64),
    )


@dataclass(frozen=True, slots=True)
class ComplianceBreach:
    """A substation day below the compliance target: an incident."""

    substation: int
    day: int
    rate: float
    passing: int
    measured: int


def breaches(comp: Compliance, rules: RoomRules = DEFAULT_ROOMS) -> list[ComplianceBreach]:
    """Every group day whose rate is below target (days with nothing measured never breach)."""
    rate = comp.rate
    g, d = np.nonzero(~meets_target(rate, rules) & ~np.isnan(rate))
    return [
        ComplianceBreach(int(a), int(b), float(rate[a, b]), int(comp.passing[a, b]),
                         int(comp.measured[a, b]))
        for a, b in zip(g, d, strict=True)
    ]


def trailing_mean(temp_c: FloatGrid, axis: TimeAxis, rules: RoomRules = DEFAULT_ROOMS) -> FloatGrid:
    """Mean of the valid samples in the trailing `trailing_h` window (NaN if too few)."""
    w = axis.slots_for(rules.trailing_h * 60)
    valid = in_valid_range(temp_c, rules)
    n, t = temp_c.shape
    cs = np.zeros((n, t + 1), dtype=np.float64)
    np.cumsum(np.where(valid, temp_c, 0.0), axis=1, out=cs[:, 1:])
    cc = np.zeros((n, t + 1), dtype=np.int32)
    np.cumsum(valid, axis=1, out=cc[:, 1:])
    # slot j sums slots j-w+1..j: cumsum at j+1 minus cumsum at j+1-w (0 for the first w)
    total = cs[:, 1:].copy()
    total[:, w:] -= cs[:, 1:t + 1 - w]
    count = cc[:, 1:].copy()
    count[:, w:] -= cc[:, 1:t + 1 - w]
    enough = count >= np.ceil(rules.trailing_min_coverage * w - 1e-9)
    with np.errstate(invalid="ignore", divide="ignore"):
        out: FloatGrid = np.where(enough & (count > 0), total / np.maximum(count, 1), np.nan)
    return np.round(out, NOISE_DECIMALS)



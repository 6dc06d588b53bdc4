"""The rooms' window judged once, for the three room detectors: which hours are silent, stuck or
out of range, and what each room day counts as (pass, cold, fault, excluded, not counted)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analyzer.detectors.base import BoolGrid, Context, FloatGrid
from analyzer.grid import TimeAxis, by_day
from analyzer.rooms import RoomState, assess_rooms, stuck_slots
from analyzer.runs import runs_at_least
from analyzer.window import Window


@dataclass(frozen=True, slots=True, eq=False)
class RoomJudgement:
    """Hourly room grids and masks, and each room day's state, over one window."""

    axis: TimeAxis
    valid: FloatGrid  # hourly temperature, NaN where missing or out of range
    silent: BoolGrid
    stuck: BoolGrid
    out_of_range: BoolGrid
    state: npt.NDArray[np.int8]  # (rooms, days) RoomState
    affected: BoolGrid  # (substations, hours) system not normal


def judge_rooms(ctx: Context, w: Window, affected: BoolGrid) -> RoomJudgement | None:
    """The window's room judgement, or None when no room reported in it."""
    if w.rooms is None:
        return None
    ix, rr, axis = ctx.index, ctx.rules.rooms, w.hours
    mean, lo, hi = w.rooms["mean"], w.rooms["min"], w.rooms["max"]
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
    silent = runs_at_least(missing, axis.slots_for(rr.silent_h * 60))
    valid = np.where(oor, np.nan, temp)
    stuck = stuck_slots(valid, axis, rr)

    days = assess_rooms(temp, axis, ix.room_counted, ix.room_sub, w.outdoor_daily_c,
                        ix.design_outdoor_c, rr)
    state = days.state.copy()
    spd = axis.slots_per_day
    fault_day = by_day(silent | stuck | oor, spd).any(axis=2)
    state[fault_day & ix.room_counted[:, None]] = RoomState.SENSOR_FAULT
    not_normal = np.asarray(by_day(affected, spd).any(axis=2), dtype=bool)[ix.room_sub]
    judged = (state == RoomState.PASS) | (state == RoomState.COLD)
    state[judged & not_normal] = RoomState.EXCLUDED
    # days before any data are not days the rooms were measured
    state[:, :first // spd] = RoomState.EXCLUDED
    return RoomJudgement(axis, valid, silent, stuck, oor, state, affected)

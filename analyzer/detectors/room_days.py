"""The rooms' window judged once, for the three room detectors: which hours are silent, stuck or
out of range, and what each room day counts as (pass, cold, fault, excluded, not counted)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analyzer.detectors.base import BoolGrid, Context, FloatGrid, expected_slots, since
from analyzer.grid import DAY_MS, HOUR_MS, TimeAxis, by_day
from analyzer.kernels.room_temps import assess_rooms, stuck_in_building
from analyzer.runs import runs_at_least
from analyzer.signals import carry_forward, stale_slots
from analyzer.window import Window
from policy.rooms import RoomState


@dataclass(frozen=True, slots=True, eq=False)
class RoomJudgement:
    """Hourly room grids and masks, and each room day's state, over one window."""

    axis: TimeAxis
    valid: FloatGrid  # hourly temperature, NaN where missing or out of range
    held: FloatGrid  # the same, each reading carried forward while fresh
    low: FloatGrid  # each hour's lowest and highest valid reading (NaN where none)
    high: FloatGrid
    silent: BoolGrid
    stuck: BoolGrid
    out_of_range: BoolGrid
    state: npt.NDArray[np.int8]  # (rooms, days) RoomState
    watched: BoolGrid  # (rooms, days) the fast cold signal applies: counted, not a design-cold
    # day nor one the system was out, no stuck or out-of-range sensor (a silent stretch is
    # unknown, not a reason)
    affected: BoolGrid  # (rooms, hours): the room's system is not normal
    expected: npt.NDArray[np.intp]  # first slot each room is expected to report in


def suspended_rooms(ctx: Context, axis: TimeAxis,
                    suspended: Callable[[int], set[str]]) -> BoolGrid:
    """(rooms, days): the room's account is suspended for the season of that day (issue 21:
    an accepted 暂停供暖); `suspended(season year)` gives the season's accounts."""
    ix, dev = ctx.index, ctx.records.devices
    out = np.zeros((len(ix.rooms), axis.n_days), dtype=bool)
    by_year: dict[int, set[str]] = {}
    for d in range(axis.n_days):
        day = dt.datetime.fromtimestamp((axis.t0_ms + d * DAY_MS) / 1000, ctx.tz).date()
        year = ctx.rules.season.year_of(day)
        if year not in by_year:
            by_year[year] = suspended(year)
        if by_year[year]:
            out[:, d] = [dev[r].account_id in by_year[year] for r in ix.rooms]
    return out


def judge_rooms(ctx: Context, w: Window, affected: BoolGrid,
                suspended: BoolGrid | None = None) -> RoomJudgement | None:
    """The window's room judgement, or None when no room reported in it.

    `affected` is (rooms, hours): an outage of the room's substation or building; `suspended`
    (rooms, days): the room's account suspended its heating for that day's season, so its day
    is not counted and not watched for cold.
    """
    if w.rooms is None:
        return None
    ix, rr, axis = ctx.index, ctx.rules.rooms, w.hours
    mean, lo, hi = w.rooms["mean"], w.rooms["min"], w.rooms["max"]
    with np.errstate(invalid="ignore"):
        below, above = lo < rr.valid_min_c, hi > rr.valid_max_c
    oor = below | above
    # an hour holding an out-of-range sample carries that sample, so the kernel sees it
    temp = np.where(below, lo, np.where(above, hi, mean))
    expected = expected_slots(ctx, w, ix.rooms, axis)
    # silence counts from the room's first reading ever (or its commissioning), never before;
    # a room is silent once its last reading is stale and silent_h more have passed
    missing = np.isnan(temp) & since(expected, axis.n_slots)
    quiet_h = ctx.rules.signals.room_stale_h + rr.silent_h
    silent = runs_at_least(missing, axis.slots_for(quiet_h * 60))
    valid = np.where(oor, np.nan, temp)
    stuck = stuck_in_building(valid, axis, ix.room_building, len(ix.buildings), rr)

    days = assess_rooms(temp, axis, ix.room_counted, ix.room_sub, w.outdoor_daily_c,
                        ix.design_outdoor_c, rr, stuck)
    state = days.state.copy()
    spd = axis.slots_per_day
    fault_day = by_day(silent | stuck | oor, spd).any(axis=2)
    state[fault_day & ix.room_counted[:, None]] = RoomState.SENSOR_FAULT
    not_normal = np.asarray(by_day(affected, spd).any(axis=2), dtype=bool)
    judged = (state == RoomState.PASS) | (state == RoomState.COLD)
    state[judged & not_normal] = RoomState.EXCLUDED
    # days before a room's first reading are not days it was measured
    first_day = np.minimum(expected // spd, state.shape[1])
    state[np.arange(state.shape[1])[None, :] < first_day[:, None]] = RoomState.EXCLUDED
    stale = stale_slots(ctx.rules.signals.room_stale_h * HOUR_MS, axis.step_ms)
    held = carry_forward(valid, stale)
    low, high = np.where(oor, np.nan, lo), np.where(oor, np.nan, hi)
    n_days = state.shape[1]
    with np.errstate(invalid="ignore"):
        # docs/rules.md: a day colder than design is recorded but excluded
        design_day = (w.outdoor_daily_c[:, :n_days] < ix.design_outdoor_c[:, None])[ix.room_sub]
    # a day its system was out is the outage's: its cold rooms are listed there
    watched = (ix.room_counted[:, None] & ~design_day & ~not_normal
               & ~by_day(stuck | oor, spd).any(axis=2)
               & (np.arange(n_days)[None, :] >= first_day[:, None]))
    if suspended is not None:
        off = suspended[:, :n_days]
        state[off] = RoomState.NOT_COUNTED
        watched &= ~off
    return RoomJudgement(axis, valid, held, low, high, silent, stuck, oor, state, watched, affected,
                         expected)

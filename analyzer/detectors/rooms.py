"""Cold-room incidents: dispatch's fast signal, a room's trailing mean below 18 °C on a day it
is judged, while its system is normal; dated from the hour the room itself fell below."""

from __future__ import annotations

import numpy as np

from analyzer.detectors.base import Context, Found, incident, rounded, runs_of
from analyzer.detectors.room_days import RoomJudgement
from analyzer.kernels.room_temps import trailing_mean
from analyzer.signals import bridge_unknown, confirmed_runs, hold_state
from workflow.details import RoomColdDetails


def detect_cold_rooms(ctx: Context, j: RoomJudgement | None) -> Found:
    """One incident per cold spell of a counted room: the run of hours its temperature is below
    the minimum that its trailing mean confirms (the trailing mean alone lags the event)."""
    found = Found()
    if j is None:
        return found
    ix, rr, axis = ctx.index, ctx.rules.rooms, j.axis
    found.examined("room_cold", set(ix.rooms))
    tm = trailing_mean(j.valid, axis, rr)
    eligible = np.repeat(j.watched, axis.slots_per_day, axis=1)[:, :axis.n_slots]
    eligible &= ~j.affected
    known = ~np.isnan(j.low)
    with np.errstate(invalid="ignore"):
        confirm = tm < rr.min_c
        # the hour of the first reading below the minimum starts the spell, the hour of the
        # first one back above ends it; an hour without readings goes on as the last hour
        # that was wholly cold, and a stretch of them neither ends nor starts a spell
        below = np.where(known, j.low < rr.min_c, hold_state(j.high < rr.min_c, known))
    below = bridge_unknown(below, ~known)
    cold = confirmed_runs(below & eligible, confirm & eligible)
    for r, s, e in runs_of(cold):
        rid = ix.rooms[r]
        dev = ctx.records.devices[rid]
        ongoing = e == axis.n_slots
        with np.errstate(invalid="ignore"):
            lowest = float(np.nanmin(tm[r, s:e])) if np.isfinite(tm[r, s:e]).any() else np.nan
        found.incidents.append(incident(
            "room_cold", rid, int(axis.ts_ms(s)), None if ongoing else int(axis.ts_ms(e)), "",
            substation_id=ix.substations[ix.room_sub[r]], building_id=dev.building_id,
            account_id=dev.account_id, open_at_start=s == 0,
            details=RoomColdDetails(trailing_h=rr.trailing_h, ongoing=ongoing,
                                    lowest_trailing_mean_c=rounded(lowest, 1))))
    return found

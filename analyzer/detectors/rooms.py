"""Cold-room incidents: dispatch's fast signal, a room's trailing mean below 18 °C on a day it
is judged, while its system is normal."""

from __future__ import annotations

import numpy as np

from analyzer.detectors.base import Context, Found, incident, rounded, runs_of
from analyzer.detectors.room_days import RoomJudgement
from analyzer.rooms import RoomState, trailing_mean
from workflow.details import RoomColdDetails


def detect_cold_rooms(ctx: Context, j: RoomJudgement | None) -> Found:
    """One incident per run of hours a counted room's trailing mean is below the minimum."""
    found = Found()
    if j is None:
        return found
    ix, rr, axis = ctx.index, ctx.rules.rooms, j.axis
    found.examined("room_cold", set(ix.rooms))
    tm = trailing_mean(j.valid, axis, rr)
    with np.errstate(invalid="ignore"):
        low = tm < rr.min_c
    eligible_day = (j.state == RoomState.PASS) | (j.state == RoomState.COLD)
    low &= np.repeat(eligible_day, axis.slots_per_day, axis=1)[:, :axis.n_slots]
    low &= ~j.affected[ix.room_sub]
    for r, s, e in runs_of(low):
        rid = ix.rooms[r]
        dev = ctx.records.devices[rid]
        ongoing = e == axis.n_slots
        found.incidents.append(incident(
            "room_cold", rid, int(axis.ts_ms(s)), None if ongoing else int(axis.ts_ms(e)), "",
            substation_id=ix.substations[ix.room_sub[r]], building_id=dev.building_id,
            account_id=dev.account_id, open_at_start=s == 0,
            details=RoomColdDetails(
                trailing_h=rr.trailing_h, ongoing=ongoing,
                lowest_trailing_mean_c=rounded(float(np.nanmin(tm[r, s:e])), 1))))
    return found

"""Sensor-fault incidents: a room thermometer silent, stuck or reading out of range; and the
rooms of a building never heard from since go-live, as one incident for the building."""

from __future__ import annotations

from analyzer.detectors.base import Context, Found, incident, never_reported, runs_of
from analyzer.detectors.room_days import RoomJudgement
from analyzer.grid import HOUR_MS
from analyzer.window import Window
from workflow.details import SensorFaultDetails


def detect_sensor_faults(ctx: Context, w: Window, j: RoomJudgement | None) -> Found:
    """One incident per run of silent, stuck or out-of-range hours of each room sensor."""
    found = Found()
    if j is None:
        return found
    ix, axis = ctx.index, j.axis
    found.examined("sensor_fault", set(ix.rooms) | {f"building {b}" for b in ix.buildings})
    for cause, mask in (("silent", j.silent), ("stuck", j.stuck),
                        ("out_of_range", j.out_of_range)):
        for r, s, e in runs_of(mask):
            rid = ix.rooms[r]
            dev = ctx.records.devices[rid]
            ongoing = e == axis.n_slots
            found.incidents.append(incident(
                "sensor_fault", rid, int(axis.ts_ms(s)),
                None if ongoing else int(axis.ts_ms(e)), cause,
                substation_id=ix.substations[ix.room_sub[r]], building_id=dev.building_id,
                account_id=dev.account_id, open_at_start=s == 0,
                details=SensorFaultDetails(hours=(e - s) * axis.step_ms / HOUR_MS,
                                           ongoing=ongoing)))
    due, groups = never_reported(ctx, w, ix.rooms,
                                 lambda d: ctx.records.devices[d].building_id)
    for bid, rooms in sorted(groups.items()):
        found.incidents.append(incident(
            "sensor_fault", f"building {bid}", due, None, "never_reported",
            substation_id=ctx.records.buildings[bid].substation_id, building_id=bid,
            details=SensorFaultDetails(ongoing=True, devices=rooms)))
    return found

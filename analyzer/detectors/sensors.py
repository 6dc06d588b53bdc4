"""Sensor-fault incidents: a room thermometer silent, stuck or reading out of range; rooms of
one building that went silent together (its gateway or router), and the rooms of a building
never heard from since go-live, each as one incident for the building."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

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
    silent = _building_silences(ctx, found, j)
    for cause, runs in (("silent", silent), ("stuck", runs_of(j.stuck)),
                        ("out_of_range", runs_of(j.out_of_range))):
        for r, s, e in runs:
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


def _building_silences(ctx: Context, found: Found,
                       j: RoomJudgement) -> list[tuple[int, int, int]]:
    """Silent rooms of a building whose silence starts within room_stale_h of the first one's
    are one incident for the building, listing them, from the first start to the last room
    back; the silent runs left, one room each. A lone room waits until that window has passed
    since its start (another room of its building may still join it)."""
    ix, axis, sig = ctx.index, j.axis, ctx.rules.signals
    window = axis.slots_for(sig.room_stale_h * 60)
    quiet = axis.slots_for((sig.room_stale_h + ctx.rules.rooms.silent_h) * 60)
    alone: list[tuple[int, int, int]] = []
    for b, g in silence_groups(runs_of(j.silent), ix.room_building, window):
        first = g[0][0]
        if len(g) < sig.silent_group_rooms:
            # a room of its building whose silence began up to `window` later is silent only
            # `quiet` slots after that: wait for it (a run cut at the window start waits not)
            if first == 0 or first + window + quiet <= axis.n_slots:
                alone += [(r, s, e) for s, e, r in g]
            continue
        end = max(e for _, e, _ in g)
        bid = ix.buildings[b]
        ongoing = end == axis.n_slots
        found.incidents.append(incident(
            "sensor_fault", f"building {bid}", int(axis.ts_ms(first)),
            None if ongoing else int(axis.ts_ms(end)), "rooms_silent",
            substation_id=ctx.records.buildings[bid].substation_id, building_id=bid,
            open_at_start=first == 0,
            details=SensorFaultDetails(hours=(end - first) * axis.step_ms / HOUR_MS,
                                       ongoing=ongoing,
                                       devices=sorted(ix.rooms[r] for _, _, r in g))))
    return sorted(alone)


def silence_groups(runs: list[tuple[int, int, int]], building: npt.NDArray[np.intp],
                   window: int) -> list[tuple[int, list[tuple[int, int, int]]]]:
    """Silent runs (room, start, end) by building, cut into groups whose starts lie within
    `window` slots of their first one's: (building, [(start, end, room), ...]) in order."""
    by_building: dict[int, list[tuple[int, int, int]]] = {}
    for r, s, e in runs:
        by_building.setdefault(int(building[r]), []).append((s, e, r))
    out: list[tuple[int, list[tuple[int, int, int]]]] = []
    for b, items in sorted(by_building.items()):
        items.sort()
        first = -window - 1
        for run in items:
            if run[0] - first > window:
                first = run[0]
                out.append((b, []))
            out[-1][1].append(run)
    return out

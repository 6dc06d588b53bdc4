"""Outage incidents: substations that stopped heating, buildings without flow while theirs runs;
the hours each substation's and building's system is "not normal", which the other detectors
respect; and the consequences (cold rooms, meters without flow) listed in their outage."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analyzer import derived
from analyzer.detectors.base import BoolGrid, Context, FloatGrid, Found, incident
from analyzer.grid import HOUR_MS, TimeAxis, by_day
from analyzer.kernels.outage_spans import (
    Outage,
    building_meter_counts,
    held_outages,
    substation_out_slots,
)
from analyzer.signals import carry_forward, stale_slots
from analyzer.window import Window
from workflow.details import BuildingOutageDetails, OutageDetails
from workflow.incidents import Incident


@dataclass(frozen=True, slots=True, eq=False)
class NotNormal:
    """Hours a substation or a building is out, and the trailing window after (docs/rules.md: rooms
    are held to 18 °C only while the system is normal)."""

    substation: BoolGrid  # (substations, hours)
    building: BoolGrid  # (buildings, hours)

    def of_rooms(self, ctx: Context) -> BoolGrid:
        ix = ctx.index
        out: BoolGrid = self.substation[ix.room_sub] | self.building[ix.room_building]
        return out

    def of_meters(self, ctx: Context) -> BoolGrid:
        ix = ctx.index
        b = ix.meter_building
        out: BoolGrid = self.substation[ix.building_sub[b]] | self.building[b]
        return out


def detect_outages(ctx: Context, w: Window) -> tuple[Found, BoolGrid]:
    """Substation outage incidents, the outage_state series, and (substations, hours) affected."""
    found = Found()
    ix, rules = ctx.index, ctx.rules
    affected = np.zeros((len(ix.substations), w.hours.n_slots), dtype=bool)
    subs, known = w.substations, w.sub_known
    if subs is None or known is None:
        return found, affected
    # a station with no fresh reading in the window is unknown: its outage stays as it was
    found.examined("outage", {ix.substations[r] for r in np.flatnonzero(known.any(axis=1))})
    axis = w.steps
    pump, sup, ret = subs["pump_on"], subs["supply_c"], subs["return_c"]
    raw_out = substation_out_slots(pump, sup, ret, rules.outages)
    out_mask = np.zeros(pump.shape, dtype=bool)
    for o in held_outages(raw_out, known, axis, rules.outages, rules.signals).items():
        s, e = int(axis.slot_of(o.start_ms)), int(axis.slot_of(o.end_ms))
        out_mask[o.row, s:e] = True
        with np.errstate(invalid="ignore"):
            pump_off = bool((pump[o.row, s:e] == 0).any())
        found.incidents.append(_outage_incident(ctx, o, s == 0, pump_off))
    if ctx.write_back:
        found.derived.append(derived.outage_state_points(ix.substations, axis, out_mask))
    return found, _spread(ctx, raw_out | out_mask, axis, w.hours)


def _outage_incident(ctx: Context, o: Outage, open_at_start: bool, pump_off: bool) -> Incident:
    sid = ctx.index.substations[o.row]
    # a code; residents and crews read it in words (policy/causes.py)
    reason = "pump_stopped" if pump_off else "low_supply"
    return incident(
        "outage", sid, o.start_ms, None if o.ongoing else o.end_ms, "", substation_id=sid,
        open_at_start=open_at_start,
        details=OutageDetails(
            duration_h=round(o.duration_h, 2), ongoing=o.ongoing,
            escalations_h=list(o.escalations_h), reason=reason,
            affected_accounts=int(ctx.index.accounts_per_sub[o.row])))


def _spread(ctx: Context, out: BoolGrid, axis: TimeAxis, hours: TimeAxis) -> BoolGrid:
    """Hours holding an out slot, and the rooms' trailing window after them."""
    affected = np.zeros((out.shape[0], hours.n_slots), dtype=bool)
    per_h = HOUR_MS // axis.step_ms
    hourly = np.asarray(by_day(out, per_h).any(axis=2), dtype=bool)[:, :hours.n_slots]
    affected[:, :hourly.shape[1]] = hourly
    recover = hours.slots_for(ctx.rules.rooms.trailing_h * 60)
    spread = affected.copy()
    for k in range(1, recover + 1):
        spread[:, k:] |= affected[:, :-k]
    return spread


def held_meter_fields(ctx: Context, w: Window) -> dict[str, FloatGrid]:
    """Meter flow and temperatures, each reading carried forward while fresh."""
    assert w.meters is not None
    k = stale_slots(ctx.rules.signals.meter_stale_h * HOUR_MS, w.hours.step_ms)
    memo = w.meters.memo  # computed once while the meter grids stay the same
    if ("held", k) not in memo:
        memo["held", k] = {f: carry_forward(w.meters.fields[f], k)
                           for f in ("flow_m3h", "supply_c", "return_c")}
    held: dict[str, FloatGrid] = memo["held", k]
    return held


def _building_counts(ctx: Context, w: Window) -> tuple[FloatGrid, FloatGrid]:
    """Per building and hour: meters reporting and meters dead (kept with the meter grids)."""
    assert w.meters is not None
    memo = w.meters.memo
    if "buildings" not in memo:
        g = held_meter_fields(ctx, w)
        memo["buildings"] = building_meter_counts(
            g["flow_m3h"], g["supply_c"], g["return_c"], ctx.index.meter_building,
            len(ctx.index.buildings), ctx.rules.outages)
    counts: tuple[FloatGrid, FloatGrid] = memo["buildings"]
    return counts


def detect_building_outages_in(ctx: Context, w: Window,
                               affected: BoolGrid) -> tuple[Found, NotNormal]:
    """Buildings whose meters show no flow / no ΔT while their substation runs."""
    found = Found()
    ix = ctx.index
    building = np.zeros((len(ix.buildings), w.hours.n_slots), dtype=bool)
    if w.meters is None:
        return found, NotNormal(affected, building)
    found.examined("building_outage", set(ix.buildings))
    # docs/rules.md: a building is out when its meters show no flow / no ΔT while its substation
    # runs; a substation outage is its own incident (as building_out_slots)
    running = ~affected[ix.building_sub]
    reporting, n_dead = _building_counts(ctx, w)
    known = reporting > 0
    out = known & (n_dead == reporting) & running
    outs = held_outages(out, known, w.hours, ctx.rules.outages, ctx.rules.signals)
    for o in outs.items():
        bid = ix.buildings[o.row]
        s, e = int(w.hours.slot_of(o.start_ms)), int(w.hours.slot_of(o.end_ms))
        building[o.row, s:e] = True
        found.incidents.append(incident(
            "building_outage", bid, o.start_ms, None if o.ongoing else o.end_ms, "",
            substation_id=ix.substations[ix.building_sub[o.row]], building_id=bid,
            open_at_start=o.start_ms == w.hours.t0_ms,
            details=BuildingOutageDetails(
                duration_h=round(o.duration_h, 2), ongoing=o.ongoing,
                escalations_h=list(o.escalations_h))))
    return found, NotNormal(affected, _spread(ctx, building, w.hours, w.hours))


def attach_consequences(ctx: Context, w: Window, outages: Found,
                        rooms_held: FloatGrid | None) -> None:
    """List in each outage the rooms that went cold and the meters without flow behind it:
    they are its consequences, not incidents (nor orders) of their own."""
    if not outages.incidents:
        return
    ix, rr, orules = ctx.index, ctx.rules.rooms, ctx.rules.outages
    meter_dead = None
    if w.meters is not None:
        if "dead" not in w.meters.memo:
            g = held_meter_fields(ctx, w)
            with np.errstate(invalid="ignore"):
                w.meters.memo["dead"] = (g["flow_m3h"] <= orules.no_flow_m3h) | (
                    (g["supply_c"] - g["return_c"]) < orules.min_dt_k)
        meter_dead = w.meters.memo["dead"]
    room_cold = None
    if rooms_held is not None:
        with np.errstate(invalid="ignore"):
            room_cold = rooms_held < rr.min_c
    sub_i = {s: i for i, s in enumerate(ix.substations)}
    bld_i = {b: i for i, b in enumerate(ix.buildings)}
    for inc in outages.incidents:
        if inc.kind == "outage":
            rooms = ix.room_sub == sub_i[inc.subject]
            meters = ix.building_sub[ix.meter_building] == sub_i[inc.subject]
        else:
            rooms = ix.room_building == bld_i[inc.subject]
            meters = ix.meter_building == bld_i[inc.subject]
        end = inc.closed_ms if inc.closed_ms is not None else w.at_ms
        s = max(int(w.hours.slot_of(inc.started_ms)), 0)
        e = min(int(w.hours.slot_of(end - 1)) + 1, w.hours.n_slots)
        cold = [] if room_cold is None else [
            ix.rooms[int(r)] for r in np.flatnonzero(rooms & room_cold[:, s:e].any(axis=1))]
        dead = [] if meter_dead is None else [
            ix.meters[int(m)] for m in np.flatnonzero(meters & meter_dead[:, s:e].any(axis=1))]
        d = inc.details
        assert isinstance(d, OutageDetails | BuildingOutageDetails)
        d.cold_rooms, d.cold_room_count = cold, len(cold)
        d.meters_without_flow, d.meters_without_flow_count = dead, len(dead)

"""Outage incidents: substations that stopped heating, buildings without flow while theirs runs;
and the hours each substation's system is "not normal", which the other detectors respect."""

from __future__ import annotations

import numpy as np

from analyzer import derived
from analyzer.detectors.base import BoolGrid, Context, FloatGrid, Found, incident
from analyzer.grid import HOUR_MS, TimeAxis, by_day
from analyzer.outages import (
    Outage,
    detect_building_outages,
    detect_substation_outages,
    outage_days,
    substation_out_slots,
)
from analyzer.rules import OUTAGE_REASONS
from analyzer.window import Window
from workflow.details import BuildingOutageDetails, OutageDetails
from workflow.incidents import Incident


def detect_outages(ctx: Context, w: Window) -> tuple[Found, BoolGrid]:
    """Substation outage incidents, the outage_state series, and (substations, hours) affected."""
    found = Found()
    ix, rules = ctx.index, ctx.rules
    affected = np.zeros((len(ix.substations), w.hours.n_slots), dtype=bool)
    subs = w.substations
    if subs is None:
        return found, affected
    found.examined("outage", set(ix.substations))
    axis = w.steps
    pump, sup, ret = subs["pump_on"], subs["supply_c"], subs["return_c"]
    out_mask = np.zeros(pump.shape, dtype=bool)
    for o in detect_substation_outages(pump, sup, ret, axis, rules.outages).items():
        s, e = int(axis.slot_of(o.start_ms)), int(axis.slot_of(o.end_ms))
        out_mask[o.row, s:e] = True
        with np.errstate(invalid="ignore"):
            pump_off = bool((pump[o.row, s:e] == 0).any())
        found.incidents.append(_outage_incident(ctx, o, s == 0, pump_off))
    if ctx.write_back:
        found.derived += derived.outage_state_readings(ix.substations, axis, out_mask)
    raw_out = substation_out_slots(pump, sup, ret, rules.outages) | out_mask
    return found, _not_normal(ctx, raw_out, axis, w.hours)


def _outage_incident(ctx: Context, o: Outage, open_at_start: bool, pump_off: bool) -> Incident:
    sid = ctx.index.substations[o.row]
    # the analyzer's words; residents and crews read them in Chinese (templates' [causes])
    reason = OUTAGE_REASONS["pump_stopped" if pump_off else "low_supply"]
    days = int(outage_days(np.array([o.duration_h]), ctx.rules.compensation)[0])
    return incident(
        "outage", sid, o.start_ms, None if o.ongoing else o.end_ms, "", substation_id=sid,
        open_at_start=open_at_start,
        details=OutageDetails(
            duration_h=round(o.duration_h, 2), ongoing=o.ongoing,
            escalations_h=list(o.escalations_h), over_24h=o.over_24h, reason=reason,
            affected_accounts=int(ctx.index.accounts_per_sub[o.row]),
            compensation_days=days))


def _not_normal(ctx: Context, raw_out: BoolGrid, axis: TimeAxis,
                hours: TimeAxis) -> BoolGrid:
    """Hours a substation is out, and the trailing window after, per substation."""
    # DOMAIN: rooms are held to 18 °C only while the system is normal; an outage and the
    # trailing window after it are "not normal" for that substation's rooms
    affected = np.zeros((raw_out.shape[0], hours.n_slots), dtype=bool)
    per_h = HOUR_MS // axis.step_ms
    hourly = np.asarray(by_day(raw_out, per_h).any(axis=2), dtype=bool)[:, :hours.n_slots]
    affected[:, :hourly.shape[1]] = hourly
    recover = hours.slots_for(ctx.rules.rooms.trailing_h * 60)
    spread = affected.copy()
    for k in range(1, recover + 1):
        spread[:, k:] |= affected[:, :-k]
    return spread


def detect_building_outages_in(ctx: Context, w: Window, affected: BoolGrid) -> Found:
    """Buildings whose meters show no flow / no ΔT while their substation runs."""
    found = Found()
    if w.meters is None:
        return found
    ix = ctx.index
    found.examined("building_outage", set(ix.buildings))
    g: dict[str, FloatGrid] = w.meters.fields
    # DOMAIN: a building is out when its meters show no flow / no ΔT while its substation
    # runs; a substation outage is its own incident
    running = ~affected[ix.building_sub]
    bo = detect_building_outages(g["flow_m3h"], g["supply_c"], g["return_c"],
                                 ix.meter_building, len(ix.buildings), running, w.hours,
                                 ctx.rules.outages)
    for o in bo.items():
        bid = ix.buildings[o.row]
        found.incidents.append(incident(
            "building_outage", bid, o.start_ms, None if o.ongoing else o.end_ms, "",
            substation_id=ix.substations[ix.building_sub[o.row]], building_id=bid,
            open_at_start=o.start_ms == w.hours.t0_ms,
            details=BuildingOutageDetails(
                duration_h=round(o.duration_h, 2), ongoing=o.ongoing,
                escalations_h=list(o.escalations_h), over_24h=o.over_24h)))
    return found

"""Heat-meter incidents: faults with their cause and class, communication loss (one incident per
gateway when all its meters went quiet together); the meter state and billing-day series."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from analyzer import derived
from analyzer.billing import FaultSpan, billing_days
from analyzer.detectors.base import BoolGrid, Context, Found, incident, merge_spans
from analyzer.grid import DAY_MS, HOUR_MS, TimeAxis, day_first_last
from analyzer.meters import MeterGrid, detect_meter_faults
from analyzer.rules import CAUSE_TEXT, Cause
from analyzer.window import MeterWindow, Window
from district.readings import Reading
from workflow.details import MeterCommDetails, MeterFaultDetails


@dataclass(slots=True)
class MeterSpans:
    """The window's fault intervals sorted out: comm loss apart, the rest per meter and class."""

    first_slot: int  # the first slot any meter reported in
    state: npt.NDArray[np.int8]
    cause: npt.NDArray[np.int16]
    comm: list[tuple[int, int, int]] = field(default_factory=list)
    faults: dict[tuple[int, bool], list[tuple[int, int, int]]] = field(default_factory=dict)


def detect_meter_incidents(ctx: Context, w: Window, affected: BoolGrid) -> Found:
    """Meter-fault and comm-loss incidents, and the meter_fault_state and billing_day series."""
    found = Found()
    mw = w.meters
    if mw is None:
        return found
    ix, axis = ctx.index, w.hours
    gateways = {gw for gw in ix.meter_gateway if gw}
    found.examined("meter_fault", set(ix.meters))
    found.examined("meter_comm", set(ix.meters) | {f"gateway {gw}" for gw in gateways})
    sp = _spans(ctx, mw, axis, affected)
    billed = _fault_incidents(ctx, found, sp, axis)
    _comm_incidents(ctx, found, axis, sp.comm, mw.comm_cause)
    if ctx.write_back:
        found.derived += derived.meter_state_readings(ix.meters, ix.meter_tags, axis, sp.state,
                                                      sp.cause)
        found.derived += _billing_readings(ctx, mw, axis, billed, sp.first_slot)
    return found


def _spans(ctx: Context, mw: MeterWindow, axis: TimeAxis, affected: BoolGrid) -> MeterSpans:
    ix, mr = ctx.index, ctx.rules.meters
    g = mw.fields
    mg = MeterGrid(g["energy_kwh"], g["volume_m3"], g["flow_m3h"], g["supply_c"],
                   g["return_c"], np.nan_to_num(g["status"]).astype(np.int64), mw.comm)
    any_data = (~np.isnan(g["energy_kwh"]) | mw.comm).any(axis=0)
    first = int(np.argmax(any_data)) if any_data.any() else axis.n_slots
    faults = detect_meter_faults(mg, axis, mr)
    not_normal = affected[ix.building_sub[ix.meter_building]]
    n, t = mg.shape
    sp = MeterSpans(first, np.zeros((n, t), dtype=np.int8), np.full((n, t), -1, dtype=np.int16))
    for m, s, e, c, h in zip(faults.meter, faults.start, faults.end, faults.cause,
                             faults.human, strict=True):
        m, s, e, c, h = int(m), int(s), int(e), int(c), bool(h)
        if c == Cause.COMM_LOSS:
            s = max(s, first)  # before the first reading anywhere, nothing is known
            if e - s >= mr.comm_loss_intervals:
                sp.comm.append((m, s, e))
                sp.state[m, s:e] = np.maximum(sp.state[m, s:e], derived.STATE_COMM)
            continue
        if c == Cause.ENERGY_MISMATCH and not_normal[m, s:e].all():
            # DOMAIN: a substation outage is not a meter fault; the loop restarting
            # upsets ΔV·Δθ·k for an hour or two on every meter it feeds
            continue
        sp.faults.setdefault((m, h), []).append((s, e, c))
        sp.state[m, s:e] = derived.STATE_HUMAN if h else np.maximum(sp.state[m, s:e],
                                                                    derived.STATE_FAULT)
        sp.cause[m, s:e] = np.where(sp.cause[m, s:e] < 0, c, sp.cause[m, s:e])
    return sp


def _fault_incidents(ctx: Context, found: Found, sp: MeterSpans,
                     axis: TimeAxis) -> dict[int, list[FaultSpan]]:
    """One incident per merged fault interval of each meter and class; the spans per meter."""
    per_meter: dict[int, list[FaultSpan]] = {}
    for (m, h), items in sorted(sp.faults.items()):
        for s, e in merge_spans([(a, b) for a, b, _ in items]):
            causes = [Cause(c) for c in sorted({c for a, b, c in items if a < e and b > s})]
            mid = ctx.index.meters[m]
            dev = ctx.records.devices[mid]
            ongoing = e == axis.n_slots
            cls = "human" if h else "non_human"
            found.incidents.append(incident(
                "meter_fault", mid, int(axis.ts_ms(s)),
                None if ongoing else int(axis.ts_ms(e)), cls,
                substation_id=dev.substation_id, building_id=dev.building_id,
                account_id=dev.account_id, open_at_start=s == 0,
                details=MeterFaultDetails(
                    cause=causes[0].name.lower(), causes=[c.name.lower() for c in causes],
                    text="; ".join(CAUSE_TEXT[c] for c in causes),
                    human=h, fault_class=cls, ongoing=ongoing,
                    hours=(e - s) * axis.step_ms / HOUR_MS)))
            per_meter.setdefault(m, []).append(
                FaultSpan(int(axis.ts_ms(s)), int(axis.ts_ms(e)), h, tuple(causes)))
    return per_meter


def _comm_incidents(ctx: Context, found: Found, axis: TimeAxis,
                    spans: list[tuple[int, int, int]], causes: dict[int, str]) -> None:
    """One incident per meter, or one per gateway when all its meters went quiet together."""
    ix = ctx.index
    per_gw: dict[str, list[int]] = {}
    for i, gw in enumerate(ix.meter_gateway):
        if gw:
            per_gw.setdefault(gw, []).append(i)
    by_start: dict[tuple[str, int], list[tuple[int, int, int]]] = {}
    for m, s, e in spans:
        by_start.setdefault((ix.meter_gateway[m], s), []).append((m, s, e))
    for (gw, s), items in sorted(by_start.items()):
        members = per_gw.get(gw, [])
        if gw and len(members) >= 2 and len(items) == len(members):
            e = max(x[2] for x in items)
            ongoing = e == axis.n_slots
            found.incidents.append(incident(
                "meter_comm", f"gateway {gw}", int(axis.ts_ms(s)),
                None if ongoing else int(axis.ts_ms(e)), "comm", open_at_start=s == 0,
                details=MeterCommDetails(gateway=gw, meters=len(items), ongoing=ongoing,
                                         cause=causes.get(items[0][0], "missing"),
                                         hours=(e - s) * axis.step_ms / HOUR_MS)))
            continue
        for m, s2, e in items:
            mid = ix.meters[m]
            dev = ctx.records.devices[mid]
            ongoing = e == axis.n_slots
            found.incidents.append(incident(
                "meter_comm", mid, int(axis.ts_ms(s2)),
                None if ongoing else int(axis.ts_ms(e)), "comm",
                substation_id=dev.substation_id, building_id=dev.building_id,
                account_id=dev.account_id, open_at_start=s2 == 0,
                details=MeterCommDetails(gateway=gw, ongoing=ongoing,
                                         cause=causes.get(m, "missing"),
                                         hours=(e - s2) * axis.step_ms / HOUR_MS)))


def _billing_readings(ctx: Context, mw: MeterWindow, axis: TimeAxis,
                      faults: dict[int, list[FaultSpan]], first_slot: int) -> list[Reading]:
    """Each billed account's days since the first reading: basis, its cause and the kWh."""
    ix = ctx.index
    bm = ix.billed_meter
    first, last = day_first_last(mw.fields["energy_kwh"][bm], axis.slots_per_day)
    # the window starts after earlier readings: its first day has no known previous total
    days = billing_days(first, last, None, [faults.get(int(m), []) for m in bm], axis.t0_ms,
                        from_first_reading=False)
    n_days = last.shape[1]
    keep = [d for d in range(n_days) if (d + 1) * axis.slots_per_day > first_slot]
    return derived.billing_day_readings(
        ix.account_tags, [axis.t0_ms + d * DAY_MS for d in keep], days.basis[:, keep],
        days.cause[:, keep], days.kwh[:, keep])

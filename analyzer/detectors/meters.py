"""Heat-meter incidents: faults with their cause and class, communication loss counted from each
meter's first reading (one incident for a gateway whose meters all went quiet, listing them),
meters never heard from (one incident per gateway or building); the meter state and
billing-day series."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from analyzer import derived
from analyzer.billing import FaultSpan, billing_days
from analyzer.detectors.base import (
    BoolGrid,
    Context,
    Found,
    expected_slots,
    incident,
    merge_spans,
    never_reported,
    runs_of,
    since,
)
from analyzer.grid import DAY_MS, HOUR_MS, TimeAxis, day_first_last, group_sum
from analyzer.kernels.meter_signs import MeterGrid, detect_meter_faults
from analyzer.window import MeterWindow, Window
from policy.causes import CAUSE_TEXT
from policy.meters import comm_loss, misaligned
from policy.rules import Cause
from workflow.details import MeterCommDetails, MeterFaultDetails

log = logging.getLogger("heatwatch.analyzer.meters")


@dataclass(slots=True)
class MeterSpans:
    """The window's fault intervals per meter and class, and each slot's state and cause."""

    state: npt.NDArray[np.int8]
    cause: npt.NDArray[np.int16]
    comm: npt.NDArray[np.bool_]  # the kernel's comm-loss slots (policy.meters.comm_loss)
    faults: dict[tuple[int, bool], list[tuple[int, int, int]]] = field(default_factory=dict)


def detect_meter_incidents(ctx: Context, w: Window, not_normal: BoolGrid) -> Found:
    """Meter-fault and comm-loss incidents, and the meter_fault_state and billing_day series.

    `not_normal` is (meters, hours): the meter's substation or building is out.
    """
    found = Found()
    mw = w.meters
    if mw is None:
        return found
    ix, axis = ctx.index, w.hours
    gateways = {gw for gw in ix.meter_gateway if gw}
    found.examined("meter_fault", set(ix.meters))
    found.examined("meter_comm", set(ix.meters) | {f"gateway {gw}" for gw in gateways}
                   | {f"building {b}" for b in ix.buildings})
    expected = expected_slots(ctx, w, ix.meters, axis)
    sp = _spans(ctx, mw, axis, not_normal, expected)
    billed = _fault_incidents(ctx, found, sp, axis)
    _comm_incidents(ctx, found, mw, axis, expected, sp)
    _never_reported(ctx, found, w)
    if ctx.write_back:
        found.derived.append(derived.meter_state_points(ix.meters, ix.meter_tags, axis,
                                                        sp.state, sp.cause))
        first = int(expected.min(initial=axis.n_slots))
        found.derived.append(_billing_points(ctx, mw, axis, billed, first))
    return found


def _spans(ctx: Context, mw: MeterWindow, axis: TimeAxis, not_normal: BoolGrid,
           expected: npt.NDArray[np.intp]) -> MeterSpans:
    mr = ctx.rules.meters
    g = mw.fields
    ix = ctx.index
    mg = MeterGrid(g["energy_kwh"], g["volume_m3"], g["flow_m3h"], g["supply_c"],
                   g["return_c"], np.nan_to_num(g["status"]).astype(np.int64), mw.comm,
                   energy_res_kwh=ix.meter_energy_res, volume_res_m3=ix.meter_volume_res,
                   due_from=expected)
    _warn_misaligned(ctx, g["energy_kwh"], g["volume_m3"])
    present = ~np.isnan(g["energy_kwh"])
    faults = detect_meter_faults(mg, axis, mr)
    n, t = mg.shape
    sp = MeterSpans(np.zeros((n, t), dtype=np.int8), np.full((n, t), -1, dtype=np.int16),
                    np.zeros((n, t), dtype=bool))
    for m, s, e, c, h in zip(faults.meter, faults.start, faults.end, faults.cause,
                             faults.human, strict=True):
        m, s, e, c, h = int(m), int(s), int(e), int(c), bool(h)
        if c == Cause.COMM_LOSS:
            sp.comm[m, s:e] = True  # incidents per gateway or meter, below
            continue
        if c == Cause.ENERGY_MISMATCH and not_normal[m, s:e].all():
            # docs/rules.md: a substation outage is not a meter fault; the loop restarting
            # upsets ΔV·Δθ·k for an hour or two on every meter it feeds
            continue
        # a fault holds across hours without a reading: it ends on a reading that no longer
        # shows it (an unknown hour is neither faulty nor repaired)
        while e < t and not present[m, e]:
            e += 1
        sp.faults.setdefault((m, h), []).append((s, e, c))
        sp.state[m, s:e] = derived.STATE_HUMAN if h else np.maximum(sp.state[m, s:e],
                                                                    derived.STATE_FAULT)
        sp.cause[m, s:e] = np.where(sp.cause[m, s:e] < 0, c, sp.cause[m, s:e])
    return sp


def _warn_misaligned(ctx: Context, energy: npt.NDArray[np.floating],
                     volume: npt.NDArray[np.floating]) -> None:
    """A reading that is not a whole multiple of its meter's declared resolution: a warning,
    once per device and register, never a fault (docs/devices.md, issue 25)."""
    ix = ctx.index
    for values, declared, name in ((energy, ix.meter_energy_res, "energy_kwh"),
                                   (volume, ix.meter_volume_res, "volume_m3")):
        rows = np.flatnonzero(np.isfinite(declared))
        if rows.size == 0:
            continue
        for r in rows[misaligned(values[rows], declared[rows, None])]:
            key = (ix.meters[r], name)
            if key not in ctx.warned:
                ctx.warned.add(key)
                log.warning("meter %s: %s readings are not whole multiples of its declared "
                            "resolution %g (records or profile); checked at that resolution",
                            key[0], name, declared[r])


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


def _comm_incidents(ctx: Context, found: Found, mw: MeterWindow, axis: TimeAxis,
                    expected: npt.NDArray[np.intp], sp: MeterSpans) -> None:
    """Comm loss from each meter's first reading: one incident per gateway while every meter
    expected behind it is silent (its meters listed), else one per meter."""
    ix, mr = ctx.index, ctx.rules.meters
    gws = sorted({gw for gw in ix.meter_gateway if gw})
    gi = {gw: i for i, gw in enumerate(gws)}
    group = np.array([gi.get(gw, len(gws)) for gw in ix.meter_gateway], dtype=np.intp)
    due = since(expected, axis.n_slots)
    # the kernel's comm loss (one rule, policy.meters.comm_loss, from each meter's due slot);
    # a gateway is silent by the same rule while every meter due behind it is
    lost = sp.comm
    n_due = group_sum(due, group, len(gws) + 1)[:len(gws)]
    n_lost = group_sum(lost, group, len(gws) + 1)[:len(gws)]
    gw_silent = comm_loss((n_due >= 2) & (n_lost == n_due), mr)
    covered = np.zeros(lost.shape, dtype=bool)
    for g, s, e in runs_of(gw_silent):
        members = np.flatnonzero((group == g) & due[:, s])
        covered[members, s:e] = True
        ongoing = e == axis.n_slots
        devices = [ix.meters[int(m)] for m in members]
        found.incidents.append(incident(
            "meter_comm", f"gateway {gws[g]}", int(axis.ts_ms(s)),
            None if ongoing else int(axis.ts_ms(e)), "comm", open_at_start=s == 0,
            substation_id=main_substation(ctx, devices),
            details=MeterCommDetails(
                gateway=gws[g], meters=len(members), ongoing=ongoing, devices=devices,
                cause=mw.comm_cause.get(int(members[0]), "missing"),
                hours=(e - s) * axis.step_ms / HOUR_MS)))
    alone = comm_loss(lost & ~covered, mr)
    comm = alone | covered
    sp.state[comm] = np.maximum(sp.state[comm], derived.STATE_COMM)
    for m, s, e in runs_of(alone):
        mid = ix.meters[m]
        dev = ctx.records.devices[mid]
        ongoing = e == axis.n_slots
        found.incidents.append(incident(
            "meter_comm", mid, int(axis.ts_ms(s)), None if ongoing else int(axis.ts_ms(e)),
            "comm", substation_id=dev.substation_id, building_id=dev.building_id,
            account_id=dev.account_id, open_at_start=s == 0,
            details=MeterCommDetails(gateway=ix.meter_gateway[m], ongoing=ongoing,
                                     cause=mw.comm_cause.get(m, "missing"),
                                     hours=(e - s) * axis.step_ms / HOUR_MS)))


def main_substation(ctx: Context, devices: list[str]) -> str:
    """The substation most of these meters belong to by the records (ties: the first id): a
    gateway's incident goes to that station's crew."""
    counts: Counter[str] = Counter()
    for d in devices:
        dev = ctx.records.devices[d]
        b = ctx.records.buildings.get(dev.building_id)
        counts[dev.substation_id or (b.substation_id if b else "")] += 1
    counts.pop("", None)
    return min(counts, key=lambda s: (-counts[s], s)) if counts else ""


def _never_reported(ctx: Context, found: Found, w: Window) -> None:
    """Meters never heard from since go-live: one incident per gateway, or per building."""
    ix = ctx.index
    gw_of = dict(zip(ix.meters, ix.meter_gateway, strict=True))

    def group(d: str) -> str:
        gw = gw_of[d]
        return f"gateway {gw}" if gw else f"building {ctx.records.devices[d].building_id}"

    due, groups = never_reported(ctx, w, ix.meters, group)
    for subject, meters in sorted(groups.items()):
        dev = ctx.records.devices[meters[0]]
        found.incidents.append(incident(
            "meter_comm", subject, due, None, "never_reported",
            substation_id=main_substation(ctx, meters),
            building_id=dev.building_id if subject.startswith("building") else "",
            details=MeterCommDetails(gateway=gw_of[meters[0]], ongoing=True,
                                     cause="never_reported", meters=len(meters),
                                     devices=meters)))


def _billing_points(ctx: Context, mw: MeterWindow, axis: TimeAxis,
                    faults: dict[int, list[FaultSpan]], first_slot: int) -> derived.GridPoints:
    """Each billed account's days since the first reading: basis, its cause and the kWh."""
    ix = ctx.index
    bm = ix.billed_meter
    first, last = day_first_last(mw.fields["energy_kwh"][bm], axis.slots_per_day)
    # the window starts after earlier readings: its first day has no known previous total
    days = billing_days(first, last, None, [faults.get(int(m), []) for m in bm], axis.t0_ms,
                        from_first_reading=False)
    n_days = last.shape[1]
    keep = [d for d in range(n_days) if (d + 1) * axis.slots_per_day > first_slot]
    return derived.billing_day_points(
        ix.account_tags, [axis.t0_ms + d * DAY_MS for d in keep], days.basis[:, keep],
        days.cause[:, keep], days.kwh[:, keep])

"""Substation and building outages: when, how long, escalation marks, and the refund owed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analyzer.grid import TimeAxis, group_sum
from analyzer.runs import intervals, runs_at_least
from analyzer.signals import close_gaps, hold_state
from policy.rules import (
    DEFAULT_OUTAGES,
    DEFAULT_SIGNALS,
    OutageRules,
    SignalRules,
)

FloatGrid = npt.NDArray[np.floating]
BoolGrid = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class Outage:
    """One outage of one substation or building."""

    row: int
    start_ms: int
    end_ms: int
    ongoing: bool
    duration_h: float
    escalations_h: tuple[float, ...]


@dataclass(frozen=True, slots=True, eq=False)
class Outages:
    """Outages as parallel arrays over one time axis; `end` is exclusive (window end if ongoing)."""

    row: IntArray
    start: IntArray
    end: IntArray
    axis: TimeAxis
    rules: OutageRules

    def __len__(self) -> int:
        return int(self.row.shape[0])

    @property
    def ongoing(self) -> BoolGrid:
        out: BoolGrid = self.end == self.axis.n_slots
        return out

    @property
    def duration_h(self) -> FloatGrid:
        out: FloatGrid = (self.end - self.start) * (self.axis.step_ms / 3_600_000)
        return out

    @property
    def escalations(self) -> BoolGrid:
        """(outages, marks): which escalation marks each outage has reached."""
        marks = np.asarray(self.rules.escalation_h, dtype=np.float64)
        out: BoolGrid = self.duration_h[:, None] >= marks[None, :] - 1e-9
        return out

    def items(self) -> list[Outage]:
        """The outages as objects with times."""
        s = self.axis.ts_ms(self.start)
        e = self.axis.ts_ms(self.end)
        marks = self.rules.escalation_h
        esc = self.escalations
        return [
            Outage(int(r), int(a), int(b), bool(o), float(d),
                   tuple(m for m, hit in zip(marks, esc[i], strict=True) if hit))
            for i, (r, a, b, o, d) in enumerate(
                zip(self.row, s, e, self.ongoing, self.duration_h, strict=True)
            )
        ]


def outages_of(out_slots: BoolGrid, axis: TimeAxis, rules: OutageRules) -> Outages:
    # docs/rules.md: out for >= 30 min (a run of k slots lasts k × step)
    long = runs_at_least(out_slots, axis.slots_for(rules.min_duration_min))
    iv = intervals(long)
    return Outages(iv.row, iv.start, iv.end, axis, rules)


def held_outages(out_slots: BoolGrid, known: BoolGrid, axis: TimeAxis,
                 rules: OutageRules = DEFAULT_OUTAGES,
                 signals: SignalRules = DEFAULT_SIGNALS) -> Outages:
    """Outages on slots with unknown ones bridged and short clearances merged: an outage stays
    open across a stretch without fresh readings, and one that clears for at most the merge
    gap and comes back is one outage."""
    state = hold_state(out_slots, known)
    # docs/rules.md: one physical event is one incident, whatever the reporting cadence
    merged = close_gaps(state, int(signals.merge_gap_min * 60_000 // axis.step_ms))
    return outages_of(merged, axis, rules)


def substation_out_slots(
    pump_on: FloatGrid,
    supply_c: FloatGrid,
    return_c: FloatGrid,
    rules: OutageRules = DEFAULT_OUTAGES,
) -> BoolGrid:
    """Slots where a substation is out: pump off, or cold supply with almost no ΔT (NaN = not)."""
    with np.errstate(invalid="ignore"):
        # docs/rules.md: circulation pump stops, or supply < ~35 °C with supply−return < 2 K
        pump_off = pump_on == 0
        cold = (supply_c < rules.min_supply_c) & ((supply_c - return_c) < rules.min_dt_k)
    out: BoolGrid = pump_off | cold
    return out


def building_out_slots(
    flow_m3h: FloatGrid,
    supply_c: FloatGrid,
    return_c: FloatGrid,
    meter_building: IntArray,
    n_buildings: int,
    substation_running: BoolGrid,
    rules: OutageRules = DEFAULT_OUTAGES,
) -> BoolGrid:
    """Slots where every reporting meter of a building shows no flow or no ΔT, substation running.

    Meter grids are (meters, slots); `substation_running` is (buildings, slots) on the same axis.
    """
    reporting, n_dead = building_meter_counts(flow_m3h, supply_c, return_c, meter_building,
                                              n_buildings, rules)
    out: BoolGrid = (reporting > 0) & (n_dead == reporting) & substation_running
    return out


def building_meter_counts(
    flow_m3h: FloatGrid,
    supply_c: FloatGrid,
    return_c: FloatGrid,
    meter_building: IntArray,
    n_buildings: int,
    rules: OutageRules = DEFAULT_OUTAGES,
) -> tuple[FloatGrid, FloatGrid]:
    """Per building and slot: meters reporting, and those showing no flow or no ΔT."""
    present = ~np.isnan(flow_m3h)
    with np.errstate(invalid="ignore"):
        # docs/rules.md: a building is out when its heat meters show no flow / no ΔT
        dead = present & (
            (flow_m3h <= rules.no_flow_m3h) | ((supply_c - return_c) < rules.min_dt_k)
        )
    b = np.asarray(meter_building, dtype=np.intp)
    return group_sum(present, b, n_buildings), group_sum(dead, b, n_buildings)



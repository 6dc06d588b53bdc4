"""Suspected leaks at substations: too much make-up water, or a sagging pressure-holding point."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from analyzer.grid import TimeAxis
from analyzer.runs import Intervals, intervals, runs_at_least
from analyzer.signals import close_gaps, confirmed_runs, hold_state
from policy.rules import DEFAULT_LEAKS, DEFAULT_SIGNALS, LeakRules, SignalRules

FloatGrid = npt.NDArray[np.floating]
BoolGrid = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]


class LeakSign(IntEnum):
    """Which sign raised the suspicion."""

    MAKEUP = 1
    PRESSURE_SAG = 2


@dataclass(frozen=True, slots=True)
class Leak:
    """One suspected leak at one substation: [start_ms, end_ms) and its sign."""

    substation: int
    start_ms: int
    end_ms: int
    sign: LeakSign
    ongoing: bool


@dataclass(frozen=True, slots=True, eq=False)
class Leaks:
    """Suspected leak intervals as parallel arrays, ordered by substation, start, sign."""

    substation: IntArray
    start: IntArray
    end: IntArray
    sign: npt.NDArray[np.int8]
    axis: TimeAxis

    def __len__(self) -> int:
        return int(self.substation.shape[0])

    def items(self) -> list[Leak]:
        s = self.axis.ts_ms(self.start)
        e = self.axis.ts_ms(self.end)
        return [
            Leak(int(r), int(a), int(b), LeakSign(int(k)), int(z) == self.axis.n_slots)
            for r, a, b, k, z in zip(self.substation, s, e, self.sign, self.end, strict=True)
        ]


def trailing_sum(grid: FloatGrid, window: int, min_count: int | None = None) -> FloatGrid:
    """Sum over the trailing `window` slots; NaN unless `min_count` of them (default: all)
    have a value."""
    n, t = grid.shape
    valid = ~np.isnan(grid)
    cs = np.zeros((n, t + 1), dtype=np.float64)
    np.cumsum(np.where(valid, grid, 0.0), axis=1, out=cs[:, 1:])
    cc = np.zeros((n, t + 1), dtype=np.int32)
    np.cumsum(valid, axis=1, out=cc[:, 1:])
    hi = np.arange(1, t + 1)
    lo = np.maximum(hi - window, 0)
    need = window if min_count is None else min_count
    full = (cc[:, hi] - cc[:, lo] >= need) & (hi >= window)
    out: FloatGrid = np.where(full, cs[:, hi] - cs[:, lo], np.nan)
    return out


def makeup_share(
    flow_m3h: FloatGrid, makeup_m3h: FloatGrid, axis: TimeAxis, rules: LeakRules = DEFAULT_LEAKS,
    min_coverage: float = 1.0,
) -> FloatGrid:
    """Make-up water as a share of circulating flow over the trailing window (NaN until the
    window holds `min_coverage` of its slots, over the slots holding both)."""
    w = axis.slots_for(rules.window_h * 60)
    need = None
    if min_coverage < 1.0:
        need = max(int(np.ceil(min_coverage * w - 1e-9)), 1)
        both = ~np.isnan(flow_m3h) & ~np.isnan(makeup_m3h)
        flow_m3h, makeup_m3h = (np.where(both, flow_m3h, np.nan),
                                np.where(both, makeup_m3h, np.nan))
    m = trailing_sum(makeup_m3h, w, need)
    f = trailing_sum(flow_m3h, w, need)
    with np.errstate(invalid="ignore", divide="ignore"):
        out: FloatGrid = np.where(f > 0, m / f, np.nan)
    # summation order must not decide the 2 % threshold
    return np.round(out, 9)


def holding_reference(hold_mpa: FloatGrid) -> FloatGrid:
    """Each substation's median holding pressure over the grid."""
    # a leak shorter than half the window cannot move the median, so it stays the baseline
    gaps = np.isnan(hold_mpa).any(axis=1)
    ref = np.full(hold_mpa.shape[0], np.nan)
    ref[~gaps] = np.median(hold_mpa[~gaps], axis=1)
    some = gaps & ~np.isnan(hold_mpa).all(axis=1)
    if some.any():
        # nanmedian is slow; only rows with gaps need it
        ref[some] = np.nanmedian(hold_mpa[some], axis=1)
    return ref


def held_leaks(
    flow_m3h: FloatGrid,
    makeup_m3h: FloatGrid,
    hold_mpa: FloatGrid,
    axis: TimeAxis,
    rules: LeakRules = DEFAULT_LEAKS,
    signals: SignalRules = DEFAULT_SIGNALS,
) -> Leaks:
    """Suspected leaks on grids whose readings are held while fresh: the trailing hour confirms
    make-up above its share, the slots' own share dates the leak's start and end; unknown slots
    keep the last known state and clearances up to the merge gap are one leak."""
    with np.errstate(invalid="ignore", divide="ignore"):
        # docs/rules.md: make-up water above 2 % of circulating flow per hour means a leak
        share = np.round(np.where(flow_m3h > 0, makeup_m3h / flow_m3h, np.nan), 9)
        # a lost report leaves a slot unknown: half the hour's slots are enough to judge it
        confirm = makeup_share(flow_m3h, makeup_m3h, axis, rules, 0.5) > rules.makeup_share
        over = share > rules.makeup_share
        # docs/rules.md: the pressure-holding point sags (e.g. 0.35 -> 0.25 MPa)
        sag = (holding_reference(hold_mpa)[:, None] - hold_mpa) >= rules.sag_mpa - 1e-9
    gap = int(signals.merge_gap_min * 60_000 // axis.step_ms)
    makeup = confirmed_runs(hold_state(over, ~np.isnan(share)), confirm)
    makeup = close_gaps(makeup, gap)
    sag = close_gaps(hold_state(sag, ~np.isnan(hold_mpa)), gap)
    sag = runs_at_least(sag, axis.slots_for(rules.sag_min_duration_min))
    return leaks_of(intervals(makeup), intervals(sag), axis)


def leaks_of(a: Intervals, b: Intervals, axis: TimeAxis) -> Leaks:
    row = np.concatenate([a.row, b.row])
    start = np.concatenate([a.start, b.start])
    end = np.concatenate([a.end, b.end])
    sign = np.concatenate([np.full(len(a), LeakSign.MAKEUP, np.int8),
                           np.full(len(b), LeakSign.PRESSURE_SAG, np.int8)])
    order = np.lexsort((sign, start, row))
    return Leaks(row[order], start[order], end[order], sign[order], axis)



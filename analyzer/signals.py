"""Signals between readings: values held while fresh, unknown slots bridged by the last known
state, short clearances merged, and slow confirmations dated back to the event's first sign.

A device reports every few minutes, with jitter and some messages lost, while the grids have
fixed slots. These steps make a condition depend on the event, not on the cadence.
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from analyzer.runs import ffill_index, rows_with_any, run_length, run_starts

FloatGrid = npt.NDArray[np.floating]
BoolGrid = npt.NDArray[np.bool_]
F = TypeVar("F", bound=np.floating[Any])


def stale_slots(staleness_ms: float, step_ms: int) -> int:
    """How many slots after its own a reading still holds (a reading lands anywhere in its slot,
    so a slot whose start is within the staleness of the reading's slot start counts)."""
    return max(int(staleness_ms // step_ms), 0)


def carry_forward(grid: npt.NDArray[F], max_slots: int) -> npt.NDArray[F]:
    """Each empty slot takes the latest earlier value at most `max_slots` slots old."""
    missing = np.isnan(grid)
    rows = rows_with_any(missing)
    if max_slots <= 0 or rows.size == 0:
        return grid
    out = grid.copy()
    src = grid[rows]
    sub = src.copy()
    # nearest first: a shift of j fills only what shifts below j left empty
    for j in range(1, min(max_slots, grid.shape[1] - 1) + 1):
        empty = np.isnan(sub[:, j:])
        np.copyto(sub[:, j:], src[:, :-j], where=empty)
    out[rows] = sub
    return out


def hold_state(condition: BoolGrid, known: BoolGrid) -> BoolGrid:
    """Unknown slots keep the last known state: a condition in progress stays on across a
    stretch without fresh readings and ends only on fresh evidence (False before any)."""
    rows = rows_with_any(~known)
    out = condition & known
    if rows.size == 0:
        return out
    idx = ffill_index(known[rows])
    state = np.take_along_axis(out[rows], np.maximum(idx, 0), axis=1) & (idx >= 0)
    out[rows] = np.where(known[rows], out[rows], state)
    return out


def close_gaps(mask: BoolGrid, max_gap: int) -> BoolGrid:
    """Clearances of at most `max_gap` slots between two runs of True become True: one event."""
    if max_gap <= 0:
        return mask
    rows = rows_with_any(mask)
    if rows.size == 0:
        return mask
    sub = mask[rows]
    gap = ~sub
    before = ffill_index(sub) >= 0
    after = (ffill_index(sub[:, ::-1]) >= 0)[:, ::-1]
    fill = gap & before & after & (run_length(gap) <= max_gap)
    out = mask.copy()
    out[rows] = sub | fill
    return out


def confirmed_runs(candidate: BoolGrid, confirmed: BoolGrid) -> BoolGrid:
    """The runs of `candidate` holding at least one `confirmed` slot, whole: a slow test (a
    trailing mean, a trailing sum) confirms, the fast sign dates the start and the end."""
    starts = run_starts(candidate)
    label = np.cumsum(starts.ravel()).reshape(candidate.shape)
    hit = np.zeros(int(label.max(initial=0)) + 1, dtype=bool)
    hit[label[candidate & confirmed]] = True
    hit[0] = False
    out: BoolGrid = candidate & hit[label]
    return out


def bridge_unknown(mask: BoolGrid, unknown: BoolGrid) -> BoolGrid:
    """Unknown slots lying between two True slots, with nothing but unknown slots between them,
    become True: a stretch without readings neither ends a condition nor starts a new one."""
    rows = rows_with_any(mask)
    if rows.size == 0:
        return mask
    m, u = mask[rows], unknown[rows]
    either = m | u
    label = np.cumsum(run_starts(either).ravel()).reshape(either.shape)
    t = m.shape[1]
    pos = np.arange(t, dtype=np.int32)[None, :]
    before = np.where(m, pos, -1)
    np.maximum.accumulate(before, axis=1, out=before)
    after = np.where(m[:, ::-1], pos, -1)
    np.maximum.accumulate(after, axis=1, out=after)
    after = np.where(after[:, ::-1] >= 0, t - 1 - after[:, ::-1], -1)
    r = np.arange(rows.size)[:, None]
    same_before = (before >= 0) & (label[r, np.maximum(before, 0)] == label)
    same_after = (after >= 0) & (label[r, np.maximum(after, 0)] == label)
    out = mask.copy()
    out[rows] = m | (u & same_before & same_after)
    return out

"""Run-length arithmetic over boolean grids along the time axis, with no loop per device."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

BoolGrid = npt.NDArray[np.bool_]
IntGrid = npt.NDArray[np.int32]
IntArray = npt.NDArray[np.intp]


def run_starts(mask: BoolGrid) -> BoolGrid:
    """True at the first slot of every run of True."""
    prev = np.zeros_like(mask)
    prev[:, 1:] = mask[:, :-1]
    out: BoolGrid = mask & ~prev
    return out


def run_length_so_far(mask: BoolGrid) -> IntGrid:
    """At each True slot, how many True slots in a row end there (0 where False)."""
    n, t = mask.shape
    if t == 0:
        return np.zeros((n, 0), dtype=np.int32)
    slot = np.arange(1, t + 1, dtype=np.int32)
    # the slot number of the last False at or before each slot; the run is what follows it
    last_false = np.where(mask, 0, slot).astype(np.int32)
    np.maximum.accumulate(last_false, axis=1, out=last_false)
    out: IntGrid = np.where(mask, slot - last_false, 0).astype(np.int32)
    return out


def run_length(mask: BoolGrid) -> IntGrid:
    """At each True slot, the length of the whole run it belongs to (0 where False)."""
    fwd = run_length_so_far(mask)
    bwd = run_length_so_far(mask[:, ::-1])[:, ::-1]
    out: IntGrid = np.where(mask, fwd + bwd - 1, 0).astype(np.int32)
    return out


def rows_with_any(mask: BoolGrid) -> IntArray:
    """Indices of the rows holding at least one True."""
    n, t = mask.shape
    if t % 8 == 0 and mask.flags.c_contiguous and t:
        # eight flags per 64-bit word: an eighth of the work of a bool reduction
        words = mask.view(np.uint64).reshape(n, t // 8)
        out: IntArray = np.flatnonzero(words.any(axis=1))
        return out
    return np.flatnonzero(mask.any(axis=1))


def runs_at_least(mask: BoolGrid, n: int) -> BoolGrid:
    """Keep only the slots of runs at least `n` slots long."""
    if n <= 1:
        return mask.copy()
    # most rows hold no True at all; run lengths are only worked out for the others
    rows = rows_with_any(mask)
    out: BoolGrid = np.zeros(mask.shape, dtype=bool)
    if rows.size:
        out[rows] = run_length(mask[rows]) >= n
    return out


def ffill_index(valid: BoolGrid) -> IntGrid:
    """Column of the latest valid slot at or before each slot (-1 before the first)."""
    t = valid.shape[1]
    idx = np.where(valid, np.arange(t, dtype=np.int32), -1).astype(np.int32)
    np.maximum.accumulate(idx, axis=1, out=idx)
    return idx


@dataclass(frozen=True, slots=True, eq=False)
class Intervals:
    """Runs of True as parallel arrays: row, first slot, end slot (exclusive)."""

    row: IntArray
    start: IntArray
    end: IntArray
    n_slots: int

    def __len__(self) -> int:
        return int(self.row.shape[0])

    @property
    def length(self) -> IntArray:
        out: IntArray = self.end - self.start
        return out

    @property
    def ongoing(self) -> npt.NDArray[np.bool_]:
        """Still true at the last slot of the window."""
        out: npt.NDArray[np.bool_] = self.end == self.n_slots
        return out

    @property
    def open_at_start(self) -> npt.NDArray[np.bool_]:
        """Already true at the first slot (it may have begun before the window)."""
        out: npt.NDArray[np.bool_] = self.start == 0
        return out

    def take(self, keep: npt.NDArray[np.bool_] | IntArray) -> Intervals:
        """A subset of the intervals."""
        return Intervals(self.row[keep], self.start[keep], self.end[keep], self.n_slots)


def intervals(mask: BoolGrid) -> Intervals:
    """Every run of True in each row, ordered by row then start."""
    n, t = mask.shape
    rows = rows_with_any(mask)
    padded = np.zeros((rows.size, t + 2), dtype=np.int8)
    padded[:, 1:-1] = mask[rows]
    d = np.diff(padded, axis=1)
    # flat indices keep starts and ends of the same row in the same order, so they pair
    fs = np.flatnonzero(d == 1)
    fe = np.flatnonzero(d == -1)
    w = t + 1
    return Intervals(rows[fs // w].astype(np.intp), (fs % w).astype(np.intp),
                     (fe % w).astype(np.intp), t)


def first_true(mask: BoolGrid) -> IntArray:
    """Index of the first True along the last axis, -1 where there is none."""
    out: IntArray = np.where(mask.any(axis=-1), mask.argmax(axis=-1), -1).astype(np.intp)
    return out

"""Long arrays (device, time, value) to a dense device × time-slot grid, NaN where missing."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatGrid = npt.NDArray[np.floating]
BoolGrid = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True, slots=True)
class TimeAxis:
    """Slots of `step_ms` starting at `t0_ms` (a local midnight when days matter)."""

    t0_ms: int
    step_ms: int
    n_slots: int

    @property
    def slots_per_day(self) -> int:
        return DAY_MS // self.step_ms

    @property
    def n_days(self) -> int:
        return -(-self.n_slots // self.slots_per_day)

    def slots_for(self, minutes: float) -> int:
        """How many slots last at least `minutes` (a run of k slots lasts k × step)."""
        return max(1, int(np.ceil(minutes * 60_000 / self.step_ms - 1e-9)))

    def ts_ms(self, slot: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Start time of each slot."""
        return self.t0_ms + np.asarray(slot, dtype=np.int64) * self.step_ms

    def slot_of(self, ts_ms: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Slot of each time (may fall outside 0..n_slots-1)."""
        return (np.asarray(ts_ms, dtype=np.int64) - self.t0_ms) // self.step_ms


def index_ids(ids: npt.ArrayLike, known: npt.ArrayLike) -> IntArray:
    """Row of each id in `known` (the device order of the grid); -1 for unknown ids."""
    known_arr = np.asarray(known)
    ids_arr = np.asarray(ids)
    order = np.argsort(known_arr, kind="stable")
    sorted_known = known_arr[order]
    pos = np.searchsorted(sorted_known, ids_arr)
    pos = np.clip(pos, 0, max(len(sorted_known) - 1, 0))
    if len(sorted_known) == 0:
        return np.full(ids_arr.shape, -1, dtype=np.intp)
    hit = sorted_known[pos] == ids_arr
    return np.where(hit, order[pos], -1).astype(np.intp)


def to_grid(
    row: npt.ArrayLike,
    ts_ms: npt.ArrayLike,
    value: npt.ArrayLike,
    n_rows: int,
    axis: TimeAxis,
    how: str = "mean",
    dtype: type[np.floating] = np.float32,
) -> FloatGrid:
    """Dense (n_rows, n_slots) grid; `how` is "mean" of a slot's samples or "last" seen."""
    r = np.asarray(row, dtype=np.intp)
    v = np.asarray(value, dtype=np.float64)
    s = axis.slot_of(ts_ms)
    keep = (r >= 0) & (r < n_rows) & (s >= 0) & (s < axis.n_slots) & np.isfinite(v)
    flat = r[keep] * axis.n_slots + s[keep]
    v = v[keep]
    size = n_rows * axis.n_slots
    if how == "last":
        out = np.full(size, np.nan, dtype=dtype)
        # later points overwrite earlier ones in fancy assignment; sort by time first
        order = np.argsort(np.asarray(ts_ms)[keep], kind="stable")
        out[flat[order]] = v[order]
        return out.reshape(n_rows, axis.n_slots)
    if how != "mean":
        raise ValueError(f"how must be 'mean' or 'last', not {how!r}")
    total = np.bincount(flat, weights=v, minlength=size)
    count = np.bincount(flat, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
    return mean.astype(dtype).reshape(n_rows, axis.n_slots)


def by_day(grid: npt.NDArray[np.generic], slots_per_day: int) -> npt.NDArray[np.generic]:
    """View (n, n_slots) as (n, n_days, slots_per_day), padding a part day with NaN/False."""
    n, t = grid.shape
    days = -(-t // slots_per_day)
    pad = days * slots_per_day - t
    if pad:
        fill: float | bool = False if grid.dtype == np.bool_ else np.nan
        grid = np.concatenate([grid, np.full((n, pad), fill, dtype=grid.dtype)], axis=1)
    return grid.reshape(n, days, slots_per_day)


def daily_mean(grid: FloatGrid, slots_per_day: int) -> tuple[FloatGrid, npt.NDArray[np.int32]]:
    """Mean of each row's samples per day (NaN when none) and the sample count."""
    days = by_day(grid, slots_per_day)
    valid = ~np.isnan(days)
    count = valid.sum(axis=2, dtype=np.int32)
    total = np.where(valid, days, 0).sum(axis=2, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
    return mean, count


def day_any(mask: BoolGrid, slots_per_day: int) -> BoolGrid:
    """True for each row's days holding at least one True slot."""
    out: BoolGrid = np.asarray(by_day(mask, slots_per_day).any(axis=2), dtype=bool)
    return out


def group_sum(values: npt.NDArray[np.generic], group: IntArray, n_groups: int) -> FloatGrid:
    """Sum rows of `values` (n, ...) into `n_groups` rows by each row's group index."""
    v = np.asarray(values)
    g = np.asarray(group, dtype=np.intp)
    flat = v.reshape(v.shape[0], -1)
    k = flat.shape[1]
    if g.size and bool((g[1:] >= g[:-1]).all()):
        # rows already grouped (records sorted by building): one reduceat, no scatter
        first = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
        out = np.zeros((n_groups, k), dtype=np.float64)
        out[g[first]] = np.add.reduceat(flat, first, axis=0, dtype=np.float64)
        return out.reshape((n_groups,) + v.shape[1:])
    idx = g[:, None] * k + np.arange(k)
    out = np.bincount(
        idx.ravel(), weights=flat.astype(np.float64).ravel(), minlength=n_groups * k
    ).astype(np.float64)
    return out.reshape((n_groups,) + v.shape[1:])


def day_first_last(grid: FloatGrid, slots_per_day: int) -> tuple[FloatGrid, FloatGrid]:
    """Each row's first and last value of each day (NaN on a day without one)."""
    days = by_day(grid, slots_per_day)
    valid = ~np.isnan(days)
    has = valid.any(axis=2)
    first_idx = np.argmax(valid, axis=2)
    last_idx = slots_per_day - 1 - np.argmax(valid[:, :, ::-1], axis=2)
    first = np.take_along_axis(days, first_idx[:, :, None], axis=2)[:, :, 0]
    last = np.take_along_axis(days, last_idx[:, :, None], axis=2)[:, :, 0]
    return np.where(has, first, np.nan), np.where(has, last, np.nan)

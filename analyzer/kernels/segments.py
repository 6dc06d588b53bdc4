"""Sums of rows by group (meters into buildings, buildings into stations), NaN-skipping.

`np.add.reduceat` along the row axis walks each group column by column, with a ufunc call
per group and column (about 70 ms for 50,000 meters × 121 days), and a flat `np.bincount`
scatters every cell. Here the groups are walked by member instead: step k gathers the k-th row
of every group that has one (groups ordered by size, largest first, so those are a prefix) and
adds it in, a tile of groups at a time. Each step is one groups × days block that stays in
cache, every ufunc runs on long contiguous rows, and the arrays summed together share the row
indices. The Python loop runs as often as the largest group has members (about 20 flats a
building) a tile, not once per group; where that would be long for the rows it covers (one
group of everything), `sums` falls back to one `np.bincount`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.intp]
MIN_ROWS_A_STEP = 64  # fewer rows a step on average, and the loop's overhead would dominate
FREE_STEPS = 256  # so many steps cost little whatever they cover
TILE = 256  # groups a step: 256 buildings × a season of days stay in a core's cache


@dataclass(frozen=True, slots=True)
class Segments:
    """Rows grouped for the member walk: `order` lists the groups by size (largest first),
    `start[p]` is where group `order[p]` begins in `rows` (the rows sorted by group, stably,
    so each group's members keep their order), and `upto[k]` says how many of the first
    groups in `order` have a k-th member."""

    rows: Ints
    order: Ints
    start: Ints
    upto: Ints
    group: Ints
    n_groups: int

    @classmethod
    def of(cls, group: Ints, n_groups: int) -> Segments:
        group = np.asarray(group, dtype=np.intp)
        size = np.bincount(group, minlength=n_groups)
        rows = np.arange(group.size) if (np.diff(group) >= 0).all() \
            else np.argsort(group, kind="stable")
        starts = np.concatenate(([0], np.cumsum(size)[:-1])).astype(np.intp)
        order = np.argsort(-size, kind="stable")
        by_size = np.sort(size)
        kmax = int(by_size[-1]) if size.size else 0
        upto = n_groups - np.searchsorted(by_size, np.arange(kmax), side="right")
        return cls(rows, order, starts[order], upto.astype(np.intp), group, n_groups)

    @property
    def walkable(self) -> bool:
        """Whether the member walk pays: enough rows a step on average."""
        return self.upto.size <= max(self.group.size // MIN_ROWS_A_STEP, FREE_STEPS)

    def steps(self) -> Iterator[tuple[slice, Ints]]:
        """(at, rows): the k-th members of the groups at positions `at` in `order`, tile by
        tile of `TILE` groups (so a tile's sums stay in cache while its members are added
        in), and k = 0, 1, … within a tile."""
        for p0 in range(0, self.n_groups, TILE):
            p1 = min(p0 + TILE, self.n_groups)
            for k, n in enumerate(self.upto):
                n = min(int(n), p1)
                if n <= p0:
                    break
                yield slice(p0, n), self.rows[self.start[p0:n] + k]

    def unorder(self, per_position: Floats) -> Floats:
        """Rows in `order` back to group order."""
        out = np.empty_like(per_position)
        out[self.order] = per_position
        return out

    def sums(self, *values: Floats) -> list[tuple[Floats, Floats]]:
        """Sum and count of each group's known values per column, for each array
        (rows × columns → groups × columns)."""
        if not self.walkable:
            return [_bincount_sums(v, self.group, self.n_groups) for v in values]
        shape = (self.n_groups, values[0].shape[1]) if values else (0, 0)
        acc = [(np.zeros(shape), np.zeros(shape, dtype=np.int32)) for _ in values]
        for at, rows in self.steps():
            for v, (s, gaps) in zip(values, acc, strict=True):
                block = v[rows]
                nan = np.isnan(block)
                np.copyto(block, 0.0, where=nan)  # cheaper than a masked add
                s[at] += block
                gaps[at] += nan
        size = np.bincount(self.group, minlength=self.n_groups)[self.order, None]
        return [(self.unorder(s), self.unorder((size - gaps).astype(np.float64)))
                for s, gaps in acc]


def _bincount_sums(values: Floats, group: Ints, n_groups: int) -> tuple[Floats, Floats]:
    """The same sums by one flat scatter: for a few large groups."""
    ok = ~np.isnan(values)
    d = values.shape[1]
    idx = (group[:, None] * d + np.arange(d)[None, :])[ok]
    s = np.bincount(idx, weights=values[ok], minlength=n_groups * d).astype(np.float64)
    c = np.bincount(idx, minlength=n_groups * d).astype(np.float64)
    return s.reshape(n_groups, d), c.reshape(n_groups, d)


def means(sums: tuple[Floats, Floats]) -> Floats:
    """Sum over count, NaN where nothing is known."""
    s, c = sums
    with np.errstate(invalid="ignore", divide="ignore"):
        out: Floats = np.where(c > 0, s / c, np.nan)
    return out

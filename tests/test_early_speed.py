"""The sped-up building kernel of the early scorecards gives the scores the kernel gave before
it (`bench/early_baseline.py`, kept verbatim), on random meters with gaps, buildings with no
meters or one, meters listed in any order, and a building too large for the member walk; and
its parts (`Segments.sums`, `row_nanmedian`) match plain per-group and numpy references.

Tolerance: the sums are added in another order, so the scores agree to 1e-9 (relative and
absolute), and their NaNs stand in the same places; a meter's outlier flag may differ only
where the old kernel put it within 1e-6 of the limit."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.kernels.early_signs import (
    MAD_TO_SIGMA,
    BuildingScores,
    baseline_mask,
    building_scores,
    row_nanmedian,
)
from analyzer.kernels.segments import FREE_STEPS, Segments
from bench.early_baseline import building_scores as baseline_scores
from policy.early import DEFAULT_EARLY

Floats = npt.NDArray[np.float64]


def city(seed: int, n_st: int, per_station: int, per_building: int, days: int, gaps: float,
         shuffle: bool) -> tuple[tuple[Any, ...], Floats]:
    """Random daily meter means (on a 0.1 grid, so ties happen) with NaN gaps, and the
    arguments of `building_scores`."""
    rng = np.random.default_rng(seed)
    b_station = np.sort(rng.integers(0, n_st, n_st * per_station)).astype(np.intp)
    sizes = rng.integers(0, per_building + 1, b_station.size)
    m_building = np.repeat(np.arange(b_station.size), sizes).astype(np.intp)
    if shuffle:
        m_building = rng.permutation(m_building)
    n_m = m_building.size
    out = np.round(rng.normal(0, 5, days), 1)
    sup = np.round(60 - 0.5 * out + rng.normal(0, 2, (n_m, days)), 1)
    ret = np.round(sup - rng.uniform(8, 12, (n_m, 1)) + rng.normal(0, 1, (n_m, days)), 1)
    ret += np.where(rng.random((n_m, days)) < 0.05, rng.uniform(0, 10, (n_m, days)), 0.0)
    flow = np.round(rng.uniform(0, 1, (n_m, days)), 2)
    grids = [sup, ret, flow, 1.16 * flow * (sup - ret)]
    for g in grids:
        g[rng.random(g.shape) < gaps] = np.nan
    use = baseline_mask(b_station.size, days, min(14, days), 14)
    free = (np.arange(days) % 7 >= 5).astype(np.float64)
    return (out, *grids, m_building, b_station, use, free), ret


def assert_same(new: BuildingScores, old: BuildingScores, ret: Floats,
                m_building: npt.NDArray[np.intp]) -> None:
    for field in ("supply_c", "return_c", "energy_kwh", "flow_per_kwh", "return_excess_k", "z"):
        a, b = getattr(new, field), getattr(old, field)
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=field)
        assert np.array_equal(np.isnan(a), np.isnan(b)), field
    differ = new.meter_outlier != old.meter_outlier
    if not differ.any():
        return
    # where the flags differ, the old kernel had the meter on the limit
    dev = ret - old.return_c[m_building]
    step = max(1, dev.shape[0] // 20_000)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mid = np.nanmedian(dev[::step], axis=0)
        spread = MAD_TO_SIGMA * np.nanmedian(np.abs(dev[::step] - mid), axis=0)
        margin = np.abs((dev - mid) / np.maximum(spread, 0.1) - DEFAULT_EARLY.meter_outlier_z)
    assert not (differ & ~(margin < 1e-6)).any()


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 4), st.integers(1, 6), st.integers(0, 12),
       st.integers(3, 30), st.sampled_from([0.0, 0.05, 0.3, 0.9]), st.booleans())
def test_building_scores_match_the_kernel_before_the_speed_up(
        seed: int, n_st: int, per_station: int, per_building: int, days: int, gaps: float,
        shuffle: bool) -> None:
    args, ret = city(seed, n_st, per_station, per_building, days, gaps, shuffle)
    new, old = building_scores(*args), baseline_scores(*args)
    assert_same(new, old, ret, args[5])


def test_a_building_too_large_for_the_walk_scores_the_same() -> None:
    """300 flats in one building and a few small ones: `Segments` sums by one scatter."""
    args, ret = city(3, 2, 2, 4, 21, 0.05, True)
    m_building = np.concatenate([args[5], np.full(FREE_STEPS + 44, 0)])
    rng = np.random.default_rng(4)
    extra = [np.round(rng.normal(40, 3, (FREE_STEPS + 44, 21)), 1) for _ in range(4)]
    grids = [np.concatenate([g, e]) for g, e in zip(args[1:5], extra, strict=True)]
    assert not Segments.of(m_building, len(args[6])).walkable
    full = (args[0], *grids, m_building, *args[6:])
    assert_same(building_scores(*full), baseline_scores(*full),
                grids[1], m_building)


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 40), st.integers(0, 400), st.integers(0, 9),
       st.booleans())
def test_segment_sums_are_each_groups_sums(seed: int, n_groups: int, n_rows: int, cols: int,
                                           skew: bool) -> None:
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(n_groups, 0.05 if skew else 5.0))
    group = rng.choice(n_groups, n_rows, p=p).astype(np.intp)
    v = rng.normal(0, 10, (n_rows, cols))
    v[rng.random(v.shape) < 0.2] = np.nan
    (s, c), = Segments.of(group, n_groups).sums(v)
    for g in range(n_groups):
        mine = v[group == g]
        np.testing.assert_allclose(s[g], np.nansum(mine, axis=0), rtol=1e-12, atol=1e-9)
        assert np.array_equal(c[g], (~np.isnan(mine)).sum(axis=0))


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(0, 30), st.integers(0, 25),
       st.sampled_from([0.0, 0.3, 1.0]))
def test_row_nanmedian_is_numpys(seed: int, rows: int, width: int, gaps: float) -> None:
    rng = np.random.default_rng(seed)
    a = np.round(rng.normal(0, 3, (rows, width)), 0)
    a[rng.random(a.shape) < gaps] = np.nan
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = np.nanmedian(a, axis=1) if width else np.full(rows, np.nan)
    got = row_nanmedian(a.T.copy().T)  # a strided view, as the kernel passes one
    assert np.array_equal(got, want, equal_nan=True)

"""The building kernel of the early scorecards as it was before it was sped up
(analyzer/kernels/early_signs.py at commit 12b8ce9: `building_scores`, `group_sums`,
`group_mean`, `row_nanmedian`), kept verbatim as the baseline `bench/early_city.py` times the
current kernel against and `tests/test_early_speed.py` checks it against. The station fit it
calls (`_residual`) is the shared one: it works on buildings, not meters, and did not change.
"""

from __future__ import annotations

import numpy as np

from analyzer.kernels.early_signs import (
    HOURS_A_DAY,
    MAD_TO_SIGMA,
    BuildingScores,
    Floats,
    Ints,
    _residual,
)
from policy.early import DEFAULT_EARLY, EarlyRules

__all__ = ["building_scores", "group_mean", "group_sums", "row_nanmedian"]


def row_nanmedian(a: Floats) -> Floats:
    """Median of each row, NaN-skipping (NaN for an empty row): one sort."""
    if a.shape[1] == 0:
        return np.full(a.shape[0], np.nan)
    srt = np.sort(a, axis=1)  # NaNs sort last
    n = (~np.isnan(a)).sum(axis=1)
    lo = np.take_along_axis(srt, np.maximum((n - 1) // 2, 0)[:, None], axis=1)[:, 0]
    hi = np.take_along_axis(srt, np.minimum(n // 2, a.shape[1] - 1)[:, None], axis=1)[:, 0]
    out: Floats = np.where(n > 0, (lo + hi) / 2.0, np.nan)
    return out


def group_sums(values: Floats, group: Ints, n_groups: int) -> tuple[Floats, Floats]:
    """Sum and count of each group's known values per day (rows × days → groups × days)."""
    ok = ~np.isnan(values)
    if group.size and (np.diff(group) >= 0).all():
        present = np.nonzero(np.bincount(group, minlength=n_groups))[0]
        at = np.searchsorted(group, present)
        s = np.zeros((n_groups, values.shape[1]))
        c = np.zeros((n_groups, values.shape[1]))
        s[present] = np.add.reduceat(np.where(ok, values, 0.0), at, axis=0)
        c[present] = np.add.reduceat(ok.astype(np.float64), at, axis=0)
        return s, c
    d = values.shape[1]
    idx = (group[:, None] * d + np.arange(d)[None, :])[ok]
    s = np.bincount(idx, weights=values[ok], minlength=n_groups * d).astype(np.float64)
    c = np.bincount(idx, minlength=n_groups * d).astype(np.float64)
    return s.reshape(n_groups, d), c.reshape(n_groups, d)


def group_mean(values: Floats, group: Ints, n_groups: int) -> Floats:
    """Mean of each group's rows per day, NaN-skipping."""
    s, c = group_sums(values, group, n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        out: Floats = np.where(c > 0, s / c, np.nan)
    return out


def building_scores(outdoor_c: Floats, supply_c: Floats, return_c: Floats, flow_m3h: Floats,
                    power_kw: Floats, meter_building: Ints, building_station: Ints,
                    use: np.ndarray, free: Floats | None = None,
                    rules: EarlyRules = DEFAULT_EARLY) -> BuildingScores:
    """Meters' daily means (meters × days) to building scores, as before the speed-up."""
    nb, ns = building_station.size, int(building_station.max(initial=-1)) + 1
    sup, ret = (group_mean(x, meter_building, nb) for x in (supply_c, return_c))
    flow, power = (group_mean(x, meter_building, nb) for x in (flow_m3h, power_kw))
    n_m = np.bincount(meter_building, minlength=nb)[:, None]
    dev = return_c - ret[meter_building]
    base = use[meter_building] & ~np.isnan(dev)
    offset = np.nan_to_num(row_nanmedian(np.where(base, dev, np.nan)[:, use.any(axis=0)]))
    m_res = return_c - offset[:, None]
    b_res = group_mean(m_res, meter_building, nb)
    st_sum, st_n = group_sums(b_res, building_station, ns)
    with np.errstate(invalid="ignore", divide="ignore"):
        neighbours = (st_sum[building_station] - np.nan_to_num(b_res)) / \
            (st_n[building_station] - (~np.isnan(b_res)))
        fpk = flow / power
    x = np.broadcast_to(outdoor_c, b_res.shape)
    r, z = _residual(x, b_res - neighbours, use, rules.sigma_floor[1], rules, True, free)
    sample = dev[:: max(1, dev.shape[0] // 20_000)]
    mid = row_nanmedian(sample.T)
    spread = MAD_TO_SIGMA * row_nanmedian(np.abs(sample - mid).T)
    with np.errstate(invalid="ignore"):
        outlier = (dev - mid) / np.maximum(spread, 0.1) > rules.meter_outlier_z
    energy = power * n_m * HOURS_A_DAY
    return BuildingScores(sup, ret, energy, fpk, r, z[..., None], outlier)

"""Daily scorecards for early fault finding: each station's and building's day against its own
normal for the outdoor temperature, as standardised residuals the drift detector reads.

Everything is vectorised over stations (or buildings) and days: the grids are reshaped to
(rows, days, slots per day) once, the normals are robust straight lines fitted for all rows at
once by a few Huber reweighting passes (a cold day or a holiday in the baseline does not pull
them), and a residual is scaled by the row's own robust spread, floored so that a very steady
station is not touchier than its sensors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analyzer.kernels.segments import Segments, means
from policy.early import DEFAULT_EARLY, EarlyRules
from policy.rules import MeterRules

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.intp]
MAD_TO_SIGMA = 1.4826  # a normal distribution's sigma per median absolute deviation
# water's heat per m³ and K at 40–60 °C: the policy's k (docs/rules.md), one source
K_KWH_PER_M3K = MeterRules().k_kwh_m3k
HOURS_A_DAY = 24  # not a rule: a day's hours turn mean kW into kWh
SAMPLE_METERS = 20_000  # not a rule: how many meters pin the day's median and spread


@dataclass(frozen=True, slots=True)
class StationDays:
    """Daily aggregates per station (rows × days), NaN on a day without enough readings."""

    outdoor_c: Floats  # mean outdoor temperature over the slots that count
    supply_c: Floats
    return_c: Floats
    flow_m3h: Floats
    makeup_share: Floats  # make-up water over circulating flow
    coverage: Floats  # share of the day's slots that count

    @property
    def dt_k(self) -> Floats:
        return self.supply_c - self.return_c

    @property
    def power_kw(self) -> Floats:
        """Mean heat delivered, from flow and ΔT (kW)."""
        return K_KWH_PER_M3K * self.flow_m3h * self.dt_k


def nan_mean(a: Floats, axis: int) -> Floats:
    """Mean skipping NaN, NaN where nothing is known (quietly: an empty day is expected)."""
    ok = ~np.isnan(a)
    n = ok.sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        out: Floats = np.where(n > 0, np.where(ok, a, 0.0).sum(axis=axis) / n, np.nan)
    return out


def row_nanmedian(a: Floats) -> Floats:
    """Median of each row, NaN-skipping (NaN for an empty row): one sort, where
    `np.nanmedian` falls back to a Python loop over rows with any NaN (a selection by
    `np.partition` is no faster here: numpy's sort is vectorised, and NaNs need per-row
    places)."""
    if a.shape[1] == 0:
        return np.full(a.shape[0], np.nan)
    srt = np.sort(np.ascontiguousarray(a), axis=1)  # NaNs sort last; rows in place sort faster
    n = (~np.isnan(a)).sum(axis=1)
    lo = np.take_along_axis(srt, np.maximum((n - 1) // 2, 0)[:, None], axis=1)[:, 0]
    hi = np.take_along_axis(srt, np.minimum(n // 2, a.shape[1] - 1)[:, None], axis=1)[:, 0]
    out: Floats = np.where(n > 0, (lo + hi) / 2.0, np.nan)
    return out


def _days(grid: Floats, spd: int) -> Floats:
    """Rows × slots to rows × days × slots per day (a trailing part day is dropped)."""
    rows, n = grid.shape
    d = n // spd
    return grid[:, : d * spd].reshape(rows, d, spd)


def _masked_mean(x: Floats, ok: npt.NDArray[np.bool_]) -> Floats:
    n = ok.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        out: Floats = np.where(ok, x, 0.0).sum(axis=2) / n
    return out


def station_days(
    outdoor_c: Floats, supply_c: Floats, return_c: Floats, flow_m3h: Floats, makeup_m3h: Floats,
    slots_per_day: int, pump_on: Floats | None = None, rules: EarlyRules = DEFAULT_EARLY,
) -> StationDays:
    """Daily means over the slots where the pump ran and supply, return and flow all arrived;
    the outdoor mean is taken over the same slots, so a day half lost is still judged at the
    temperature it was measured at."""
    g = [_days(x, slots_per_day) for x in (supply_c, return_c, flow_m3h, makeup_m3h)]
    out = _days(np.broadcast_to(outdoor_c, supply_c.shape), slots_per_day)
    ok = ~(np.isnan(g[0]) | np.isnan(g[1]) | np.isnan(g[2])) & (g[2] > 0) & ~np.isnan(out)
    if pump_on is not None:
        ok &= _days(pump_on, slots_per_day) > 0
    cov = ok.sum(axis=2) / slots_per_day
    enough = cov >= rules.min_day_coverage
    mk_ok = ok & ~np.isnan(g[3])
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(mk_ok, g[3], 0.0).sum(axis=2) / np.where(mk_ok, g[2], 0.0).sum(axis=2)
    means = [np.where(enough, _masked_mean(x, ok), np.nan) for x in (out, g[0], g[1], g[2])]
    share = np.where(enough & (mk_ok.sum(axis=2) > 0), share, np.nan)
    return StationDays(means[0], means[1], means[2], means[3], share, cov)


def hourly_to_days(grid: Floats, min_coverage: float = DEFAULT_EARLY.min_day_coverage) -> Floats:
    """Hourly meter readings (rows × hours) to daily means, NaN below the day's coverage."""
    d = _days(grid, 24)
    ok = ~np.isnan(d)
    return np.where(ok.sum(axis=2) >= min_coverage * 24, _masked_mean(d, ok), np.nan)


@dataclass(frozen=True, slots=True)
class Normal:
    """Each row's normal: y ≈ intercept + slope × x (+ free_day on days off work), and the
    robust spread of its residuals."""

    intercept: Floats
    slope: Floats
    sigma: Floats
    free_day: Floats
    x_mean: Floats  # where the baseline's outdoor temperatures sat, and how widely
    x_ss: Floats
    n_days: Floats

    def spread(self, x: Floats) -> Floats:
        """The residual's sigma at x: the prediction interval of a straight line widens away
        from the temperatures it was fitted on, so a cold snap beyond them is not a fault."""
        with np.errstate(invalid="ignore", divide="ignore"):
            lever = np.where(self.x_ss[:, None] > 1e-9,
                             (x - self.x_mean[:, None]) ** 2 / self.x_ss[:, None], 0.0)
            out: Floats = self.sigma[:, None] * np.sqrt(1.0 + 1.0 / self.n_days[:, None] + lever)
        return out

    def expect(self, x: Floats, free: Floats | None = None) -> Floats:
        out: Floats = self.intercept[:, None] + self.slope[:, None] * x
        if free is not None:
            out = out + self.free_day[:, None] * free
        return out


def _design(x: Floats, free: Floats | None, with_slope: bool) -> Floats:
    """Rows × days × terms: 1, the outdoor temperature, the day-off flag."""
    cols = [np.ones_like(x), x if with_slope else np.zeros_like(x),
            np.zeros_like(x) if free is None else np.broadcast_to(free, x.shape)]
    return np.stack(cols, axis=2)


def robust_line(x: Floats, y: Floats, use: npt.NDArray[np.bool_], sigma_floor: float,
                rules: EarlyRules = DEFAULT_EARLY, with_slope: bool = True,
                free: Floats | None = None) -> Normal:
    """Huber-weighted straight line per row over the `use` days (NaN days skipped), with a
    day-off offset when `free` marks weekends and holidays; all rows at once (a batched 3 × 3
    solve, lightly ridged so a term the baseline cannot see stays at zero); a row with fewer
    than three days gets NaN."""
    cols = use.any(axis=0)  # only the baseline's days are fitted on
    x, y, use = x[:, cols], y[:, cols], use[:, cols]
    free = None if free is None else np.broadcast_to(free, cols.shape)[cols]
    ok = use & ~np.isnan(x) & ~np.isnan(y)
    xd = _design(np.where(ok, x, 0.0), free, with_slope)
    ys = np.where(ok, y, 0.0)
    w = ok.astype(np.float64)
    ridge = np.diag([1e-9, 1e-6, 1e-2])
    coef = np.zeros((x.shape[0], 3))
    scale = np.full(x.shape[0], sigma_floor)
    with np.errstate(invalid="ignore", divide="ignore"):
        for _ in range(rules.fit_passes):
            xw = xd * w[..., None]
            a = np.einsum("rdi,rdj->rij", xw, xd) + ridge
            b = np.einsum("rdi,rd->ri", xw, ys)
            coef = np.linalg.solve(a, b[..., None])[..., 0]
            r = np.where(ok, ys - np.einsum("rdi,ri->rd", xd, coef), np.nan)
            scale = np.maximum(MAD_TO_SIGMA * np.nan_to_num(row_nanmedian(np.abs(r))),
                               sigma_floor)
            u = np.abs(r) / (rules.huber_k * scale[:, None])
            w = np.where(ok, np.minimum(1.0, 1.0 / np.maximum(u, 1e-12)), 0.0)
    few = ok.sum(axis=1) < 3
    coef[few] = np.nan
    n = ok.sum(axis=1).astype(np.float64)
    scale = pooled_sigma(scale, n, 1 + with_slope + (free is not None), rules)
    with np.errstate(invalid="ignore", divide="ignore"):
        xm = np.where(ok, x, 0.0).sum(axis=1) / n
        xss = np.where(ok, (x - xm[:, None]) ** 2, 0.0).sum(axis=1) if with_slope \
            else np.zeros_like(n)
    return Normal(coef[:, 0], coef[:, 1], np.where(few, np.nan, scale), coef[:, 2], xm, xss, n)


def pooled_sigma(sigma: Floats, n: Floats, terms: int, rules: EarlyRules) -> Floats:
    """A row's residual sigma from two weeks is itself noisy (a MAD of 14 days is off by a
    quarter either way), and an underestimate turns into false warnings. So: correct it for
    the terms fitted, then shrink it towards the fleet's median sigma as if that were
    `sigma_prior_days` more days of evidence (an empirical-Bayes pooling of variances)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        own = sigma * np.sqrt(n / np.maximum(n - terms, 1.0))
        fleet = float(np.nanmedian(own)) if np.isfinite(own).any() else np.nan
        k = rules.sigma_prior_days
        out: Floats = np.sqrt((n * own**2 + k * fleet**2) / (n + k))
    return out


def baseline_mask(n_rows: int, n_days: int, first_day: int, days: int) -> npt.NDArray[np.bool_]:
    """The days each row's normal is fitted on: `days` days ending before `first_day`."""
    m = np.zeros((n_rows, n_days), dtype=np.bool_)
    m[:, max(first_day - days, 0) : first_day] = True
    return m


@dataclass(frozen=True, slots=True)
class StationScores:
    """A station's days against its normal: residuals per channel (rows × days × channels, in
    `policy.early.CHANNELS` order) and their standardised form."""

    residual: Floats
    z: Floats
    signature_dev: Floats  # the day's heat against the station's own signature, as a share
    balance_point_c: Floats  # where the fitted signature meets zero (rows)
    flow_per_kwh: Floats  # m³ of circulating water per kWh delivered (excess flow)
    return_excess_k: Floats  # return above its normal for the outdoor temperature


def _residual(x: Floats, y: Floats, use: npt.NDArray[np.bool_], floor: float,
              rules: EarlyRules, with_slope: bool, free: Floats | None) -> tuple[Floats, Floats]:
    """A series against its robust normal: the residual and its standardised form."""
    nm = robust_line(x, y, use, floor, rules, with_slope, free)
    r = y - nm.expect(x, free)
    return r, r / nm.spread(x)


def station_scores(days: StationDays, use: npt.NDArray[np.bool_],
                   meter_supply: tuple[Floats, Floats] | None = None,
                   curve_supply_c: Floats | None = None, free: Floats | None = None,
                   rules: EarlyRules = DEFAULT_EARLY) -> StationScores:
    """Residuals of ΔT, return, supply (against the records' heating curve when given, else the
    learned one), log flow, the station's supply residual less its meters' (`meter_supply`:
    their mean supply per station and day, and the whole day's outdoor mean; each side against
    its own normal, so a day half lost compares like with like), and make-up share."""
    fl = rules.sigma_floor
    supply = days.supply_c if curve_supply_c is None else days.supply_c - curve_supply_c
    with np.errstate(invalid="ignore", divide="ignore"):
        series = (days.dt_k, days.return_c, supply, np.log(days.flow_m3h))
    out = [_residual(days.outdoor_c, y, use, f, rules, not (i == 2 and curve_supply_c
                                                           is not None), free)
           for i, (y, f) in enumerate(zip(series, fl[:4], strict=True))]
    gap = np.full(days.supply_c.shape, np.nan)
    if meter_supply is not None:
        m_res, _ = _residual(meter_supply[1], meter_supply[0], use, fl[4], rules, True, free)
        gap = out[2][0] - m_res
    out.append(_residual(days.outdoor_c, gap, use, fl[4], rules, True, free))
    out.append(_residual(days.outdoor_c, days.makeup_share, use, fl[5], rules, False, free))
    res, z = [o[0] for o in out], [o[1] for o in out]
    sig = heat_signature(days.outdoor_c, days.power_kw, use, free, rules)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = sig.expect(days.outdoor_c, free)
        dev = np.where(expected > 0, days.power_kw / expected - 1.0, np.nan)
        bp = np.where(sig.slope < 0, -sig.intercept / sig.slope, np.nan)
        fpk = days.flow_m3h / days.power_kw
    return StationScores(np.stack(res, axis=2), np.stack(z, axis=2), dev, bp, fpk, res[1])


def heat_signature(outdoor_c: Floats, power_kw: Floats, use: npt.NDArray[np.bool_],
                   free: Floats | None = None, rules: EarlyRules = DEFAULT_EARLY) -> Normal:
    """The station's heat-load signature: power linear in the outdoor daily mean on the days
    below the balance point, fitted robustly (a warm day carries no heating signal)."""
    heating = use & (outdoor_c < rules.balance_point_c)
    floor = float(np.nanmax(np.abs(power_kw), initial=1.0)) * 0.01
    return robust_line(outdoor_c, power_kw, heating, floor, rules, free=free)


def group_sums(values: Floats, group: Ints, n_groups: int) -> tuple[Floats, Floats]:
    """Sum and count of each group's known values per day (rows × days → groups × days)."""
    return Segments.of(group, n_groups).sums(values)[0]


def group_mean(values: Floats, group: Ints, n_groups: int) -> Floats:
    """Mean of each group's rows per day, NaN-skipping."""
    return means(group_sums(values, group, n_groups))


@dataclass(frozen=True, slots=True)
class BuildingScores:
    """A building's days from its households' meters (buildings × days), its return against
    its neighbours' (the other buildings on its station), and the meters that stand out."""

    supply_c: Floats
    return_c: Floats
    energy_kwh: Floats
    flow_per_kwh: Floats
    return_excess_k: Floats  # above the neighbours' mean, less its own usual excess
    z: Floats  # buildings × days × 1 (the detector's single building channel)
    meter_outlier: npt.NDArray[np.bool_]  # meters × days


def building_scores(outdoor_c: Floats, supply_c: Floats, return_c: Floats, flow_m3h: Floats,
                    power_kw: Floats, meter_building: Ints, building_station: Ints,
                    use: npt.NDArray[np.bool_], free: Floats | None = None,
                    rules: EarlyRules = DEFAULT_EARLY) -> BuildingScores:
    """Meters' daily means (meters × days) to building scores; `outdoor_c` is per day and
    `use` marks each building's baseline days. The meters are read in two walks of whole
    blocks (`Segments`): one for the four building means, one for the returns' residuals and
    outliers; no meters × days temporary is made but the outlier flags."""
    nb, ns = building_station.size, int(building_station.max(initial=-1)) + 1
    seg = Segments.of(meter_building, nb)
    sums = seg.sums(supply_c, return_c, flow_m3h, power_kw)
    sup, ret, flow, power = (means(x) for x in sums)
    n_m = np.bincount(meter_building, minlength=nb)[:, None]
    offset = _meter_offsets(return_c, ret, meter_building, use)
    mid, limit = _meter_spread(return_c, ret, meter_building)
    res_sum, outlier = _walk_returns(seg, return_c, ret, offset, (mid, limit),
                                     rules.meter_outlier_z)
    b_res = means((res_sum, sums[1][1]))  # a meter's residual is known where its return is
    st_sum, st_n = group_sums(b_res, building_station, ns)
    with np.errstate(invalid="ignore", divide="ignore"):
        # the neighbours: the other buildings on the same station that day
        neighbours = (st_sum[building_station] - np.nan_to_num(b_res)) / \
            (st_n[building_station] - (~np.isnan(b_res)))
        fpk = flow / power
    x = np.broadcast_to(outdoor_c, b_res.shape)
    r, z = _residual(x, b_res - neighbours, use, rules.sigma_floor[1], rules, True, free)
    energy = power * n_m * HOURS_A_DAY
    return BuildingScores(sup, ret, energy, fpk, r, z[..., None], outlier)


def _meter_offsets(return_c: Floats, ret: Floats, meter_building: Ints,
                   use: npt.NDArray[np.bool_]) -> Floats:
    """Each meter's usual offset from its building (the baseline's median), so a meter
    missing a day does not move its building by its own offset; only the baseline's days
    are read."""
    cols = use.any(axis=0)
    dev = return_c[:, cols] - ret[:, cols][meter_building]
    base = use[:, cols][meter_building] & ~np.isnan(dev)
    out: Floats = np.nan_to_num(row_nanmedian(np.where(base, dev, np.nan)))
    return out


def _meter_spread(return_c: Floats, ret: Floats, meter_building: Ints) -> tuple[Floats, Floats]:
    """The day's median of meters against their buildings, and the outlier's unit (a robust
    spread, floored): an evenly spaced sample of 20,000 meters pins both as well as all of
    them, at a city's size for a fraction."""
    step = max(1, return_c.shape[0] // SAMPLE_METERS)
    # days × sampled meters, each day's row in place (a transposed write would be slower)
    sample = np.ascontiguousarray((return_c[::step] - ret[meter_building[::step]]).T)
    mid = row_nanmedian(sample)
    sample -= mid[:, None]
    spread = MAD_TO_SIGMA * row_nanmedian(np.abs(sample, out=sample))
    return mid, np.maximum(spread, 0.1)


def _walk_returns(seg: Segments, return_c: Floats, ret: Floats, offset: Floats,
                  unit: tuple[Floats, Floats], z_limit: float
                  ) -> tuple[Floats, npt.NDArray[np.bool_]]:
    """One walk over the meters' returns: each building's sum of its meters' returns less
    their usual offsets, and the meters that stand out from their building that day."""
    mid, limit = unit
    if not seg.walkable:
        dev = return_c - ret[seg.group]
        with np.errstate(invalid="ignore"):
            flags = (dev - mid) / limit > z_limit
        return seg.sums(return_c - offset[:, None])[0][0], flags
    res = np.zeros(ret.shape)
    outlier = np.zeros(return_c.shape, dtype=np.bool_)
    ret_p = ret[seg.order]
    with np.errstate(invalid="ignore"):
        for at, rows in seg.steps():
            block = return_c[rows]
            dev = block - offset[rows][:, None]
            np.copyto(dev, 0.0, where=np.isnan(block))
            res[at] += dev
            dev = block - ret_p[at]
            dev -= mid
            dev /= limit
            outlier[rows] = dev > z_limit
    return seg.unorder(res), outlier

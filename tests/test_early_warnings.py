"""Early fault finding: the slow-fault simulator, the scorecards' normals, the drift detector,
and the properties issue 24 asks for (hypothesis): a healthy station never warns across
cadences and loss, each injected fault is flagged before its cold day, a dark station is a
comm matter and not a warning.

The properties run at half the simulator's day-to-day wobble (what no model explains): at the
full wobble the detector is a statistical one, and `bench/early.py` measures its rates."""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from analyzer.early import STATION_CAUSES, templates
from analyzer.kernels.early_drift import drift_warnings
from analyzer.kernels.early_signs import baseline_mask, robust_line, station_days, station_scores
from bench.early import analyse_slice, score_slice
from policy.early import CAUSES, CHANNELS, DEFAULT_EARLY
from policy.rules import DEFAULT_ROOMS
from simulators.slow_faults import (
    EXPECTED_CAUSE,
    FAULT_KINDS,
    LEAK_END_PCT,
    SliceSpec,
    SlowFault,
    draw_slice,
)

cadences = st.sampled_from([5, 10, 15, 30])
losses = st.floats(0.0, 0.2)
seeds = st.integers(0, 2**31 - 1)


@settings(max_examples=25, deadline=None, derandomize=True)  # why: see the fault property
@given(cadences, losses, seeds, st.integers(0, 3), st.integers(0, 2))
def test_a_healthy_station_never_warns(step: int, loss: float, seed: int, outages: int,
                                       snaps: int) -> None:
    spec = SliceSpec(n_stations=5, days=35, step_min=step, loss=loss, meter_loss=loss,
                     seed=seed, outages=outages, dark=0, cold_snaps=snaps, life_noise=0.5)
    res = analyse_slice(draw_slice(spec))
    assert len(res.station_warnings) == 0
    assert res.building_warnings is not None and len(res.building_warnings) == 0


# derandomized: the detector is statistical (bench/early.py measures the share it flags in
# time, 95-97 %), so a property over freely drawn seeds would fail now and then by design; a
# fixed, varied set of 30 examples is a regression test that can still fail on any change
@settings(max_examples=30, deadline=None, derandomize=True)
@given(st.sampled_from(FAULT_KINDS), cadences, losses, seeds, st.floats(15.0, 22.0),
       st.integers(0, 3), st.integers(0, 2))
def test_each_fault_is_flagged_before_its_cold_day(kind: str, step: int, loss: float, seed: int,
                                                   onset: float, station: int, b: int) -> None:
    fault = SlowFault(kind, station, onset, station * 3 + b if kind == "bypass" else -1)
    spec = SliceSpec(n_stations=4, days=42, step_min=step, loss=loss, meter_loss=loss,
                     seed=seed, faults=(fault,), life_noise=0.5)
    sl = draw_slice(spec)
    assume(sl.cold_day[0] >= 0)  # the fault does make a room cold inside the slice
    # a fault a cold snap turns into a cold room within days of its onset is not a slow one:
    # the bench counts those too (as misses), the property is about the slow
    assume(sl.cold_day[0] - onset >= 6)
    res = analyse_slice(sl)
    sc = score_slice(sl, res)
    assert sc.before == 1, sc.missed
    assert sc.cause_right == 1
    # nothing warns anywhere else: every warning sits on the faulty station
    assert sc.true_warnings == sc.warnings


@settings(max_examples=20, deadline=None, derandomize=True)  # why: see the fault property
@given(cadences, losses, seeds, st.integers(1, 4))
def test_a_station_dark_for_hours_does_not_warn(step: int, loss: float, seed: int,
                                                dark: int) -> None:
    spec = SliceSpec(n_stations=4, days=35, step_min=step, loss=loss, seed=seed, dark=dark,
                     outages=0, life_noise=0.5)
    sl = draw_slice(spec)
    res = analyse_slice(sl)
    assert len(res.station_warnings) == 0
    # a day mostly dark is not judged at all: the comm detectors own it
    low = res.days.coverage < DEFAULT_EARLY.min_day_coverage
    assert np.isnan(res.stations.z[low]).all()


def test_a_whole_dark_day_is_not_judged_and_the_rest_still_is() -> None:
    spd = 24
    out = np.full(3 * spd, -5.0)
    sup = np.full((1, 3 * spd), 55.0)
    sup[0, spd : 2 * spd] = np.nan
    days = station_days(out, sup, sup - 10.0, np.full((1, 3 * spd), 30.0),
                        np.full((1, 3 * spd), 0.15), spd)
    assert np.isnan(days.supply_c[0, 1]) and days.coverage[0, 1] == 0.0
    assert days.dt_k[0, 0] == 10.0 and abs(days.makeup_share[0, 2] - 0.005) < 1e-12


def test_simulated_faults_build_up_and_healthy_rooms_stay_warm() -> None:
    faults = tuple(SlowFault(k, i, 16.0, i * 3 if k == "bypass" else -1)
                   for i, k in enumerate(FAULT_KINDS))
    spec = SliceSpec(n_stations=8, days=42, step_min=15, loss=0.0, seed=3, faults=faults,
                     cold_snaps=2)
    sl = draw_slice(spec)
    assert all(16 < c < 42 for c in sl.cold_day)
    leak = faults[FAULT_KINDS.index("slow_leak")].station
    share = np.nansum(sl.makeup_m3h[leak, -96:]) / np.nansum(sl.flow_m3h[leak, -96:])
    assert abs(share * 100 - LEAK_END_PCT) < 0.1
    fouled = faults[0].station
    dt = sl.supply_c - sl.return_c
    # ΔT shrinks by about 0.2 K a day against a healthy station on the same weather
    shrink = (dt[6, -96:].mean() - dt[6, :96].mean()) - (dt[fouled, -96:].mean()
                                                         - dt[fouled, :96].mean())
    assert 0.15 * 25 < shrink < 0.25 * 26
    assert DEFAULT_ROOMS.min_c == 18.0  # the cold day is judged on the room rule


def test_robust_line_ignores_a_cold_snap_outlier_and_learns_days_off() -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(-10, 0, (3, 20))
    free = (np.arange(20) % 7 >= 5).astype(np.float64)
    y = 30.0 - 0.5 * x + 0.4 * free + rng.normal(0, 0.05, (3, 20))
    y[:, 3] += 8.0  # one wild day
    nm = robust_line(x, y, np.ones_like(x, dtype=np.bool_), 0.05, free=free)
    assert np.allclose(nm.slope, -0.5, atol=0.05)
    assert np.allclose(nm.free_day, 0.4, atol=0.1)
    assert (nm.spread(np.full((3, 1), -30.0)) > nm.spread(np.full((3, 1), -5.0))).all()


def test_the_detector_opens_one_warning_per_cause_and_closes_it_when_normal() -> None:
    z = np.zeros((2, 30, 6))
    mk = list(CHANNELS).index("makeup")
    z[0, 5:15, mk] = 3.0  # a slow leak for ten days, then repaired
    z[1, 5:8, mk] = np.nan  # a comm gap is not a residual
    w = drift_warnings(z, templates())
    assert len(w) == 1 and int(w.row[0]) == 0
    assert STATION_CAUSES[int(w.cause[0])] == "slow_leak"
    r = DEFAULT_EARLY
    # the CUSUM adds 3 − k a day from day 5 and opens once it passes h
    assert int(w.opened[0]) == 4 + int(r.cusum_h // (3.0 - r.cusum_k)) + 1
    assert int(w.closed[0]) == 15 + DEFAULT_EARLY.close_days - 1
    assert w.evidence_z[0, mk] > 1.0


def test_every_simulated_fault_names_a_known_cause() -> None:
    assert set(EXPECTED_CAUSE.values()) <= set(CAUSES)
    assert set(STATION_CAUSES) <= set(CAUSES)


def test_a_store_with_no_days_to_fit_judges_nothing() -> None:
    """Nothing in the baseline (a new site, or only warm days): no normal, no warning."""
    spd = 24
    nan = np.full((2, 20 * spd), np.nan)
    days = station_days(np.full(20 * spd, -5.0), nan, nan, nan, nan, spd)
    sc = station_scores(days, baseline_mask(2, 20, 14, 14))
    assert np.isnan(sc.z).all()
    assert len(drift_warnings(sc.z, templates())) == 0

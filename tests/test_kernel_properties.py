"""Properties the kernels keep for any input (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from analyzer.billing import Basis, bill_season, label_days
from analyzer.grid import HOUR_MS, TimeAxis
from analyzer.kernels.meter_signs import MeterGrid, detect_meter_faults, fault_masks
from analyzer.kernels.meter_signs import _masks as _all_rows_masks
from analyzer.kernels.room_temps import (
    assess_rooms,
    compliance,
)
from analyzer.runs import intervals, run_length, runs_at_least
from bench.kernels import company_compliance, detect_leaks, detect_substation_outages
from policy.rules import MeterRules

AXIS = TimeAxis(0, HOUR_MS, 48)
temps = st.one_of(st.just(np.nan), st.floats(-40, 70, allow_nan=False).map(lambda x: round(x, 1)))


@st.composite
def room_grids(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = draw(st.integers(1, 12))
    base = draw(arrays(np.float64, (n, 48), elements=temps))
    # mostly plausible rooms, some noise, some stuck or silent
    warm = draw(arrays(np.float64, (n, 48), elements=st.floats(14, 24).map(lambda x: round(x, 1))))
    keep_noise = draw(arrays(np.bool_, (n, 1)))
    temp = np.where(keep_noise, base, warm)
    sub = draw(arrays(np.intp, n, elements=st.integers(0, 2)))
    outdoor = draw(arrays(np.float64, (3, 2), elements=st.floats(-15, 5)))
    return temp, sub, outdoor


def _assess(temp: np.ndarray, sub: np.ndarray, outdoor: np.ndarray):
    counted = np.arange(temp.shape[0]) % 5 != 4
    return assess_rooms(temp, AXIS, counted, sub, outdoor, np.array([-7.0, -7.0, -7.0]))


@settings(max_examples=60, deadline=None)
@given(room_grids())
def test_compliance_stays_in_0_1(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    temp, sub, outdoor = data
    days = _assess(temp, sub, outdoor)
    for comp in (compliance(days.state, sub, 3), company_compliance(days.state)):
        rate = comp.rate
        finite = rate[~np.isnan(rate)]
        assert ((finite >= 0) & (finite <= 1)).all()
        assert (comp.passing <= comp.measured).all()


@settings(max_examples=40, deadline=None)
@given(room_grids(), st.randoms(use_true_random=False))
def test_permuting_rooms_permutes_results(data, rnd) -> None:
    temp, sub, outdoor = data
    perm = np.array(rnd.sample(range(temp.shape[0]), temp.shape[0]))
    counted = np.arange(temp.shape[0]) % 5 != 4
    design = np.array([-7.0, -7.0, -7.0])
    a = assess_rooms(temp, AXIS, counted, sub, outdoor, design)
    b = assess_rooms(temp[perm], AXIS, counted[perm], sub[perm], outdoor, design)
    assert np.array_equal(a.state[perm], b.state)
    assert np.array_equal(a.fault[perm], b.fault)
    assert np.array_equal(a.daily_mean_c[perm], b.daily_mean_c, equal_nan=True)


@settings(max_examples=80, deadline=None)
@given(arrays(np.bool_, st.tuples(st.integers(1, 5), st.integers(1, 40))), st.integers(1, 6))
def test_runs_and_intervals_agree(mask: np.ndarray, n: int) -> None:
    iv = intervals(mask)
    assert (iv.end > iv.start).all()
    rebuilt = np.zeros_like(mask)
    for r, s, e in zip(iv.row, iv.start, iv.end, strict=True):
        rebuilt[r, s:e] = True
    assert np.array_equal(rebuilt, mask)
    lengths = run_length(mask)
    for r, s, e in zip(iv.row, iv.start, iv.end, strict=True):
        assert (lengths[r, s:e] == e - s).all()
    kept = intervals(runs_at_least(mask, n))
    assert (kept.length >= n).all()


@st.composite
def fault_days(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    n = draw(st.integers(1, 6))
    d = draw(st.sampled_from([121, 122, 30]))
    nonhuman = draw(arrays(np.bool_, (n, d)))
    human = draw(arrays(np.bool_, (n, d)))
    return nonhuman, human, d


@settings(max_examples=60, deadline=None)
@given(fault_days())
def test_each_day_billed_once_and_days_add_up_to_the_season(data) -> None:
    nonhuman, human, d = data
    n = nonhuman.shape[0]
    kwh = np.full((n, d), 5.0)
    bills = bill_season(np.full(n, 80.0), kwh, nonhuman, human, np.zeros(d), d)
    for policy in ("area", "estimated"):
        basis = label_days(nonhuman, human, policy)
        # one basis per day: a fault day is never billed twice
        per_day = sum((basis == b).astype(int) for b in Basis)
        assert (per_day == 1).all()
        assert not ((basis == Basis.AREA) & (basis == Basis.METERED)).any()
        for i in range(n):
            bill = bills.bill(i, policy)
            total = bill.metered_days + bill.area_days + bill.estimated_days + bill.inspection_days
            assert total == d
        # a human-cause day is never area-billed
        assert not ((basis == Basis.AREA) & human).any()


@st.composite
def meter_grids(draw: st.DrawFn) -> MeterGrid:
    n = draw(st.integers(1, 6))
    t = 24
    flow = draw(arrays(np.float64, (n, t), elements=st.sampled_from([0.0, 0.3, 0.5, np.nan])))
    steps = draw(arrays(np.float64, (n, t), elements=st.sampled_from([0.0, 1.0, 5.8, -2.0])))
    energy = 1000 + np.cumsum(steps, axis=1)
    energy[np.isnan(flow)] = np.nan
    volume = 10 + np.cumsum(np.nan_to_num(flow), axis=1)
    sup = draw(arrays(np.float64, (n, t), elements=st.sampled_from([55.0, 0.0, 185.0, 40.0, 1.0])))
    ret = draw(arrays(np.float64, (n, t), elements=st.sampled_from([45.0, 50.0, 42.0])))
    status = draw(arrays(np.uint16, (n, t), elements=st.sampled_from([0, 0, 0, 1, 128, 256, 2])))
    return MeterGrid(energy, volume, flow, sup, ret, status)


@settings(max_examples=60, deadline=None)
@given(meter_grids(), st.randoms(use_true_random=False))
def test_meter_faults_permute_and_never_end_before_start(g: MeterGrid, rnd) -> None:
    axis = TimeAxis(0, HOUR_MS, 24)
    n = g.shape[0]
    perm = np.array(rnd.sample(range(n), n))
    faults = detect_meter_faults(g, axis)
    assert (faults.end > faults.start).all()
    assert all(i.end_ms > i.start_ms for i in faults.items(axis))
    pg = MeterGrid(*(getattr(g, k)[perm] for k in
                     ("energy_kwh", "volume_m3", "flow_m3h", "supply_c", "return_c", "status")))
    a = fault_masks(g, axis)
    b = fault_masks(pg, axis)
    for cause in a:
        assert np.array_equal(a[cause][perm], b[cause])


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, (4, 60), elements=st.sampled_from([0.0, 1.0, 1.0, np.nan])),
       st.randoms(use_true_random=False))
def test_outages_and_leaks_permute_and_never_close_before_open(pump: np.ndarray, rnd) -> None:
    axis = TimeAxis(0, 5 * 60_000, 60)
    sup = np.full(pump.shape, 55.0)
    ret = np.full(pump.shape, 45.0)
    perm = np.array(rnd.sample(range(4), 4))
    out = detect_substation_outages(pump, sup, ret, axis)
    assert (out.duration_h >= 0.5).all()
    assert all(o.end_ms > o.start_ms for o in out.items())
    pout = detect_substation_outages(pump[perm], sup, ret, axis)
    a = sorted(zip(out.row.tolist(), out.start.tolist(), out.end.tolist(), strict=True))
    b = sorted(zip(perm[pout.row].tolist(), pout.start.tolist(), pout.end.tolist(), strict=True))
    assert a == b
    hold = np.where(np.isnan(pump), 0.25, 0.35)
    leaks = detect_leaks(np.full(pump.shape, 100.0), np.nan_to_num(pump) * 3, hold, axis)
    assert all(leak.end_ms > leak.start_ms for leak in leaks.items())


@settings(max_examples=60, deadline=None)
@given(meter_grids())
def test_meter_triage_never_hides_a_fault(g: MeterGrid) -> None:
    axis = TimeAxis(0, HOUR_MS, 24)
    full = _all_rows_masks(g, axis, MeterRules())
    triaged = fault_masks(g, axis)
    for cause, mask in full.items():
        assert np.array_equal(mask, triaged[cause])

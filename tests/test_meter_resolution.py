"""Issue 25: meter checks that hold on real meters — register resolution, small ΔT, low flow."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.grid import HOUR_MS, TimeAxis
from analyzer.kernels.meter_signs import MeterGrid, detect_meter_faults
from policy.meters import class_limit_parts, comm_loss, misaligned, permitted_error_pct
from policy.rules import Cause, MeterRules

RULES = MeterRules()
QP = RULES.qp_m3h
QI, QS = QP / RULES.qp_over_qi, QP * RULES.qs_over_qp


def _meter(res_kwh: float, q: float, dt_k: float, step_min: int, error: float,
           hours: int = 26, phase: float = 0.0) -> tuple[MeterGrid, TimeAxis]:
    """One meter at flow q and ΔT, its energy `error` off, read every step_min and rounded down
    to res_kwh (volume to 0.001 m³), as a real register shows them."""
    steps = hours * 60 // step_min
    step_h = step_min / 60
    wobble = 1 + 0.05 * np.sin(np.arange(steps) / 5.0)
    flow = q * wobble
    dt = np.full(steps, dt_k)
    vol_true = 500.0 + np.concatenate([[0.0], np.cumsum(flow[1:] * step_h)])
    dv = np.diff(vol_true)
    e_inc = dv * 0.5 * (dt[1:] + dt[:-1]) * RULES.k_kwh_m3k * (1 + error)
    e_true = 10_000.0 + phase * res_kwh + np.concatenate([[0.0], np.cumsum(e_inc)])
    energy = np.floor(e_true / res_kwh + 1e-9) * res_kwh
    volume = np.floor(vol_true / 0.001 + 1e-9) * 0.001
    g = MeterGrid(energy[None], volume[None], flow[None], np.full((1, steps), 50.0 + dt_k),
                  np.full((1, steps), 50.0), np.zeros((1, steps), np.int64),
                  energy_res_kwh=np.array([res_kwh]))
    return g, TimeAxis(0, step_min * 60_000, steps)


resolutions = st.sampled_from([0.001, 0.01, 0.1, 1.0, 10.0])
steps_min = st.sampled_from([60, 15])


@settings(max_examples=150, deadline=None)
@given(resolutions, st.floats(QI, QS), st.floats(0.5, 40.0), steps_min, st.floats(0, 1))
def test_a_meter_exact_up_to_rounding_is_never_flagged(res: float, q: float, dt_k: float,
                                                      step: int, phase: float) -> None:
    g, axis = _meter(res, q, dt_k, step, 0.0, phase=phase)
    faults = detect_meter_faults(g, axis, RULES)
    assert len(faults) == 0, [(Cause(int(c)).name, int(s)) for c, s in
                              zip(faults.cause, faults.start, strict=True)]


@settings(max_examples=150, deadline=None)
@given(resolutions, st.floats(0.1 * QP / 0.95, QS / 1.06),  # the flow wobbles ±5 %
       st.floats(3 * RULES.dtheta_min_k, 40.0), steps_min, st.sampled_from([0.06, -0.06]))
def test_a_meter_6_percent_off_is_flagged_within_a_day(res: float, q: float, dt_k: float,
                                                       step: int, error: float) -> None:
    # a day's increment must be able to carry a verdict: its quantisation well inside the
    # margin between 6 % and the class limit (else no verdict is the honest answer)
    day_kwh = q * dt_k * RULES.k_kwh_m3k * 24
    limit = float(permitted_error_pct(q, dt_k, QP, RULES.dtheta_min_k))
    qz = res + 0.001 * RULES.k_kwh_m3k * 2 * dt_k
    if qz > (6.0 - limit) / 100 * day_kwh / 2.5:
        return
    g, axis = _meter(res, q, dt_k, step, error)
    faults = detect_meter_faults(g, axis, RULES)
    mism = faults.start[faults.cause == Cause.ENERGY_MISMATCH]
    assert mism.size and int(mism.min()) * step <= 24 * 60


def test_below_dtheta_min_or_qi_is_out_of_range_not_faulty() -> None:
    g, axis = _meter(0.01, QP / 2, 1.0, 60, 0.2)  # 20 % off, but ΔT 1 K < Δθmin
    faults = detect_meter_faults(g, axis, RULES)
    assert len(faults) == 0
    assert faults.out_of_range is not None and faults.out_of_range[0, 1:].all()
    g, axis = _meter(0.01, QI / 3, 10.0, 60, 0.2)  # below qi
    faults = detect_meter_faults(g, axis, RULES)
    assert len(faults) == 0 and faults.out_of_range is not None
    assert faults.out_of_range[0, 1:].all()


def test_whole_kwh_registers_undeclared_give_no_false_fault() -> None:
    # the district: ~1.4 kWh an hour, whole-kWh registers, nothing declared
    g, axis = _meter(1.0, 0.12, 10.0, 60, 0.0, hours=72)
    plain = MeterGrid(g.energy_kwh, g.volume_m3, g.flow_m3h, g.supply_c, g.return_c, g.status)
    assert len(detect_meter_faults(plain, axis, RULES)) == 0


def test_worked_example_7_limit_is_unchanged() -> None:
    parts = class_limit_parts(Decimal(10), Decimal(3) / Decimal(10))
    assert parts == (Decimal("2.2"), Decimal("1.4"), Decimal("0.8"))
    assert sum(parts, Decimal(0)) == Decimal("4.4")
    assert float(permitted_error_pct(0.15, 10.0, 1.5, 3.0)) == np.float64(2.2 + 1.4 + 0.8)


def test_misaligned_readings_are_found_per_row() -> None:
    x = np.array([[1.0, 2.0, np.nan], [1.0, 2.5, 3.0]])
    assert misaligned(x, np.array([[1.0], [1.0]])).tolist() == [False, True]


def test_comm_loss_is_one_rule() -> None:
    m = np.array([[False, True, False, True, True, False]])
    assert comm_loss(m, RULES).tolist() == [[False, False, False, True, True, False]]
    assert HOUR_MS == 3_600_000

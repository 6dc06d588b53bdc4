"""Leak kernel: make-up share over an hour, pressure sag, ordering and ongoing leaks."""

from __future__ import annotations

import numpy as np

from analyzer.grid import TimeAxis
from analyzer.kernels.leak_signs import (
    LeakSign,
    makeup_share,
    trailing_sum,
)
from bench.kernels import detect_leaks
from policy.rules import LeakRules

AXIS = TimeAxis(0, 5 * 60_000, 48 * 12)


def _station(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = AXIS.n_slots
    return np.full((n, t), 100.0), np.full((n, t), 1.0), np.full((n, t), 0.35)


def test_normal_makeup_is_no_leak() -> None:
    flow, makeup, hold = _station(2)
    assert len(detect_leaks(flow, makeup, hold, AXIS)) == 0


def test_makeup_above_2_percent_over_an_hour_is_a_leak() -> None:
    flow, makeup, hold = _station(3)
    makeup[0, 200:300] = 5.0  # 5 % for over 8 h
    makeup[1, 200:206] = 5.0  # a half-hour burst: hourly share (6×5+6×1)/1200 = 3 %
    makeup[2, 200:203] = 3.0  # 15 min at 3 %: hourly share 1.5 %
    leaks = detect_leaks(flow, makeup, hold, AXIS)
    assert sorted(set(leaks.substation.tolist())) == [0, 1]
    assert (leaks.sign == LeakSign.MAKEUP).all()
    first = leaks.items()[0]
    assert first.substation == 0 and first.start_ms >= 200 * AXIS.step_ms
    assert first.end_ms > first.start_ms


def test_exactly_2_percent_is_not_a_leak() -> None:
    flow, makeup, hold = _station(1)
    makeup[:] = 2.0
    assert len(detect_leaks(flow, makeup, hold, AXIS)) == 0
    share = makeup_share(flow, makeup, AXIS)
    assert np.isnan(share[0, 10]) and share[0, 11] == 0.02  # NaN until a full hour


def test_pressure_sag_is_a_leak_and_a_blip_is_not() -> None:
    flow, makeup, hold = _station(2)
    hold[0, 300:] = 0.25  # 0.35 -> 0.25 MPa, still low at the window end
    hold[1, 300:302] = 0.20  # 10 min blip
    leaks = detect_leaks(flow, makeup, hold, AXIS)
    items = leaks.items()
    assert [(i.substation, i.sign, i.ongoing) for i in items] == [(0, LeakSign.PRESSURE_SAG, True)]
    assert items[0].start_ms == 300 * AXIS.step_ms


def test_sag_against_a_configured_reference_and_drop() -> None:
    flow, makeup, hold = _station(1)
    hold[:] = 0.30
    assert len(detect_leaks(flow, makeup, hold, AXIS)) == 0
    leaks = detect_leaks(flow, makeup, hold, AXIS, reference_mpa=np.array([0.35]),
                         rules=LeakRules(sag_mpa=0.05))
    assert len(leaks) == 1 and leaks.start[0] == 0


def test_missing_samples_break_the_hour_window() -> None:
    grid = np.ones((1, 30))
    grid[0, 15] = np.nan
    s = trailing_sum(grid, 12)
    assert s[0, 11] == 12.0 and np.isnan(s[0, 15]) and np.isnan(s[0, 26]) and s[0, 27] == 12.0

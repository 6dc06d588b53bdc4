"""Rooms kernel: daily pass/fail, sensor faults, exclusion, compliance groups, cold signals."""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from analyzer.grid import HOUR_MS, TimeAxis, index_ids, to_grid
from analyzer.kernels.room_temps import (
    assess_rooms,
    breaches,
    compliance,
    trailing_mean,
)
from bench.kernels import cold_room_signals, company_compliance
from policy.rooms import RoomState, SensorFault, refund_share, under_temperature_refunds_cny
from policy.rules import DEFAULT_ROOMS, CityRules, RoomRules, UnderTemperatureRefund

AXIS = TimeAxis(0, HOUR_MS, 48)


def _assess(temp: np.ndarray, counted: np.ndarray | None = None, outdoor: float = -3.0,
            rules: RoomRules = DEFAULT_ROOMS):
    n = temp.shape[0]
    return assess_rooms(
        temp.astype(np.float32), AXIS,
        counted=np.ones(n, bool) if counted is None else counted,
        substation=np.zeros(n, np.intp),
        outdoor_daily_c=np.full((1, 2), outdoor), design_outdoor_c=np.array([-7.0]),
        rules=rules,
    )


def _warm(n: int = 1) -> np.ndarray:
    # a realistic room: never exactly constant, 20 ± 1 °C
    t = np.arange(48)
    return np.tile(20.0 + np.round(np.sin(t / 3.0), 1), (n, 1))


def test_warm_room_passes_and_cold_room_fails_by_daily_mean() -> None:
    temp = _warm(2)
    temp[1] = temp[1] - 3.0  # 17 ± 1 °C
    days = _assess(temp)
    assert days.state[0].tolist() == [RoomState.PASS, RoomState.PASS]
    assert days.state[1].tolist() == [RoomState.COLD, RoomState.COLD]


def test_short_dip_is_not_a_failed_day() -> None:
    temp = _warm()
    temp[0, 5:8] = 15.0  # three cold hours, the daily mean stays above 18 °C
    days = _assess(temp)
    assert days.daily_mean_c[0, 0] > 18.0
    assert days.state[0, 0] == RoomState.PASS


def test_other_room_is_measured_but_not_counted() -> None:
    temp = _warm(2) - 5.0
    days = _assess(temp, counted=np.array([True, False]))
    assert days.state[1, 0] == RoomState.NOT_COUNTED
    assert not np.isnan(days.daily_mean_c[1, 0])
    comp = compliance(days.state, np.zeros(2, np.intp), 1)
    assert comp.measured[0, 0] == 1


def test_silent_sensor_is_a_fault_not_cold() -> None:
    temp = _warm()
    temp[0, :24] = np.nan
    temp[0, 3] = 10.0  # one lonely sample that day
    days = _assess(temp)
    assert days.state[0, 0] == RoomState.SENSOR_FAULT
    assert days.fault[0, 0] & SensorFault.SILENT
    assert days.state[0, 1] == RoomState.PASS


def test_stuck_sensor_is_a_fault() -> None:
    temp = _warm()
    temp[0, 24:] = 16.0  # the whole second day on one value
    days = _assess(temp)
    assert days.state[0, 1] == RoomState.SENSOR_FAULT
    assert days.fault[0, 1] & SensorFault.STUCK
    shorter = _assess(temp, rules=RoomRules(stuck_h=30))
    assert shorter.state[0, 1] == RoomState.COLD


def test_out_of_range_sensor_is_a_fault() -> None:
    temp = _warm(2)
    temp[0, 10] = 61.0
    temp[1, 30] = -31.0
    days = _assess(temp)
    assert days.state[0, 0] == RoomState.SENSOR_FAULT
    assert days.fault[0, 0] & SensorFault.OUT_OF_RANGE
    assert days.state[1, 1] == RoomState.SENSOR_FAULT
    assert days.state[0, 1] == RoomState.PASS


def test_sensor_fault_counts_neither_cold_nor_compliant() -> None:
    temp = np.vstack([_warm(3), _warm(1) - 5])
    temp[3, :24] = 5.0  # "cold" but stuck -> fault
    days = _assess(temp)
    comp = compliance(days.state, np.zeros(4, np.intp), 1)
    assert comp.passing[0, 0] == 3 and comp.measured[0, 0] == 3 and comp.faulty[0, 0] == 1
    assert comp.rate[0, 0] == 1.0


def test_compliance_per_substation_building_and_company() -> None:
    temp = np.vstack([_warm(4), _warm(2) - 4])
    days = assess_rooms(
        temp.astype(np.float32), AXIS, np.ones(6, bool),
        substation=np.array([0, 0, 0, 1, 1, 1]),
        outdoor_daily_c=np.array([[-3.0, -3.0], [-3.0, -9.0]]),
        design_outdoor_c=np.array([-7.0, -7.0]),
    )
    sub = compliance(days.state, np.array([0, 0, 0, 1, 1, 1]), 2)
    assert sub.rate[:, 0].tolist() == [1.0, 1 / 3]
    assert np.isnan(sub.rate[1, 1])  # substation 1's day 2 is colder than design
    bld = compliance(days.state, np.array([0, 1, 1, 2, 2, 3]), 4)
    assert bld.rate[:, 0].tolist() == [1.0, 1.0, 0.5, 0.0]
    co = company_compliance(days.state)
    assert co.passing[0].tolist() == [4, 3] and co.measured[0].tolist() == [6, 3]
    assert [(b.substation, b.day) for b in breaches(sub)] == [(1, 0)]


def test_exactly_97_percent_is_not_a_breach() -> None:
    state = np.zeros((100, 1), np.int8)
    state[:3] = RoomState.COLD
    comp = compliance(state, np.zeros(100, np.intp), 1)
    assert comp.rate[0, 0] == 0.97 and breaches(comp) == []
    state[3] = RoomState.COLD
    assert len(breaches(compliance(state, np.zeros(100, np.intp), 1))) == 1


def test_trailing_mean_signals_cold_room_the_same_day_with_its_start() -> None:
    temp = _warm(2)
    temp[0, 30:] = 15.0 + np.arange(18) * 0.01  # goes cold at 06:00 on day 2
    days = _assess(temp)
    sig = cold_room_signals(temp.astype(np.float32), AXIS, days)
    assert sig.room.tolist() == [0] and sig.day.tolist() == [1]
    # 6 h trailing mean: 20ish ×k + 15 ×(6−k) drops below 18 after 3 cold hours
    assert 30 <= sig.slot[0] <= 35
    assert sig.trailing_mean_c[0] < 18.0


def test_trailing_mean_needs_coverage_and_ignores_bad_samples() -> None:
    temp = np.full((1, 48), np.nan)
    temp[0, 10] = 15.0
    assert np.isnan(trailing_mean(temp, AXIS)[0, 10])  # 1 of 6 slots < 50 %
    temp[0, 8:12] = [20.0, 99.0, 20.0, 20.0]
    assert trailing_mean(temp, AXIS)[0, 11] == 20.0


def test_faulty_room_day_never_signals_cold() -> None:
    temp = _warm()
    temp[0, 24:] = 12.0  # stuck and cold
    days = _assess(temp)
    assert len(cold_room_signals(temp.astype(np.float32), AXIS, days)) == 0


def test_refund_bands_edges() -> None:
    refund = UnderTemperatureRefund()
    shares = refund_share(np.array([18.0, 17.9, 16.0, 15.99, 12.0, 11.9, np.nan]), RoomRules(),
                          refund)
    assert shares.tolist() == [0.0, 0.1, 0.1, 0.5, 0.5, 1.0, 0.0]


def test_refund_over_several_accounts() -> None:
    daily = np.array([[15.5] * 5, [17.0, 19.0, np.nan, 10.0, 18.0]])
    out = under_temperature_refunds_cny(np.array([40.0, 100.0]), daily, 121, CityRules())
    # 24×100/121 × (0.1 + 1.0) = 21.818…
    assert out == [Decimal("19.83"), Decimal("21.82")]


def test_grid_from_long_arrays_means_samples_and_maps_ids() -> None:
    ids = np.array(["r2", "r1", "r2", "zz"])
    rows = index_ids(ids, np.array(["r1", "r2"]))
    assert rows.tolist() == [1, 0, 1, -1]
    ts = np.array([0, HOUR_MS, 20 * 60_000, 0])
    grid = to_grid(rows, ts, np.array([20.0, 19.0, 21.0, 5.0]), 2, AXIS)
    assert grid[1, 0] == 20.5 and grid[0, 1] == 19.0
    assert np.isnan(grid[0, 0]) and np.isnan(grid).sum() == 2 * 48 - 2

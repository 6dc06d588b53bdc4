"""Outage kernel: substation and building outages, durations, escalations, compensation."""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from analyzer.grid import (
    HOUR_MS,
    TimeAxis,
)
from analyzer.kernels.outage_spans import (
    substation_out_slots,
)
from bench.kernels import detect_building_outages, detect_substation_outages, downsample_all
from policy.outages import account_compensation_cny, is_notice_due, outage_days
from policy.rules import DANDONG, LUOYANG, CityRules, Compensation, OutageRules

STEP = 5 * 60_000
AXIS = TimeAxis(0, STEP, 48 * 12)


def _running(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = AXIS.n_slots
    return np.ones((n, t)), np.full((n, t), 55.0), np.full((n, t), 45.0)


def test_twenty_minute_dip_is_not_an_outage_thirty_is() -> None:
    pump, sup, ret = _running(2)
    pump[0, 100:104] = 0  # 20 min
    pump[1, 100:106] = 0  # exactly 30 min
    out = detect_substation_outages(pump, sup, ret, AXIS)
    assert out.row.tolist() == [1]
    assert out.duration_h.tolist() == [0.5]
    assert out.start.tolist() == [100] and out.end.tolist() == [106]


def test_cold_supply_without_delta_t_is_out_but_cold_with_delta_t_is_not() -> None:
    pump, sup, ret = _running(3)
    sup[0, 10:40], ret[0, 10:40] = 30.0, 29.0  # cold, ΔT 1 K: out
    sup[1, 10:40], ret[1, 10:40] = 30.0, 25.0  # cold but ΔT 5 K: running low
    sup[2, 10:40], ret[2, 10:40] = 40.0, 39.5  # warm enough
    out = detect_substation_outages(pump, sup, ret, AXIS)
    assert out.row.tolist() == [0] and out.duration_h.tolist() == [30 * 5 / 60]


def test_missing_data_is_not_an_outage() -> None:
    pump, sup, ret = _running(1)
    pump[0, 10:100] = np.nan
    sup[0, 10:100] = np.nan
    assert not substation_out_slots(pump, sup, ret).any()


def test_ongoing_outage_escalations_and_the_notice() -> None:
    pump, sup, ret = _running(3)
    pump[0, 48 * 12 - 13 * 12:] = 0  # 13 h, still out at the end of the window
    pump[1, 0:25 * 12] = 0  # 25 h from the window start
    pump[2, 100:100 + 8 * 12] = 0  # exactly 8 h
    out = detect_substation_outages(pump, sup, ret, AXIS)
    items = {o.row: o for o in out.items()}
    assert items[0].ongoing and items[0].duration_h == 13.0 and items[0].escalations_h == (8, 12)
    assert not is_notice_due(items[0].duration_h, OutageRules())
    assert is_notice_due(items[1].duration_h, OutageRules())
    assert items[1].escalations_h == (8, 12, 24) and not items[1].ongoing
    assert out.start[out.row == 1][0] == 0  # open at the window start
    assert items[2].escalations_h == (8.0,)
    assert all(o.end_ms > o.start_ms for o in items.values())
    assert items[2].start_ms == 100 * STEP


def test_escalation_marks_are_configurable() -> None:
    pump, sup, ret = _running(1)
    pump[0, :6 * 12] = 0
    rules = OutageRules(escalation_h=(2.0, 4.0), over_h=5.0)
    out = detect_substation_outages(pump, sup, ret, AXIS, rules)
    assert out.escalations.tolist() == [[True, True]]


def test_building_out_only_while_its_substation_runs() -> None:
    axis = TimeAxis(0, HOUR_MS, 48)
    n_m = 4  # meters 0,1 -> building 0; meter 2 -> building 1; meter 3 -> building 2
    flow = np.full((n_m, 48), 0.5)
    sup = np.full((n_m, 48), 55.0)
    ret = np.full((n_m, 48), 45.0)
    flow[0:2, 10:14] = 0.0  # building 0: both meters no flow, 4 h
    flow[0, 20:30] = 0.0  # only one of its two meters: building still heated
    ret[2, 5:8] = 54.5  # building 1: no ΔT, 3 h
    flow[3, 30:40] = 0.0  # building 2: no flow, but its substation is out then
    running = np.ones((3, 48), bool)
    running[2, 25:45] = False
    out = detect_building_outages(flow, sup, ret, np.array([0, 0, 1, 2]), 3, running, axis)
    got = sorted(zip(out.row.tolist(), out.start.tolist(), out.end.tolist(), strict=True))
    assert got == [(0, 10, 14), (1, 5, 8)]


def test_substation_running_resampled_to_the_hour() -> None:
    pump, sup, ret = _running(1)
    pump[0, 13:20] = 0
    running = downsample_all(~substation_out_slots(pump, sup, ret), 12)
    assert running.shape == (1, 48) and running[0].tolist().count(False) == 1


def test_outage_days_rounding_offset_and_multiplier() -> None:
    # seed: outages not restored within 24 h are compensated; part days round up
    assert outage_days([0.0, 0.5, 23.9, 24.0, 24.1, 30.0, 49.0], Compensation()).tolist() \
        == [0, 0, 0, 1, 2, 2, 3]
    assert outage_days([11.9, 12.0, 30.0], LUOYANG).tolist() == [0, 1, 2]
    assert outage_days([30.0], Compensation(round_up_days=False)).tolist() == [1]
    assert account_compensation_cny("area", 90, 30.0, 121, CityRules(compensation=DANDONG)) \
        == Decimal("71.40")
    assert account_compensation_cny("area", 90, 11.0, 121, CityRules(compensation=LUOYANG)) \
        == Decimal("0.00")


def test_compensation_per_affected_account() -> None:
    got = [account_compensation_cny("area", a, h, 121, CityRules())
           for h, a in ((30.0, 90), (30.0, 50), (5.0, 90))]
    # 2 × 1,200 / 121 = 19.834…
    # seed: a 5 h outage, restored within 24 h, is not compensated
    assert got == [Decimal("35.70"), Decimal("19.83"), Decimal("0.00")]

"""Billing kernel: day bases and reasons, the bill both ways, inspection days, season length."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from analyzer.billing import (
    Basis,
    FaultSpan,
    bill_season,
    billing_days,
    day_increments,
    day_labels,
    degree_day_estimate_kwh,
    degree_days,
    label_days,
)
from analyzer.grid import HOUR_MS, TimeAxis
from analyzer.kernels.meter_signs import MeterGrid, detect_meter_faults
from bench.kernels import causes_by_day
from policy.rules import Cause, Season, Tariff

DAYS = Season().days(2025)
DAY_MS = 24 * HOUR_MS


def test_day_increments_carry_the_last_total_across_silent_days() -> None:
    first = np.array([[100.0, np.nan, 130.0, 150.0]])
    last = np.array([[110.0, np.nan, 140.0, 145.0]])
    # the meter's first day counts from its first reading; a silent day has no heat of its
    # own, the next reading carries it; a total that went down shows as a negative day
    assert day_increments(first, last).tolist()[0][0] == 10.0
    kwh = day_increments(first, last)[0]
    assert np.isnan(kwh[1]) and kwh[2] == 30.0 and kwh[3] == 5.0
    # the total before day 0 is where day 0 counts from
    assert day_increments(first, last, np.array([90.0]))[0][0] == 20.0
    # a window cut after earlier readings knows no previous total: its first day is unknown
    assert np.isnan(day_increments(first, last, None, from_first_reading=False)[0][0])


def test_billing_days_one_rule_for_basis_and_cause() -> None:
    first = np.tile(np.arange(4) * 10.0, (2, 1))
    last = first + 5
    spans = [
        [FaultSpan(DAY_MS + 3 * HOUR_MS, 2 * DAY_MS + HOUR_MS, False, (Cause.SENSOR_OPEN,)),
         FaultSpan(2 * DAY_MS, 2 * DAY_MS + HOUR_MS, True, (Cause.TAMPER,))],
        [FaultSpan(-DAY_MS, DAY_MS // 2, False, (Cause.LOW_BATTERY,))],
    ]
    bd = billing_days(first, last, None, spans, 0)
    assert bd.basis.tolist() == [[0, 1, 3, 0], [1, 0, 0, 0]]
    # the human cause decides the day it shares with a non-human one
    assert bd.cause.tolist() == [[-1, Cause.SENSOR_OPEN, Cause.TAMPER, -1],
                                 [Cause.LOW_BATTERY, -1, -1, -1]]
    assert bd.causes[0][2] == [Cause.TAMPER, Cause.SENSOR_OPEN]
    assert bd.kwh.tolist() == [[5.0, 10.0, 10.0, 10.0]] * 2
    assert bd.has_reading.all()


def test_label_days_human_wins_and_policy_picks_fault_basis() -> None:
    nonhuman = np.array([[False, True, True, False]])
    human = np.array([[False, False, True, True]])
    assert label_days(nonhuman, human, "area").tolist() == [[0, 1, 3, 3]]
    assert label_days(nonhuman, human, "estimated").tolist() == [[0, 2, 3, 3]]
    with pytest.raises(ValueError):
        label_days(nonhuman, human, "guess")


def test_all_metered_season_bill() -> None:
    kwh = np.full((1, DAYS), 10.0)
    none = np.zeros((1, DAYS), bool)
    bills = bill_season(np.array([90.0]), kwh, none, none, np.zeros(DAYS), DAYS)
    b = bills.bill(0)
    # 12 × 90 + 0.16 × 1,210 = 1,080 + 193.60
    assert (b.basic_cny, b.energy_cny, b.area_cny) == (Decimal("1080.00"), Decimal("193.60"),
                                                      Decimal("0.00"))
    assert b.total_cny == Decimal("1273.60") and b.metered_days == DAYS
    assert bills.difference_cny[0] == pytest.approx(0.0)


def test_non_human_fault_days_billed_by_area_not_both_parts() -> None:
    kwh = np.full((1, DAYS), 10.0)
    fault = np.zeros((1, DAYS), bool)
    fault[0, 100:110] = True
    bills = bill_season(np.array([90.0]), kwh, fault, np.zeros_like(fault), np.zeros(DAYS), DAYS)
    b = bills.bill(0, "area")
    assert (b.metered_days, b.area_days) == (111, 10)
    assert b.basic_cny == Decimal("990.74")  # 12 × 90 × 111 / 121
    assert b.energy_cny == Decimal("177.60")  # 0.16 × 1,110
    assert b.area_cny == Decimal("178.51")  # 24 × 90 × 10 / 121
    assert float(bills.fault_kwh_raw[0]) == 100.0
    # estimated: every fault day used 10 kWh per 18 DD -> estimate 100 kWh, the meter's own rate
    e = bills.bill(0, "estimated")
    assert e.estimated_days == 10 and e.estimated_kwh == Decimal(100)
    assert e.basic_cny == Decimal("1080.00") and e.estimated_energy_cny == Decimal("16.00")
    assert float(bills.difference_cny[0]) == pytest.approx(
        float(e.total_cny - b.total_cny), abs=0.011)


def test_human_cause_days_go_to_inspection_billed_as_metered() -> None:
    kwh = np.full((1, DAYS), 10.0)
    human = np.zeros((1, DAYS), bool)
    human[0, :5] = True
    nonhuman = human.copy()  # a tamper day that also shows a sensor fault
    bills = bill_season(np.array([90.0]), kwh, nonhuman, human, np.zeros(DAYS), DAYS)
    b = bills.bill(0)
    assert b.inspection_days == 5 and b.area_days == 0
    assert b.total_cny == Decimal("1273.60")


def test_degree_days_never_negative_and_estimate_without_reference_is_nan() -> None:
    assert degree_days(np.array([-2.0, 18.0, 25.0]), 18.0).tolist() == [20.0, 0.0, 0.0]
    assert degree_day_estimate_kwh(1200, 200, 460).tolist() == 2760.0
    assert np.isnan(degree_day_estimate_kwh(1200, 0, 460))


def test_explicit_reference_period() -> None:
    fault = np.zeros((1, DAYS), bool)
    fault[0, :23] = True
    out = np.full(DAYS, -2.0)
    bills = bill_season(np.array([50.0]), np.zeros((1, DAYS)), fault, np.zeros_like(fault), out,
                        DAYS, q_ref_kwh=np.array([1200.0]), dd_ref=np.array([200.0]))
    assert bills.bill(0, "estimated").estimated_energy_cny == Decimal("441.60")


def test_city_prices_are_per_tariff() -> None:
    tariff = Tariff(Decimal("30"), Decimal("15"), Decimal("0.2"))
    kwh = np.full((1, DAYS), 10.0)
    none = np.zeros((1, DAYS), bool)
    b = bill_season(np.array([10.0]), kwh, none, none, np.zeros(DAYS), DAYS, tariff).bill(0)
    assert b.total_cny == Decimal("150.00") + Decimal("242.00")


def test_day_labels_carry_reasons_from_fault_intervals() -> None:
    axis = TimeAxis(0, HOUR_MS, 48)
    n = 1
    flow = np.full((n, 48), 0.5)
    g = MeterGrid(
        energy_kwh=50_000 + np.cumsum(flow * 11.6, axis=1), volume_m3=np.cumsum(flow, axis=1),
        flow_m3h=flow, supply_c=np.full((n, 48), 55.0), return_c=np.full((n, 48), 45.0),
        status=np.zeros((n, 48), np.uint16),
    )
    g.status[0, 30] = 1 << 8
    g.return_c[0, 5] = 185.0
    faults = detect_meter_faults(g, axis)
    causes = causes_by_day(faults, 0, 24)
    assert causes == {0: [Cause.SENSOR_OPEN], 1: [Cause.COVER_OPENED]}
    nonhuman, human = faults.day_flags(24)
    labels = day_labels(label_days(nonhuman, human)[0], causes)
    assert [lab.basis for lab in labels] == [Basis.AREA, Basis.INSPECTION]
    assert "185.00" in labels[0].reason and "稽查" in labels[1].reason

"""docs/rules.md worked examples 1–4 and 7, built as arrays, exact to the fen / tenth of a
percent."""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from analyzer.billing import Basis, bill_season
from analyzer.grid import HOUR_MS, TimeAxis
from analyzer.kernels.meter_signs import settle_verification, verification_limit_pct
from analyzer.kernels.room_temps import (
    Compliance,
    assess_rooms,
    breaches,
    compliance,
)
from bench.kernels import detect_substation_outages
from policy.outages import account_compensation_cny
from policy.rooms import RoomState, under_temperature_refunds_cny
from policy.rules import LUOYANG, CityRules, Season, Tariff

SEASON_DAYS = Season().days(2025)  # 15 Nov 2025 – 15 Mar 2026: 121 days


def test_season_is_121_days_and_122_in_a_leap_year() -> None:
    assert SEASON_DAYS == 121
    assert Season().days(2023) == 122  # Feb 2024 has 29 days


def _outage_hours(hours: int) -> float:
    """A substation whose pump stops for `hours` inside a 48 h window at 5 min."""
    axis = TimeAxis(0, 5 * 60_000, 48 * 12)
    pump = np.ones((1, axis.n_slots), dtype=np.float32)
    pump[0, 12: 12 + hours * 12] = 0
    supply = np.full((1, axis.n_slots), 55.0, dtype=np.float32)
    ret = np.full((1, axis.n_slots), 45.0, dtype=np.float32)
    outages = detect_substation_outages(pump, supply, ret, axis)
    assert len(outages) == 1
    return float(outages.duration_h[0])


def test_example_1_outage_refund_35_70() -> None:
    duration_h = _outage_hours(30)
    assert duration_h == 30.0
    season_fee = Decimal(90) * Tariff().area_cny_m2_season
    assert season_fee == Decimal("2160")
    for tariff in ("area", "metered"):  # a metered account without a metered rule: area fee
        assert account_compensation_cny(tariff, 90, duration_h, SEASON_DAYS, CityRules()) \
            == Decimal("35.70")


def test_example_1_luoyang_metered_refund_9_72() -> None:
    duration_h = _outage_hours(30)
    luoyang = CityRules(compensation=LUOYANG)
    assert account_compensation_cny("metered", 90, duration_h, SEASON_DAYS, luoyang) \
        == Decimal("9.72")
    # an area account in Luoyang is paid the area fee from 12 h
    assert account_compensation_cny("area", 90, duration_h, SEASON_DAYS, luoyang) \
        == Decimal("35.70")


def _substation_day(outdoor_c: float) -> tuple[np.ndarray, Compliance]:
    """1,000 rooms on one substation for one day, 31 with a daily mean below 18 °C."""
    rng = np.random.default_rng(2)
    axis = TimeAxis(0, HOUR_MS, 24)
    temp = np.round(rng.uniform(19.0, 23.0, size=(1000, 24)), 1).astype(np.float32)
    temp[:31] = np.round(rng.uniform(15.0, 17.5, size=(31, 24)), 1)
    days = assess_rooms(
        temp, axis, counted=np.ones(1000, bool), substation=np.zeros(1000, np.intp),
        outdoor_daily_c=np.array([[outdoor_c]]), design_outdoor_c=np.array([-7.0]),
    )
    comp = compliance(days.state, np.zeros(1000, np.intp), 1)
    return days.state, comp


def test_example_2_compliance_96_9_is_an_incident() -> None:
    state, comp = _substation_day(-5.0)
    assert (state == RoomState.COLD).sum() == 31
    assert comp.passing[0, 0] == 969 and comp.measured[0, 0] == 1000
    assert round(float(comp.rate[0, 0]) * 100, 1) == 96.9
    found = breaches(comp)
    assert [(b.substation, b.day, b.passing, b.measured) for b in found] == [(0, 0, 969, 1000)]


def test_example_2_day_below_design_is_excluded_and_kept() -> None:
    state, comp = _substation_day(-9.0)
    assert (state == RoomState.EXCLUDED).all()
    assert comp.measured[0, 0] == 0 and comp.excluded[0, 0] == 1000
    assert np.isnan(comp.rate[0, 0])
    assert breaches(comp) == []


def test_example_3_under_temperature_refund_19_83() -> None:
    daily = np.full((1, 5), 15.5)
    assert under_temperature_refunds_cny(np.array([40.0]), daily, SEASON_DAYS, CityRules()) == [
        Decimal("19.83")
    ]


def test_example_4_degree_day_estimate_441_60() -> None:
    # reference: 20 metered days at outdoor 8 °C (10 DD each, 200 DD) using 1,200 kWh;
    # then 23 fault days at −2 °C (20 DD each, 460 DD); the rest metered at 0 kWh, 18 °C
    days = SEASON_DAYS
    outdoor = np.full(days, 18.0)
    outdoor[:20] = 8.0
    outdoor[20:43] = -2.0
    kwh = np.zeros((1, days))
    kwh[0, :20] = 60.0
    kwh[0, 20:43] = 999.0  # what the broken meter said: kept, never billed
    fault = np.zeros((1, days), bool)
    fault[0, 20:43] = True
    bills = bill_season(np.array([90.0]), kwh, fault, np.zeros_like(fault), outdoor, days)
    assert float(bills.estimated_kwh[0]) == 2760.0
    est = bills.bill(0, "estimated")
    assert est.estimated_kwh == Decimal(2760)
    assert est.estimated_energy_cny == Decimal("441.60")
    assert est.estimated_days == 23
    area = bills.bill(0, "area")
    assert area.area_days == 23 and area.area_cny == Decimal("410.58")  # 24×90×23/121
    assert (bills.basis_area[0, 20:43] == Basis.AREA).all()


def test_example_7_verification_limit_and_correction() -> None:
    limit = verification_limit_pct(dtheta_k=10, dtheta_min_k=3, qp_over_q=10)
    assert limit == Decimal("4.4")
    failed = settle_verification(3000, 6, limit)
    assert not failed.passes and failed.payer == "company"
    assert failed.corrected_kwh == Decimal(2830)
    passed = settle_verification(3000, 3, limit)
    assert passed.passes and passed.payer == "resident"
    assert passed.corrected_kwh == Decimal(3000)

"""The measurement visit's rules (issue 22): the instrument, the conditions, the window, what a
record decides and the refund from a failing to a passing measurement (docs/rules.md worked
example 10)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from policy.measurements import (
    Conditions,
    Instrument,
    MeasurementRules,
    RefundPeriod,
    Visit,
    condition_problems,
    in_window,
    instrument_problem,
    parse_window,
    period_refund_cny,
    refund_periods,
    reported_late,
    verdict,
)
from policy.rooms import RoomState
from policy.rules import CityRules, RoomRules

RULES = MeasurementRules()
TZ = dt.timezone(dt.timedelta(hours=8))
AT = dt.datetime(2026, 12, 3, 8, 30, tzinfo=TZ)
GOOD = Instrument("T-01", 0.2, "JD-2026-117", dt.date(2027, 6, 30))


def test_an_instrument_is_valid_through_its_expiry_date_and_not_after() -> None:
    assert instrument_problem(GOOD, dt.date(2027, 6, 30), RULES) is None
    why = instrument_problem(GOOD, dt.date(2027, 7, 1), RULES)
    assert why is not None and "JD-2026-117" in why and "过期" in why


def test_an_instrument_coarser_than_the_city_allows_is_refused() -> None:
    coarse = Instrument("T-02", 0.5, "JD-1", dt.date(2027, 6, 30))
    assert "精度" in (instrument_problem(coarse, AT.date(), RULES) or "")


def test_the_windows_are_the_citys_local_hours_end_excluded() -> None:
    assert in_window(AT, RULES)
    assert in_window(AT.replace(hour=15, minute=0), RULES)
    assert not in_window(AT.replace(hour=10, minute=0), RULES)
    assert not in_window(AT.replace(hour=12), RULES)
    assert not in_window(AT.replace(hour=20, minute=0), RULES)
    with pytest.raises(ValueError, match="HH:MM"):
        parse_window("7 to 10")


def test_conditions_name_each_one_missed() -> None:
    ok = Conditions(1.25, AT - dt.timedelta(minutes=45))
    assert condition_problems(ok, AT, RULES) == []
    bad = Conditions(1.4, AT - dt.timedelta(minutes=10), hand_held=True, direct_sun=True)
    assert len(condition_problems(bad, AT, RULES)) == 4


def test_a_record_reported_after_the_limit_is_late() -> None:
    limit = dt.timedelta(hours=RULES.report_limit_h)
    assert not reported_late(AT, AT + limit, RULES)
    assert reported_late(AT, AT + limit + dt.timedelta(minutes=1), RULES)


def test_a_cold_bedroom_fails_unless_the_day_is_colder_than_design() -> None:
    rooms = RoomRules()
    cold = [("bedroom", rooms.min_c - 2.5), ("living", rooms.min_c + 1), ("other", 10.0)]
    assert verdict(cold, -4.0, -7.0, rooms) == RoomState.COLD
    assert verdict(cold, -9.0, -7.0, rooms) == RoomState.EXCLUDED
    assert verdict([("bedroom", rooms.min_c)], -4.0, -7.0, rooms) == RoomState.PASS
    assert verdict([("other", 10.0)], -4.0, -7.0, rooms) == RoomState.NOT_COUNTED


def test_worked_example_10_refunds_the_days_to_the_passing_remeasurement() -> None:
    city = CityRules()
    d = dt.date(2026, 12, 3)
    visits = [Visit("M000002", d + dt.timedelta(days=5), 18.6, RoomState.PASS),
              Visit("M000001", d, 15.5, RoomState.COLD)]
    (period,) = refund_periods(visits)
    assert (period.days, period.basis) == (5, ("M000001", "M000002"))
    season_days = city.season.days(2026)
    assert season_days == 121
    assert period_refund_cny(40.0, period, season_days, city) == Decimal("19.83")


def test_a_passing_visit_or_an_open_failure_refunds_nothing_yet() -> None:
    d = dt.date(2026, 12, 3)
    assert refund_periods([Visit("M1", d, 19.0, RoomState.PASS)]) == []
    (open_,) = refund_periods([Visit("M1", d, 15.5, RoomState.COLD)])
    assert open_ == RefundPeriod(d, None, 15.5, ("M1",))
    assert period_refund_cny(40.0, open_, 121, CityRules()) == Decimal("0.00")

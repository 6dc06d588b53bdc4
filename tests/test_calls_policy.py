"""The calls' rules in policy: China's calendar (worked example 9), suspension (example 8)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from policy.calendar import CalendarError, ChinaCalendar, calendar_from_table
from policy.calls import CallLimits, due_of, suspension_decision
from policy.rules import Season
from policy.service import ServiceLimits

TZ = ZoneInfo("Asia/Shanghai")


def test_worked_example_complaint_and_report_due() -> None:
    cal = ChinaCalendar()
    received = dt.datetime(2026, 2, 13, 9, 30, tzinfo=TZ)  # a Friday
    assert cal.is_working_day(dt.date(2026, 2, 14))  # Saturday, a make-up working day
    assert not cal.is_working_day(dt.date(2026, 2, 16))  # Spring Festival
    complaint = due_of("complaint", received, CallLimits(), cal)
    report = due_of("report", received, CallLimits(), cal)
    assert complaint is not None and complaint.date() == dt.date(2026, 2, 27)
    assert report is not None and report.date() == dt.date(2026, 3, 5)
    # a weekends-only count would give 20 Feb and 27 Feb
    assert complaint.date() != dt.date(2026, 2, 20)


def test_timed_kinds_and_configured_limits() -> None:
    received = dt.datetime(2026, 12, 1, 8, 0, tzinfo=TZ)
    cal = ChinaCalendar()
    assert due_of("leak", received, CallLimits(), cal) == received + dt.timedelta(minutes=30)
    assert due_of("repair", received, CallLimits(), cal) == received + dt.timedelta(hours=2)
    assert due_of("temperature", received, CallLimits(temperature_on_site_h=12), cal) == \
        received + dt.timedelta(hours=12)
    assert due_of("suspend", received, CallLimits(), cal) is None


def test_a_repair_call_follows_the_crews_configured_limit() -> None:
    """One setting per rule: a city's [alerts.limits] on_site_min is the repair call's too."""
    received = dt.datetime(2026, 12, 1, 8, 0, tzinfo=TZ)
    crews = ServiceLimits(on_site_min=90.0, leak_on_site_min=20.0)
    cal = ChinaCalendar()
    assert due_of("repair", received, CallLimits(), cal, crews) == \
        received + dt.timedelta(minutes=90)
    assert due_of("leak", received, CallLimits(), cal, crews) == \
        received + dt.timedelta(minutes=20)


def test_year_no_source_covers_is_a_loud_error() -> None:
    received = dt.datetime(2026, 12, 28, 9, 0, tzinfo=TZ)
    with pytest.raises(CalendarError, match="2027"):
        due_of("report", received, CallLimits(), ChinaCalendar())
    # a deadline that stays inside 2026 needs no 2027 schedule
    assert due_of("inquiry", dt.datetime(2026, 12, 1, tzinfo=TZ), CallLimits(),
                  ChinaCalendar()) is not None


def test_config_table_covers_a_later_year() -> None:
    cal = calendar_from_table({"2027": {"holidays": ["2027-01-01"], "workdays": []}})
    due = due_of("complaint", dt.datetime(2026, 12, 28, 9, 0, tzinfo=TZ), CallLimits(), cal)
    # 29, 30, 31 Dec, (1 Jan holiday), 4, 5 Jan
    assert due is not None and due.date() == dt.date(2027, 1, 5)
    with pytest.raises(CalendarError, match="not in 2027"):
        calendar_from_table({"2027": {"holidays": ["2028-01-01"]}})


def test_suspension_20_days_refused_31_accepted() -> None:
    season, limits = Season(), CallLimits()
    refused = suspension_decision(dt.date(2026, 10, 26), season, limits)
    assert not refused.accepted and refused.days_before == 20
    assert "30" in refused.reason and "20" in refused.reason
    ok = suspension_decision(dt.date(2026, 10, 15), season, limits)
    assert ok.accepted and ok.days_before == 31 and ok.season_year == 2026
    # exactly 30 days is enough; during a season the application is for the next one
    assert suspension_decision(dt.date(2026, 10, 16), season, limits).accepted
    during = suspension_decision(dt.date(2026, 12, 7), season, limits)
    assert during.accepted and during.season_year == 2027

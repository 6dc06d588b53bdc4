"""Service-time limits (the seed's 时限) per order kind, and what a working day is (China's
calendar, `policy/calendar.py`, counts them).

Every limit is a number of `ServiceLimits`; the functions here turn them into due instants.
The workflow stores the deadlines, `alerts` watches them; neither restates a limit.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import Literal

from policy.calendar import CalendarError, ChinaCalendar, is_working_day

MINUTE_MS = 60_000
HOUR_MS = 3_600_000

# The steps a deadline can sit on (the state an order must reach in time).
STEP_CONTACTED = "contacted"
STEP_ON_SITE = "on_site"
STEP_RESOLVED = "resolved"
STEP_RETURN_VISIT = "return_visit_done"
STEP_NOTICE = "notice"  # an outage's resident notice, not a crew step
# issue 20: a crew's resolution waits for the data (the incident closing) until this step is
# due; the fault gone by its repair limit, once the data refuted a resolution
STEP_CONFIRM = "confirm"
STEP_FIXED = "fixed"
# steps that are not a crew's service limit (the KPI does not count them)
UNTIMED_STEPS = (STEP_NOTICE, STEP_CONFIRM)

# issue 20: how long the data may take to confirm a fix, by the incident kind it is judged on
_GRACE_CLASS = {"outage": "station", "building_outage": "station", "station_comm": "station",
                "leak": "station", "room_cold": "room", "compliance_breach": "room",
                "sensor_fault": "room"}


@dataclass(slots=True)
class ServiceLimits:
    """Service-time limits in minutes / hours; every default is the seed's."""

    # seed: leaks (跑冒滴漏) on site within 30 min
    leak_on_site_min: float = 30.0
    # seed: any other repair: contact the resident within 30 min, on site within 2 h
    contact_min: float = 30.0
    on_site_min: float = 120.0
    # seed: return visit 48 h after the repair is done
    return_visit_h: float = 48.0
    # seed: a heating station asked by dispatch gives a handling opinion within 1 h
    station_opinion_min: float = 60.0
    # issue 5: escalate to the supervisor at this share of each limit, and again at breach
    escalation_share: float = 0.8
    # seed: repair timeliness >= 99 %
    timeliness_target: float = 0.99
    # what a crew's limits run from: "start" (issue 5: the incident's start) or "detection"
    # (when the analyzer saw it; docs/rules.md: an outage's clock starts at detection). Hourly meter
    # and room grids find a fault an hour or more after its start, past a 30 min limit.
    clock_from: Literal["start", "detection"] = "detection"
    # issue 20: after a crew resolves an order whose incident is still open, the data has
    # this long to close it before the order goes back to the crew: short for stations and
    # outages (judged within the hour), longer for rooms (judged on daily means), between
    # for meters (judged on hourly intervals)
    confirm_station_h: float = 2.0
    confirm_device_h: float = 6.0
    confirm_room_h: float = 30.0
    # issue 24: an early warning's maintenance inspection, on site within this many working
    # days (China's calendar) after the day it was raised; not the 30 min repair path
    maintenance_working_days: int = 3


def step_limits_ms(order_kind: str, limits: ServiceLimits) -> dict[str, int]:
    """The limit of each timed step of an order kind, from the moment its clock starts."""
    if order_kind == "urgent":
        # seed: leaks on site within 30 min
        return {STEP_ON_SITE: round(limits.leak_on_site_min * MINUTE_MS)}
    if order_kind == "opinion":
        # seed: heating station asked by dispatch: handling opinion within 1 h
        return {STEP_RESOLVED: round(limits.station_opinion_min * MINUTE_MS)}
    # seed: any other repair: contact within 30 min, on site within 2 h
    return {STEP_CONTACTED: round(limits.contact_min * MINUTE_MS),
            STEP_ON_SITE: round(limits.on_site_min * MINUTE_MS)}


def step_due_ms(order_kind: str, clock_ms: int, limits: ServiceLimits) -> dict[str, int]:
    """Each timed step's due instant for an order whose clock starts at `clock_ms`."""
    if order_kind == "maintenance":
        return {STEP_ON_SITE: working_days_due_ms(clock_ms, limits.maintenance_working_days)}
    return {step: clock_ms + lim for step, lim in step_limits_ms(order_kind, limits).items()}


def working_days_due_ms(clock_ms: int, working_days: int) -> int:
    """The end of the n-th working day after the day `clock_ms` falls on, in China (the
    calendar of working days is China's, so is its day)."""
    tz = zoneinfo.ZoneInfo("Asia/Shanghai")
    start = dt.datetime.fromtimestamp(clock_ms / 1000, tz).date()
    try:
        last = ChinaCalendar().add_working_days(start, working_days)
    except CalendarError:
        # a year past chinese-calendar's: the alerts side does not read [desk.calendar], so
        # count Monday to Friday; an inspection gets a deadline rather than no order at all
        last, left = start, working_days
        while left:
            last += dt.timedelta(days=1)
            left -= is_working_day(last)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tz)
    return int(end.timestamp() * 1000)


def return_visit_due_ms(fixed_ms: int, limits: ServiceLimits) -> int:
    """seed: a return visit 48 h after the repair is done."""
    return fixed_ms + round(limits.return_visit_h * HOUR_MS)


def confirm_due_ms(incident_kind: str, resolved_ms: int, limits: ServiceLimits) -> int:
    """issue 20: until when the data may confirm a crew's resolution of this incident kind."""
    grace_h = {"station": limits.confirm_station_h, "room": limits.confirm_room_h}.get(
        _GRACE_CLASS.get(incident_kind, ""), limits.confirm_device_h)
    return resolved_ms + round(grace_h * HOUR_MS)


def round_step(step: str, n: int) -> str:
    """A step's deadline name in an order's n-th round (a reopened order's steps again)."""
    return step if n <= 1 else f"{step}:{n}"


def base_step(step: str) -> str:
    """The step a round's deadline name stands for (on_site:2 -> on_site)."""
    return step.split(":", 1)[0]


def step_round(step: str) -> int:
    _, _, n = step.partition(":")
    return int(n) if n.isdigit() else 1


def warn_at_ms(start_ms: int, due_ms: int, limits: ServiceLimits) -> int:
    """When a deadline warns the supervisor: at the escalation share of its limit."""
    return start_ms + round((due_ms - start_ms) * limits.escalation_share)


def is_late(due_ms: int, done_ms: int | None, as_of_ms: int) -> bool:
    """Late when done after the due time, or not done and the due time has passed."""
    if done_ms is not None:
        return done_ms > due_ms
    return as_of_ms > due_ms

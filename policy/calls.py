"""Residents' calls (客服热线): their kinds, their limits, when each is due, and whether a
suspension of heating can still be accepted. Every default is the seed's; each city sets its
own in `[calls]`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from policy.calendar import ChinaCalendar
from policy.rules import Season
from policy.service import ServiceLimits

# the kinds a clerk takes (README: `heatwatch calls add --kind`)
CALL_KINDS = ("leak", "repair", "temperature", "complaint", "report", "inquiry", "suspend",
              "resume", "connect")
KIND_NAMES = {
    "leak": "报修·跑冒滴漏", "repair": "报修", "temperature": "测温", "complaint": "投诉",
    "report": "举报", "inquiry": "咨询", "suspend": "暂停供暖", "resume": "恢复供热",
    "connect": "新用热申请",
}
# calls that are repairs: they close only after a return visit with the satisfaction
REPAIR_KINDS = ("leak", "repair")
# calls that can show a fault in a building (来电聚集)
FAULT_KINDS = ("repair", "temperature")
# the seed's feedback: 满意 / 基本满意 / 不满意
SATISFACTION = ("满意", "基本满意", "不满意")


@dataclass(slots=True)
class CallLimits:
    """The limit of each call kind only calls have, and the desk's thresholds; defaults from
    the seed. A leak's and a repair's on-site limits and the return visit are the crews'
    (`policy.service.ServiceLimits`, `[alerts.limits]`): one setting for each rule."""

    # seed: 用户要求测温，应及时进入现场 (the city's limit; default 24 h)
    temperature_on_site_h: float = 24.0
    # seed: complaints answered within 5 working days, reports within 10
    complaint_working_days: int = 5
    report_working_days: int = 10
    # seed: an inquiry is answered on the spot, or called back within 1 working day
    inquiry_working_days: int = 1
    # seed: a suspension is applied for at least 30 days before the season (example 8)
    suspend_notice_days: int = 30
    # seed: heating resumed within 5 working days; a new connection's plan within 7
    resume_working_days: int = 5
    connect_working_days: int = 7
    # a cold-room call in a flat whose meter shows this flow and supply−return difference is
    # taken all the same, with what the data shows: the meter is delivering heat
    heated_min_flow_m3h: float = 0.01
    heated_min_dt_k: float = 3.0
    # issue 21: >= 3 households of one building calling within 30 min raise a suspected fault
    cluster_households: int = 3
    cluster_window_min: float = 30.0


def working_days_of(kind: str, limits: CallLimits) -> int | None:
    """The kinds answered within working days, and how many; None for timed kinds."""
    return {"complaint": limits.complaint_working_days, "report": limits.report_working_days,
            "inquiry": limits.inquiry_working_days, "resume": limits.resume_working_days,
            "connect": limits.connect_working_days}.get(kind)


def due_of(kind: str, received: dt.datetime, limits: CallLimits,
           calendar: ChinaCalendar, crews: ServiceLimits | None = None) -> dt.datetime | None:
    """When a call of this kind received at `received` (local, aware) is due; a working-day
    limit ends at the end of its last working day. None: a suspension (decided at once). A
    leak's and a repair's limits are the crews' on-site limits (`crews`)."""
    if kind not in CALL_KINDS:
        raise ValueError(f"unknown call kind {kind!r} (known: {', '.join(CALL_KINDS)})")
    crews = crews or ServiceLimits()
    minutes = {"leak": crews.leak_on_site_min, "repair": crews.on_site_min,
               "temperature": limits.temperature_on_site_h * 60}.get(kind)
    if minutes is not None:
        return received + dt.timedelta(minutes=minutes)
    days = working_days_of(kind, limits)
    if days is None:
        return None
    day = calendar.add_working_days(received.date(), days)
    return dt.datetime.combine(day, dt.time(23, 59, 59), received.tzinfo)


@dataclass(frozen=True, slots=True)
class SuspensionDecision:
    accepted: bool
    season_year: int
    season_start: dt.date
    days_before: int
    reason: str


def suspension_decision(applied: dt.date, season: Season,
                        limits: CallLimits) -> SuspensionDecision:
    """docs/rules.md worked example 8: a suspension is accepted only >= 30 days before the
    season it is for (the next season to start); at 20 days it is refused, with the reason
    read to the resident."""
    year = season.year_of(applied) + 1
    start = season.start(year)
    days = (start - applied).days
    need = limits.suspend_notice_days
    if days >= need:
        return SuspensionDecision(True, year, start, days,
                                  f"已受理：距{year}年供暖季开始（{start:%m月%d日}）还有{days}天，"
                                  f"满足提前{need}天申请的规定")
    return SuspensionDecision(False, year, start, days,
                              f"不予受理：暂停供暖须在供暖季开始（{year}年{start:%m月%d日}）前至少"
                              f"{need}天申请，今天距开始仅{days}天，本季已过申请期限")


def meter_delivers_heat(flow_m3h: float, supply_c: float, return_c: float,
                        limits: CallLimits) -> bool:
    """Whether a meter's reading says the flat is heated (NaN never is)."""
    return flow_m3h >= limits.heated_min_flow_m3h and \
        supply_c - return_c >= limits.heated_min_dt_k

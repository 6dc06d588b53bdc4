"""The `[desk]` config section: where the desk serves, its sessions and sign-in throttle, the
call limits (`[desk.limits]`) and the years of China's calendar the library does not cover
(`[desk.calendar."2027"] holidays = [...], workdays = [...]`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from annotated_types import Ge, Gt

from policy.calendar import ChinaCalendar, calendar_from_table
from policy.calls import CallLimits
from policy.measurements import MeasurementRules


@dataclass(slots=True)
class DeskConfig:
    # loopback by default: put a TLS proxy in front to reach it from the clerks' room
    host: str = "127.0.0.1"
    port: Annotated[int, Ge(1)] = 8095
    # a session ends after this many minutes without a request
    session_ttl_min: Annotated[float, Gt(0)] = 30.0
    # failed sign-ins (per name and per address) wait base * 2^(n-1) s, up to the cap
    signin_delay_s: Annotated[float, Ge(0)] = 1.0
    signin_delay_max_s: Annotated[float, Ge(0)] = 30.0
    # set when served behind TLS: the session cookie then travels only over HTTPS
    cookie_secure: bool = False
    limits: CallLimits = field(default_factory=CallLimits)
    measurements: MeasurementRules = field(default_factory=MeasurementRules)
    calendar: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def china_calendar(self) -> ChinaCalendar:
        return calendar_from_table(self.calendar)

"""Measurement visits (入户测温, issue 22): the city's rules for a valid measurement, and what a
record decides. Pure functions, no I/O; each city sets its own in `[desk.measurements]`.

The defaults are Tianjin's and Yantai's public rules: a thermometer of ±0.3 K or better with a
valid certificate, the room's centre at 1.2 ± 0.1 m, doors and windows closed 30 min before,
measured 07:00–10:00 or 15:00–20:00.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from policy.rooms import RoomState, is_counted, under_temperature_refunds_cny
from policy.rules import CityRules, RoomRules

# docs/rules.md: only bedrooms and living rooms are held to the standard


@dataclass(slots=True)
class MeasurementRules:
    """How a measurement is taken and reported; defaults from Tianjin and Yantai."""

    # Tianjin: a calibrated thermometer of ±0.3 °C or better, its certificate valid
    max_accuracy_k: float = 0.3
    # Tianjin: the room's centre at 1.2 ± 0.1 m
    height_m: float = 1.2
    height_tolerance_m: float = 0.1
    # Yantai: measuring starts 30 min after doors and windows are closed
    closed_before_min: float = 30.0
    # Yantai: measure 7:00–10:00 or 15:00–20:00 (local time, "HH:MM-HH:MM", end excluded)
    windows: tuple[str, ...] = ("07:00-10:00", "15:00-20:00")
    # seed: 在规定时间里上报测温记录 (the city's limit; default 24 h after the measurement)
    report_limit_h: float = 24.0


@dataclass(frozen=True, slots=True)
class Instrument:
    """A thermometer of the register: its accuracy and calibration certificate."""

    instrument_id: str
    accuracy_k: float
    certificate: str
    expires: dt.date


@dataclass(frozen=True, slots=True)
class Conditions:
    """The conditions the city requires, as the measurer recorded them."""

    height_m: float
    closed_since: dt.datetime
    hand_held: bool = False
    radiators_covered: bool = False
    direct_sun: bool = False
    # Tianjin: the room's centre, where its diagonals cross
    off_centre: bool = False


def parse_window(text: str) -> tuple[dt.time, dt.time]:
    """"07:00-10:00" as (start, end); ValueError names the text."""
    try:
        start, end = (dt.time.fromisoformat(p.strip()) for p in text.split("-"))
    except ValueError:
        raise ValueError(f"measuring window {text!r} is not HH:MM-HH:MM") from None
    if end <= start:
        raise ValueError(f"measuring window {text!r} ends before it starts")
    return start, end


def instrument_problem(inst: Instrument, on: dt.date, rules: MeasurementRules) -> str | None:
    """Why an instrument may not measure on `on` (None: it may). The certificate is valid
    through its expiry date."""
    if on > inst.expires:
        return (f"仪器 {inst.instrument_id} 检定证书 {inst.certificate} "
                f"已于 {inst.expires.isoformat()} 过期")
    if inst.accuracy_k > rules.max_accuracy_k + 1e-9:
        return (f"仪器 {inst.instrument_id} 精度 ±{inst.accuracy_k:g} K "
                f"低于要求 ±{rules.max_accuracy_k:g} K")
    return None


def in_window(at: dt.datetime, rules: MeasurementRules) -> bool:
    """Whether a local time falls inside one of the city's measuring windows."""
    t = at.time().replace(tzinfo=None)
    return any(start <= t < end for start, end in map(parse_window, rules.windows))


@dataclass(frozen=True, slots=True)
class Check:
    """One condition the city requires: what it asks, what was recorded, whether it is met,
    and the problem's words when it is not (in Chinese, for the record and its print)."""

    asks: str
    recorded: str
    ok: bool
    problem: str


def condition_checks(c: Conditions, at: dt.datetime, rules: MeasurementRules) -> list[Check]:
    """Every condition of a measurement at `at`, met or not, in the city's order."""
    waited_min = (at - c.closed_since).total_seconds() / 60
    height = f"{rules.height_m:g}±{rules.height_tolerance_m:g} m"
    return [
        Check("测点位于房间中心（对角线交点）", "偏离中心" if c.off_centre else "房间中心",
              not c.off_centre, "测点不在房间中心"),
        Check(f"测点高度 {height}", f"{c.height_m:g} m",
              abs(c.height_m - rules.height_m) <= rules.height_tolerance_m + 1e-9,
              f"测点高度 {c.height_m:g} m 不在 {height}"),
        Check(f"门窗关闭 {rules.closed_before_min:g} 分钟后开始测温",
              f"{c.closed_since.strftime('%H:%M')} 起关闭（{waited_min:.0f} 分钟）",
              waited_min >= rules.closed_before_min,
              f"门窗关闭不足 {rules.closed_before_min:g} 分钟"),
        Check("测温仪不手持", "手持" if c.hand_held else "未手持", not c.hand_held, "手持测温"),
        Check("散热器无遮挡", "被遮挡" if c.radiators_covered else "无遮挡",
              not c.radiators_covered, "散热器被遮挡"),
        Check("测点无阳光直射", "阳光直射" if c.direct_sun else "无直射", not c.direct_sun,
              "阳光直射测点"),
    ]


def condition_problems(c: Conditions, at: dt.datetime, rules: MeasurementRules) -> list[str]:
    """The conditions a measurement at `at` misses (empty: all met), in Chinese."""
    return [k.problem for k in condition_checks(c, at, rules) if not k.ok]


def reported_late(measured: dt.datetime, reported: dt.datetime,
                  rules: MeasurementRules) -> bool:
    """A record reported later than the city's limit after its measurement."""
    return reported - measured > dt.timedelta(hours=rules.report_limit_h)


def lowest_counted(readings: Sequence[tuple[str, float]]) -> float | None:
    """The lowest reading of the bedrooms and living rooms (None: none measured)."""
    counted = [c for kind, c in readings if is_counted(kind)]
    return min(counted) if counted else None


def verdict(readings: Sequence[tuple[str, float]], outdoor_mean_c: float, design_c: float,
            rooms: RoomRules) -> RoomState:
    """What a visit decides: COLD when a bedroom or living room reads below the standard on a
    day whose outdoor mean is not below design; EXCLUDED on a day colder than design;
    NOT_COUNTED without a bedroom or living room; else PASS."""
    low = lowest_counted(readings)
    if low is None:
        return RoomState.NOT_COUNTED
    if outdoor_mean_c < design_c:
        return RoomState.EXCLUDED
    return RoomState.COLD if low < rooms.min_c else RoomState.PASS


def settle(states: Sequence[RoomState]) -> RoomState | None:
    """A temperature dispute, settled by the household's standing records of the season (as a
    meter dispute by its verification): COLD when one shows a cold flat (its days are refunded),
    PASS when the judged ones all pass, None when none is judged."""
    judged = [s for s in states if s in (RoomState.COLD, RoomState.PASS)]
    if not judged:
        return None
    return RoomState.COLD if RoomState.COLD in judged else RoomState.PASS


@dataclass(frozen=True, slots=True)
class Visit:
    """One effective measurement of a household, as the refund needs it."""

    record_id: str
    day: dt.date
    lowest_c: float
    state: RoomState


@dataclass(frozen=True, slots=True)
class RefundPeriod:
    """Days owed from a failing measurement to the next measurement (a passing one ends the
    failure), with the records that are its basis; `end` None: not yet re-measured."""

    start: dt.date
    end: dt.date | None
    lowest_c: float
    basis: tuple[str, ...]
    # what ended it: "remeasured" (the next visit), "sensor" (the room sensors showed the flat
    # heated first), "" (open)
    ended_by: str = ""

    @property
    def days(self) -> int:
        return 0 if self.end is None else (self.end - self.start).days


def refund_periods(visits: Sequence[Visit]) -> list[RefundPeriod]:
    """From each failing visit to the next visit of the household: those days are refunded by
    the failing visit's band. A failure not yet re-measured is an open period (no days)."""
    ordered = sorted(visits, key=lambda v: (v.day, v.record_id))
    out = []
    for i, v in enumerate(ordered):
        if v.state != RoomState.COLD:
            continue
        nxt = ordered[i + 1] if i + 1 < len(ordered) else None
        out.append(RefundPeriod(v.day, nxt.day if nxt else None, v.lowest_c,
                                (v.record_id,) + ((nxt.record_id,) if nxt else ()),
                                "remeasured" if nxt else ""))
    return out


def until_recovery(p: RefundPeriod, recovered: Sequence[dt.date], by: str = "sensor"
                   ) -> RefundPeriod:
    """A period ends at the first day after its start that the data (`by`: the room sensors,
    the meter) shows the flat heated, when that comes before the re-measurement (whichever
    comes first); the basis is then the failing record alone."""
    first = min((d for d in recovered if d > p.start), default=None)
    if first is None or (p.end is not None and p.end <= first):
        return p
    return replace(p, end=first, basis=p.basis[:1], ended_by=by)


def meter_recovery(start: dt.date, heated: Mapping[dt.date, bool]) -> list[dt.date]:
    """The day a household's heat meter shows heat again after a failing visit: only when the
    meter delivered none on the visit's day (a cold flat with heat flowing is not recovered
    by more of the same); [] otherwise."""
    if heated.get(start, True):
        return []
    later = [d for d, on in heated.items() if on and d > start]
    return [min(later)] if later else []


def period_refund_cny(area_m2: float, period: RefundPeriod, season_days: int,
                      city: CityRules, paid_days: int = 0) -> Decimal:
    """The refund of one period: its days at the failing reading, by the city's bands
    (docs/rules.md worked example 10); `paid_days` of them already paid otherwise (an outage's
    compensation) are not paid twice."""
    days = period.days - paid_days
    if days <= 0:
        return Decimal("0.00")
    means = [[period.lowest_c] * days]
    return under_temperature_refunds_cny([area_m2], means, season_days, city)[0]

"""Causes in words: the one catalogue from a cause code to the text a resident, a crew or a
bill reads. Causes travel as codes (meter `Cause` names lower-cased, a Modbus poll's comm
faults, room-sensor faults, station silence, outage reasons) and become words only here.

A text that states a rule's number takes it from the city's rules (`rule_values`), so a city
that changes a rule changes its texts with no other edit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Protocol

from policy.rules import Cause, CityRules


class ServiceLimitsLike(Protocol):
    """The service limits a text may state (policy.service.ServiceLimits, or the alerts
    config's limits that hold the same settings)."""

    leak_on_site_min: float
    contact_min: float
    on_site_min: float
    return_visit_h: float


def num(x: float) -> str:
    """A rule's number as a text states it: 18.0 -> 18, 0.5 -> 0.5."""
    return f"{round(x, 6):g}"


def rule_values(city: CityRules | None = None, limits: ServiceLimitsLike | None = None
                ) -> dict[str, str]:
    """Every rule a text may name, by its placeholder, as the text states it."""
    c = city or CityRules()
    m = c.meters
    out = {
        "min_c": num(c.rooms.min_c), "target_pct": num(c.rooms.target_rate * 100),
        "room_valid_min_c": num(c.rooms.valid_min_c),
        "room_valid_max_c": num(c.rooms.valid_max_c),
        "over_h": num(c.outages.over_h), "counts_from_h": num(c.compensation.counts_from_h),
        "min_supply_c": num(c.outages.min_supply_c), "min_dt_k": num(c.outages.min_dt_k),
        "min_duration_min": num(c.outages.min_duration_min),
        "escalation_h": " / ".join(num(h) for h in c.outages.escalation_h),
        "makeup_pct": num(c.leaks.makeup_share * 100),
        "meter_valid_min_c": num(m.valid_min_c), "meter_valid_max_c": num(m.valid_max_c),
        "short_c": f"{m.short_c:.2f}", "open_c": f"{m.open_c:.2f}",
    }
    if limits is not None:
        out |= {"leak_on_site_min": num(limits.leak_on_site_min),
                "contact_min": num(limits.contact_min),
                "on_site_min": num(limits.on_site_min),
                "on_site_h": num(limits.on_site_min / 60),
                "return_visit_h": num(limits.return_visit_h)}
    return out


# Why a substation is out (the outage detector stores one of these codes).
OUTAGE_REASONS: Final = ("pump_stopped", "low_supply")

# What stored incidents said before reasons were codes: read once, here, as their codes.
LEGACY_REASONS: Final[dict[str, str]] = {
    "circulation pump stopped": "pump_stopped",
    "secondary supply below 35 °C with supply−return under 2 K": "low_supply",
}

# Every cause code in Chinese; {placeholders} are `rule_values`.
CAUSES_ZH: Final[dict[str, str]] = {
    "no_flow_signal": "无流量信号（管内有空气）",
    "supply_sensor": "供水温度传感器故障",
    "return_sensor": "回水温度传感器故障",
    "reverse_flow": "水流反向",
    "flow_above_qs": "流量超过热表最大流量",
    "low_battery": "热表电池电量低",
    "memory": "热表存储器故障",
    "tamper": "人为干扰或磁干扰",
    "cover_opened": "热表表盖被打开",
    "sensor_short": "温度传感器短路（读数{short_c}℃）",
    "sensor_open": "温度传感器开路（读数{open_c}℃）",
    "temp_out_of_range": "温度读数超出{meter_valid_min_c}～{meter_valid_max_c}℃",
    "energy_decreased": "累计热量读数减少",
    "volume_decreased": "累计流量读数减少",
    "total_frozen": "有流量时累计读数不变",
    "sensors_swapped": "供回水温度传感器装反（温差为负）",
    "energy_mismatch": "热量与流量温差不符（超出2级误差）",
    "comm_loss": "无读数（通讯中断）",
    "comm": "通讯故障",
    "missing": "无读数",
    "timeout": "通讯超时",
    "connect_failed": "无法连接网关",
    "disconnected": "网关连接中断",
    "short_response": "热表应答不完整",
    "garbage": "热表应答数据错误",
    "exception": "热表返回异常",
    "silent": "传感器无数据",
    "stuck": "传感器读数长时间不变",
    "out_of_range": "传感器读数超出量程",
    "rooms_silent": "同一楼栋多个室温传感器同时无数据，疑似楼栋网关或网络故障",
    "never_reported": "设备投运后从未上报数据",
    "substation_silent": "换热站无新数据，有无停暖未知，请到站核实",
    "weather_silent": "气象站无室外温度数据，影响合格率判定与计费",
    "pump_stopped": "循环泵停运",
    "low_supply": "二次供水温度低于{min_supply_c}℃且供回水温差小于{min_dt_k}℃",
    # issue 24: an early warning's causes
    "fouling": "换热器结垢（供回水温差逐日减小，供水达不到设定）",
    "valve": "调节阀卡在开位（回水温度和流量逐日升高）",
    "sensor_drift": "供水温度传感器漂移（读数高于各户热表供水）",
    "supply_low": "供水温度逐日低于供热曲线",
    "slow_leak": "缓慢泄漏（补水率逐日升高，尚未达到泄漏报警）",
    "poor_cooling": "楼栋回水温度高于邻楼（疑似旁通或散热器不良）",
}

# The meter causes and outage reasons in English (the bill's day reasons, the analyzer's text).
CAUSES_EN: Final[dict[str, str]] = {
    "no_flow_signal": "status: no flow signal / air in pipe",
    "supply_sensor": "status: supply sensor fault",
    "return_sensor": "status: return sensor fault",
    "reverse_flow": "status: reverse flow",
    "flow_above_qs": "status: flow above qs",
    "low_battery": "status: low battery",
    "memory": "status: memory fault",
    "tamper": "status: tamper / magnetic interference",
    "cover_opened": "status: cover opened",
    "sensor_short": "temperature {short_c} °C (sensor short)",
    "sensor_open": "temperature {open_c} °C (sensor open)",
    "temp_out_of_range": "temperature outside {meter_valid_min_c}–{meter_valid_max_c} °C",
    "energy_decreased": "cumulative energy went down",
    "volume_decreased": "cumulative volume went down",
    "total_frozen": "cumulative total frozen while flow > 0",
    "sensors_swapped": "ΔT < 0 with flow > 0 (sensors swapped)",
    "energy_mismatch": "energy does not match ΔV·Δθ·k within class limit",
    "comm_loss": "no reading (communication loss)",
    "pump_stopped": "circulation pump stopped",
    "low_supply": "secondary supply below {min_supply_c} °C with supply−return under {min_dt_k} K",
    "fouling": "exchanger fouling (ΔT shrinking day by day, supply short of its set-point)",
    "valve": "control valve stuck open (return and flow rising day by day)",
    "sensor_drift": "supply sensor drift (reads above the households' meters)",
    "supply_low": "supply falling below the heating curve day by day",
    "slow_leak": "slow leak (make-up rising, still below the leak alarm)",
    "poor_cooling": "building return above its neighbours' (a bypass or poor radiators)",
}


def cause_texts(city: CityRules | None = None, lang: str = "zh") -> dict[str, str]:
    """The catalogue in one language with the city's numbers filled in."""
    values = rule_values(city)
    table = CAUSES_EN if lang == "en" else CAUSES_ZH
    return {code: text.format_map(values) for code, text in table.items()}


def cause_text(cause: str, texts: Mapping[str, str] | None = None) -> str:
    """One cause code in words (exception_<n> names its code); an old stored English reason
    as its code's words; anything else (a dispatcher's own words) stays as written."""
    texts = cause_texts() if texts is None else texts
    code = cause.strip().lower()
    code = LEGACY_REASONS.get(cause.strip(), code)
    if code in texts:
        return texts[code]
    if code.startswith("exception_") and "exception" in texts:
        return f"{texts['exception']}（代码{code.removeprefix('exception_')}）"
    return cause


def reason_text(reason: str, texts: Mapping[str, str] | None = None) -> str:
    """An outage's reason in words: a reason code (or an old stored English reason) through
    the catalogue; a reason a dispatcher typed is shown as written."""
    code = LEGACY_REASONS.get(reason.strip(), reason.strip())
    if code not in OUTAGE_REASONS:
        return reason
    texts = cause_texts() if texts is None else texts
    return texts.get(code, reason)


def meter_cause_text(cause: Cause, city: CityRules | None = None) -> str:
    """A meter fault cause in English, as a bill's day reason gives it."""
    return cause_texts(city, "en")[cause.name.lower()]


# The meter causes in English for the default city (the analyzer's incident text).
CAUSE_TEXT: Final[dict[Cause, str]] = {c: meter_cause_text(c) for c in Cause}

"""The table from incident kind to handlers; each handler turns an incident event into plans."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from alerts.templates import Templates, bundled, cause_text
from district.records import Records
from policy.causes import reason_text
from workflow.details import (
    BuildingOutageDetails,
    EarlyWarningDetails,
    MeterCommDetails,
    MeterFaultDetails,
    OutageDetails,
    RoomColdDetails,
    SensorFaultDetails,
    StationCommDetails,
)
from workflow.incidents import Incident

# {placeholders} are the city's rules (policy.causes.rule_values)
WHAT = {
    "leak": "换热站疑似泄漏（补水量超过循环流量{makeup_pct}%或定压点压力下降）",
    "room_cold": "室温低于{min_c}℃",
    "sensor_fault": "室温传感器故障（无数据、数值不变或超出量程）",
    "meter_fault": "热计量表故障",
    "meter_comm": "热计量表通讯中断",
    "station_comm": "站点远传数据中断",
    "outage": "换热站停暖（循环泵停运或供水温度过低）",
    "building_outage": "楼栋停暖（热表无流量或无温差）",
    "compliance_breach": "换热站室温合格率低于{target_pct}%",
    "early_warning": "早期预警（尚无室温偏低），请安排检修",
}


@dataclass(frozen=True, slots=True)
class OpenOrder:
    """dispatch_order: open a work order of this kind for the incident."""

    kind: str
    what: str
    address: str
    # an outage's resident notice falls due this long after it began (None: no notice)
    notice: bool = False


@dataclass(frozen=True, slots=True)
class SwitchBilling:
    """switch_billing: the account's meter fault changes how the period is billed."""

    account_id: str
    basis: str  # "area" (non-human cause) | "inspection" (human cause: never area-billed)
    cause: str


@dataclass(frozen=True, slots=True)
class EndBilling:
    """The meter works again: the switched basis ends at the incident's close."""


@dataclass(frozen=True, slots=True)
class UpdateCompensation:
    """compensate_residents: refresh the outage's compensation records from its duration."""


@dataclass(frozen=True, slots=True)
class NoteIncidentClosed:
    """The incident closed: say so in the order's audit log; the order stays with its crew."""


Plan = OpenOrder | SwitchBilling | EndBilling | UpdateCompensation | NoteIncidentClosed
# a handler gets the templates bound to the city, whose rules and causes its texts state
Handler = Callable[[Incident, str, Records, Templates], list[Plan]]


def address_of(inc: Incident, rec: Records) -> str:
    """The most precise place the records know for an incident."""
    acc = rec.accounts.get(inc.account_id)
    bid = inc.building_id or (acc.building_id if acc else "")
    b = rec.buildings.get(bid)
    if b is not None:
        place = b.address + (f" {acc.unit}" if acc and acc.unit else "")
        return place
    s = rec.substations.get(inc.substation_id)
    if s is not None:
        # names in substations.csv usually say 换热站 already
        return s.name if s.name.endswith(("站", "站房")) else f"{s.name}换热站"
    return inc.subject


def outage_reason(reason: str, causes: Mapping[str, str] | None = None) -> str:
    """An outage's reason in words: the analyzer's code through the catalogue (as the
    templates word it); a reason a dispatcher wrote stays as written."""
    return reason_text(reason, bundled().causes if causes is None else causes)


def subject_text(inc: Incident) -> str:
    """The incident's subject as an id (a gateway is named 网关 and its address, a building
    楼栋 and its id)."""
    for prefix, word in (("gateway ", "网关 "), ("building ", "楼栋 "), ("household ", "住户 ")):
        if inc.subject.startswith(prefix):
            return word + inc.subject.removeprefix(prefix)
    return inc.subject


def describe(inc: Incident, causes: Mapping[str, str] | None = None,
             rules: Mapping[str, str] | None = None) -> str:
    """What happened, in words a crew reads on a phone (causes from the templates, the rules'
    numbers from the city the templates are bound to)."""
    causes = bundled().causes if causes is None else causes
    rules = bundled().values if rules is None else rules
    what = WHAT.get(inc.kind, inc.kind).format_map(rules)
    d = inc.details
    if isinstance(d, MeterFaultDetails):
        human = "人为原因，需稽查" if d.human else "非人为原因，需更换"
        names = d.causes or [inc.cause or d.cause]
        text = "、".join(cause_text(causes, c) for c in names if c)
        what += f"（{text}；{human}）" if text else f"（{human}）"
    elif isinstance(d, MeterCommDetails | SensorFaultDetails | StationCommDetails):
        cause = (d.cause if isinstance(d, MeterCommDetails) else "") or inc.cause
        if cause and cause != "comm":
            what += f"（{cause_text(causes, cause)}）"
    elif isinstance(d, RoomColdDetails) and d.record_id is not None:
        what += f"（入户测温 {d.record_id}：最低 {d.measured_c}℃）"
    elif isinstance(d, RoomColdDetails) and d.lowest_trailing_mean_c is not None:
        # the runner writes the lowest trailing mean (never a plain mean)
        what += f"（{d.trailing_h:g}小时滑动平均最低 {d.lowest_trailing_mean_c:.1f}℃）"
    elif isinstance(d, EarlyWarningDetails) and d.cause:
        what += f"：{cause_text(causes, d.cause)}"
    elif isinstance(d, OutageDetails) and d.reason:
        what += f"（{outage_reason(d.reason, causes)}）"
    if isinstance(d, OutageDetails | BuildingOutageDetails) and (
            d.cold_room_count or d.meters_without_flow_count):
        # its consequences are on this order, not orders of their own
        what += (f"（室温低于{rules['min_c']}℃ {d.cold_room_count} 间，"
                 f"无流量热表 {d.meters_without_flow_count} 块）")
    elif isinstance(d, MeterCommDetails | SensorFaultDetails) and d.devices:
        # a gateway's meters, a building's rooms: one order lists them
        unit = "块表" if isinstance(d, MeterCommDetails) else "个房间"
        more = "…" if len(d.devices) > 5 else ""
        what += f"（{len(d.devices)} {unit}：{'、'.join(d.devices[:5])}{more}）"
    return f"{what} [{subject_text(inc)}]"


def dispatch_order(kind: str, notice: bool = False) -> Handler:
    """A handler that opens an order of `kind` when the incident opens."""

    def handle(inc: Incident, event: str, rec: Records, texts: Templates) -> list[Plan]:
        if event == "opened":
            return [OpenOrder(kind, describe(inc, texts.causes, texts.values),
                              address_of(inc, rec), notice)]
        if event == "closed":
            return [NoteIncidentClosed()]
        return []

    return handle


def repair_kind(inc: Incident) -> str:
    """The repair order's kind by what the incident is about: a station's, a weather station's
    or a gateway's link, a building's meters or room sensors, one meter's link, one room
    sensor, else a room too cold (each titled in the templates' [kinds])."""
    whole = inc.subject.startswith("building ")
    if inc.kind == "station_comm":
        weather = isinstance(inc.details, StationCommDetails) and inc.details.source == "weather"
        return "weather_link" if weather else "station_link"
    if inc.kind == "meter_comm":
        if inc.subject.startswith("gateway "):
            return "gateway_link"
        return "building_meters" if whole else "meter_link"
    if inc.kind == "sensor_fault":
        return "building_sensors" if whole else "sensor"
    return "repair"


def dispatch_repair(inc: Incident, event: str, rec: Records, texts: Templates) -> list[Plan]:
    """A repair order of the kind that says what it is for (repair_kind)."""
    return dispatch_order(repair_kind(inc))(inc, event, rec, texts)


def compensate_residents(inc: Incident, event: str, rec: Records, texts: Templates
                         ) -> list[Plan]:
    """seed: an outage over 24 h is compensated; keep the records in step with its duration."""
    return [UpdateCompensation()] if event in ("updated", "closed") else []


def meter_fault(inc: Incident, event: str, rec: Records, texts: Templates) -> list[Plan]:
    """docs/rules.md: a non-human fault is area-billed and replaced; a human cause goes to
    inspection."""
    d = inc.details
    human = isinstance(d, MeterFaultDetails) and d.human
    cause = inc.cause or (d.cause if isinstance(d, MeterFaultDetails) else "")
    if event == "opened":
        return [OpenOrder("inspection" if human else "replacement",
                          describe(inc, texts.causes, texts.values), address_of(inc, rec)),
                SwitchBilling(inc.account_id, "inspection" if human else "area", cause)]
    if event == "closed":
        return [EndBilling(), NoteIncidentClosed()]
    return []


# STYLE: a table maps each event kind to its handlers
HANDLERS: dict[str, tuple[Handler, ...]] = {
    "leak": (dispatch_order("urgent"),),
    "room_cold": (dispatch_order("repair"),),
    "sensor_fault": (dispatch_repair,),
    "meter_comm": (dispatch_repair,),
    # a station gone dark: its crew restores the link (outages it hides stay as they were)
    "station_comm": (dispatch_repair,),
    "meter_fault": (meter_fault,),
    # seed: outage >= 24 h: emergency repair at once, notify users, compensate
    "outage": (dispatch_order("emergency", notice=True), compensate_residents),
    "building_outage": (dispatch_order("emergency", notice=True), compensate_residents),
    "compliance_breach": (dispatch_order("opinion"),),
    # issue 24: a maintenance inspection within working days, not the repair path
    "early_warning": (dispatch_order("maintenance"),),
}


def plans_for(inc: Incident, event: str, rec: Records, texts: Templates | None = None
              ) -> list[Plan]:
    """Every plan the table's handlers make of one incident event, its texts in the words
    of `texts` (default: the bundled templates, docs/rules.md's rules)."""
    texts = bundled() if texts is None else texts
    out: list[Plan] = []
    for h in HANDLERS.get(inc.kind, ()):
        out.extend(h(inc, event, rec, texts))
    return out

"""What the morning report (日报) says about one day, gathered from the workflow port and the
store: compliance per substation, outages, leaks, meter faults, links gone silent (meters and
gateways, substations, weather stations, a building's room sensors), orders by crew and the KPI.
The same definitions as `heatwatch incidents` / `orders` / `kpi`, so the numbers agree."""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from alerts.kpi import Timeliness, timeliness
from district.readings import KINDS
from documents.as_of import incidents_as_of, order_timings, orders_as_of
from documents.calls_day import CallsDay, calls_day
from documents.early_day import EarlyDay, early_day
from policy.causes import cause_texts, reason_text
from policy.rooms import meets_target
from policy.rules import CityRules, RoomRules
from policy.service import ServiceLimits
from storage.base import Store
from workflow.details import LeakDetails, MeterFaultDetails, StationCommDetails, details_dict
from workflow.incidents import Incident
from workflow.unit import Repositories, WorkflowDb

HOUR_MS = 3_600_000
# what a compliance row holds besides the rules it is judged by (kept in a printed report)
_SUBSTATION_DAY_FIELDS = ("substation_id", "name", "passing", "measured", "faulty", "excluded",
                          "rate", "outdoor_c", "design_outdoor_c")
OUTAGE_KINDS = ("outage", "building_outage")


@dataclass(frozen=True, slots=True)
class SubstationDay:
    """One substation's compliance that day (rate None: nothing measured)."""

    substation_id: str
    name: str
    passing: int
    measured: int
    faulty: int
    excluded: int
    rate: float | None
    outdoor_c: float | None = None
    design_outdoor_c: float | None = None
    rules: RoomRules = field(default_factory=RoomRules)  # the city's, for its target

    @property
    def cold_day_excluded(self) -> bool:
        """A day colder than design: its rooms are recorded but not counted (docs/rules.md)."""
        return (self.outdoor_c is not None and self.design_outdoor_c is not None
                and self.outdoor_c < self.design_outdoor_c)

    @property
    def meets(self) -> bool:
        return self.rate is not None and bool(meets_target(self.rate, self.rules))


@dataclass(frozen=True, slots=True)
class Span:
    """An outage or leak that ran during the day; hours as `heatwatch incidents` gives them."""

    key: str
    kind: str
    subject: str
    substation_id: str
    started_ms: int
    closed_ms: int | None
    hours: float
    marks_h: tuple[float, ...]
    order_ids: tuple[str, ...]
    text: str

    @property
    def running(self) -> bool:
        return self.closed_ms is None


@dataclass(frozen=True, slots=True)
class CrewDay:
    """One crew's orders that day: opened, closed, and late by the KPI's rule."""

    crew: str
    opened: int
    closed: int
    late: int


@dataclass(slots=True)
class DailyReport:
    """Everything one morning report shows."""

    day: dt.date
    tz: dt.tzinfo
    start_ms: int
    end_ms: int
    as_of_ms: int
    compliance: list[SubstationDay] = field(default_factory=list)
    # issue 20 item 7: no readings, incident or order for the day at all: "no data" (无数据),
    # never "no outage"
    no_data: bool = False
    outages: list[Span] = field(default_factory=list)
    leaks: list[Span] = field(default_factory=list)
    meter_faults: dict[str, int] = field(default_factory=dict)  # class -> incidents
    meter_fault_causes: dict[str, int] = field(default_factory=dict)  # cause -> incidents
    meter_comm: int = 0
    # station_comm incidents by source ("substation", "weather")
    station_comm: dict[str, int] = field(default_factory=dict)
    rooms_silent: int = 0  # a building's room sensors silent together, or never heard from
    crews: list[CrewDay] = field(default_factory=list)
    kpi: Timeliness | None = None
    kpi_by_crew: list[Timeliness] = field(default_factory=list)
    city: CityRules = field(default_factory=CityRules)
    limits: ServiceLimits = field(default_factory=ServiceLimits)

    @property
    def kpi_target(self) -> float:
        return self.limits.timeliness_target

    @property
    def compliance_target(self) -> float:
        return self.city.rooms.target_rate
    calls: CallsDay = field(default_factory=CallsDay)  # residents' calls (the desk)
    early: EarlyDay = field(default_factory=EarlyDay)  # early warnings and the ranking

    @property
    def excluded_substations(self) -> list[SubstationDay]:
        return [s for s in self.compliance if s.cold_day_excluded]

    def as_dict(self) -> dict[str, Any]:
        """Plain data (the command's --json and the tests)."""
        def span(s: Span) -> dict[str, Any]:
            return {"key": s.key, "kind": s.kind, "subject": s.subject,
                    "substation_id": s.substation_id, "hours": s.hours,
                    "running": s.running, "marks_h": list(s.marks_h),
                    "orders": list(s.order_ids), "text": s.text}

        def kpi(t: Timeliness) -> dict[str, Any]:
            return {"group": t.group, "orders": t.orders, "late": t.late,
                    "rate_pct": float(t.rate_pct), "meets_target": t.meets}

        return {
            "day": self.day.isoformat(),
            "no_data": self.no_data,
            "compliance": [{"substation_id": s.substation_id, "passing": s.passing,
                            "measured": s.measured, "faulty": s.faulty,
                            "excluded": s.excluded, "rate": s.rate,
                            "outdoor_c": s.outdoor_c, "design_outdoor_c": s.design_outdoor_c,
                            "cold_day_excluded": s.cold_day_excluded, "meets": s.meets}
                           for s in self.compliance],
            "outages": [span(s) for s in self.outages],
            "leaks": [span(s) for s in self.leaks],
            "meter_faults": dict(self.meter_faults),
            "meter_fault_causes": dict(self.meter_fault_causes),
            "meter_comm": self.meter_comm,
            "station_comm": dict(self.station_comm),
            "rooms_silent": self.rooms_silent,
            "crews": [{"crew": c.crew, "opened": c.opened, "closed": c.closed, "late": c.late}
                      for c in self.crews],
            "kpi": None if self.kpi is None else kpi(self.kpi),
            "kpi_by_crew": [kpi(t) for t in self.kpi_by_crew],
            "calls": self.calls.as_dict(),
            "early": self.early.as_dict(),
        }


def day_bounds(day: dt.date, tz: dt.tzinfo) -> tuple[int, int]:
    """The local day as [start, end) epoch ms."""
    start = dt.datetime.combine(day, dt.time(), tz)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def _during(i: Incident, start_ms: int, end_ms: int) -> bool:
    return i.started_ms < end_ms and (i.closed_ms is None or i.closed_ms >= start_ms)


def _hours(i: Incident, as_of_ms: int) -> float:
    # issue 20: the hours known at the report's as-of instant: to the close if it came by
    # then, else to the instant (still running)
    end = min(i.closed_ms, as_of_ms) if i.closed_ms is not None else as_of_ms
    return round((end - i.started_ms) / HOUR_MS, 2)


def _span(i: Incident, orders: dict[str, list[str]], city: CityRules, as_of_ms: int) -> Span:
    hours = _hours(i, as_of_ms)
    text = ""
    if isinstance(i.details, LeakDetails):
        text = "、".join(i.details.signs)
    else:
        # a reason code in the analyzer's words (policy/causes.py); typed words as typed
        text = reason_text(str(details_dict(i.details).get("reason", "")),
                           cause_texts(city, "en"))
    # the city's escalation points of an outage (the seed's 8 h, 12 h, 24 h)
    return Span(i.key, i.kind, i.subject, i.substation_id, i.started_ms, i.closed_ms, hours,
                tuple(m for m in city.outages.escalation_h if hours >= m - 1e-9),
                tuple(sorted(orders.get(i.key, []))), text)


def _count(rep: DailyReport, i: Incident) -> None:
    """The incidents the report counts rather than lists: meter faults by class and cause,
    links gone silent by what went silent."""
    d = i.details
    if i.kind == "meter_fault" and isinstance(d, MeterFaultDetails):
        cls = d.fault_class or ("human" if d.human else "non_human")
        rep.meter_faults[cls] = rep.meter_faults.get(cls, 0) + 1
        for c in d.causes or [d.cause or i.cause]:
            rep.meter_fault_causes[c] = rep.meter_fault_causes.get(c, 0) + 1
    elif i.kind == "meter_comm":
        rep.meter_comm += 1
    elif i.kind == "station_comm":
        source = d.source if isinstance(d, StationCommDetails) and d.source else "substation"
        rep.station_comm[source] = rep.station_comm.get(source, 0) + 1
    elif i.kind == "sensor_fault" and i.subject.startswith("building "):
        rep.rooms_silent += 1


def _any_readings(store: Store | None, start_ms: int, end_ms: int) -> bool:
    """Whether the store holds any device reading in [start, end)."""
    return store is not None and any(
        len(store.read_window(kind, start_ms, end_ms)) for kind in KINDS)


def outdoor_means(store: Store, start_ms: int, end_ms: int) -> tuple[dict[str, float],
                                                                       float | None]:
    """The day's mean outdoor temperature per substation with its own station, and overall."""
    w = store.read_window("weather", start_ms, end_ms, ["outdoor_c"], tags=("substation_id",))
    if not len(w):
        return {}, None
    temp = w.fields["outdoor_c"]
    subs = w.tags.get("substation_id", np.full(len(w), "", dtype=str))
    ok = np.isfinite(temp)
    own = {str(s): float(np.mean(temp[ok & (subs == s)])) for s in set(subs[ok].tolist()) if s}
    return own, float(np.mean(temp[ok])) if ok.any() else None


def _compliance(store: Store, start_ms: int, end_ms: int, names: dict[str, str],
                design_c: dict[str, float], rules: RoomRules) -> list[SubstationDay]:
    frame = store.read_window("compliance", start_ms, end_ms, None, tags=("substation_id",))
    own, overall = outdoor_means(store, start_ms, end_ms)
    out: dict[str, SubstationDay] = {}
    for j in range(len(frame)):
        sid = str(frame.tags["substation_id"][j])

        def get(name: str, j: int = j) -> float:
            col = frame.fields.get(name)
            return float("nan") if col is None else float(col[j])

        rate = get("rate")
        out[sid] = SubstationDay(sid, names.get(sid, sid), int(np.nan_to_num(get("passing"))),
                                 int(np.nan_to_num(get("measured"))),
                                 int(np.nan_to_num(get("faulty"))),
                                 int(np.nan_to_num(get("excluded"))),
                                 None if np.isnan(rate) else rate, own.get(sid, overall),
                                 design_c.get(sid), rules)
    return [out[k] for k in sorted(out)]


def _compliance_as_printed(db: Repositories, rep: DailyReport,
                           rows: list[SubstationDay]) -> list[SubstationDay]:
    """The compliance table as first printed for this day and as-of instant: later analyzer
    cycles revise the series in place, and a reprint must equal what was mailed. Kept only
    once the instant has passed (a report of a day still running is not frozen)."""
    if not isinstance(db, WorkflowDb) or rep.as_of_ms > time.time() * 1000:
        return rows
    body = json.dumps([{k: getattr(r, k) for k in _SUBSTATION_DAY_FIELDS} for r in rows],
                      ensure_ascii=False)
    with db.unit() as u:
        kept = u.reports.keep(rep.day.isoformat(), rep.as_of_ms, "compliance", body,
                              int(time.time() * 1000))
    return [SubstationDay(**d, rules=rep.city.rooms) for d in json.loads(kept)]


def gather(db: Repositories, store: Store | None, day: dt.date, tz: dt.tzinfo,
           as_of_ms: int | None = None, substation_names: dict[str, str] | None = None,
           design_outdoor_c: dict[str, float] | None = None,
           city: CityRules | None = None, limits: ServiceLimits | None = None) -> DailyReport:
    """The day's report as of `as_of_ms` (default: the day's end), by the city's rules."""
    start_ms, end_ms = day_bounds(day, tz)
    as_of = end_ms if as_of_ms is None else as_of_ms
    rep = DailyReport(day, tz, start_ms, end_ms, as_of, city=city or CityRules(),
                      limits=limits or ServiceLimits())
    kpi_target = rep.kpi_target
    if store is not None:
        rep.compliance = _compliance_as_printed(db, rep, _compliance(
            store, start_ms, end_ms, substation_names or {}, design_outdoor_c or {},
            rep.city.rooms))
    # issue 20: only what was known at the as-of instant (a reprint equals what was mailed)
    orders = orders_as_of(db, as_of)
    by_incident: dict[str, list[str]] = {}
    for o in orders:
        by_incident.setdefault(o.incident_key, []).append(o.order_id)
    for i in incidents_as_of(db, as_of):
        if not _during(i, start_ms, end_ms):
            continue
        if i.kind in OUTAGE_KINDS:
            rep.outages.append(_span(i, by_incident, rep.city, as_of))
        elif i.kind == "leak":
            rep.leaks.append(_span(i, by_incident, rep.city, as_of))
        else:
            _count(rep, i)
    rep.no_data = not (rep.compliance or rep.outages or rep.leaks or _any_readings(
        store, start_ms, end_ms) or any(_during(i, start_ms, end_ms)
                                        for i in incidents_as_of(db, as_of))
        or any(start_ms <= o.opened_ms < end_ms for o in orders))
    timings = order_timings(db, as_of)
    tzname = str(getattr(tz, "key", tz))  # a ZoneInfo's name, as [site] timezone gives it
    suffix = " " + day.isoformat()
    by_crew = [t for t in timeliness(timings, as_of, "crew", "day", kpi_target, tzname)
               if t.group.endswith(suffix)]
    rep.kpi_by_crew = [Timeliness(t.group.removesuffix(suffix), t.orders, t.late, t.target)
                       for t in by_crew]
    day_all = [t for t in timeliness(timings, as_of, "all", "day", kpi_target, tzname)
               if t.group.endswith(suffix)]
    rep.kpi = Timeliness("all", sum(t.orders for t in day_all), sum(t.late for t in day_all),
                         kpi_target)
    late = {t.group: t.late for t in rep.kpi_by_crew}
    crews: dict[str, list[int]] = {}
    for o in orders:
        n = crews.setdefault(o.crew, [0, 0])
        n[0] += int(start_ms <= o.opened_ms < end_ms)
        n[1] += int(o.closed_ms is not None and start_ms <= o.closed_ms < end_ms)
    rep.crews = [CrewDay(k, v[0], v[1], late.get(k, 0)) for k, v in sorted(crews.items())
                 if v[0] or v[1] or late.get(k, 0)]
    rep.calls = calls_day(db, start_ms, end_ms, as_of)
    rep.early = early_day(db, store, start_ms, end_ms, as_of)
    return rep

"""The Grafana dashboards as data: every panel and its InfluxQL, written once here.

`python -m grafana.dashboards --write` regenerates grafana/dashboards/*.json (provisioned
read-only); `--check` exits non-zero when the committed files differ from this code.

It stays one file over 400 lines on purpose: it is the dashboards' data (every panel's
title, description, grid position and InfluxQL), one short function per group of panels;
the builders are in grafana/panels.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

from grafana.calls import control_room_calls
from grafana.early import early
from grafana.panels import (
    Json,
    annotations_of,
    bargauge,
    dashboard,
    last_by,
    query_variable,
    series,
    stat,
    steps,
    table,
    target,
    value_map,
)
from grafana.service import service
from policy.causes import rule_values
from policy.rules import CityRules
from policy.service import ServiceLimits

DASHBOARDS_DIR: Final = Path(__file__).resolve().parent / "dashboards"



def n(x: float) -> float | int:
    """A rule's number as a threshold: whole numbers as integers (18, not 18.0)."""
    return int(x) if float(x).is_integer() else x


# The thresholds are the city's rules (policy/rules.py); these are the default city's.
_DEFAULT: Final = CityRules()
ROOM_MIN_C: Final = n(_DEFAULT.rooms.min_c)
SENSOR_LOW_C, SENSOR_HIGH_C = n(_DEFAULT.rooms.valid_min_c), n(_DEFAULT.rooms.valid_max_c)
MAKEUP_LEAK_SHARE: Final = _DEFAULT.leaks.makeup_share

SUBSTATION_VAR: Final = 'SHOW TAG VALUES FROM "substation" WITH KEY = "substation_id"'
# regex match, so Grafana escapes the value and "All"/multi values still work
IN_SUBSTATION: Final = '"substation_id" =~ /^$substation$/'


def valid_room(city: CityRules) -> str:
    """docs/rules.md: a reading outside the thermometers' range is a fault, not a cold room."""
    return f'"temp_c" >= {n(city.rooms.valid_min_c)} AND "temp_c" <= {n(city.rooms.valid_max_c)}'


def cold_now(city: CityRules) -> str:
    """A room reading below the standard (not a sensor fault)."""
    return f'"temp_c" < {n(city.rooms.min_c)} AND "temp_c" >= {n(city.rooms.valid_min_c)}'


def words(text: str, city: CityRules, limits: ServiceLimits | None = None) -> str:
    """A description stating the city's rules ({placeholders}: policy.causes.rule_values)."""
    return text.format_map(rule_values(city, limits or ServiceLimits()))


def cool_band(city: CityRules) -> float | int:
    """Below the standard by more than the first refund band: orange becomes red."""
    return n(city.rooms.min_c - city.refund.bands[0].max_below_k)

# shared by the dashboards' panels
RED_FROM_1: Final[Json] = {"mode": "absolute", "steps": [{"color": "green", "value": None},
                                                         {"color": "red", "value": 1}]}
SUB_FROM: Final = f'FROM "substation" WHERE {IN_SUBSTATION} AND $timeFilter'
EVERY: Final = "GROUP BY time($__interval) fill(null)"
# docs/rules.md: substations report every 1–5 min; a finer bucket is mostly empty
REPORT: Final = "5m"
COLL_FROM: Final = 'FROM "heatwatch_collector" WHERE $timeFilter'
MB_FROM: Final = 'FROM "heatwatch_modbus" WHERE $timeFilter'
PER_COLL: Final = 'GROUP BY time($__interval), "collector" fill(null)'
PER_GW: Final = 'GROUP BY time($__interval), "gateway" fill(null)'

# meter_fault_state.state (analyzer/derived.py)
METER_STATES: Final = ((1, "故障 fault", "orange"), (2, "人为 human", "purple"),
                       (3, "通讯 comm", "blue"))


# -- queries shared by several panels -------------------------------------------------------
ROOMS_LAST = last_by("room", ["temp_c"], ["substation_id", "building_id", "device_id"])
OUTAGE_LAST = last_by("outage_state", ["out", "hours"], ["substation_id"])
LEAK_LAST = last_by("leak_state", ["leaking", "makeup_share", "sag_mpa"], ["substation_id"])
# alerts/service.py writes every crew and substation each minute, zeros too: the last is now
ORDERS_LAST = last_by("work_orders", ["open", "late", "escalated", "breached_total"],
                      ["crew", "substation_id"])
METERS_LAST = last_by("meter_fault_state", ["state", "cause_code"],
                      ["substation_id", "building_id", "device_id"])
GATEWAYS_LAST = last_by("heatwatch_modbus", ["connected", "last_skew_s", "last_duration_s",
                                             "overruns", "backoff_s"], ["gateway"])
COLLECTORS_LAST = last_by("heatwatch_collector", ["readings_per_s", "queue_depth",
                                                  "spool_batches", "connected"], ["collector"])



def outage_hours_thresholds(city: CityRules) -> Json:
    """docs/rules.md: the outage escalation points (8 h, 12 h, 24 h by default), yellow to red."""
    colors = ("orange", "dark-orange", "red")
    return steps("yellow", *((n(h), c) for h, c in zip(city.outages.escalation_h, colors,
                                                       strict=False)))


# -- 1. control room -------------------------------------------------------------------------
def _control_room_now(city: CityRules) -> list[Json]:
    """The wall's top row: what is out of standard right now, as counts."""
    return [
        stat(1, "停热换热站 Substations out",
             words("Substations whose latest outage_state is out (pump stopped, or supply "
                   "below ~{min_supply_c} °C with ΔT under {min_dt_k} K for ≥ "
                   "{min_duration_min} min).", city),
             (0, 0, 3, 4),
             [target("A", f'SELECT sum("out") FROM ({OUTAGE_LAST})', "out")],
             thresholds=RED_FROM_1, no_value="0", decimals=0),
        stat(2, words("低于{min_c}°C房间 Rooms below {min_c} °C", city),
             words("Rooms whose latest reading is below {min_c} °C; readings outside "
                   "{room_valid_min_c}…{room_valid_max_c} °C are sensor faults and not "
                   "counted.", city).replace("-", "−"),
             (3, 0, 3, 4),
             [target("A", f'SELECT count("temp_c") FROM ({ROOMS_LAST}) WHERE {cold_now(city)}',
                     "rooms")],
             thresholds=RED_FROM_1, no_value="0", decimals=0),
        stat(3, "故障表计 Meters in fault",
             "Heat meters whose latest state is a fault: non-human (billed by area), human "
             "(tamper, cover: to inspection), or communication loss.",
             (6, 0, 6, 4),
             [target(chr(ord("A") + i), f'SELECT count("state") FROM ({METERS_LAST}) '
                                        f'WHERE "state" = {code}', label)
              for i, (code, label, _) in enumerate(METER_STATES)],
             thresholds=steps("green", (1, "orange")), no_value="0", decimals=0),
        stat(4, "网关断线 Gateways down",
             "Modbus gateways whose latest health point says not connected.",
             (12, 0, 3, 4),
             [target("A", f'SELECT count("connected") FROM ({GATEWAYS_LAST}) '
                          f'WHERE "connected" = 0', "gateways")],
             thresholds=RED_FROM_1, no_value="0", decimals=0),
        stat(5, "采集速率 Readings/s",
             "Readings stored per second, summed over collectors (latest health point).",
             (15, 0, 3, 4),
             [target("A", f'SELECT sum("readings_per_s") FROM ({COLLECTORS_LAST})', "readings/s")],
             thresholds=steps("red", (0.001, "green")), no_value="0", decimals=1),
        stat(6, "拒收 Rejections",
             "Readings refused in the time range (bad JSON, unknown device, …): "
             "`heatwatch deadletters` lists them.",
             (18, 0, 3, 4),
             # rejected_total counts since the collector started: add up its increases,
             # so a restart (counter back to 0) is not a negative count
             [target("A", 'SELECT sum("rejected") FROM (SELECT non_negative_difference('
                          '"rejected_total") AS "rejected" FROM "heatwatch_collector" '
                          'WHERE $timeFilter GROUP BY "collector")', "rejected")],
             thresholds=steps("green", (1, "orange")), no_value="0", decimals=0),
        stat(7, "缓存批次 Spool batches",
             "Batches waiting in the on-disk spool because InfluxDB was unreachable.",
             (21, 0, 3, 4),
             [target("A", f'SELECT sum("spool_batches") FROM ({COLLECTORS_LAST})', "batches")],
             thresholds=steps("green", (1, "orange")), no_value="0", decimals=0),
    ]


def _control_room_heat(city: CityRules) -> list[Json]:
    """Outages, compliance and cold rooms."""
    return [
        table(8, "停热中 Outages running",
              words("Substations out now and for how long; escalate at {escalation_h} h, "
                    "notify residents and compensate from {over_h} h.", city),
              (0, 4, 8, 8),
              [target("A", f'SELECT "hours" FROM ({OUTAGE_LAST}) WHERE "out" = 1 '
                           'GROUP BY "substation_id"', table=True)],
              sort_by="hours", unit="h", decimals=1, thresholds=outage_hours_thresholds(city)),
        bargauge(9, "室温合格率 Compliance (latest day)",
                 words("Rooms passing ÷ rooms measured per substation, latest complete day; "
                       "target ≥ {target_pct} %.", city),
                 (8, 4, 8, 8),
                 [target("A", 'SELECT last("rate") FROM "compliance" WHERE $timeFilter '
                              'GROUP BY "substation_id"', "$tag_substation_id")],
                 unit="percentunit", decimals=1,
                 thresholds=steps("red", (city.rooms.target_rate, "green"))),
        table(10, "冷房楼栋 Buildings with cold rooms",
              words("Per building: rooms whose latest reading is below {min_c} °C.", city),
              (16, 4, 8, 8),
              [target("A", f'SELECT count("temp_c") AS "rooms" FROM ({ROOMS_LAST}) '
                           f'WHERE {cold_now(city)} GROUP BY "substation_id", "building_id"',
                      table=True)],
              sort_by="rooms", decimals=0, thresholds=steps("orange", (3, "red"))),
        series(11, "室温合格率 Compliance by day",
               "Daily compliance per substation; a day colder than design is excluded and "
               "has no rate.",
               (0, 12, 12, 8),
               [target("A", 'SELECT "rate" FROM "compliance" WHERE $timeFilter '
                            'GROUP BY "substation_id"', "$tag_substation_id")],
               unit="percentunit", decimals=1,
               thresholds=steps("red", (city.rooms.target_rate, "green"))),
        table(12, "冷房 Cold rooms",
              words("Each room whose latest reading is below {min_c} °C (a daily mean below "
                    "{min_c} °C fails the day).", city),
              (12, 12, 12, 8),
              [target("A", f'SELECT "temp_c" FROM ({ROOMS_LAST}) WHERE {cold_now(city)} '
                           'GROUP BY "substation_id", "building_id", "device_id"',
                      table=True)],
              sort_by="temp_c", desc=False, unit="celsius", decimals=1,
              thresholds=steps("red", (cool_band(city), "orange"))),
    ]


def _control_room_faults(city: CityRules, limits: ServiceLimits) -> list[Json]:
    """Faulty meters, gateways down and leaks."""
    return [
        table(13, "故障表计清单 Faulty meters",
              "Meters whose latest state is not ok; cause_code as analyzer/kernels/meter_signs.py.",
              (0, 20, 12, 8),
              [target("A", f'SELECT "state", "cause_code" FROM ({METERS_LAST}) '
                           'WHERE "state" > 0 '
                           'GROUP BY "substation_id", "building_id", "device_id"',
                      table=True)],
              sort_by="state", decimals=0,
              overrides=[{"matcher": {"id": "byName", "options": "state"},
                          "properties": [{"id": "mappings", "value": value_map(
                              *METER_STATES)}]}]),
        table(14, "网关断线 Gateways not connected",
              "Modbus gateways not connected at their latest health point, with reconnect "
              "backoff.",
              (12, 20, 12, 8),
              [target("A", f'SELECT "backoff_s", "last_duration_s" FROM ({GATEWAYS_LAST}) '
                           'WHERE "connected" = 0 GROUP BY "gateway"', table=True)],
              unit="s", decimals=1),
        table(15, "漏水 Leaks running",
              words("Substations whose latest leak_state is leaking: make-up water above "
                    "{makeup_pct} % of circulating flow, or the pressure-holding point sagging; "
                    "crew on site within {leak_on_site_min} min.", city, limits),
              (0, 28, 8, 8),
              [target("A", f'SELECT "makeup_share", "sag_mpa" FROM ({LEAK_LAST}) '
                           'WHERE "leaking" = 1 GROUP BY "substation_id"', table=True)],
              sort_by="makeup_share", unit="percentunit", decimals=1,
              thresholds=steps("orange", (city.leaks.makeup_share, "red")),
              overrides=[{"matcher": {"id": "byName", "options": "sag_mpa"},
                          "properties": [{"id": "unit", "value": "suffix: MPa"},
                                         {"id": "decimals", "value": 3}]}]),
    ]


def _control_room_orders(city: CityRules, limits: ServiceLimits) -> list[Json]:
    """Work orders against their limits."""
    return [
        stat(16, "超时工单 Late work orders",
             words("Open work orders with a step past its limit and not done (leak on site "
                   "{leak_on_site_min} min; other repairs contact {contact_min} min, on site "
                   "{on_site_h} h), summed over crews.", city, limits),
             (8, 28, 4, 4),
             [target("A", f'SELECT sum("late") FROM ({ORDERS_LAST})', "late")],
             thresholds=RED_FROM_1, no_value="0", decimals=0),
        stat(17, "在办工单 Open work orders",
             "Work orders not yet closed or cancelled, summed over crews.",
             (8, 32, 4, 4),
             [target("A", f'SELECT sum("open") FROM ({ORDERS_LAST})', "open")],
             thresholds=steps("blue"), no_value="0", decimals=0),
        table(18, "班组工单 Work orders by crew",
              "Per crew and substation, latest: open orders, late ones, escalated (warned at "
              "80 % of a limit) and every order that missed a limit (timeliness target ≥ 99 %).",
              (12, 28, 12, 8),
              [target("A", f'SELECT "open", "late", "escalated", "breached_total" FROM '
                           f'({ORDERS_LAST}) GROUP BY "crew", "substation_id"', table=True)],
              sort_by="late", decimals=0,
              overrides=[{"matcher": {"id": "byName", "options": "late"},
                          "properties": [{"id": "thresholds", "value": RED_FROM_1}]}]),
    ]


def control_room(city: CityRules | None = None, limits: ServiceLimits | None = None) -> Json:
    """调度中心: what is out of standard now, across the company, by the city's rules."""
    city, limits = city or CityRules(), limits or ServiceLimits()
    panels = (_control_room_now(city) + _control_room_heat(city)
              + _control_room_faults(city, limits) + _control_room_orders(city, limits)
              + control_room_calls(19, 36))
    return dashboard("heatwatch-control-room", "调度中心 Control room",
                     "Dispatch control room wall: substations out, leaks, late work orders, "
                     "compliance, cold rooms, faulty meters, collector and gateway health, "
                     "residents' calls.",
                     panels, time_from="now-7d", tags=["control-room"],
                     annotations=annotations_of())


# -- 2. one substation -----------------------------------------------------------------------
def _substation_hydraulics(city: CityRules) -> list[Json]:
    """The substation's own signals: temperatures, ΔT, outage, flow."""
    return [
        series(1, "供回水温度 Supply / return °C",
               words("Secondary supply and return (typically ~55/45 °C); an outage is supply "
                     "below ~{min_supply_c} °C with ΔT under {min_dt_k} K.", city),
               (0, 0, 12, 8),
               [target("A", f'SELECT mean("supply_c") AS "supply_c", mean("return_c") AS '
                            f'"return_c" {SUB_FROM} {EVERY}', "$col")],
               interval=REPORT, unit="celsius", decimals=1,
               thresholds=steps("transparent", (n(city.outages.min_supply_c), "red"))),
        series(2, "温差 ΔT (K)", "Supply minus return.",
               (12, 0, 6, 8),
               [target("A", f'SELECT mean("supply_c") - mean("return_c") AS "delta_t_k" '
                            f'{SUB_FROM} {EVERY}', "ΔT")],
               interval=REPORT, unit="suffix: K", decimals=1,
               thresholds=steps("transparent", (n(city.outages.min_dt_k), "red"))),
        series(3, "停热 Outage",
               "Hours the running outage has lasted (outage_state.hours; 0 when not out).",
               (18, 0, 6, 8),
               [target("A", f'SELECT max("hours") AS "hours" FROM "outage_state" WHERE '
                            f'{IN_SUBSTATION} AND $timeFilter {EVERY}', "hours")],
               interval=REPORT, unit="h", decimals=1,
               thresholds=outage_hours_thresholds(city)),
        series(4, "循环流量 Flow (m³/h)", "Circulating flow.",
               (0, 8, 8, 8),
               [target("A", f'SELECT mean("flow_m3h") AS "flow_m3h" {SUB_FROM} {EVERY}', "flow")],
               interval=REPORT, unit="suffix: m³/h", decimals=1),
    ]


def _substation_rooms(city: CityRules, limits: ServiceLimits) -> list[Json]:
    """Make-up, pressure, outdoor and its rooms."""
    return [
        series(5, "补水率 Make-up water / flow",
               words("Make-up water as a share of circulating flow; above {makeup_pct} % means "
                     "a leak (on site within {leak_on_site_min} min).", city, limits),
               (8, 8, 8, 8),
               [target("A", f'SELECT mean("makeup_m3h") / mean("flow_m3h") AS '
                            f'"makeup_share" {SUB_FROM} {EVERY}', "make-up share")],
               interval=REPORT, unit="percentunit", decimals=2,
               thresholds=steps("transparent", (city.leaks.makeup_share, "red"))),
        series(6, "供回水压力 Supply / return pressure (MPa)",
               "A sagging pressure-holding point (e.g. 0.35 → 0.25 MPa) is a leak sign.",
               (16, 8, 8, 8),
               [target("A", f'SELECT mean("supply_mpa") AS "supply_mpa", mean("return_mpa") '
                            f'AS "return_mpa" {SUB_FROM} {EVERY}', "$col")],
               interval=REPORT, unit="suffix: MPa", decimals=3),
        series(7, "室外温度 Outdoor °C",
               "Weather stations (all) and the substation's own sensor if it has one; a day "
               "colder than design is excluded from compliance.",
               (0, 16, 8, 8),
               [target("A", f'SELECT mean("outdoor_c") AS "weather" FROM "weather" WHERE '
                            f'$timeFilter {EVERY}', "weather stations"),
                target("B", f'SELECT mean("outdoor_c") AS "substation" {SUB_FROM} {EVERY}',
                       "substation")],
               interval=REPORT, unit="celsius", decimals=1),
        series(8, "楼栋室温 Room temperature by building",
               words("Hourly mean and minimum of the substation's rooms per building; sensor "
                     "faults (outside {room_valid_min_c}…{room_valid_max_c} °C) left out.",
                     city).replace("-", "−"),
               (8, 16, 16, 8),
               [target("A", f'SELECT mean("temp_c") AS "mean", min("temp_c") AS "min" '
                            f'FROM "room" WHERE {IN_SUBSTATION} AND {valid_room(city)} AND '
                            f'$timeFilter GROUP BY time($__interval), "building_id" fill(none)',
                       "$tag_building_id $col")],
               unit="celsius", decimals=1, interval="1h",
               thresholds=steps("transparent", (n(city.rooms.min_c), "red"))),
        series(9, "室温合格率 Compliance by day", "This substation's daily compliance rate.",
               (0, 24, 12, 8),
               [target("A", f'SELECT "rate" FROM "compliance" WHERE {IN_SUBSTATION} AND '
                            '$timeFilter', "rate")],
               unit="percentunit", decimals=1,
               thresholds=steps("red", (city.rooms.target_rate, "green"))),
        table(10, "冷房 Cold rooms",
              words("This substation's rooms whose latest reading is below {min_c} °C.", city),
              (12, 24, 12, 8),
              [target("A", f'SELECT "temp_c" FROM ({ROOMS_LAST}) WHERE {cold_now(city)} AND '
                           f'{IN_SUBSTATION} GROUP BY "building_id", "device_id"',
                      table=True)],
              sort_by="temp_c", desc=False, unit="celsius", decimals=1,
              thresholds=steps("red", (cool_band(city), "orange"))),
    ]


def substation(city: CityRules | None = None, limits: ServiceLimits | None = None) -> Json:
    """换热站: one substation in detail, chosen with $substation, by the city's rules."""
    city, limits = city or CityRules(), limits or ServiceLimits()
    panels = _substation_hydraulics(city) + _substation_rooms(city, limits)
    var = query_variable("substation", "换热站 Substation", SUBSTATION_VAR)
    return dashboard("heatwatch-substation", "换热站 Substation",
                     "One substation in detail: temperatures, flow, make-up water, pressure, "
                     "outdoor temperature, its rooms by building and its compliance.",
                     panels, [var], time_from="now-24h", tags=["substation"],
                     annotations=annotations_of(IN_SUBSTATION))


# -- 3. ingest -------------------------------------------------------------------------------
def _ingest_collectors() -> list[Json]:
    """The MQTT collectors: rate, queue, broker, spool, rejections."""
    return [
        series(1, "采集速率 Readings/s", "Readings stored per second, per collector.",
               (0, 0, 12, 8),
               [target("A", f'SELECT mean("readings_per_s") {COLL_FROM} {PER_COLL}',
                       "$tag_collector")],
               unit="short", decimals=0),
        series(2, "队列 Queue depth", "Messages received but not yet written.",
               (12, 0, 6, 8),
               [target("A", f'SELECT max("queue_depth") {COLL_FROM} {PER_COLL}',
                       "$tag_collector")],
               unit="short", decimals=0),
        series(3, "MQTT 连接 Broker connected", "1 connected, 0 not (per collector).",
               (18, 0, 6, 8),
               [target("A", f'SELECT min("connected") {COLL_FROM} {PER_COLL}', "$tag_collector")],
               unit="short", decimals=0, thresholds=steps("red", (1, "green"))),
        series(4, "缓存 Spool batches / bytes",
               "The on-disk spool while InfluxDB is unreachable; the spool full stops "
               "acknowledgements.",
               (0, 8, 8, 8),
               [target("A", f'SELECT max("spool_batches") AS "batches" {COLL_FROM} {PER_COLL}',
                       "$tag_collector batches"),
                target("B", f'SELECT max("spool_bytes") AS "bytes" {COLL_FROM} {PER_COLL}',
                       "$tag_collector bytes")],
               unit="short", decimals=0,
               overrides=[{"matcher": {"id": "byFrameRefID", "options": "B"},
                           "properties": [{"id": "unit", "value": "bytes"},
                                          {"id": "custom.axisPlacement", "value": "right"}]}]),
        series(5, "缓存最久 Spool oldest batch age", "Seconds since the oldest spooled batch.",
               (8, 8, 8, 8),
               [target("A", f'SELECT max("spool_oldest_age_s") {COLL_FROM} {PER_COLL}',
                       "$tag_collector")],
               unit="s", decimals=0, thresholds=steps("transparent", (300, "orange"))),
        series(6, "拒收 Rejections by cause",
               "Readings refused per interval, by cause (count is since the collector "
               "started; this shows its increase).",
               (16, 8, 8, 8),
               [target("A", 'SELECT non_negative_difference(last("count")) FROM '
                            '"heatwatch_rejections" WHERE $timeFilter GROUP BY '
                            'time($__interval), "cause", "collector" fill(none)',
                       "$tag_cause")],
               unit="short", decimals=0, bars=True),
    ]


def _ingest_modbus() -> list[Json]:
    """The Modbus poller: gateways, skew, duration, faults."""
    return [
        series(7, "网关连接 Modbus gateways connected", "1 connected, 0 not (per gateway).",
               (0, 16, 8, 8),
               [target("A", f'SELECT min("connected") {MB_FROM} {PER_GW}', "$tag_gateway")],
               unit="short", decimals=0, thresholds=steps("red", (1, "green"))),
        series(8, "轮询偏差 Poll skew", "Start of a poll minus its scheduled start.",
               (8, 16, 8, 8),
               [target("A", f'SELECT max("last_skew_s") {MB_FROM} {PER_GW}', "$tag_gateway")],
               unit="s", decimals=2),
        series(9, "轮询时长 Poll duration", "How long one poll of every meter took.",
               (16, 16, 8, 8),
               [target("A", f'SELECT max("last_duration_s") {MB_FROM} {PER_GW}', "$tag_gateway")],
               unit="s", decimals=2),
        series(10, "表计故障 Meter poll faults",
               "Failed meter polls per interval (timeouts, exceptions, garbage).",
               (0, 24, 12, 8),
               [target("A", 'SELECT non_negative_difference(last("faults")) FROM '
                            '"heatwatch_modbus" WHERE $timeFilter GROUP BY time($__interval), '
                            '"gateway" fill(none)', "$tag_gateway")],
               unit="short", decimals=0, bars=True),
        table(11, "网关 Gateways now", "Each gateway's latest health point.",
              (12, 24, 12, 8),
              [target("A", f'SELECT "connected", "last_skew_s", "last_duration_s", '
                           f'"overruns", "backoff_s" FROM ({GATEWAYS_LAST}) GROUP BY "gateway"',
                      table=True)],
              sort_by="connected", desc=False, decimals=2,
              overrides=[{"matcher": {"id": "byName", "options": "connected"},
                          "properties": [{"id": "mappings", "value": value_map(
                              (0, "断线 down", "red"), (1, "在线 up", "green"))}]}]),
    ]


def ingest() -> Json:
    """数据采集: the collector and the Modbus gateways."""
    panels = _ingest_collectors() + _ingest_modbus()
    return dashboard("heatwatch-ingest", "数据采集 Ingest",
                     "The collector (readings/s, queue, spool, rejections) and the Modbus "
                     "gateways (connected, skew, duration, faults).",
                     panels, time_from="now-6h", refresh="30s", tags=["ingest"])


def build_all(city: CityRules | None = None, limits: ServiceLimits | None = None
              ) -> dict[str, Json]:
    """File name → dashboard JSON, for every provisioned dashboard; thresholds and texts
    state the city's rules and the service limits (default: docs/rules.md's and the seed's)."""
    return {"control-room.json": control_room(city, limits),
            "substation.json": substation(city, limits), "ingest.json": ingest(),
            "service.json": service(), "early.json": early()}


def render(dash: Json) -> str:
    """The committed text of a dashboard: stable key order, UTF-8, trailing newline."""
    return json.dumps(dash, ensure_ascii=False, indent=2) + "\n"


def queries(dash: Json) -> Iterator[tuple[Json, Json]]:
    """Every (panel, target) of a dashboard."""
    for p in dash["panels"]:
        for t in p["targets"]:
            yield p, t


def annotation_queries(dash: Json) -> Iterator[tuple[Json, Json]]:
    """Every (annotation, target) of a dashboard."""
    for a in dash["annotations"]["list"]:
        yield a, a["target"]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m grafana.dashboards",
                                 description="Build the provisioned Grafana dashboards.")
    ap.add_argument("--write", action="store_true", help="rewrite grafana/dashboards/*.json")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 if the committed files differ from the code")
    ap.add_argument("--dir", type=Path, default=DASHBOARDS_DIR)
    args = ap.parse_args(argv)
    stale = []
    for name, dash in build_all().items():
        path: Path = args.dir / name
        text = render(dash)
        if args.write:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        elif not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(name)
    if stale:
        print(f"grafana dashboards out of date: {', '.join(stale)} "
              "(run python -m grafana.dashboards --write)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Grafana panel and dashboard builders: the JSON shapes Grafana 11.6's schema knows
(grafana/schema checks them), so a dashboard in grafana/dashboards.py is a list of calls."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

Json = dict[str, Any]

# grafana/provisioning/datasources/influxdb.yml: every panel and target names this uid
DATASOURCE: Final[Json] = {"type": "influxdb", "uid": "heatwatch-influxdb"}
# Grafana 11.6 (docker-compose.yml) reads and migrates this schema
SCHEMA_VERSION: Final = 39



def target(ref_id: str, query: str, alias: str = "", table: bool = False) -> Json:
    """One raw InfluxQL query of a panel."""
    t: Json = {"refId": ref_id, "datasource": dict(DATASOURCE), "rawQuery": True,
               "query": query, "resultFormat": "table" if table else "time_series"}
    if alias:
        t["alias"] = alias
    return t


def steps(base: str, *points: tuple[float, str]) -> Json:
    """Absolute thresholds: the base colour, then (value, colour) from that value up."""
    return {"mode": "absolute", "steps": [{"color": base, "value": None}]
            + [{"color": c, "value": v} for v, c in points]}


def value_map(*pairs: tuple[int | str, str, str]) -> list[Json]:
    """A value mapping: raw value → text and colour."""
    return [{"type": "value", "options": {
        str(v): {"text": text, "color": color, "index": i}
        for i, (v, text, color) in enumerate(pairs)}}]


def panel(pid: int, kind: str, title: str, description: str, grid: tuple[int, int, int, int],
          targets: Sequence[Json], unit: str = "short", thresholds: Json | None = None,
          options: Json | None = None, interval: str = "", no_value: str = "",
          decimals: int | None = None, mappings: Sequence[Json] = (),
          overrides: Sequence[Json] = (), custom: Json | None = None) -> Json:
    """One panel at (x, y, w, h) on the 24-column grid."""
    x, y, w, h = grid
    defaults: Json = {"unit": unit, "thresholds": thresholds or steps("green"),
                      "color": {"mode": "thresholds" if thresholds else "palette-classic"},
                      "mappings": list(mappings)}
    if no_value:
        defaults["noValue"] = no_value
    if decimals is not None:
        defaults["decimals"] = decimals
    if custom:
        defaults["custom"] = custom
    p: Json = {"id": pid, "type": kind, "title": title, "description": description,
               "gridPos": {"x": x, "y": y, "w": w, "h": h}, "datasource": dict(DATASOURCE),
               "targets": list(targets),
               "fieldConfig": {"defaults": defaults, "overrides": list(overrides)},
               "options": options or {}}
    if interval:
        # the panel's minimum $__interval: coarser than the datasource's 1m
        p["interval"] = interval
    return p


def stat(pid: int, title: str, description: str, grid: tuple[int, int, int, int],
         targets: Sequence[Json], **kw: Any) -> Json:
    """A big number on the wall; the last value of each query."""
    opts = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background", "graphMode": "none", "textMode": "value_and_name",
            "justifyMode": "center", "orientation": "auto", "wideLayout": True,
            "showPercentChange": False, "percentChangeColorMode": "standard"}
    return panel(pid, "stat", title, description, grid, targets, options=opts, **kw)


def table(pid: int, title: str, description: str, grid: tuple[int, int, int, int],
          targets: Sequence[Json], sort_by: str = "", desc: bool = True, **kw: Any) -> Json:
    """Rows per tag group; the time column hidden (a `last` has no meaningful time)."""
    opts: Json = {"showHeader": True, "cellHeight": "sm", "frameIndex": 0,
                  "footer": {"show": False, "reducer": ["sum"], "fields": []}}
    if sort_by:
        opts["sortBy"] = [{"displayName": sort_by, "desc": desc}]
    p = panel(pid, "table", title, description, grid, targets, options=opts,
              custom={"cellOptions": {"type": "color-text"}, "align": "auto",
                      "inspect": False}, **kw)
    p["transformations"] = [{"id": "merge", "options": {}},
                            {"id": "organize", "options": {"excludeByName": {"Time": True}}}]
    return p


def series(pid: int, title: str, description: str, grid: tuple[int, int, int, int],
           targets: Sequence[Json], bars: bool = False, **kw: Any) -> Json:
    """A time series; threshold lines drawn dashed when thresholds are given."""
    custom: Json = {"drawStyle": "bars" if bars else "line", "lineWidth": 1, "fillOpacity": 10,
                    # a gap over an hour breaks the line: data missing, not a flat value
                    "spanNulls": 3_600_000, "showPoints": "never",
                    "thresholdsStyle": {"mode": "dashed" if kw.get("thresholds") else "off"}}
    opts = {"legend": {"showLegend": True, "displayMode": "table", "placement": "right",
                       "calcs": ["lastNotNull"]},
            "tooltip": {"mode": "multi", "sort": "desc"}}
    p = panel(pid, "timeseries", title, description, grid, targets, options=opts,
              custom=custom, **kw)
    # lines keep their palette colour; thresholds only draw the dashed lines
    p["fieldConfig"]["defaults"]["color"] = {"mode": "palette-classic"}
    return p


def bargauge(pid: int, title: str, description: str, grid: tuple[int, int, int, int],
             targets: Sequence[Json], **kw: Any) -> Json:
    """One bar per series, coloured by thresholds."""
    opts = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "orientation": "horizontal", "displayMode": "basic", "showUnfilled": True,
            "valueMode": "color", "namePlacement": "auto", "sizing": "auto",
            "minVizWidth": 8, "minVizHeight": 16, "maxVizHeight": 300,
            "legend": {"showLegend": False, "displayMode": "list", "placement": "bottom",
                       "calcs": []}}
    return panel(pid, "bargauge", title, description, grid, targets, options=opts, **kw)


def query_variable(name: str, label: str, query: str) -> Json:
    """A template variable filled from an InfluxQL SHOW query when the dashboard loads."""
    return {"name": name, "label": label, "type": "query", "datasource": dict(DATASOURCE),
            "query": query, "refresh": 1, "sort": 1, "regex": "",
            "includeAll": False, "multi": False, "hide": 0, "options": []}


def annotation(name: str, query: str, color: str) -> Json:
    """An InfluxQL annotation query as the InfluxDB datasource's editor saves it: the row's
    time is the start, `time_end` the end of a region, `text` the text, and the substation and
    kind its tags (alerts/annotations.py writes them)."""
    return {"name": name, "datasource": dict(DATASOURCE), "enable": True, "hide": False,
            "iconColor": color,
            "target": {"refId": "Anno", "datasource": dict(DATASOURCE), "rawQuery": True,
                       "query": query, "resultFormat": "table", "queryType": "tags",
                       "fromAnnotations": True, "textColumn": "text",
                       "timeEndColumn": "time_end", "tagsColumn": "substation_id,kind"}}


def annotations_of(where: str = "") -> list[Json]:
    """Incidents (regions while they ran) and order state changes, optionally filtered."""
    sel = 'SELECT "text", "time_end", "substation_id", "kind" FROM "annotations" WHERE '
    cond = f"{where} AND " if where else ""
    return [annotation("事件 Incidents", f"{sel}{cond}\"kind\" != 'order' AND $timeFilter",
                       "red"),
            annotation("工单 Work orders", f"{sel}{cond}\"kind\" = 'order' AND $timeFilter",
                       "blue")]


def dashboard(uid: str, title: str, description: str, panels: Sequence[Json],
              variables: Sequence[Json] = (), time_from: str = "now-24h",
              refresh: str = "1m", tags: Sequence[str] = (),
              annotations: Sequence[Json] = ()) -> Json:
    """A dashboard as Grafana's file provisioning reads it (id null: Grafana assigns one)."""
    return {"id": None, "uid": uid, "title": title, "description": description,
            "tags": ["heatwatch", *tags], "timezone": "browser", "editable": False,
            "graphTooltip": 1, "schemaVersion": SCHEMA_VERSION, "version": 1,
            "refresh": refresh, "time": {"from": time_from, "to": "now"},
            "timepicker": {}, "fiscalYearStartMonth": 0, "liveNow": False, "links": [],
            "annotations": {"list": list(annotations)},
            "templating": {"list": list(variables)},
            "panels": list(panels)}


def last_by(measurement: str, fields: Sequence[str], tags: Sequence[str]) -> str:
    """Subquery: each tag group's newest value of the fields within the time range."""
    cols = ", ".join(f'last("{f}") AS "{f}"' for f in fields)
    group = ", ".join(f'"{t}"' for t in tags)
    return f'SELECT {cols} FROM "{measurement}" WHERE $timeFilter GROUP BY {group}'

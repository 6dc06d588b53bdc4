"""Incidents and order state changes as Grafana annotations, on a real influxd: written by the
alerts service from the incident and audit logs, and found by the annotation queries of the
committed dashboards (run as Grafana runs them, with $timeFilter and $substation)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from alerts.annotations import AnnotationWriter, incident_annotation
from alerts.config import AlertsConfig
from alerts.service import AlertsService, build_service
from district.records import load_records
from grafana import dashboards as gd
from simulators.scenario import SAMPLE_RECORDS_DIR
from storage.base import StoreUnavailable
from storage.influx import InfluxStore
from tests.test_alerts_support import ManualClock, ms, raise_incident, reconcile
from tests.test_grafana import District, interpolate, series_of
from workflow.details import LeakDetails, OutageDetails
from workflow.incidents import Incident, incident_key
from workflow.unit import WorkflowDb

HOUR_MS = 3_600_000
CREWS = {"crew": [{"id": "east", "substations": ["S1"]}, {"id": "north", "substations": ["S2"]}]}


def committed(name: str) -> dict[str, Any]:
    return dict(json.loads((gd.DASHBOARDS_DIR / name).read_text(encoding="utf-8")))


def annotation_rows(d: District, dash: dict[str, Any], variables: dict[str, str]
                ) -> dict[str, list[dict[str, Any]]]:
    """Annotation name → its rows (column → value), as the committed query returns them."""
    out: dict[str, list[dict[str, Any]]] = {}
    for a, t in gd.annotation_queries(dash):
        q = interpolate(t["query"], {}, d, variables)
        result = d.query(q)
        assert "error" not in result, (a["name"], q, result)
        rows = out.setdefault(a["name"], [])
        for s in series_of(result):
            rows += [dict(zip(s["columns"], v, strict=True)) for v in s["values"]]
        for row in rows:
            # the columns the annotation says are the end, the text and the tags
            assert {t["timeEndColumn"], t["textColumn"], *t["tagsColumn"].split(",")} <= set(row)
    return out


@pytest.fixture
def outage_day(influxd_shared: Any, tmp_path: Path) -> tuple[District, AlertsService]:
    """Three S1 incidents, then a 30 h outage at S2; crews act on some orders."""
    db = f"annotations_{tmp_path.name[-20:].replace('-', '_')}"
    store = InfluxStore(influxd_shared.url, db)
    rec = load_records(SAMPLE_RECORDS_DIR)
    clock = ManualClock(ms("2024-12-02 08:00"))
    svc = build_service(AlertsConfig.from_mapping(CREWS), rec, str(tmp_path), "Asia/Shanghai",
                        clock_ms=clock, store=store)
    t0 = ms("2024-12-02 08:00")
    raise_incident(svc.db, "leak", "S1", t0, t0, substation_id="S1",
                   details=LeakDetails(signs=["makeup"], ongoing=True))
    raise_incident(svc.db, "room_cold", "T-B01-0101-liv", t0, t0, substation_id="S1",
                   building_id="B01", account_id="B01-0101")
    raise_incident(svc.db, "meter_fault", "M-B02-0103", t0, t0, substation_id="S1",
                   building_id="B02", cause="sensor_open")
    svc.step(t0)
    start = ms("2024-12-02 09:00")
    raise_incident(svc.db, "outage", "S2", start, start + 10 * 60_000,
                   substation_id="S2", details=OutageDetails(duration_h=0.17, ongoing=True))
    svc.step(start + 10 * 60_000)
    (order,) = [o for o in svc.db.orders.find() if o.substation_id == "S2"]
    svc.act(order.order_id, "accept", "王师傅", at_ms=start + 20 * 60_000)
    svc.act(order.order_id, "arrive", "王师傅", note="电话 13800000000 联系用户",
            at_ms=start + 80 * 60_000)
    svc.step(start + 90 * 60_000)
    # restored 30 h after it began: the analyzer closes it with its duration
    end = start + 30 * HOUR_MS
    inc = Incident(incident_key("outage", "S2", start), "outage", "S2", start,
                   substation_id="S2", closed_ms=end,
                   details=OutageDetails(duration_h=30.0, reason="pump_stopped"))
    reconcile(svc.db, inc, end + 5 * 60_000)
    svc.step(end + 5 * 60_000)
    svc.close()
    store.close()
    return District(influxd_shared.url, db, t0 - HOUR_MS, end + 2 * HOUR_MS), svc


@pytest.mark.services
def test_a_30h_outage_is_one_region_with_its_order_and_crew(
        outage_day: tuple[District, AlertsService]) -> None:
    d, svc = outage_day
    found = annotation_rows(d, committed("substation.json"), {"substation": "S2"})
    (region,) = found["事件 Incidents"]
    start = ms("2024-12-02 09:00")
    assert region["time"] == start and region["time_end"] == start + 30 * HOUR_MS
    (order,) = [o for o in svc.db.orders.find(include_closed=True) if o.substation_id == "S2"]
    assert order.order_id == "WO000004" and order.crew == "north"
    # the cause stays a code until shown: the annotation words it from the catalogue
    assert "outage S2, 循环泵停运, 30 h, order WO000004, crew north" in region["text"]
    assert (region["substation_id"], region["kind"]) == ("S2", "outage")
    # the order's state changes are marks at their times; the crew's note is never shown
    marks = sorted((r["time"], r["text"]) for r in found["工单 Work orders"])
    assert [t for t, _ in marks] == [start + 10 * 60_000, start + 20 * 60_000,
                                     start + 80 * 60_000]
    assert "dispatched" in marks[0][1] and "accepted by 王师傅" in marks[1][1]
    assert "on_site by 王师傅, crew north" in marks[2][1]
    assert not any("13800000000" in text for _, text in marks)


@pytest.mark.services
def test_each_substation_shows_only_its_own(outage_day: tuple[District, AlertsService]) -> None:
    d, _ = outage_day
    s1 = annotation_rows(d, committed("substation.json"), {"substation": "S1"})
    assert {r["substation_id"] for rows in s1.values() for r in rows} == {"S1"}
    assert sorted(r["kind"] for r in s1["事件 Incidents"]) == ["leak", "meter_fault",
                                                             "room_cold"]
    # the open ones are marks (end = start) and say they are running
    assert all(r["time_end"] == r["time"] and "running" in r["text"]
               for r in s1["事件 Incidents"])
    # the control room sees every substation
    everything = annotation_rows(d, committed("control-room.json"), {})
    assert {r["substation_id"] for r in everything["事件 Incidents"]} == {"S1", "S2"}
    assert len(everything["事件 Incidents"]) == 4


@pytest.mark.services
def test_rerunning_the_writer_changes_nothing(outage_day: tuple[District, AlertsService],
                                              tmp_path: Path) -> None:
    """Cursors: nothing is pending after the step; a replay rewrites the same points."""
    d, svc = outage_day
    db = WorkflowDb(svc.db.path)
    store = InfluxStore(d.url, d.db)
    writer = AnnotationWriter(db, store, lambda i: i.substation_id)
    assert writer.pending()[0] == []
    before = annotation_rows(d, committed("control-room.json"), {})
    with db.unit() as u:
        u.counters.set_cursor(0, "annotations_incidents")
        u.counters.set_cursor(0, "annotations_orders")
    assert writer.step() > 0
    assert annotation_rows(d, committed("control-room.json"), {}) == before
    db.close()
    store.close()


class DownStore:
    """A store that is down: every write fails as InfluxDB unreachable does."""

    def __init__(self) -> None:
        self.calls = 0

    def write(self, readings: Any) -> None:
        self.calls += 1
        raise StoreUnavailable("influxdb: connection refused")


def test_a_store_that_is_down_delays_annotations_not_orders(tmp_path: Path) -> None:
    rec = load_records(SAMPLE_RECORDS_DIR)
    clock = ManualClock(ms("2024-12-02 09:00"))
    down = DownStore()
    svc = build_service(AlertsConfig.from_mapping(CREWS), rec, str(tmp_path), "Asia/Shanghai",
                        clock_ms=clock, store=down)  # type: ignore[arg-type]
    t = ms("2024-12-02 09:00")
    raise_incident(svc.db, "outage", "S2", t, t, substation_id="S2")
    svc.step(t)
    svc.step(t + 60_000)
    # the order exists and its message is queued, though nothing reached the store
    (order,) = svc.db.orders.find()
    assert order.crew == "north" and down.calls >= 2
    assert svc.annotations is not None and svc.annotations.pending()[0], "kept for later"
    svc.close()


def test_incident_text_names_every_order() -> None:
    inc = Incident("k", "leak", "S1", 0, substation_id="S1", closed_ms=90 * 60_000)
    p = incident_annotation(inc, "S1", [])
    fields: dict[str, Any] = dict(p.fields)
    assert fields["text"] == "漏水 leak S1, 1.5 h" and fields["time_end"] == 90 * 60_000
    assert p.tags == {"substation_id": "S1", "kind": "leak", "subject": "S1", "cause": ""}

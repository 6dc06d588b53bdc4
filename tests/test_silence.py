"""Silence has its own meaning (issue 9 item 3): a substation or weather station that stops
reporting is one comm incident and one order to its crew, never an outage nor a restoration (an
outage in progress stays open across it); rooms of one building that go silent together are one
incident for the building listing them, a lone silent room stays its own.

The district run is the simulator's, with its own cadences and jitter, through the store, the
analyzer's hourly cycles and the alerts service into the outbox. The properties draw the
station's cadence, jitter and loss (tests/test_cadence_properties.py's generators)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.config import AlertsConfig
from alerts.lifecycle import state_text
from alerts.service import AlertsService
from analyzer.config import AnalyzerConfig
from analyzer.detectors.base import Context
from analyzer.detectors.room_days import judge_rooms
from analyzer.detectors.sensors import detect_sensor_faults
from analyzer.detectors.stations import detect_station_silence
from analyzer.index import DistrictIndex
from analyzer.runner import Runner, Watermarks
from analyzer.window import Window
from district.readings import Reading
from district.records import load_records
from simulators.scenario import SAMPLE_RECORDS_DIR, parse_scenario
from storage.sqlite import SqliteStore
from tests.records_fixture import write_records
from tests.test_alerts_support import ManualClock, alerts_table
from tests.test_analyzer_scenarios import TZ, district_readings
from tests.test_cadence_properties import (
    AT_MS,
    CTX,
    HOUR_AXIS,
    HOURS,
    MIN_MS,
    ROOMS,
    SETTINGS,
    STEP_MS,
    T0,
    hourly_mean_min_max,
    sample,
    sub_grids,
    window,
)
from tests.test_resident_texts import latin_words
from workflow.details import SensorFaultDetails, StationCommDetails
from workflow.incidents import Incident, IncidentStore
from workflow.unit import WorkflowDb

H_MS = 3_600_000
B08_ROUTER = ("T-B08-0104-liv", "T-B08-0104-bed", "T-B08-0203-liv", "T-B08-0304-liv",
              "T-B08-0304-bed", "T-B08-0401-liv", "T-B08-0401-bed", "T-B08-0402-liv",
              "T-B08-0402-bed", "T-B08-0403-liv")  # ten of its thirteen rooms
LONE_ROOM = "T-B02-0201-liv"


def silent(target: str, start_h: float, hours: float) -> dict[str, object]:
    return {"name": "silent", "target": target, "start": f"{start_h}h", "duration": f"{hours}h"}


@dataclass
class Run:
    start: int
    end: int
    readings: list[Reading]
    incidents: list[Incident]
    wf: IncidentStore
    db: WorkflowDb


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The sample district for two days: S1's pump trips at 6 h for 30 h and its telemetry
    goes dark mid-outage (12–20 h); S2's goes dark while it runs (20–26 h); the weather station
    from 30 h on; a lone room 8–16 h; ten rooms of B08 behind one router 26–36 h. Hourly
    analyzer cycles, the alerts service after each."""
    tmp = tmp_path_factory.mktemp("silence")
    sc = parse_scenario({
        "name": "silence", "start": dt.datetime(2024, 12, 2, tzinfo=TZ), "duration": "48h",
        "seed": 20241209, "records": str(SAMPLE_RECORDS_DIR), "meter_update": "5m",
        "weather": {"daily_mean_c": -5.0, "diurnal_amplitude_c": 4.0},
        "intervals": {"room": ["10m", "15m", "20m", "30m", "1h"], "substation": "5m",
                      "weather": "10m"},
        "behaviour": [{"name": "pump_trip", "target": "S1", "start": "6h", "duration": "30h"},
                      silent("SUB-S1", 12, 8), silent("SUB-S2", 20, 6), silent("WX-1", 30, 18),
                      silent(LONE_ROOM, 8, 8), *(silent(r, 26, 10) for r in B08_ROUTER)]},
        "silence")
    rec = load_records(SAMPLE_RECORDS_DIR)
    readings = district_readings(sc, rec)
    store = SqliteStore(tmp / "readings.sqlite")
    store.write(readings)
    path = tmp / "workflow.sqlite"
    wf = IncidentStore(path)
    runner = Runner(store, rec, wf, AnalyzerConfig(), TZ, Watermarks(path))
    start, end = int(sc.start_s * 1000), int(sc.end_s * 1000)
    clock = ManualClock(start)
    db = WorkflowDb(path)
    svc = AlertsService(AlertsConfig.from_mapping(alerts_table()), rec, db, {}, clock)
    for h in range(1, 49):
        clock.now_ms = start + h * H_MS
        runner.run_cycle(clock.now_ms)
        svc.step(clock.now_ms)
    store.close()
    return Run(start, end, readings, wf.find(include_closed=True), wf, db)


def one(found: list[Incident], kind: str, subject: str) -> Incident:
    got = [i for i in found if i.kind == kind and i.subject == subject]
    assert len(got) == 1, [(i.kind, i.subject, i.cause, i.started_ms) for i in got]
    return got[0]


def station_ts(readings: list[Reading], device: str) -> np.ndarray:
    return np.sort(np.array([r.ts_ms for r in readings if r.tags.get("device_id") == device]))


def test_a_station_gone_dark_is_one_comm_incident_dated_from_its_last_reading(
        run: Run) -> None:
    found, start, readings = run.incidents, run.start, run.readings
    comm = [i for i in found if i.kind == "station_comm"]
    assert sorted(i.subject for i in comm) == ["S1", "S2", "WX-1"]
    for sid, dev, (a_h, b_h) in (("S1", "SUB-S1", (12, 20)), ("S2", "SUB-S2", (20, 26))):
        inc = one(found, "station_comm", sid)
        ts = station_ts(readings, dev)
        last = int(ts[ts < start + a_h * H_MS].max())
        resumed = int(ts[ts >= start + b_h * H_MS].min())
        # within one reporting interval (5 min) of its last reading; closed as readings resume
        assert last < inc.started_ms <= last + 5 * MIN_MS, (inc.started_ms - last) / MIN_MS
        assert inc.closed_ms is not None and resumed - 5 * MIN_MS < inc.closed_ms <= resumed
        assert inc.cause == "substation_silent" and inc.substation_id == sid
        assert isinstance(inc.details, StationCommDetails) and inc.details.device_id == dev
    wx = one(found, "station_comm", "WX-1")
    ts = station_ts(readings, "WX-1")
    last = int(ts[ts < start + 30 * H_MS].max())
    assert last < wx.started_ms <= last + H_MS and wx.closed_ms is None
    assert wx.cause == "weather_silent"


def test_silence_is_neither_an_outage_nor_a_restoration(run: Run) -> None:
    found, start, wf = run.incidents, run.start, run.wf
    outages = [i for i in found if i.kind == "outage"]
    # S2 went dark while running: no outage; S1 went dark mid-outage: the outage stayed one,
    # open from the trip to the pump's restart, across the eight dark hours
    assert [i.subject for i in outages] == ["S1"]
    (out,) = outages
    assert abs(out.started_ms - (start + 6 * H_MS)) <= 10 * MIN_MS
    assert out.closed_ms is not None and abs(out.closed_ms - (start + 36 * H_MS)) <= 10 * MIN_MS
    events = [e.event for e in wf.events_after(0) if e.key == out.key]
    assert events.count("opened") == 1 and events.count("closed") == 1
    assert events[-1] == "closed"


def test_rooms_silent_together_are_one_incident_for_their_building(
        run: Run) -> None:
    found = run.incidents
    sensors = [i for i in found if i.kind == "sensor_fault"]
    b08 = one(found, "sensor_fault", "building B08")
    assert b08.cause == "rooms_silent" and isinstance(b08.details, SensorFaultDetails)
    assert sorted(b08.details.devices) == sorted(B08_ROUTER)
    assert not [i for i in sensors if i.subject in B08_ROUTER]
    lone = one(found, "sensor_fault", LONE_ROOM)
    assert lone.cause == "silent"
    assert {(i.subject, i.cause) for i in sensors} == {("building B08", "rooms_silent"),
                                                       (LONE_ROOM, "silent")}


def test_each_silence_is_one_order_to_its_crew_in_chinese(run: Run) -> None:
    found, db, end = run.incidents, run.db, run.end
    orders = db.orders.find(include_closed=True)
    crews = {"S1": "north", "S2": "west", "WX-1": "dispatch"}
    for inc in found:
        if inc.kind != "station_comm" and inc.kind != "sensor_fault":
            continue
        got = [o for o in orders if o.incident_key == inc.key]
        assert len(got) == 1, (inc.subject, got)
        if inc.kind == "station_comm":
            assert got[0].crew == crews[inc.subject]
    assert len([o for o in orders if o.incident_kind == "station_comm"]) == 3
    assert len([o for o in orders if o.incident_kind == "sensor_fault"]) == 2
    keys = {o.order_id for o in orders if o.incident_kind in ("station_comm", "sensor_fault")}
    bodies = [r.body for r in db.outbox.due("crew-hook", end + H_MS, 1000)
              if r.data.get("order_id") in keys]
    assert len(bodies) >= 4  # north and west by their hook; dispatch has no channel
    for body in bodies:
        # the members' names are the config's (here Latin): each heads its own link line
        text = "\n".join(ln for ln in body.splitlines() if "本人专用" not in ln)
        assert latin_words(text) == [], body
    assert any("换热站无新数据" in b and "楼栋" not in b for b in bodies)
    assert any("楼栋 B08" in b and "10 个房间" in b for b in bodies)


def test_each_silence_order_is_titled_for_what_went_silent(run: Run) -> None:
    """A station's, a weather station's or a building's rooms' order says so in its title and
    its deadline (no resident to contact at a station); a lone room's stays a sensor repair
    with its resident contacted first. The repair limits stay: contact 30 min, on site 2 h."""
    db, end = run.db, run.end
    incidents = {i.key: i for i in run.incidents}
    orders = [o for o in db.orders.find(include_closed=True)
              if o.incident_kind in ("station_comm", "sensor_fault")]
    titles = {"S1": ("station_link", "换热站通讯中断"), "S2": ("station_link", "换热站通讯中断"),
              "WX-1": ("weather_link", "气象站通讯中断"),
              "building B08": ("building_sensors", "楼栋室温采集中断"),
              LONE_ROOM: ("sensor", "室温传感器故障")}
    assert {incidents[o.incident_key].subject: o.kind for o in orders} == {
        s: k for s, (k, _) in titles.items()}
    bodies = {r.data.get("order_id"): r.body for r in db.outbox.due("crew-hook", end + H_MS, 1000)
              if r.data.get("kind") == "order_new"}
    checked = 0
    for o in orders:
        body = bodies.get(o.order_id)
        if body is None:
            continue  # dispatch (the weather station's) has no channel
        checked += 1
        subject = incidents[o.incident_key].subject
        head = body.splitlines()[0]
        assert head.endswith(f"（{titles[subject][1]}）") and "室温不达标" not in body, body
        deadline = next(ln for ln in body.splitlines() if ln.startswith("时限："))
        if subject == LONE_ROOM:
            assert "联系用户" in deadline and "到场" in deadline, deadline
        else:
            assert "联系用户" not in deadline and "响应核实" in deadline and "到场" in deadline
        steps = {d.deadline.step: d.deadline.due_ms - d.deadline.start_ms
                 for d in db.deadlines.find(o.order_id)}
        assert steps == {"contacted": 30 * MIN_MS, "on_site": 120 * MIN_MS}
        # the state the crew page, `orders` and the annotations show once the crew answered
        answered = state_text("contacted", o.kind)
        assert answered == ("已联系用户" if subject == LONE_ROOM else "已响应核实"), answered
    assert checked >= 4


def test_the_morning_report_counts_each_silence_in_its_row(run: Run) -> None:
    """Day one: S1 dark mid-outage and S2 dark while running (a lone room is no building's);
    day two: S2 still dark past midnight, the weather station, B08's rooms. Each is counted in
    its own row of the report's 通讯中断 table, as `heatwatch incidents` has them."""
    from documents.daily import gather
    from documents.report import render_html

    want = {dt.date(2024, 12, 2): ({"substation": 2}, 0),
            dt.date(2024, 12, 3): ({"substation": 1, "weather": 1}, 1)}
    for day, (stations, rooms) in want.items():
        rep = gather(run.db, None, day, TZ)
        assert (rep.station_comm, rep.rooms_silent) == (stations, rooms), day
        d = rep.as_dict()
        assert (d["station_comm"], d["rooms_silent"]) == (stations, rooms)
        html = render_html(rep, dt.datetime(2024, 12, 4, 7, tzinfo=TZ))
        rows = dict(re.findall(r'<tr><td>([^<]+)</td><td class="n">(\d+)</td></tr>', html))
        assert rows["换热站"] == str(stations.get("substation", 0))
        assert rows["气象站"] == str(stations.get("weather", 0))
        assert rows["楼栋室温采集"] == str(rooms)
        assert rows["热量表、集中器"] == str(rep.meter_comm)


def longest_gap(ts: np.ndarray, until_ms: int) -> int:
    """The longest stretch without a reading from the first one to `until_ms`."""
    t = np.sort(np.append(ts, until_ms))
    return int(np.diff(t).max(initial=0))


# -- properties over the station's cadence ----------------------------------------------------

SILENT_AFTER_MS = (20 + 60) * MIN_MS  # substation_stale_min + substation_silent_min


def gaps(ts: np.ndarray) -> list[tuple[int, int]]:
    """Stretches between consecutive readings received, and from the last to the end."""
    t = np.sort(ts)
    return [(int(a), int(b)) for a, b in zip(t[:-1], t[1:], strict=True)] + [(int(t[-1]),
                                                                              AT_MS)]


def station_fields(ts: np.ndarray) -> dict[str, np.ndarray]:
    n = ts.size
    return {"pump_on": np.ones(n), "supply_c": np.full(n, 55.0), "return_c": np.full(n, 45.0),
            "flow_m3h": np.full(n, 100.0), "makeup_m3h": np.full(n, 0.5),
            "return_mpa": np.full(n, 0.35)}


@SETTINGS
@given(cadence_min=st.sampled_from([1, 5, 10, 15]), seed=st.integers(0, 2**32 - 1),
       loss=st.floats(0, 0.2), dark=st.booleans(), start_h=st.floats(2, 40),
       hours=st.floats(1.5, 12))
def test_a_station_silence_is_one_incident_and_loss_alone_none(
        cadence_min: int, seed: int, loss: float, dark: bool, start_h: float,
        hours: float) -> None:
    ts, _ = sample(cadence_min * MIN_MS, seed, loss)
    start, end = T0 + int(start_h * H_MS), T0 + int((start_h + hours) * H_MS)
    if dark:
        ts = ts[(ts < start) | (ts >= end)]
    if ts.size == 0:
        return
    found = detect_station_silence(CTX, window(subs=sub_grids(ts, station_fields(ts))))
    got = sorted((i.started_ms, i.closed_ms) for i in found.incidents)
    # a stretch with no reading for the silence limit is silence, whatever made it (the device
    # stopped, or enough messages in a row were lost); one shorter than it never is. The grid's
    # 5 min slots blur the limit by up to two slots either way
    sure = [(a, b) for a, b in gaps(ts) if b - a >= SILENT_AFTER_MS + 2 * STEP_MS]
    maybe = [(a, b) for a, b in gaps(ts) if b - a >= SILENT_AFTER_MS]
    assert len(sure) <= len(got) <= len(maybe), (got, sure, maybe)
    for s, c in got:
        # each incident is one stretch: it starts within one slot after that stretch's last
        # reading and closes on the slot of the reading that ends it
        [(a, b)] = [(a, b) for a, b in maybe if a < s <= a + STEP_MS]
        if b == AT_MS:
            assert c is None  # still dark at the end
        else:
            assert c is not None and b - STEP_MS < c <= b
    if dark:
        # the stretch the device was dark is one of them, dated from the last reading before
        # it: at most one reporting interval (or slot) before it went dark, unless that
        # reading was lost too
        before = ts[ts < start]
        if before.size and end - int(before.max()) >= SILENT_AFTER_MS + 2 * STEP_MS:
            a = int(before.max())
            (inc,) = [(s, c) for s, c in got if a < s <= a + STEP_MS]
            assert inc[0] <= start + STEP_MS
    if max(b - a for a, b in gaps(ts)) < SILENT_AFTER_MS:
        assert got == []


@SETTINGS
@given(cadence_min=st.sampled_from([1, 5, 10, 15]), seed=st.integers(0, 2**32 - 1),
       loss=st.floats(0, 0.2))
def test_loss_alone_at_any_cadence_is_no_silence(cadence_min: int, seed: int,
                                                 loss: float) -> None:
    """Up to 20 % of messages lost: no incident unless the station's received stream truly has
    a stretch longer than the silence limit (at 15 min and 20 % that takes five losses in a
    row; hypothesis draws such seeds now and then, and those are silences)."""
    ts, _ = sample(cadence_min * MIN_MS, seed, loss)
    found = detect_station_silence(CTX, window(subs=sub_grids(ts, station_fields(ts))))
    longest = max(b - a for a, b in gaps(ts))
    if longest < SILENT_AFTER_MS:
        assert found.incidents == []
    assert len(found.incidents) <= sum(b - a >= SILENT_AFTER_MS for a, b in gaps(ts))


@SETTINGS
@given(cadence_min=st.sampled_from([10, 30, 60]), seed=st.integers(0, 2**32 - 1),
       loss=st.floats(0, 0.2), start_h=st.floats(2, 30), together=st.integers(2, ROOMS))
def test_rooms_of_a_building_silent_together_are_one_incident(
        cadence_min: int, seed: int, loss: float, start_h: float, together: int) -> None:
    """`together` rooms of the building stop at one instant (their router): one incident for
    the building listing them, none of their own; the other rooms report on."""
    start = T0 + int(start_h * H_MS)
    rows, times, temps = [], [], []
    for r in range(ROOMS):
        ts, _ = sample(cadence_min * MIN_MS, seed + 7 * r, loss)
        if r < together:
            ts = ts[ts < start]
        rows.append(np.full(ts.size, r))
        times.append(ts)
        temps.append(np.round(21.0 + np.random.default_rng(seed + r).normal(0, 0.3, ts.size), 1))
    w = window(rooms=hourly_mean_min_max(np.concatenate(rows), np.concatenate(times),
                                         np.concatenate(temps)))
    found = detect_sensor_faults(CTX, w, judge_rooms(CTX, w, np.zeros((ROOMS, HOURS), bool)))
    silent = [i for i in found.incidents if i.cause in ("silent", "rooms_silent")]
    # lost messages can leave a room a long gap of its own: keep the draws where the only
    # silence is the router's (the rooms' last readings within an hour of each other, no other
    # stretch near room_stale_h + silent_h)
    if any(times[r].size == 0 for r in range(together)):
        return  # every reading before the stop lost: a room that never reported
    last = [int(times[r].max()) for r in range(together)]
    quiet = [longest_gap(times[r], AT_MS if r >= together else int(times[r].max()))
             for r in range(ROOMS)]
    if max(last) - min(last) > H_MS or max(quiet) > 4 * H_MS:
        return
    (inc,) = silent
    assert inc.subject == "building B1" and inc.cause == "rooms_silent"
    assert isinstance(inc.details, SensorFaultDetails)
    assert inc.details.devices == [f"r{r}" for r in range(together)]
    assert min(last) < inc.started_ms <= min(last) + H_MS and inc.closed_ms is None
    assert HOUR_AXIS.n_slots == HOURS


def test_a_lone_silent_room_is_its_own_incident_once_no_other_can_join() -> None:
    """One room stops while the others report: its own incident, raised once the grouping
    window has passed (a room of its building that stopped up to room_stale_h later would have
    made it the building's)."""
    rows, times, temps = [], [], []
    stop = T0 + 20 * H_MS
    for r in range(ROOMS):
        ts = T0 + np.arange(0, HOURS * H_MS, 10 * MIN_MS)
        if r == 0:
            ts = ts[ts < stop]
        rows.append(np.full(ts.size, r))
        times.append(ts)
        temps.append(np.full(ts.size, 21.0) + 0.1 * (np.arange(ts.size) % 3))
    w = window(rooms=hourly_mean_min_max(np.concatenate(rows), np.concatenate(times),
                                         np.concatenate(temps)))
    found = detect_sensor_faults(CTX, w, judge_rooms(CTX, w, np.zeros((ROOMS, HOURS), bool)))
    (inc,) = [i for i in found.incidents if i.cause in ("silent", "rooms_silent")]
    assert (inc.subject, inc.cause, inc.started_ms) == ("r0", "silent", stop)


def test_a_weather_station_gone_dark_is_one_incident(tmp_path: Path) -> None:
    rec = load_records(write_records(tmp_path))
    ix = DistrictIndex.from_records(rec)
    ctx = Context(ix, rec, AnalyzerConfig().rules(), dt.UTC, write_back=False)
    grid = np.full((1, HOURS), -5.0)
    grid[0, 30:] = np.nan  # its last reading in hour 29
    w = Window(AT_MS, HOUR_AXIS, CTX_SUB_AXIS, None, np.full((1, 2), -5.0), None, None,
               weather=grid)
    w = replace(w, first_seen_ms=w.first_readings(ix)).held(ctx.rules.signals)
    found = detect_station_silence(ctx, w)
    got = [(i.subject, i.cause, i.started_ms, i.closed_ms) for i in found.incidents
           if i.subject == "w1"]
    assert got == [("w1", "weather_silent", T0 + 30 * H_MS, None)]
    # and a gap shorter than weather_silent_h (3 h) is no incident
    grid[0, 30:] = -5.0
    grid[0, 30:32] = np.nan
    w = replace(w, weather=grid)
    assert [i for i in detect_station_silence(ctx, w).incidents if i.subject == "w1"] == []


CTX_SUB_AXIS = window().steps

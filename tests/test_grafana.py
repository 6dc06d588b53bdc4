"""The Grafana dashboards: committed JSON = code, valid for provisioning, every query runs on a
real influxd against data the real simulator, analyzer and collector code wrote; the push
script speaks Grafana's documented dashboard API (a fake Grafana: none can run here)."""

from __future__ import annotations

import http.server
import json
import re
import threading
import urllib.parse
import urllib.request
import zoneinfo
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from alerts.config import AlertsConfig
from alerts.service import build_service
from analyzer.config import AnalyzerConfig
from analyzer.runner import Runner, Watermarks
from collector.deadletter import DeadLetters
from collector.modbus_poller import GatewayStats, ModbusPoller
from collector.mqtt_collector import MqttCollector
from district.readings import Reading
from district.records import load_records
from grafana import dashboards as gd
from grafana import push
from grafana import service as svc
from heatwatch.bootstrap import registry
from heatwatch.config import load_config
from heatwatch.services import modbus_health
from simulators.scenario import SAMPLE_RECORDS_DIR, load_scenario
from storage.influx import InfluxStore
from tests.test_analyzer_scenarios import district_readings
from workflow.calls import Call
from workflow.incidents import IncidentStore
from workflow.unit import WorkflowDb

REPO = Path(__file__).resolve().parents[1]
FAULTY_SENSOR = "T-B03-0104-liv"
TZ = zoneinfo.ZoneInfo("Asia/Shanghai")

# The sample district for 30 h with faults still running at the end, so every "now" panel
# has something to show: S2's pump tripped at 24 h, a cold room, a leak at S1, a meter with
# an open sensor (non-human), one tampered (human), one silent (comm).
SCENARIO = """
name = "grafana"
start = 2024-12-02T00:00:00+08:00
duration = "30h"
speed = 3600
seed = 20241202
records = ""
step = "1m"
meter_update = "5m"

[weather]
daily_mean_c = -5.0
diurnal_amplitude_c = 4.0

[intervals]
room = ["10m", "15m", "20m", "30m", "1h"]
substation = "5m"
weather = "10m"

[[behaviour]]
name = "cold_room"
target = "T-B01-0101-liv"
start = "2h"
duration = "40h"
settle_c = 15.0

[[behaviour]]
name = "pump_trip"
target = "S2"
start = "24h"
duration = "10h"

[[behaviour]]
name = "leak"
target = "S1"
start = "20h"
duration = "10h"
makeup_pct = 4.0
holding_mpa = 0.25

[[behaviour]]
name = "sensor_open"
target = "M-B02-0103"
start = "20h"
duration = "20h"
sensor = "supply"

[[behaviour]]
name = "status_bits"
target = "M-B04-0502"
start = "20h"
duration = "20h"
bits = ["tamper"]

[[behaviour]]
name = "meter_offline"
target = "M-B05-0502"
start = "22h"
duration = "20h"
mode = "timeout"
"""


# -- files and provisioning -------------------------------------------------------------------
def test_committed_json_is_what_the_code_builds() -> None:
    built = gd.build_all()
    on_disk = {p.name for p in gd.DASHBOARDS_DIR.glob("*.json")}
    assert on_disk == set(built), "run: python -m grafana.dashboards --write"
    for name, dash in built.items():
        assert (gd.DASHBOARDS_DIR / name).read_text(encoding="utf-8") == gd.render(dash), name
    assert gd.main(["--check"]) == 0


def test_check_reports_a_stale_file(tmp_path: Path) -> None:
    assert gd.main(["--write", "--dir", str(tmp_path)]) == 0
    (tmp_path / "ingest.json").write_text("{}", encoding="utf-8")
    assert gd.main(["--check", "--dir", str(tmp_path)]) == 1


def provisioned_datasource_uid() -> str:
    doc = yaml.safe_load((REPO / "grafana/provisioning/datasources/influxdb.yml").read_text())
    (ds,) = doc["datasources"]
    assert ds["type"] == "influxdb" and ds["jsonData"]["version"] == "InfluxQL"
    return str(ds["uid"])


@pytest.mark.parametrize("name", sorted(gd.build_all()))
def test_dashboard_is_valid_for_file_provisioning(name: str) -> None:
    dash = json.loads((gd.DASHBOARDS_DIR / name).read_text(encoding="utf-8"))
    ds_uid = provisioned_datasource_uid()
    # Grafana: uid at most 40 characters, unique across the provisioned files
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", dash["uid"])
    assert dash["title"] and dash["id"] is None
    assert isinstance(dash["schemaVersion"], int) and dash["schemaVersion"] >= 36
    assert dash["panels"]
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    titles = [p["title"] for p in dash["panels"]]
    assert len(titles) == len(set(titles)), "panel titles must be unique"
    cells: set[tuple[int, int]] = set()
    for p in dash["panels"]:
        g = p["gridPos"]
        assert g["w"] > 0 and g["h"] > 0 and g["x"] + g["w"] <= 24, p["title"]
        area = {(x, y) for x in range(g["x"], g["x"] + g["w"])
                for y in range(g["y"], g["y"] + g["h"])}
        assert not area & cells, f"panel {p['title']} overlaps another"
        cells |= area
        assert p["targets"], p["title"]
        if p["datasource"]["type"] != "influxdb":  # the service dashboard: test_grafana_service
            assert p["datasource"] == svc.PG_DATASOURCE, p["title"]
            continue
        assert p["datasource"] == {"type": "influxdb", "uid": ds_uid}, p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), p["title"]
        for t in p["targets"]:
            assert t["datasource"] == {"type": "influxdb", "uid": ds_uid}
            assert t["rawQuery"] is True and t["query"].startswith(("SELECT", "SHOW"))
            # every time series is bounded by the picker, or Grafana would read everything
            assert "$timeFilter" in t["query"], (p["title"], t["query"])
            if "GROUP BY time(" in t["query"]:
                assert "time($__interval)" in t["query"], t["query"]
    for a, t in gd.annotation_queries(dash):
        assert a["datasource"] == t["datasource"] == {"type": "influxdb", "uid": ds_uid}
        assert t["rawQuery"] is True and t["query"].startswith("SELECT"), a["name"]
        assert "$timeFilter" in t["query"] and 'FROM "annotations"' in t["query"]
    for v in dash["templating"]["list"]:
        assert v["datasource"]["uid"] == ds_uid and v["query"].startswith("SHOW ")
    # a variable is used as a regex, anchored, so "S1" does not also match "S10"
    if "$substation" in json.dumps(dash):
        assert all("=~ /^$substation$/" in t["query"]
                   for _, t in [*gd.queries(dash), *gd.annotation_queries(dash)]
                   if "$substation" in t["query"])
        # the substation's annotations too: a dashboard per substation shows only its own
        assert all("$substation" in t["query"] for _, t in gd.annotation_queries(dash))
        assert [v["name"] for v in dash["templating"]["list"]] == ["substation"]


def test_dashboard_uids_are_stable_and_distinct() -> None:
    uids = {n: d["uid"] for n, d in gd.build_all().items()}
    assert uids == {"control-room.json": "heatwatch-control-room",
                    "substation.json": "heatwatch-substation",
                    "ingest.json": "heatwatch-ingest", "service.json": "heatwatch-service",
                    "early.json": "heatwatch-early"}


def test_the_provider_reads_the_folder_the_files_are_in() -> None:
    doc = yaml.safe_load((REPO / "grafana/provisioning/dashboards/heatwatch.yml").read_text())
    (prov,) = doc["providers"]
    assert prov["type"] == "file" and prov["options"]["path"] == "/etc/grafana/dashboards"
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    mounts = [v for v in compose["services"]["grafana"]["volumes"] if isinstance(v, dict)]
    assert any(m["source"].rstrip("/") == "./grafana/dashboards"
               and m["target"] == "/etc/grafana/dashboards" for m in mounts), mounts


# -- every query on a real influxd --------------------------------------------------------------
class FakePoller:
    """Only what modbus_health reads of a poller: a stats snapshot per gateway."""

    def __init__(self, stats: dict[str, GatewayStats]) -> None:
        self._stats = stats

    def stats(self) -> dict[str, GatewayStats]:
        return self._stats


def write_health(store: InfluxStore, tmp: Path, start_s: float, end_s: float) -> None:
    """Collector and gateway health points as the real code builds them, every 10 min."""
    cfg = load_config(None, env={})
    clock = [start_s]
    spool = {"batches": 0.0, "bytes": 0.0, "oldest_age_s": 0.0, "drained": 0.0,
             "rejected": 0.0}
    rec = load_records(load_scenario_from_text(tmp).records_dir)
    collector = MqttCollector(cfg.mqtt, cfg.collector, registry(rec), store,
                              DeadLetters(tmp / "deadletter.sqlite"), clock=lambda: clock[0],
                              spool_stats=lambda: spool)
    up = GatewayStats("127.0.0.1", 15021)
    down = GatewayStats("127.0.0.1", 15022)
    t = end_s - 6 * 3600
    n = 0
    while t <= end_s:
        n += 1
        clock[0] = t
        collector.stats.readings += 1200
        collector.stats.messages += 1200
        collector.stats.rejected["unknown_device"] += 2
        if n % 3 == 0:
            collector.stats.rejected["bad_json"] += 1
        # InfluxDB was away for a while: batches spooled, then drained
        spool["batches"] = float(5 if 10 <= n < 20 else 0)
        spool["bytes"] = spool["batches"] * 40_000
        spool["oldest_age_s"] = 600.0 * (n - 9) if 10 <= n < 20 else 0.0
        collector.write_health()
        for g, ok in ((up, True), (down, n < 20)):
            g.cycles += 1
            g.connected = ok
            g.last_skew_s = 0.02 * (n % 5)
            g.max_skew_s = max(g.max_skew_s, g.last_skew_s)
            g.last_duration_s = 1.5 if ok else 3.0
            g.meters_ok += 40 if ok else 0
            g.faults["timeout" if ok else "connect_failed"] += 0 if ok and n % 4 else 2
            if not ok:
                g.backoff_s = 30.0
        store.write(modbus_health(cast(ModbusPoller, FakePoller({"127.0.0.1:15021": up.copy(),
                                              "127.0.0.1:15022": down.copy()})), t))
        t += 600
    collector.deadletters.close()


def load_scenario_from_text(tmp: Path) -> Any:
    path = tmp / "scenario.toml"
    if not path.exists():
        path.write_text(SCENARIO, encoding="utf-8")
    return load_scenario(path)


class District:
    """A real influxd holding one simulated district analysed by the real runner."""

    def __init__(self, url: str, db: str, from_ms: int, to_ms: int,
                 open_orders: int = 0) -> None:
        self.url, self.db, self.from_ms, self.to_ms = url, db, from_ms, to_ms
        self.open_orders = open_orders

    def query(self, q: str) -> dict[str, Any]:
        """One statement through /query as Grafana sends it (POST, epoch ms)."""
        body = urllib.parse.urlencode({"db": self.db, "q": q, "epoch": "ms"}).encode()
        with urllib.request.urlopen(f"{self.url}/query", body, timeout=60) as resp:
            (result,) = json.loads(resp.read())["results"]
        return dict(result)


@pytest.fixture(scope="module")
def district(influxd_shared: Any, tmp_path_factory: pytest.TempPathFactory) -> District:
    tmp = tmp_path_factory.mktemp("grafana")
    sc = load_scenario_from_text(tmp)
    rec = load_records(sc.records_dir)
    store = InfluxStore(influxd_shared.url, "grafana_dashboards")
    store.write(district_readings(sc, rec))
    # a thermometer reading far out of range just before the end: a sensor fault, not cold
    room = rec.devices[FAULTY_SENSOR]
    store.write([Reading("room", room.tags(), {"temp_c": -40.0}, int(sc.end_s * 1000) - 60_000)])
    wf = IncidentStore(tmp / "workflow.sqlite")
    runner = Runner(store, rec, wf, AnalyzerConfig(), TZ, Watermarks(tmp / "workflow.sqlite"))
    at_ms = int(sc.end_s * 1000)
    ev = runner.run_cycle(at_ms)
    assert {r.measurement for r in ev.evaluation.derived} >= {"compliance", "outage_state",
                                                    "leak_state", "meter_fault_state"}
    # the real alerts service turns those incidents into orders, as of the same instant:
    # counted from the incidents' start (this one late analysis saw them all at the end),
    # the leak's 30 min and the outage's 2 h have long passed
    crews = AlertsConfig.from_mapping({"crew": [{"id": f"crew-{s.lower()}", "substations": [s]}
                                                for s in sorted(rec.substations)],
                                       "limits": {"clock_from": "start"}})
    svc = build_service(crews, rec, str(tmp), "Asia/Shanghai", clock_ms=lambda: at_ms,
                        store=store)
    take_calls(svc.db, at_ms)
    svc.step(at_ms)
    open_orders = len(svc.db.orders.find())
    svc.close()
    write_health(store, tmp, sc.start_s, sc.end_s)
    wf.close()
    store.close()
    return District(influxd_shared.url, "grafana_dashboards", int(sc.start_s * 1000), at_ms,
                    open_orders)


def take_calls(db: WorkflowDb, at_ms: int) -> None:
    """Residents' calls as the desk stores them: a repair at S1 past its limit, a closed
    cold-room call at S2, a complaint due in two days (S1), one two days overdue (S2), a report
    answered an hour ago."""
    h, day = 3_600_000, 86_400_000
    with db.unit() as u:
        for cid, kind, acc, sid, due, state in (
                ("CL1", "repair", "B01-0101", "S1", at_ms - h, "open"),
                ("CL2", "temperature", "B07-0101", "S2", at_ms - 20 * h, "closed"),
                ("CL3", "complaint", "B01-0102", "S1", at_ms + 2 * day, "open"),
                ("CL4", "complaint", "B07-0102", "S2", at_ms - 2 * day, "open"),
                ("CL5", "report", "B07-0103", "S2", at_ms + day, "closed")):
            u.calls.insert(Call(cid, kind, acc, acc[:3], sid, at_ms - 9 * day, "li", "li", due,
                                state, closed_ms=at_ms - h if state == "closed" else None))


def grafana_escape(value: str) -> str:
    """How Grafana's InfluxDB datasource escapes a variable value inside /…/."""
    return re.sub(r"[\\^$*+?.()|{}\[\]/]", lambda m: "\\" + m.group(0), value)


def interpolate(query: str, panel: dict[str, Any], d: District,
                variables: dict[str, str]) -> str:
    """Grafana's InfluxQL macros for a time range and the panel's interval."""
    q = query.replace("$timeFilter", f"time >= {d.from_ms}ms and time <= {d.to_ms}ms")
    # the panel's minimum interval, else the datasource's timeInterval (1m)
    q = q.replace("$__interval", panel.get("interval") or "1m")
    for name, value in variables.items():
        q = q.replace(f"${name}", grafana_escape(value))
    # nothing left for Grafana to replace (a regex's `$/` anchor is not a variable)
    assert not re.search(r"\$[A-Za-z_{]", q), q
    return q


def series_of(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The series with at least one non-null value."""
    return [s for s in result.get("series", [])
            if any(v is not None for row in s["values"] for v in row[1:])]


def run_dashboard(dash: dict[str, Any], d: District,
                  variables: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Every target run; panel title → its non-empty series; any InfluxDB error fails."""
    out: dict[str, list[dict[str, Any]]] = {}
    for p, t in gd.queries(dash):
        q = interpolate(t["query"], p, d, variables)
        result = d.query(q)
        assert "error" not in result, (p["title"], q, result["error"])
        for s in result.get("series", []):
            assert "error" not in s
        found = series_of(result)
        assert found, f"panel {p['title']!r} target {t['refId']} is empty on good data: {q}"
        out.setdefault(p["title"], []).extend(found)
    return out


def rows(found: list[dict[str, Any]], column: str) -> list[tuple[dict[str, str], Any]]:
    """(tags, value of column) for every row of every series."""
    got = []
    for s in found:
        i = s["columns"].index(column)
        got += [(s.get("tags", {}), row[i]) for row in s["values"]]
    return got


@pytest.mark.services
def test_control_room_queries_run_and_show_the_faults(district: District) -> None:
    found = run_dashboard(gd.control_room(), district, {})
    # the stats are numbers of the right size, not merely non-empty
    assert rows(found["停热换热站 Substations out"], "sum")[0][1] == 1
    cold_rooms = rows(found["低于18°C房间 Rooms below 18 °C"], "count")[0][1]
    assert rows(found["网关断线 Gateways down"], "count")[0][1] == 1
    meters = found["故障表计 Meters in fault"]
    assert [v for _, v in rows(meters, "count")] == [1, 1, 1]
    outages = rows(found["停热中 Outages running"], "hours")
    assert [(tags["substation_id"], h > 4) for tags, h in outages] == [("S2", True)]
    cold = {tags["device_id"]: t for tags, t in rows(found["冷房 Cold rooms"], "temp_c")}
    assert cold["T-B01-0101-liv"] == pytest.approx(15.0, abs=0.5)
    # docs/rules.md: a reading outside -30…60 °C is a sensor fault, never a cold room
    assert FAULTY_SENSOR not in cold
    assert all(gd.SENSOR_LOW_C <= t < gd.ROOM_MIN_C for t in cold.values())
    # the stat, the building table and the room table count the same rooms
    per_building = rows(found["冷房楼栋 Buildings with cold rooms"], "rooms")
    assert cold_rooms == len(cold) == sum(n for _, n in per_building)
    table = {tags["device_id"]: state for tags, state in
             rows(found["故障表计清单 Faulty meters"], "state")}
    assert table == {"M-B02-0103": 1, "M-B04-0502": 2, "M-B05-0502": 3}
    rates = rows(found["室温合格率 Compliance (latest day)"], "last")
    assert {tags["substation_id"] for tags, _ in rates} == {"S1", "S2"}
    assert all(0 < r <= 1 for _, r in rates)
    (gw,) = rows(found["网关断线 Gateways not connected"], "backoff_s")
    assert gw[0] == {"gateway": "127.0.0.1:15022"} and gw[1] == 30
    assert rows(found["拒收 Rejections"], "sum")[0][1] > 0
    assert rows(found["采集速率 Readings/s"], "sum")[0][1] == pytest.approx(2.0)
    # the leak at S1 runs at the end: make-up 4 % of flow, the holding point sagged
    leaks = {tags["substation_id"]: v for tags, v in rows(found["漏水 Leaks running"],
                                                          "makeup_share")}
    assert list(leaks) == ["S1"] and leaks["S1"] > gd.MAKEUP_LEAK_SHARE
    (sag,) = rows(found["漏水 Leaks running"], "sag_mpa")
    assert sag[1] > 0.05
    # work orders: the stats and the per-crew table agree, and match the workflow's open orders
    per_crew = {(t["crew"], t["substation_id"]): n
                for t, n in rows(found["班组工单 Work orders by crew"], "late")}
    late = rows(found["超时工单 Late work orders"], "sum")[0][1]
    assert late == sum(per_crew.values())
    # seed: the leak (on site within 30 min, from 20 h) and the S2 outage (from 24 h) are late
    assert per_crew[("crew-s1", "S1")] >= 1 and per_crew[("crew-s2", "S2")] >= 1
    opened = rows(found["在办工单 Open work orders"], "sum")[0][1]
    assert opened == district.open_orders > 0
    assert opened == sum(n for _, n in rows(found["班组工单 Work orders by crew"], "open"))
    assert late <= opened
    # the residents' calls (take_calls): open and overdue, per substation and kind, by due day
    assert rows(found["在办来电 Open calls"], "sum")[0][1] == 3
    assert rows(found["超期来电 Overdue calls"], "sum")[0][1] == 2
    calls = {(t["substation_id"], t["kind"]): (o, t_) for (t, o), (_, t_) in zip(
        rows(found["来电 Calls by substation"], "open"),
        rows(found["来电 Calls by substation"], "total"), strict=True)}
    assert calls == {("S1", "repair"): (1, 1), ("S1", "complaint"): (1, 1),
                     ("S2", "temperature"): (0, 1), ("S2", "complaint"): (1, 1),
                     ("S2", "report"): (0, 1)}
    due = {(t["due_day"], t["kind"]): n
           for t, n in rows(found["待办投诉 Open complaints by due date"], "overdue")}
    # the answered report's day is left out; 2024-12-03 06:00 is the end of the scenario
    assert due == {("2024-12-01", "complaint"): 1, ("2024-12-05", "complaint"): 0}


@pytest.mark.services
def test_substation_variable_and_every_panel_per_substation(district: District) -> None:
    dash = gd.substation()
    (var,) = dash["templating"]["list"]
    result = district.query(var["query"])
    assert "error" not in result
    values = [v for _, v in result["series"][0]["values"]]
    assert values == ["S1", "S2"]
    found = {sid: run_dashboard(dash, district, {"substation": sid}) for sid in values}
    # the leak shows at S1 only: make-up above 2 % of flow
    share = {sid: max(v for _, v in rows(f["补水率 Make-up water / flow"], "makeup_share")
                      if v is not None) for sid, f in found.items()}
    assert share["S1"] > gd.MAKEUP_LEAK_SHARE > share["S2"]
    # the outage shows at S2 only
    hours = {sid: max(v for _, v in rows(f["停热 Outage"], "hours") if v is not None)
             for sid, f in found.items()}
    assert hours["S1"] == 0 and hours["S2"] > 4
    # rooms: one series per building, and only the buildings of that substation
    rooms = found["S1"]["楼栋室温 Room temperature by building"]
    want = {b.building_id for b in load_records(SAMPLE_RECORDS_DIR).buildings.values()
            if b.substation_id == "S1"}
    assert {s["tags"]["building_id"] for s in rooms} == want


@pytest.mark.services
def test_ingest_queries_run(district: District) -> None:
    found = run_dashboard(gd.ingest(), district, {})
    causes = {s["tags"]["cause"] for s in found["拒收 Rejections by cause"]}
    assert causes == {"unknown_device", "bad_json"}
    connected = {s["tags"]["gateway"]: [v for _, v in s["values"] if v is not None]
                 for s in found["网关连接 Modbus gateways connected"]}
    assert connected["127.0.0.1:15021"][-1] == 1 and connected["127.0.0.1:15022"][-1] == 0


@pytest.mark.services
def test_a_wrong_substation_shows_nothing(district: District) -> None:
    """Negative control: the harness can tell an empty panel, and the regex is anchored."""
    dash = gd.substation()
    p = dash["panels"][0]
    q = interpolate(p["targets"][0]["query"], p, district, {"substation": "S"})
    assert series_of(district.query(q)) == []


# -- push to a Grafana that is not provisioned from files --------------------------------------
class FakeGrafana(http.server.BaseHTTPRequestHandler):
    """Grafana's POST /api/dashboards/db as its HTTP API documents it."""

    requests: list[dict[str, Any]] = []
    reply: tuple[int, dict[str, Any]] | None = None

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"method": "POST", "path": self.path,
                                    "auth": self.headers.get("Authorization"),
                                    "type": self.headers.get("Content-Type"), "body": body})
        status, doc = self.reply or self.documented_reply(body)
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def documented_reply(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.path != "/api/dashboards/db":
            return 404, {"message": "Not found"}
        dash = body.get("dashboard")
        if not isinstance(dash, dict) or not dash.get("title"):
            return 400, {"message": "bad request data"}
        uid = dash["uid"]
        return 200, {"id": 1, "uid": uid, "url": f"/d/{uid}/x", "status": "success",
                     "version": 1, "slug": "x"}

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def grafana() -> Iterator[str]:
    FakeGrafana.requests = []
    FakeGrafana.reply = None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeGrafana)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_push_posts_each_dashboard_as_documented(grafana: str) -> None:
    code = push.main([grafana, "--folder-uid", "heatwatch"],
                     env={"HEATWATCH_GRAFANA_TOKEN": "glsa_secret"})
    assert code == 0
    built = gd.build_all()
    assert len(FakeGrafana.requests) == len(built)
    for req, dash in zip(FakeGrafana.requests, built.values(), strict=True):
        assert (req["method"], req["path"]) == ("POST", "/api/dashboards/db")
        assert req["auth"] == "Bearer glsa_secret"
        assert req["type"].split(";")[0] == "application/json"
        body = req["body"]
        assert set(body) == {"dashboard", "overwrite", "folderUid", "message"}
        assert body["overwrite"] is True and body["folderUid"] == "heatwatch"
        # id null: Grafana matches the existing dashboard by uid, on any install
        assert body["dashboard"]["id"] is None
        assert body["dashboard"] == dash


def test_push_without_folder_leaves_folder_out(grafana: str) -> None:
    result = push.push_dashboards(push.connect(grafana, "t"), {"a": gd.ingest()})
    (req,) = FakeGrafana.requests
    assert "folderUid" not in req["body"] and req["body"]["overwrite"] is True
    assert result == [{"uid": "heatwatch-ingest", "url": "/d/heatwatch-ingest/x",
                       "version": 1}]


@pytest.mark.parametrize(("status", "doc", "expect"), [
    (412, {"message": "The dashboard has been changed by someone else",
           "status": "version-mismatch"}, "HTTP 412 version-mismatch: The dashboard has been "
                                          "changed by someone else"),
    (401, {"message": "Unauthorized"}, "HTTP 401: Unauthorized"),
    (403, {"message": "Access denied"}, "HTTP 403: Access denied"),
])
def test_a_grafana_error_is_one_clear_line(grafana: str, status: int, doc: dict[str, Any],
                                           expect: str, capsys: pytest.CaptureFixture[str]
                                           ) -> None:
    FakeGrafana.reply = (status, doc)
    code = push.main([grafana], env={"HEATWATCH_GRAFANA_TOKEN": "t"})
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert expect in err and "heatwatch-control-room" in err, err
    # the first failure stops the push: nothing half-pushed after it
    assert len(FakeGrafana.requests) == 1


def test_missing_token_and_unreachable_grafana_are_one_line(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert push.main(["http://127.0.0.1:9"], env={}) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "HEATWATCH_GRAFANA_TOKEN" in err
    from tests.services import free_port
    assert push.main([f"http://127.0.0.1:{free_port()}"],
                     env={"HEATWATCH_GRAFANA_TOKEN": "t"}) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot reach" in err, err

"""The service dashboard (issue 23) on a real PostgreSQL: orders the real alerts service made from
incidents and calls as the desk stores them; every panel's SQL run as Grafana's read-only role,
made with the grants `python -m grafana.service --grants` prints, with `$__from` and `$__to` put
in as Grafana does; and that role reads nothing else (no address, no resident's words)."""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from alerts.lifecycle import FINAL
from grafana import dashboards as gd
from grafana import service as svc
from tests.dashboard_preview import render
from tests.services import Postgres
from tests.test_alerts_support import raise_incident, write_records
from tests.test_workflow_pg_processes import heatwatch, site_config
from workflow.calls import Call
from workflow.incidents import IncidentStore
from workflow.unit import WorkflowDb

pytestmark = pytest.mark.services

HOUR_MS, DAY_MS = 3_600_000, 86_400_000
ROLE, ROLE_PASSWORD = "grafana_reader", "reader-secret"


def _calls(db: WorkflowDb, at_ms: int) -> None:
    """A repair past due (S1), a closed cold-room call, a complaint due in two days, one two
    days overdue, and a report answered an hour ago."""
    with db.unit() as u:
        for cid, kind, acc, sid, due, state in (
                ("CL1", "repair", "B01-0101", "S1", at_ms - HOUR_MS, "open"),
                ("CL2", "temperature", "B07-0101", "S2", at_ms - 20 * HOUR_MS, "closed"),
                ("CL3", "complaint", "B01-0102", "S1", at_ms + 2 * DAY_MS, "open"),
                ("CL4", "complaint", "B07-0102", "S2", at_ms - 2 * DAY_MS, "open"),
                ("CL5", "report", "B07-0103", "S2", at_ms + DAY_MS, "closed")):
            u.calls.insert(Call(cid, kind, acc, acc[:3], sid, at_ms - 3 * DAY_MS, "li", "li", due,
                                state, text="家里不热 13800000000", reporter="王女士",
                                closed_ms=at_ms - HOUR_MS if state == "closed" else None))


def _reader(pg: Postgres, url: str) -> str:
    """Grafana's role with the printed grants; its URL. Roles are the cluster's (one per
    worker) and databases the test's, so each test's role is its own."""
    database = url.rsplit("/", 1)[1]
    role = f"{ROLE}_{database}".lower()
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{ROLE_PASSWORD}'")
        c.execute(svc.grant_sql(role))
    owner = url.split("//", 1)[1].split("@", 1)[0]
    return url.replace(owner, f"{role}:{ROLE_PASSWORD}", 1)


def _run(reader_url: str, sql: str, from_ms: int, to_ms: int) -> list[dict[str, Any]]:
    query = sql.replace("$__from", str(from_ms)).replace("$__to", str(to_ms))
    with psycopg.connect(reader_url) as c, c.cursor() as cur:
        cur.execute(query)  # the dashboard's SQL, as Grafana sends it
        cols = [d.name for d in cur.description or ()]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def _as_series(kind: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """SQL rows in the shape the preview draws (InfluxDB's series)."""
    if kind == "timeseries":
        metrics = sorted({r["metric"] for r in rows})
        return [{"tags": {"kind": m}, "columns": ["time", "value"],
                 "values": [[r["time"].timestamp() * 1000, r["value"]] for r in rows
                            if r["metric"] == m]} for m in metrics]
    if kind == "stat":
        return [{"columns": ["time", *r], "values": [[0, *r.values()]]} for r in rows]
    return [{"columns": ["time", *r],
             "values": [[0, *(str(v)[:16] if isinstance(v, dt.datetime) else v
                              for v in r.values())]]} for r in rows]


@pytest.fixture
def site(tmp_path: Path, postgres: Postgres) -> tuple[str, int, WorkflowDb]:
    url = postgres.new_database()
    write_records(tmp_path / "records")
    conf = site_config(tmp_path, "site", url)
    now = int(time.time() * 1000)
    store = IncidentStore(url)
    raise_incident(store, "leak", "S1", now - 2 * HOUR_MS, now, substation_id="S1")
    raise_incident(store, "outage", "S2", now - 30 * HOUR_MS, now, substation_id="S2")
    store.close()
    once = heatwatch("alerts", "--once", "--config", str(conf))
    assert once.wait(120) == 0, once.communicate()[1]
    db = WorkflowDb(url)
    _calls(db, now)
    return url, now, db


def test_every_panel_runs_as_grafanas_role_and_shows_the_workflow(
        site: tuple[str, int, WorkflowDb], postgres: Postgres) -> None:
    url, made, db = site
    now = int(time.time() * 1000)  # the range ends now: after the orders were opened
    reader = _reader(postgres, url)
    dash = gd.build_all()["service.json"]
    got: dict[str, list[dict[str, Any]]] = {}
    for panel, target in gd.queries(dash):
        assert target["datasource"] == svc.PG_DATASOURCE
        got[panel["title"]] = _run(reader, target["rawSql"], now - 7 * DAY_MS, now)
    db.close()
    with psycopg.connect(url) as c:  # what the workflow holds, read as its owner
        rows = c.execute("SELECT order_id, state FROM alert_order ORDER BY order_id").fetchall()
        late = c.execute("SELECT DISTINCT order_id FROM order_deadline "
                         "WHERE done_ms IS NULL AND due_ms < %s", (now,)).fetchall()
    open_orders = [oid for oid, state in rows if state not in FINAL]
    assert len(open_orders) >= 2, rows  # the leak's and the outage's
    assert got["在办工单 Open orders"] == [{"open": len(open_orders)}]
    assert got["超时工单 Orders past a deadline"] == [{"late": len(late)}]
    assert sum(r["orders"] for r in got["工单 Orders by kind and state"]) == len(open_orders)
    late_steps = got["超时环节 Late steps"]
    assert {r["order_id"] for r in late_steps} == {oid for (oid,) in late}
    assert all(isinstance(r["due"], dt.datetime) for r in late_steps)
    opened = got["新工单 Orders opened per hour"]
    assert sum(r["value"] for r in opened) == len(rows)
    assert all(isinstance(r["time"], dt.datetime) and r["metric"] for r in opened)
    by_kind = {r["kind"]: r for r in got["来电 Calls by kind"]}
    assert (by_kind["complaint"]["open"], by_kind["complaint"]["overdue"]) == (2, 1)
    assert (by_kind["repair"]["open"], by_kind["repair"]["overdue"]) == (1, 1)
    assert by_kind["report"]["open"] == 0 and sum(r["taken"] for r in by_kind.values()) == 5
    complaints = got["待办投诉 Open complaints"]
    assert [(r["call_id"], r["overdue"]) for r in complaints] == [("CL4", 1), ("CL3", 0)]
    per_hour = got["来电 Calls per hour"]
    assert sum(r["value"] for r in per_hour) == 5
    # what the wall would show, drawn from these results (looked at: $HEATWATCH_SHOTS)
    shots = Path(os.environ.get("HEATWATCH_SHOTS") or Path(tempfile.gettempdir())
                 / "heatwatch-shots")
    shots.mkdir(parents=True, exist_ok=True)
    render(dash, {p["title"]: _as_series(p["type"], got[p["title"]]) for p in dash["panels"]},
           shots / "dashboard-service.png")
    assert (shots / "dashboard-service.png").stat().st_size > 20_000
    # nothing was done in the range yet: the on-time share is empty, not an error
    assert list(got["按时完成率 Steps on time"][0]) == ["on_time"]
    # the range moves the counts: a week ago shows no calls taken
    old = _run(reader, next(t["rawSql"] for p, t in gd.queries(dash)
                            if p["title"] == "来电 Calls per hour"),
               now - 14 * DAY_MS, now - 7 * DAY_MS)
    assert old == []


@pytest.mark.parametrize("sql", [
    "SELECT address FROM alert_order",
    "SELECT text FROM desk_call",
    "SELECT reporter FROM desk_call",
    "SELECT * FROM notice",
    "SELECT * FROM desk_staff",
    "SELECT * FROM measurement_record",
])
def test_grafanas_role_reads_nothing_else(site: tuple[str, int, WorkflowDb],
                                          postgres: Postgres, sql: str) -> None:
    url, now, db = site
    db.close()
    reader = _reader(postgres, url)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        _run(reader, sql, 0, now)


def test_grants_refuse_a_role_name_that_is_not_one() -> None:
    assert svc.main(["--grants", "grafana_reader"]) == 0
    assert svc.main(["--grants", "x; DROP TABLE alert_order"]) == 2


def test_the_provisioned_source_is_the_one_the_panels_name() -> None:
    import yaml

    doc = yaml.safe_load((Path(gd.__file__).parent / "provisioning" / "datasources"
                          / "postgres.yml").read_text(encoding="utf-8"))
    (ds,) = doc["datasources"]
    assert {"type": ds["type"], "uid": ds["uid"]} == svc.PG_DATASOURCE
    assert ds["secureJsonData"]["password"].startswith("${")  # from the environment
    dash = json.loads((gd.DASHBOARDS_DIR / "service.json").read_text(encoding="utf-8"))
    assert {p["datasource"]["uid"] for p in dash["panels"]} == {ds["uid"]}

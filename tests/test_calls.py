"""`heatwatch calls` end to end: real processes on a real workflow database (issue 21), the
SQLite file and PostgreSQL (issue 23: the contract suite)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import tests.test_alerts_support as support
from tests.test_cli import ROOT, heatwatch
from workflow.details import LeakDetails
from workflow.incidents import Incident, IncidentStore
from workflow.unit import WorkflowDb

AT = "2026-12-07T10:00:00+08:00"
pytestmark = pytest.mark.usefixtures("on_both_backends")


def _wf(tmp_path: Path) -> Path | str:
    """The workflow database the config names: the backend's URL, or the file."""
    return support.WORKFLOW_TARGET if isinstance(support.WORKFLOW_TARGET, str) \
        else tmp_path / "var" / "workflow.sqlite"


def _setup(tmp_path: Path) -> Path:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[site]\ndata_dir = "{tmp_path / "var"}"\n'
                   f'workflow_url = "{support.workflow_url()}"\n', encoding="utf-8")
    for name, role in (("li", "clerk"), ("wang", "clerk"), ("zhao", "supervisor")):
        p = subprocess.run([sys.executable, "-m", "heatwatch.cli", "staff", "add", name,
                            "--role", role, "--config", str(cfg)], input="long-enough-pw\n",
                           capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert p.returncode == 0, p.stderr
    return cfg


def _add(cfg: Path, account: str, kind: str, at: str = AT, by: str = "li",
         *extra: str) -> subprocess.CompletedProcess[str]:
    return heatwatch("calls", "add", account, "--kind", kind, "--at", at, "--by", by, "--json",
                     *extra, "--config", str(cfg))


def _json(p: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert p.returncode == 0, p.stderr
    out: dict[str, Any] = json.loads(p.stdout)
    return out


def test_add_list_show_act_json_and_restart(tmp_path: Path) -> None:
    cfg = _setup(tmp_path)
    c = _json(_add(cfg, "B01-0101", "complaint", "2026-02-13T10:00:00+08:00"))
    for f in ("call_id", "kind", "account_id", "received", "owner", "due", "state",
              "incident_key", "order_id", "result"):
        assert f in c
    assert c["due"].startswith("2026-02-27") and c["owner"] == "li" and c["state"] == "open"
    # every command is a new process: the call survived the restart
    listed = json.loads(heatwatch("calls", "--json", "--config", str(cfg)).stdout)
    assert [x["call_id"] for x in listed] == [c["call_id"]]
    # another clerk cannot act on it (首问责任制); refused, one line, audited
    p = heatwatch("calls", "act", c["call_id"], "resolve", "--by", "wang", "--result", "x",
                  "--reply", "y", "--config", str(cfg))
    assert p.returncode == 1 and "belongs to li" in p.stderr and "Traceback" not in p.stderr
    # a supervisor reassigns; the new owner resolves with result and reply: closed
    _json(heatwatch("calls", "act", c["call_id"], "reassign", "--by", "zhao", "--to", "wang",
                    "--json", "--config", str(cfg)))
    done = _json(heatwatch("calls", "act", c["call_id"], "resolve", "--by", "wang", "--result",
                           "已核实并整改", "--reply", "已电话答复住户", "--json", "--config",
                           str(cfg)))
    assert done["state"] == "closed" and done["owner"] == "wang"
    shown = _json(heatwatch("calls", "show", c["call_id"], "--json", "--config", str(cfg)))
    assert [h["action"] for h in shown["history"]] == ["take", "reassign", "resolve"]
    assert heatwatch("calls", "--json", "--config", str(cfg)).stdout.strip() == "[]"
    db = WorkflowDb(_wf(tmp_path))
    refused = [a for a in db.staff.audit_log() if not a["allowed"]]
    db.close()
    assert refused and refused[0]["name"] == "wang" and refused[0]["action"] == "resolve"


def test_report_due_and_repair_needs_return_visit(tmp_path: Path) -> None:
    cfg = _setup(tmp_path)
    r = _json(_add(cfg, "B01-0101", "report", "2026-02-13T10:00:00+08:00"))
    assert r["due"].startswith("2026-03-05")
    rep = _json(_add(cfg, "B02-0101", "repair"))
    assert rep["order_id"] and rep["due"] == "2026-12-07T12:00:00+08:00"
    cid = rep["call_id"]
    fixed = _json(heatwatch("calls", "act", cid, "resolve", "--by", "li", "--result", "换阀门",
                            "--reply", "已修复", "--at", "2026-12-07T11:00:00+08:00", "--json",
                            "--config", str(cfg)))
    assert fixed["state"] == "resolved" and fixed["visit_due"] == "2026-12-09T11:00:00+08:00"
    bad = heatwatch("calls", "act", cid, "visit", "--by", "li", "--at",
                    "2026-12-09T11:00:00+08:00", "--config", str(cfg))
    assert bad.returncode != 0
    # seed: the return visit 48 h after the fix: refused before, in one Chinese line
    early = heatwatch("calls", "act", cid, "visit", "--by", "li", "--satisfaction", "满意",
                      "--at", "2026-12-09T10:59:00+08:00", "--config", str(cfg))
    assert early.returncode == 1 and "Traceback" not in early.stderr
    assert "回访时间未到" in early.stderr and "2026-12-09 11:00" in early.stderr, early.stderr
    closed = _json(heatwatch("calls", "act", cid, "visit", "--by", "li", "--satisfaction",
                             "满意", "--at", "2026-12-09T11:00:00+08:00", "--json",
                             "--config", str(cfg)))
    assert closed["state"] == "closed" and closed["satisfaction"] == "满意"
    # the calls' limits as figures: the repair answered in time, the report overdue by April
    kpi = json.loads(heatwatch("calls", "kpi", "--json", "--at", "2026-04-01T00:00:00+08:00",
                               "--config", str(cfg)).stdout)
    by = {r["kind"]: r for r in kpi}
    assert by["report"]["open_overdue"] == 1 and by["report"]["rate_pct"] == 0.0
    assert "repair" not in by  # received in December
    kpi = json.loads(heatwatch("calls", "kpi", "--json", "--at", "2026-12-31T00:00:00+08:00",
                               "--config", str(cfg)).stdout)
    by = {r["kind"]: r for r in kpi}
    assert by["repair"]["rate_pct"] == 100.0 and by["repair"]["satisfaction"]["满意"] == 1


def test_suspension_refused_at_20_days_accepted_at_31(tmp_path: Path) -> None:
    cfg = _setup(tmp_path)
    p = _add(cfg, "B03-0101", "suspend", "2026-10-26T09:00:00+08:00")
    assert p.returncode == 1
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "30天" in lines[0] and "20天" in lines[0]
    ok = _json(_add(cfg, "B03-0102", "suspend", "2026-10-15T09:00:00+08:00"))
    assert ok["order_id"] and ok["state"] == "open"
    db = WorkflowDb(_wf(tmp_path))
    order = db.orders.get(ok["order_id"])
    assert order is not None and order.kind == "seal"
    assert db.calls.suspended(2026) == {"B03-0102"}
    db.close()


def test_call_during_open_leak_attaches_without_new_order(tmp_path: Path) -> None:
    cfg = _setup(tmp_path)
    wf = _wf(tmp_path)
    WorkflowDb(wf).close()
    store = IncidentStore(wf)
    started = 1796600000000  # 2026-12-07 07:33 +08:00
    leak = Incident(f"leak:S2::{started}", "leak", "S2", started, substation_id="S2",
                    details=LeakDetails())
    store.reconcile([leak], started + 600_000, ["leak"], scope={"leak": ["S2"]})
    store.close()
    # the alerts service turns the incident into its crew order, as in production
    a = heatwatch("alerts", "--once", "--at", "2026-12-07T08:00:00+08:00", "--config", str(cfg))
    assert a.returncode == 0, a.stderr
    db = WorkflowDb(wf)
    before = db.orders.find()
    assert len(before) == 1
    c = _json(_add(cfg, "B07-0101", "leak"))
    assert c["incident_key"] == leak.key and c["order_id"] == before[0].order_id
    t = _json(_add(cfg, "B08-0102", "temperature"))
    assert t["incident_key"] == leak.key
    assert len(db.orders.find()) == 1  # no second order
    db.close()


def test_cluster_of_three_households_raises_one_incident(tmp_path: Path) -> None:
    cfg = _setup(tmp_path)
    a = _json(_add(cfg, "B04-0101", "temperature", "2026-12-07T10:00:00+08:00"))
    b = _json(_add(cfg, "B04-0102", "temperature", "2026-12-07T10:05:00+08:00"))
    assert not a["incident_key"] and not b["incident_key"]
    # a call from another building does not count
    _json(_add(cfg, "B05-0101", "temperature", "2026-12-07T10:06:00+08:00"))
    c = _json(_add(cfg, "B04-0103", "temperature", "2026-12-07T10:20:00+08:00"))
    assert c["incident_key"].startswith("call_cluster:B04:") and c["order_id"]
    later = _json(_add(cfg, "B04-0104", "repair", "2026-12-07T11:30:00+08:00"))
    assert later["incident_key"] == c["incident_key"] and later["order_id"] == c["order_id"]
    db = WorkflowDb(_wf(tmp_path))
    assert [i.key for i in db.incidents.find(kind="call_cluster")] == [c["incident_key"]]
    assert len(db.orders.for_incident(c["incident_key"])) == 1
    first = db.calls.get(a["call_id"])
    assert first is not None and first.incident_key == c["incident_key"]
    db.close()


def test_two_clerks_at_the_same_moment_give_one_incident(tmp_path: Path) -> None:
    cfg = _setup(tmp_path)
    for acc in ("B06-0101", "B06-0102"):
        _json(_add(cfg, acc, "temperature", "2026-12-07T10:00:00+08:00"))
    cmd = [sys.executable, "-m", "heatwatch.cli", "calls", "add", "", "--kind", "temperature",
           "--at", "2026-12-07T10:01:00+08:00", "--by", "", "--json", "--config", str(cfg)]
    procs = []
    for acc, by in (("B06-0103", "li"), ("B06-0104", "wang")):
        cmd[5], cmd[11] = acc, by
        procs.append(subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, cwd=ROOT))
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    got = [json.loads(o) for o, _ in outs]
    assert got[0]["incident_key"] == got[1]["incident_key"] != ""
    db = WorkflowDb(_wf(tmp_path))
    assert len(db.incidents.find(kind="call_cluster")) == 1
    assert len(db.orders.find()) == 1
    db.close()


def test_user_mistakes_are_one_line(tmp_path: Path) -> None:
    cfg = _setup(tmp_path)
    for args, needle in ((("nope", "complaint"), "unknown account"),
                         (("B01-0101", "complaint", AT, "ghost"), "unknown staff")):
        p = _add(cfg, *args)
        assert p.returncode == 2 and needle in p.stderr and "Traceback" not in p.stderr
    p = _add(cfg, "B01-0101", "report", "2026-12-28T10:00:00+08:00")
    assert p.returncode == 2 and "2027" in p.stderr and "Traceback" not in p.stderr


def test_a_cold_room_call_in_a_heated_flat_is_taken_with_what_the_data_shows(
        tmp_path: Path) -> None:
    from district.readings import Reading
    from storage.sqlite import SqliteStore

    cfg = _setup(tmp_path)
    store = SqliteStore(tmp_path / "var" / "readings.sqlite")
    store.write([Reading("room", {"device_id": "T-B01-0101-liv"}, {"temp_c": 19.4},
                         1796600000000)])
    store.close()
    p = heatwatch("calls", "add", "B01-0101", "--kind", "temperature", "--at", AT, "--by", "li",
                  "--config", str(cfg))
    assert p.returncode == 0, p.stderr
    assert "数据显示：室温传感器 19.4 °C" in p.stderr
    shown = _json(heatwatch("calls", "show", p.stdout.strip(), "--json", "--config", str(cfg)))
    assert shown["state"] == "open" and "19.4" in shown["history"][0]["note"]


def test_a_call_born_order_reaches_its_crew_like_any_other(tmp_path: Path) -> None:
    cfg = _setup(tmp_path)
    cfg.write_text(cfg.read_text(encoding="utf-8") + """
[[alerts.channel]]
name = "east-mqtt"
kind = "mqtt"
host = "127.0.0.1"
port = 1883

[[alerts.crew]]
id = "east"
substations = ["S1"]
members = ["zhou"]
channels = ["east-mqtt"]
""", encoding="utf-8")
    c = _json(_add(cfg, "B02-0102", "repair"))
    db = WorkflowDb(_wf(tmp_path))
    order = db.orders.get(c["order_id"])
    (msg,) = db.outbox.due("east-mqtt", 2**62, 10)
    steps = {d.deadline.step for d in db.deadlines.find(c["order_id"])}
    db.close()
    assert order is not None and order.crew == "east" and order.state == "dispatched"
    assert steps == {"contacted", "on_site"}
    assert msg.dedup_key == f"{c['order_id']}:order_new:opened:east-mqtt"
    assert f"/o/{c['order_id']}/" in msg.body  # zhou's own signed link to the order

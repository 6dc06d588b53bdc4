"""The work_orders series: the alerts service stepping on a moving clock writes open, late,
escalated and breached counts per crew and substation to a real SQLite readings store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from alerts.config import AlertsConfig
from alerts.series import WORK_ORDERS
from alerts.service import AlertsService
from alerts.sla import MINUTE_MS
from district.records import load_records
from heatwatch.commands.alerts import alerts_command
from heatwatch.config import load_config
from storage.sqlite import SqliteStore
from tests.test_alerts_support import ManualClock, ms, raise_incident, write_records
from workflow.incidents import IncidentStore
from workflow.unit import WorkflowDb

CREWS = {"crew": [{"id": "north", "substations": ["S1"], "members": ["wang"]},
                  {"id": "west", "substations": ["S2"], "members": ["zhao"]}]}


def service(tmp: Path, clock: ManualClock, series: SqliteStore | None) -> AlertsService:
    cfg = AlertsConfig.from_mapping(CREWS)
    rec = load_records(write_records(tmp / "records"))
    path = tmp / "workflow.sqlite"
    return AlertsService(cfg, rec, WorkflowDb(path), {}, clock,
                         series_store=series)


def latest(store: SqliteStore) -> dict[tuple[str, str], dict[str, Any]]:
    """(crew, substation) → the newest point's fields as ints, and its time."""
    fr = store.read_window(WORK_ORDERS, 0, 2**53, tags=("crew", "substation_id"))
    out = {}
    for i in sorted(range(len(fr)), key=lambda i: int(fr.ts_ms[i])):
        key = (str(fr.tags["crew"][i]), str(fr.tags["substation_id"][i]))
        out[key] = {f: int(v[i]) for f, v in fr.fields.items()} | {"ts_ms": int(fr.ts_ms[i])}
    return out


def counts(open_: int, late: int, escalated: int, breached: int) -> dict[str, int]:
    return {"open": open_, "late": late, "escalated": escalated, "breached_total": breached}


def test_work_orders_follow_the_clock_past_deadlines(tmp_path: Path) -> None:
    series = SqliteStore(tmp_path / "readings.sqlite")
    clock = ManualClock(ms("2024-12-02 09:00"))
    svc = service(tmp_path, clock, series)
    # seed: a leak (on site within 30 min) and a cold room (contact 30 min, on site 2 h) at S1
    raise_incident(svc.db, "leak", "S1", ms("2024-12-02 09:00"), clock.now_ms,
                   substation_id="S1")
    raise_incident(svc.db, "room_cold", "R1", ms("2024-12-02 09:00"), clock.now_ms,
                   substation_id="S1", building_id="B1", account_id="A1")
    orders: dict[str, str] = {}
    actions = {"09:20": [("leak", "accept"), ("leak", "arrive")],
               "09:25": [("room_cold:S1", "accept"), ("room_cold:S1", "contact")],
               "11:20": [("room_cold:S1", "arrive")],
               "11:25": [("room_cold:S2", "cancel")]}
    seen: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
    t = ms("2024-12-02 09:00")
    while t <= ms("2024-12-02 11:30"):
        clock.now_ms = t
        hhmm = f"{(t // MINUTE_MS + 8 * 60) // 60 % 24:02d}:{(t // MINUTE_MS) % 60:02d}"
        if hhmm == "09:10":
            # a cold room at S2 ten minutes later: crew west, never acted on
            raise_incident(svc.db, "room_cold", "R9", t, t, substation_id="S2",
                           building_id="B3", account_id="A4")
        for which, action in actions.get(hhmm, []):
            if action == "cancel":
                svc.act(orders[which], action, "dispatch", "重复报修", at_ms=t)
            else:
                svc.act(orders[which], action, "wang", at_ms=t)
        svc.step(t)
        for o in svc.db.orders.find():
            orders.setdefault(o.incident_kind if o.incident_kind == "leak"
                              else f"{o.incident_kind}:{o.substation_id}", o.order_id)
        seen[hhmm] = latest(series)
        t += MINUTE_MS
    north, west = ("north", "S1"), ("west", "S2")
    # the points carry the service's clock
    assert seen["09:00"][north]["ts_ms"] == ms("2024-12-02 09:00")
    assert west not in seen["09:00"]
    pick = {h: {g: {f: v for f, v in d.items() if f != "ts_ms"} for g, d in s.items()}
            for h, s in seen.items()}
    assert pick["09:00"][north] == counts(2, 0, 0, 0)
    # both S1 orders met their first steps; west's contact is due 09:40, warned at 09:34
    assert pick["09:31"] == {north: counts(2, 0, 0, 0), west: counts(1, 0, 0, 0)}
    assert pick["09:35"][west] == counts(1, 0, 1, 0)
    assert pick["09:40"][west] == counts(1, 0, 1, 0)  # due at 09:40: late only after it
    assert pick["09:41"][west] == counts(1, 1, 1, 1)
    # S1's cold room: on site due 11:00 (warned 10:36), crew arrives 11:20
    assert pick["10:37"][north] == counts(2, 0, 1, 0)
    assert pick["11:01"][north] == counts(2, 1, 1, 1)
    assert pick["11:20"][north] == counts(2, 0, 0, 1)  # arrived late: breached, no longer late
    # a cancelled order is neither open nor counted in the timeliness figure
    assert pick["11:25"][west] == counts(0, 0, 0, 0)
    assert pick["11:30"][north] == counts(2, 0, 0, 1)
    svc.close()
    series.close()


def test_at_most_one_write_per_minute_and_none_without_a_store(tmp_path: Path) -> None:
    series = SqliteStore(tmp_path / "readings.sqlite")
    t0 = ms("2024-12-02 09:00")
    clock = ManualClock(t0)
    svc = service(tmp_path / "a", clock, series)
    raise_incident(svc.db, "leak", "S1", t0, t0, substation_id="S1")
    svc.step(t0)
    assert svc.write_series(t0 + 30_000) == 0  # the same minute: nothing more
    assert svc.write_series(t0 + MINUTE_MS) == 1
    fr = series.read_window(WORK_ORDERS, 0, 2**53, tags=("crew", "substation_id"))
    assert list(fr.ts_ms) == [t0, t0 + MINUTE_MS]
    svc.close()

    quiet = service(tmp_path / "b", ManualClock(t0), None)
    raise_incident(quiet.db, "leak", "S1", t0, t0, substation_id="S1")
    quiet.step(t0)
    assert len(quiet.db.orders.find()) == 1 and quiet.write_series(t0 + MINUTE_MS) == 0
    quiet.close()
    series.close()


def test_alerts_once_writes_work_orders_to_the_configured_store(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = load_config(None, env={})
    cfg.site.data_dir = str(tmp_path)
    cfg.site.records_dir = str(write_records(tmp_path / "records"))
    cfg.store.backend = "sqlite"
    t0 = ms("2024-12-02 09:00")
    incidents = IncidentStore(tmp_path / "workflow.sqlite")
    raise_incident(incidents, "leak", "S1", t0, t0, substation_id="S1")
    incidents.close()
    at = t0 + 45 * MINUTE_MS
    assert alerts_command(cfg, once=True, at=at / 1000) == 0
    assert "1 open orders" in capsys.readouterr().out
    series = SqliteStore(tmp_path / "readings.sqlite")
    # no crews configured: the catch-all dispatch crew; seed: on site within 30 min -> late
    assert latest(series) == {("dispatch", "S1"): {**counts(1, 1, 1, 1), "ts_ms": at}}
    series.close()


def test_calls_per_substation_and_complaints_by_due_day(tmp_path: Path) -> None:
    """issue 21: the calls reach the store from the alerts service's step; a due day whose
    last complaint was answered is written as 0 for a day, then no more."""
    from alerts.calls_series import CALLS, CALLS_DUE
    from workflow.calls import Call

    series = SqliteStore(tmp_path / "readings.sqlite")
    clock = ManualClock(ms("2026-02-13 10:00"))
    svc = service(tmp_path, clock, series)
    due = ms("2026-02-27 23:59")
    with svc.db.unit() as u:
        u.calls.insert(Call("CL1", "complaint", "A1", "B1", "S1", clock.now_ms, "li", "li", due,
                            "open"))
        u.calls.insert(Call("CL2", "repair", "A1", "B1", "S1", clock.now_ms, "li", "li",
                            clock.now_ms + 60 * MINUTE_MS, "open"))
    svc.step(clock.now_ms)
    fr = series.read_window(CALLS, 0, 2**53, tags=("substation_id", "kind"))
    got = {(str(fr.tags["kind"][i]), int(fr.fields["open"][i])) for i in range(len(fr))}
    assert got == {("complaint", 1), ("repair", 1)}
    fr = series.read_window(CALLS_DUE, 0, 2**53, tags=("due_day", "kind"))
    assert [(str(fr.tags["due_day"][i]), int(fr.fields["open"][i])) for i in range(len(fr))] \
        == [("2026-02-27", 1)]
    # the repair misses its limit; the complaint is answered: its day says 0, later nothing
    answered = svc.db.calls.get("CL1")
    assert answered is not None
    with svc.db.unit() as u:
        u.calls.change(answered, {"state": "closed", "closed_ms": clock.now_ms + 1}, clock.now_ms)
    for at in (clock.now_ms + 120 * MINUTE_MS, clock.now_ms + 3 * 24 * 60 * MINUTE_MS):
        svc.step(at)
    fr = series.read_window(CALLS, clock.now_ms + 1, 2**53, tags=("substation_id", "kind"))
    overdue = {(str(fr.tags["kind"][i]), int(fr.ts_ms[i])): int(fr.fields["overdue"][i])
               for i in range(len(fr))}
    assert overdue[("repair", clock.now_ms + 120 * MINUTE_MS)] == 1
    fr = series.read_window(CALLS_DUE, 0, 2**53, tags=("due_day", "kind"))
    assert [int(v) for v in fr.fields["open"]] == [1, 0]
    svc.close()
    series.close()

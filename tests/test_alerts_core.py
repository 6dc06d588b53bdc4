"""Alerts core: the seed's timeline, timeliness, the order life, the handler table."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from alerts.config import AlertsConfig, AlertsConfigError
from alerts.handlers import HANDLERS
from alerts.kpi import OrderTiming, timeliness
from alerts.lifecycle import OrderError, OrderState, apply
from alerts.sla import HOUR_MS, MINUTE_MS, Deadline, DeadlineHeap, deadlines_for
from heatwatch.config import ConfigError, load_config
from policy.service import ServiceLimits
from tests.test_alerts_support import ManualClock, make_service, ms, raise_incident, reconcile
from workflow.details import MeterFaultDetails, RoomColdDetails
from workflow.incidents import INCIDENT_KINDS
from workflow.unit import WorkflowDb


def test_defaults_are_the_seeds() -> None:
    lim = AlertsConfig().limits
    assert (lim.leak_on_site_min, lim.contact_min, lim.on_site_min) == (30, 30, 120)
    assert (lim.return_visit_h, lim.station_opinion_min) == (48, 60)
    assert (lim.escalation_share, lim.timeliness_target) == (0.8, 0.99)


def test_every_incident_kind_has_handlers() -> None:
    assert set(HANDLERS) == set(INCIDENT_KINDS)


def test_bad_config_is_one_clear_line() -> None:
    with pytest.raises(AlertsConfigError, match="unknown channel 'nope'"):
        AlertsConfig.from_mapping({"crew": [{"id": "c", "channels": ["nope"]}]})
    with pytest.raises(AlertsConfigError, match="escalation_share"):
        AlertsConfig.from_mapping({"limits": {"escalation_share": 1.5}})


def test_the_outage_notice_setting_has_moved_to_the_outages() -> None:
    """One setting for the notice: [analyzer.outages] over_h, not a service limit."""
    with pytest.raises(AlertsConfigError) as e:
        AlertsConfig.from_mapping({"limits": {"outage_notice_h": 24.0}})
    assert "\n" not in str(e.value) and "[analyzer.outages] over_h" in str(e.value)


def test_a_config_file_with_the_old_notice_setting_says_where_it_went(tmp_path: Path) -> None:
    cfg = tmp_path / "heatwatch.toml"
    cfg.write_text("[alerts.limits]\noutage_notice_h = 12.0\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(cfg, env={})
    assert "\n" not in str(e.value) and "[analyzer.outages] over_h" in str(e.value)


def test_deadline_heap_skips_done_steps() -> None:
    h = DeadlineHeap(0.8)
    a = Deadline("A", "on_site", 0, 100 * MINUTE_MS)
    b = Deadline("B", "on_site", 0, 50 * MINUTE_MS)
    h.add(a)
    h.add(b)
    h.done("B", "on_site")
    assert [(m.order_id, m.mark) for m in h.due(100 * MINUTE_MS)] == [("A", "warn"),
                                                                       ("A", "breach")]
    assert h.due(10**12) == []


def test_seed_timeline(tmp_path: Path) -> None:
    """docs/rules.md worked example 5: opened 09:00, contacted 09:25, on site 11:20 -> breach
    of 11:00."""
    clock = ManualClock(ms("2024-12-02 09:00"))
    svc = make_service(tmp_path, {"crew": [{"id": "north", "substations": ["S1"]}]}, clock)
    inc = raise_incident(svc.db, "room_cold", "R1", ms("2024-12-02 09:00"), clock.now_ms,
                         substation_id="S1", building_id="B1", account_id="A1",
                         details=RoomColdDetails(trailing_h=6, lowest_trailing_mean_c=16.4))
    svc.step(clock.now_ms)
    (order,) = svc.db.orders.find()
    due = {d.deadline.step: d.deadline.due_ms for d in svc.db.deadlines.find(order.order_id)}
    assert due == {"contacted": ms("2024-12-02 09:30"), "on_site": ms("2024-12-02 11:00")}
    actions = {"09:05": ("accept", "wang", ""), "09:25": ("contact", "wang", ""),
               "11:20": ("arrive", "wang", ""), "12:00": ("resolve", "wang", "阀门已疏通")}
    fired = []
    t = ms("2024-12-02 09:00")
    while t <= ms("2024-12-02 12:00"):
        clock.now_ms = t
        hhmm = f"{(t // MINUTE_MS + 8 * 60) // 60 % 24:02d}:{(t // MINUTE_MS) % 60:02d}"
        if hhmm == "11:50":  # the data shows the room warm again before the crew resolves
            inc.closed_ms = t
            reconcile(svc.db, inc, t)
            svc.step(t)
        if hhmm in actions:
            a, who, note = actions[hhmm]
            svc.act(order.order_id, a, who, note, at_ms=t)
        fired += [(m.at_ms, m.step, m.mark) for m in svc.sweep(t)]
        t += MINUTE_MS
    assert fired == [(ms("2024-12-02 09:24"), "contacted", "warn"),
                     (ms("2024-12-02 10:36"), "on_site", "warn"),
                     (ms("2024-12-02 11:00"), "on_site", "breach")]
    rows = {d.deadline.step: d for d in svc.db.deadlines.find(order.order_id)}
    assert rows["contacted"].done_ms == ms("2024-12-02 09:25")  # within the 30 min
    assert rows["on_site"].done_ms == ms("2024-12-02 11:20")  # 20 min late
    assert rows["return_visit_done"].deadline.due_ms == ms("2024-12-04 12:00")  # 48 h
    got = svc.db.orders.get(order.order_id)
    assert got is not None and got.owner == "wang" and got.state == "resolved"
    hist = [(h["actor"], h["action"], h["to_state"]) for h in svc.db.orders.history(order.order_id)]
    assert hist[:2] == [("heatwatch", "open", "opened"), ("heatwatch", "dispatch", "dispatched")]
    assert ("wang", "resolve", "resolved") in hist
    assert sum(1 for h in hist if h[1] == "escalation_breach") == 1


def test_incident_closing_does_not_close_the_order(tmp_path: Path) -> None:
    clock = ManualClock(ms("2024-12-02 09:00"))
    svc = make_service(tmp_path, {}, clock)
    inc = raise_incident(svc.db, "leak", "S1", clock.now_ms, clock.now_ms,
                         substation_id="S1")
    svc.step(clock.now_ms)
    (order,) = svc.db.orders.find()
    assert order.kind == "urgent"
    assert [d.deadline.due_ms for d in svc.db.deadlines.find(order.order_id)] == [
        clock.now_ms + 30 * MINUTE_MS]  # seed: leak on site within 30 min
    inc.closed_ms = clock.now_ms + 10 * MINUTE_MS
    reconcile(svc.db, inc, inc.closed_ms)
    svc.step(inc.closed_ms)
    still = svc.db.orders.get(order.order_id)
    assert still is not None and still.state == "dispatched"
    assert svc.db.orders.history(order.order_id)[-1]["action"] == "incident_closed"


def test_meter_fault_billing_basis(tmp_path: Path) -> None:
    clock = ManualClock(ms("2024-12-02 09:00"))
    svc = make_service(tmp_path, {}, clock)
    raise_incident(svc.db, "meter_fault", "M1", clock.now_ms, clock.now_ms,
                   account_id="A1", building_id="B1", substation_id="S1", cause="supply_sensor",
                   details=MeterFaultDetails(human=False))
    raise_incident(svc.db, "meter_fault", "M2", clock.now_ms, clock.now_ms,
                   account_id="A3", building_id="B2", substation_id="S1", cause="tamper",
                   details=MeterFaultDetails(human=True))
    svc.step(clock.now_ms)
    kinds = sorted((o.account_id, o.kind) for o in svc.db.orders.find())
    assert kinds == [("A1", "replacement"), ("A3", "inspection")]
    basis = {b["account_id"]: b["basis"] for b in svc.db.billing.find()}
    # docs/rules.md: human causes are never area-billed
    assert basis == {"A1": "area", "A3": "inspection"}


def test_compliance_breach_needs_station_opinion_within_1h(tmp_path: Path) -> None:
    clock = ManualClock(ms("2024-12-02 09:00"))
    svc = make_service(tmp_path, {}, clock)
    raise_incident(svc.db, "compliance_breach", "S1", clock.now_ms, clock.now_ms,
                   substation_id="S1")
    svc.step(clock.now_ms)
    (order,) = svc.db.orders.find()
    (d,) = svc.db.deadlines.find(order.order_id)
    assert (order.kind, d.deadline.step, d.deadline.due_ms) == (
        "opinion", "resolved", clock.now_ms + HOUR_MS)


def test_order_out_of_sequence_is_refused() -> None:
    o = OrderState("WO1", "repair", "accepted", owner="wang")
    with pytest.raises(OrderError, match="cannot resolve order WO1 before it is contacted"):
        apply(o, "resolve", "wang", "done")
    o.state = "contacted"
    with pytest.raises(OrderError, match="before it is on_site"):
        apply(o, "resolve", "wang", "done")
    with pytest.raises(OrderError, match="owned by wang"):
        apply(o, "arrive", "li")
    o2 = OrderState("WO2", "repair", "dispatched")
    assert apply(o2, "accept", "li").owner == "li"
    o2.state, o2.owner = "accepted", "li"
    with pytest.raises(OrderError, match="first-responder"):
        apply(o2, "accept", "wang")
    t = apply(o2, "reassign", "dispatcher", new_owner="wang")
    assert (t.owner, t.to_state) == ("wang", "accepted")


def test_audit_log_is_append_only(tmp_path: Path) -> None:
    s = WorkflowDb(tmp_path / "w.sqlite")
    with s.unit() as u:
        u.orders.audit("WO1", 1, "a", "open", "", "opened")
    raw = sqlite3.connect(tmp_path / "w.sqlite")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        raw.execute("UPDATE order_audit SET note='x'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        raw.execute("DELETE FROM order_audit")
    raw.close()
    assert len(s.orders.history("WO1")) == 1


def _timings(n: int, late: int) -> list[OrderTiming]:
    lim = ServiceLimits()
    out = []
    for i in range(n):
        ds = deadlines_for(f"WO{i}", "repair", 0, lim)
        done = [d.due_ms + (MINUTE_MS if i < late and d.step == "on_site" else -MINUTE_MS)
                for d in ds]
        out.append(OrderTiming(f"WO{i}", "north" if i % 2 else "west", "S1", 0,
                               tuple(zip(ds, done, strict=True))))
    return out


def test_timeliness_1000_orders() -> None:
    """docs/rules.md worked example 6: 10 late of 1,000 -> 99.0 % (meets); 11 late -> 98.9 %
    (misses)."""
    (r,) = timeliness(_timings(1000, 10), as_of_ms=10 * HOUR_MS)
    assert (r.orders, r.late, str(r.rate_pct), r.meets) == (1000, 10, "99.0", True)
    (r,) = timeliness(_timings(1000, 11), as_of_ms=10 * HOUR_MS)
    assert (r.orders, r.late, str(r.rate_pct), r.meets) == (1000, 11, "98.9", False)
    by_crew = timeliness(_timings(1000, 11), 10 * HOUR_MS, group_by="crew")
    assert [(r.group, r.orders, r.late) for r in by_crew] == [("north", 500, 5),
                                                              ("west", 500, 6)]


@pytest.mark.parametrize(("key", "now"), [("leak_on_site_min", "leak_on_site_min"),
                                          ("repair_on_site_min", "on_site_min"),
                                          ("return_visit_h", "return_visit_h")])
def test_the_calls_take_the_crews_limits(tmp_path: Path, key: str, now: str) -> None:
    """One setting per rule: a call's leak/repair limits and its return visit are the crews'."""
    cfg = tmp_path / "heatwatch.toml"
    cfg.write_text(f"[desk.limits]\n{key} = 10.0\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(cfg, env={})
    assert "\n" not in str(e.value) and f"[alerts.limits] {now}" in str(e.value)

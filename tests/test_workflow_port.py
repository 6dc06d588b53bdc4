"""The workflow port on both backends (a real SQLite file, a real PostgreSQL): a unit of work
commits whole or not at all."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest

from alerts.sla import Deadline
from tests.test_alerts_support import ManualClock, make_service, ms, raise_incident
from workflow.db import Database, WorkflowError
from workflow.details import MeterCommDetails, MeterFaultDetails, details_dict, parse_details
from workflow.incidents import Incident, incident_key
from workflow.notices import Compensation, Notice
from workflow.orders import Order
from workflow.outbox import Message
from workflow.unit import WorkflowDb


class Boom(Exception):
    """A failure in the middle of a unit of work."""


def _order(oid: str = "WO000001") -> Order:
    return Order(oid, "leak:S1::0", "leak", "urgent", "north", "", "dispatched", "S1", "", "",
                 "addr", "what", 0, 10, 10, passed=["opened", "dispatched"])


INTEGRITY = (sqlite3.IntegrityError, psycopg.IntegrityError)


def _rows(target: Path | str, sql: str) -> list[tuple[Any, ...]]:
    """A query through a connection of its own (what another process sees)."""
    other = Database(target, migrate=False)
    try:
        return other.reader.rows(sql)
    finally:
        other.close()


def _counts(target: Path | str) -> dict[str, int]:
    """Rows per table, read through a connection of its own (what another process sees)."""
    return {t: int(_rows(target, f"SELECT COUNT(*) FROM {t}")[0][0]) for t in (
        "incident", "incident_event", "alert_order", "order_deadline", "order_audit",
        "notice", "compensation", "billing_basis", "outbox", "alert_cursor")}


def test_a_failure_inside_a_unit_rolls_back_everything_it_wrote(workflow_target: Path | str
                                                                 ) -> None:
    path = workflow_target
    db = WorkflowDb(path)
    inc = Incident(incident_key("leak", "S1", 0), "leak", "S1", 0, substation_id="S1")
    with pytest.raises(Boom), db.unit() as u:
        u.incidents.reconcile([inc], 5, ["leak"])
        u.orders.insert(_order())
        u.deadlines.add(Deadline("WO000001", "on_site", 0, 1_800_000))
        u.orders.audit("WO000001", 10, "heatwatch", "open", "", "opened")
        u.notices.add(Notice("N-1", inc.key, "A1", "B1", "S1", 10, "record", "r", "text"))
        u.compensation.put(Compensation(inc.key, "A1", 0, 30.0, 2, "2160", 121, "35.70",
                                        False, 10))
        u.billing.switch(inc.key, "A1", "area", 0, "supply_sensor")
        u.outbox.enqueue(Message("WO000001:order_new:opened:c", "c", "t", "b"), 10)
        u.counters.set_cursor(7)
        # the unit sees its own writes before it ends
        assert u.orders.get("WO000001") is not None and u.outbox.find() != []
        raise Boom
    assert set(_counts(path).values()) == {0}
    assert db.orders.find(include_closed=True) == [] and db.counters.cursor() == 0
    # the file is usable after the rollback
    with db.unit() as u:
        u.orders.insert(_order())
    assert _counts(path)["alert_order"] == 1


def test_an_outbox_row_and_its_order_change_commit_together(workflow_target: Path | str
                                                             ) -> None:
    path = workflow_target
    db = WorkflowDb(path)
    with db.unit() as u:
        u.orders.insert(_order())
    other = WorkflowDb(path)  # another process's view of the same file
    order = db.orders.get("WO000001")
    assert order is not None
    order.state, order.owner = "accepted", "wang"
    with db.unit() as u:
        u.orders.set_state(order)
        u.outbox.enqueue(Message("WO000001:accepted:c", "c", "t", "b"), 20)
        # not visible outside the unit until it commits: neither the state nor the message
        seen = other.orders.get("WO000001")
        assert seen is not None and seen.state == "dispatched" and other.outbox.find() == []
    seen = other.orders.get("WO000001")
    assert seen is not None and seen.state == "accepted"
    assert [r["dedup_key"] for r in other.outbox.find()] == ["WO000001:accepted:c"]
    # and when the enqueue fails (a unique key taken by a different row), the state stays too
    order.state = "on_site"
    with pytest.raises(INTEGRITY), db.unit() as u:
        u.orders.set_state(order)
        u.outbox.enqueue(Message("WO000001:on_site:c", "c", "t", "b"), 30)
        u.orders.insert(_order())  # the same order id again
    seen = other.orders.get("WO000001")
    assert seen is not None and seen.state == "accepted" and len(other.outbox.find()) == 1
    other.close()
    db.close()


def test_writes_outside_a_unit_and_nested_units_are_refused(workflow_target: Path | str
                                                             ) -> None:
    db = WorkflowDb(workflow_target)
    with pytest.raises(WorkflowError, match="outside a unit"):
        db.orders.insert(_order())
    with pytest.raises(WorkflowError, match="do not nest"), db.unit(), db.unit():
        pass
    assert db.orders.find(include_closed=True) == []


def test_service_order_and_its_message_roll_back_together(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """A failure while writing the crew's message leaves no order and the cursor unmoved."""
    clock = ManualClock(ms("2024-12-02 09:00"))
    svc = make_service(tmp_path, {"crew": [{"id": "north", "substations": ["S1"],
                                            "channels": ["hook"]}],
                                  "channel": [{"name": "hook", "kind": "apprise",
                                               "url": "json://127.0.0.1:9/x"}]}, clock)
    raise_incident(svc.db, "leak", "S1", clock.now_ms, clock.now_ms, substation_id="S1")

    def broken(*_a: Any, **_k: Any) -> None:
        raise Boom

    monkeypatch.setattr(svc.messenger, "to_crew", broken)
    with pytest.raises(Boom):
        svc.ingest(clock.now_ms)
    assert svc.db.orders.find(include_closed=True) == [] and svc.db.counters.cursor() == 0
    assert svc.db.deadlines.find() == [] and svc.db.outbox.find() == []
    monkeypatch.undo()
    assert svc.ingest(clock.now_ms) == 1
    (order,) = svc.db.orders.find()
    assert [r["dedup_key"] for r in svc.db.outbox.find()] == [
        f"{order.order_id}:order_new:opened:hook"]
    assert svc.db.orders.history(order.order_id)[0]["action"] == "open"


def test_details_keep_their_json_form(workflow_target: Path | str) -> None:
    """The column keeps the keys rows had before the types: `class`, no `meters` per meter."""
    fault = MeterFaultDetails(cause="tamper", causes=["tamper"], human=True, fault_class="human")
    assert details_dict(fault)["class"] == "human" and "fault_class" not in details_dict(fault)
    assert "meters" not in details_dict(MeterCommDetails(gateway="g"))
    assert details_dict(MeterCommDetails(gateway="g", meters=3))["meters"] == 3
    old = {"cause": "tamper", "human": True, "class": "human", "written_by": "an old version"}
    assert parse_details("meter_fault", old) == MeterFaultDetails(cause="tamper", human=True,
                                                                  fault_class="human")
    db = WorkflowDb(workflow_target)
    inc = Incident(incident_key("meter_fault", "M1", 0, "human"), "meter_fault", "M1", 0,
                   cause="human", details=fault)
    with db.unit() as u:
        u.incidents.reconcile([inc], 1, ["meter_fault"])
    stored = json.loads(_rows(workflow_target, "SELECT details FROM incident")[0][0])
    assert stored == details_dict(fault)
    got = db.incidents.get(inc.key)
    assert got is not None and got.details == fault
    wrong = Incident(incident_key("leak", "S1", 0), "leak", "S1", 0, details=fault)
    with pytest.raises(TypeError, match="leak incident with MeterFaultDetails"), db.unit() as u:
        u.incidents.reconcile([wrong], 2, ["leak"])


def test_reading_a_field_no_detector_writes_fails_the_type_check(tmp_path: Path) -> None:
    """issue 8: `mean_c` and `expected_restore_ms` were read but never written; now mypy says so."""
    from mypy import api

    src = tmp_path / "reader.py"
    src.write_text(
        "from workflow.details import OutageDetails, RoomColdDetails\n"
        "from workflow.incidents import Incident\n\n\n"
        "def read(inc: Incident) -> object:\n"
        "    if isinstance(inc.details, RoomColdDetails):\n"
        "        return inc.details.mean_c\n"
        "    if isinstance(inc.details, OutageDetails):\n"
        "        return inc.details.expected_restore_ms\n"
        "    return inc.details.duration_h\n", encoding="utf-8")
    out, _err, status = api.run(["--strict", "--no-incremental", "--follow-imports=silent",
                                 str(src)])
    assert status == 1
    assert '"RoomColdDetails" has no attribute "mean_c"' in out
    assert '"OutageDetails" has no attribute "expected_restore_ms"' in out
    # a field only some kinds write needs the narrowing too
    assert 'has no attribute "duration_h"' in out


def test_a_dead_or_delivered_message_keeps_no_link(workflow_target: Path | str) -> None:
    """issue 26: links at rest: a message given up on (dead) or delivered is kept without the
    links in its body and data; a pending one keeps them until then."""
    from workflow.outbox import LINK_PURGED, Message

    def stored() -> dict[str, str]:
        return {k: b + d for k, b, d in _rows(workflow_target, "SELECT dedup_key, body, data "
                                                                "FROM outbox")}

    db = WorkflowDb(workflow_target)
    url = "http://crew.example/o/WO1/tok"
    with db.unit() as u:
        for key in ("a", "b"):
            u.outbox.enqueue(Message(key, "wecom", "t", f"打开 {url} 接单", "north",
                                     {"links": {"m": url}}), 0)
        (a, b) = sorted(u.outbox.due("wecom", 10, 10), key=lambda r: r.dedup_key)
        u.outbox.mark_failed(a.id, 20, "timeout", dead=False)
    assert all(url in v for v in stored().values())
    with db.unit() as u:
        u.outbox.mark_failed(a.id, 20, "timeout", dead=True)
        u.outbox.mark_sent(b.id, 30)
    after = stored()
    assert all(url not in v and LINK_PURGED in v for v in after.values()), after
    db.close()

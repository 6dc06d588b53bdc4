"""issue 20: an order is done when the data says so (the incident store → alerts → the crew's
HTTP endpoint, real sockets): a resolution waits for the incident to close, goes back to the
crew when it does not, the KPI follows the real fix, and a re-opened incident reopens a done
order with the crew and the supervisor told."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from alerts.http import serve_in_thread
from alerts.kpi import order_late, timeliness
from alerts.service import AlertsService
from heatwatch.commands.alerts import order_timings
from policy.service import ServiceLimits, confirm_due_ms, return_visit_due_ms, step_due_ms
from tests.services import free_port, wait_port
from tests.test_alerts_http import post
from tests.test_alerts_support import (
    ManualClock,
    Receiver,
    alerts_table,
    make_service,
    ms,
    raise_incident,
    reconcile,
    workflow_url,
)
from workflow.incidents import Incident

# the contract suite: each test's alerts service on SQLite and on PostgreSQL
pytestmark = pytest.mark.usefixtures("on_both_backends")

LIMITS = ServiceLimits()


class Crew:
    """A service with its crew endpoint up; members act through their own signed links."""

    def __init__(self, tmp: Path) -> None:
        self.clock = ManualClock(ms("2024-12-02 09:00"))
        self.port = free_port()
        self.receiver = Receiver()
        self.svc: AlertsService = make_service(tmp, alerts_table(
            self.receiver, http={"host": "127.0.0.1", "port": self.port}), self.clock)
        self.server = serve_in_thread(self.svc.actions, self.svc.phone_of)
        wait_port(self.port)

    def at(self, text: str) -> int:
        self.clock.now_ms = ms(text)
        return self.clock.now_ms

    def step(self) -> None:
        self.svc.step(self.clock.now_ms)

    def tap(self, order_id: str, member: str, action: str, note: str = "") -> str:
        """The member's action through the link in their message (as a phone would)."""
        msgs = [r["body"]["message"] for r in self.receiver.accepted("/crew")
                if order_id in r["body"]["message"]]
        links = dict(re.findall(r"^(\w+)（本人专用）：(http\S+)$", msgs[-1], re.M))
        path = "/" + links[member].split("/", 3)[3]
        status, body = post(self.port, f"{path}/{action}", {"note": note} if note else {})
        assert status == 200, body
        return str(body["state"])

    def work(self, order_id: str, note: str) -> str:
        for action in ("accept", "contact", "arrive"):
            self.tap(order_id, "wang", action)
        return self.tap(order_id, "wang", "resolve", note)

    def deadlines(self, order_id: str) -> dict[str, tuple[int, int | None]]:
        return {r.deadline.step: (r.deadline.due_ms, r.done_ms)
                for r in self.svc.db.deadlines.find(order_id)}

    def told(self, path: str, text: str) -> list[str]:
        self.step()  # deliver what is queued
        return [r["body"]["message"] for r in self.receiver.accepted(path)
                if text in r["body"]["message"]]

    def close_incident(self, inc: Incident) -> None:
        inc.closed_ms = self.clock.now_ms
        reconcile(self.svc.db, inc, inc.closed_ms)
        self.step()

    def late(self, order_id: str) -> bool:
        (o,) = [t for t in order_timings(self.svc) if t.order_id == order_id]
        return order_late(o, self.clock.now_ms)


@pytest.fixture()
def crew(tmp_path: Path) -> Iterator[Crew]:
    c = Crew(tmp_path)
    yield c
    c.server.should_exit = True
    time.sleep(0.2)
    c.receiver.close()


def cold_room(c: Crew) -> tuple[Incident, str]:
    inc = raise_incident(c.svc.db, "room_cold", "R1", c.clock.now_ms, c.clock.now_ms,
                         substation_id="S1", building_id="B1", account_id="A1")
    c.step()
    (order,) = c.svc.db.orders.find()
    return inc, order.order_id


def test_a_cold_room_that_stays_cold_goes_back_to_the_crew_late(crew: Crew) -> None:
    inc, oid = cold_room(crew)
    crew.at("2024-12-02 09:20")
    assert crew.work(oid, "已处理，室温恢复") == "to_confirm"
    assert not crew.late(oid)
    grace_end = confirm_due_ms("room_cold", ms("2024-12-02 09:20"), LIMITS)
    assert crew.deadlines(oid)["confirm"] == (grace_end, None)
    crew.clock.now_ms = grace_end - 60_000
    crew.step()
    assert crew.svc.db.orders.get(oid).state == "to_confirm"  # type: ignore[union-attr]
    crew.clock.now_ms = grace_end + 60_000
    crew.step()
    order = crew.svc.db.orders.get(oid)
    assert order is not None and (order.state, order.owner) == ("accepted", "wang")
    on_site_due = step_due_ms("repair", inc.started_ms, LIMITS)["on_site"]
    assert crew.deadlines(oid)["fixed"] == (on_site_due, None)  # its limit keeps running
    assert crew.late(oid)
    (row,) = timeliness(order_timings(crew.svc), crew.clock.now_ms)
    assert (row.orders, row.late) == (1, 1)
    assert [h["action"] for h in crew.svc.db.orders.history(oid)][-1] == "refute"
    assert crew.told("/crew", "【工单退回】") and crew.told("/sup", "【工单退回】")
    assert "wang（本人专用）" in crew.told("/crew", "【工单退回】")[-1]


def test_an_outage_resolved_early_follows_the_real_restoration(crew: Crew) -> None:
    inc = raise_incident(crew.svc.db, "outage", "S1", crew.clock.now_ms, crew.clock.now_ms,
                         substation_id="S1")
    crew.step()
    (order,) = crew.svc.db.orders.find()
    oid = order.order_id
    crew.at("2024-12-02 09:25")
    for action in ("accept", "arrive"):
        crew.tap(oid, "wang", action)
    assert crew.tap(oid, "wang", "resolve", "恢复供热") == "to_confirm"
    assert not crew.late(oid)  # on site in time: on time so far
    grace_end = confirm_due_ms("outage", ms("2024-12-02 09:25"), LIMITS)
    crew.clock.now_ms = grace_end + 60_000
    crew.step()
    assert crew.svc.db.orders.get(oid).state == "accepted"  # type: ignore[union-attr]
    crew.at("2024-12-03 08:10")  # the station really comes back 23 h later
    crew.close_incident(inc)
    on_site_due = step_due_ms("emergency", inc.started_ms, LIMITS)["on_site"]
    assert crew.deadlines(oid)["fixed"] == (on_site_due, ms("2024-12-03 08:10"))
    assert crew.late(oid)  # the 2 h limit against the real restoration
    crew.tap(oid, "wang", "arrive")
    assert crew.tap(oid, "wang", "resolve", "换泵后恢复") == "resolved"
    assert crew.deadlines(oid)["return_visit_done"][0] == return_visit_due_ms(
        ms("2024-12-03 08:10"), LIMITS)


def test_a_fix_confirmed_by_the_data_has_its_visit_48h_later(crew: Crew) -> None:
    inc, oid = cold_room(crew)
    crew.at("2024-12-02 09:20")
    assert crew.work(oid, "阀门已疏通") == "to_confirm"
    assert "return_visit_done" not in crew.deadlines(oid)
    crew.at("2024-12-03 00:00")  # the daily mean says warm
    crew.close_incident(inc)
    order = crew.svc.db.orders.get(oid)
    assert order is not None and (order.state, order.resolved_ms) == (
        "resolved", ms("2024-12-03 00:00"))
    assert crew.deadlines(oid)["confirm"][1] == ms("2024-12-03 00:00")
    assert crew.deadlines(oid)["return_visit_done"][0] == return_visit_due_ms(
        ms("2024-12-03 00:00"), LIMITS)
    assert not crew.late(oid)
    assert [h["action"] for h in crew.svc.db.orders.history(oid)][-2:] == [
        "incident_closed", "confirm"]


def test_a_reopened_incident_reopens_its_closed_order(crew: Crew) -> None:
    inc, oid = cold_room(crew)
    crew.at("2024-12-02 09:20")
    crew.work(oid, "已处理，室温恢复")
    crew.at("2024-12-03 00:00")
    crew.close_incident(inc)
    crew.svc.act(oid, "visit", "客服", "满意")
    crew.svc.act(oid, "close", "客服")
    crew.at("2024-12-03 16:00")  # the same room cold again, the same key
    inc.closed_ms = None
    reconcile(crew.svc.db, inc, crew.clock.now_ms)
    crew.step()
    order = crew.svc.db.orders.get(oid)
    assert order is not None and (order.state, order.closed_ms) == ("accepted", None)
    assert len(crew.svc.db.orders.find()) == 1  # the same order, not a silent new one
    due = step_due_ms("repair", ms("2024-12-03 16:00"), LIMITS)
    got = crew.deadlines(oid)
    assert (got["contacted:2"][0], got["on_site:2"][0]) == (due["contacted"], due["on_site"])
    assert crew.told("/crew", "故障复发") and crew.told("/sup", "故障复发")
    # the second round runs the same life: contact, arrive, resolve, confirmed by the data
    crew.at("2024-12-03 16:20")
    crew.tap(oid, "wang", "contact")
    crew.tap(oid, "wang", "arrive")
    assert crew.tap(oid, "wang", "resolve", "更换温控阀") == "to_confirm"
    crew.at("2024-12-04 00:00")
    crew.close_incident(inc)
    assert crew.deadlines(oid)["return_visit_done:2"][0] == return_visit_due_ms(
        ms("2024-12-04 00:00"), LIMITS)


def test_orders_carry_each_steps_due_done_and_late(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """issue 20 item 3: `orders`, `orders show` and `--json` carry each step's due time, done
    time and late flag as of --at; `--late` keeps the late ones; `kpi --at` agrees."""
    from heatwatch.commands.alerts import kpi_command, orders_command
    from heatwatch.config import Config

    clock = ManualClock(ms("2024-12-02 09:00"))
    svc = make_service(tmp_path, {}, clock)
    for sid in ("S1", "S2"):
        raise_incident(svc.db, "leak", sid, clock.now_ms, clock.now_ms, substation_id=sid)
    svc.step(clock.now_ms)
    cfg = Config()
    cfg.site.data_dir = str(tmp_path)
    cfg.site.workflow_url = workflow_url()
    cfg.site.records_dir = str(tmp_path / "records")
    first, second = svc.db.orders.find()
    svc.act(first.order_id, "accept", "li", at_ms=ms("2024-12-02 09:05"))
    svc.act(first.order_id, "arrive", "li", at_ms=ms("2024-12-02 09:20"))
    at = ms("2024-12-02 10:00") / 1000
    assert orders_command(cfg, None, None, "", "x", False, True, at) == 0
    listed = {o["order_id"]: o for o in json.loads(capsys.readouterr().out)}
    due = step_due_ms("urgent", ms("2024-12-02 09:00"), LIMITS)["on_site"]
    assert [(s["step"], s["due_ms"], s["done_ms"], s["late"])
            for s in listed[first.order_id]["steps"]] == [
        ("on_site", due, ms("2024-12-02 09:20"), False)]
    assert (listed[first.order_id]["late"], listed[second.order_id]["late"]) == (False, True)
    assert orders_command(cfg, None, None, "", "x", False, True, at, late=True) == 0
    assert [o["order_id"] for o in json.loads(capsys.readouterr().out)] == [second.order_id]
    assert orders_command(cfg, None, None, "", "x", False, False, at, late=True) == 0
    text = capsys.readouterr().out
    assert second.order_id in text and first.order_id not in text and "LATE" in text
    assert orders_command(cfg, "show", second.order_id, "", "", False, False, at) == 0
    shown = capsys.readouterr().out
    assert "step on_site" in shown and "LATE" in shown
    assert kpi_command(cfg, "all", "all", True, at) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["orders"], row["late"]) == (2, 1)

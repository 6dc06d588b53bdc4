"""The morning report shows the day's calls by kind, complaints due that day and overdue, and
the satisfaction at the day's return visits (issue 21), from a real workflow file."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from alerts.routing import Routing
from desk.actions import Act, act
from desk.auth import add_staff
from desk.intake import Intake
from desk.kpi import call_figures
from district.records import load_records
from documents.daily import gather
from documents.report import render_html
from policy.calendar import ChinaCalendar
from policy.calls import CallLimits
from policy.rules import Season
from policy.service import ServiceLimits
from tests.records_fixture import write_records
from workflow.unit import WorkflowDb

TZ = ZoneInfo("Asia/Shanghai")


def _ms(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).timestamp() * 1000)


def test_morning_report_and_kpi_of_calls(tmp_path: Path) -> None:
    db = WorkflowDb(tmp_path / "workflow.sqlite")
    add_staff(db, "li", "clerk", "long-enough-pw", int(time.time() * 1000))
    intake = Intake(db, load_records(write_records(tmp_path / "rec")), CallLimits(),
                    ChinaCalendar(), Season(), Routing([]), ServiceLimits())
    old = intake.take("A1", "complaint", _ms("2026-02-13T10:00:00+08:00"), "li")
    due = intake.take("A2", "report", _ms("2026-02-13T11:00:00+08:00"), "li")
    rep_ = intake.take("A2", "repair", _ms("2026-02-25T08:00:00+08:00"), "li")
    intake.take("A1", "suspend", _ms("2026-02-27T09:00:00+08:00"), "li")  # for next season
    intake.take("A1", "inquiry", _ms("2026-02-27T09:30:00+08:00"), "li")
    act(db, Act(rep_.call.call_id, "resolve", "li", _ms("2026-02-25T09:00:00+08:00"), "修好",
                "已答复"))
    act(db, Act(rep_.call.call_id, "visit", "li", _ms("2026-02-27T17:00:00+08:00"),
                satisfaction="基本满意"))
    day = gather(db, None, dt.date(2026, 2, 27), TZ)
    calls = day.as_dict()["calls"]
    # the repair was taken and fixed on the 25th; its return visit (48 h on) on the 27th
    assert calls["by_kind"] == {"inquiry": 1, "suspend": 1}
    # the complaint of 13 Feb is due on 27 Feb; the report (due 5 Mar) is not overdue yet
    assert [c["call_id"] for c in calls["due_today"]] == [old.call.call_id]
    assert old.call.call_id in [c["call_id"] for c in calls["overdue"]]
    assert due.call.call_id not in [c["call_id"] for c in calls["overdue"]]
    assert calls["satisfaction"]["基本满意"] == 1
    html = render_html(day, dt.datetime(2026, 2, 28, 7, 0, tzinfo=TZ))
    assert "客服来电" in html and "基本满意 1" in html
    figures = {f.kind: f for f in call_figures(db.calls.find(include_closed=True),
                                               _ms("2026-03-06T00:00:00+08:00"))}
    assert figures["complaint"].open_overdue == 1 and figures["repair"].rate_pct == 100.0
    db.close()


def test_a_suspended_household_is_owed_no_notice_nor_compensation(tmp_path: Path) -> None:
    from alerts.config import AlertsConfig
    from alerts.service import build_service
    from workflow.details import BuildingOutageDetails
    from workflow.incidents import Incident, IncidentStore

    records = load_records(write_records(tmp_path / "rec"))
    db = WorkflowDb(tmp_path / "workflow.sqlite")
    add_staff(db, "li", "clerk", "long-enough-pw", int(time.time() * 1000))
    intake = Intake(db, records, CallLimits(), ChinaCalendar(), Season(), Routing([]),
                    ServiceLimits())
    taken = intake.take("A2", "suspend", _ms("2026-10-10T09:00:00+08:00"), "li")
    assert taken.call.state == "open" and db.calls.suspended(2026) == {"A2"}
    db.close()
    start, end = _ms("2026-12-01T08:00:00+08:00"), _ms("2026-12-02T14:00:00+08:00")
    store = IncidentStore(tmp_path / "workflow.sqlite")
    store.reconcile([Incident(f"building_outage:B1::{start}", "building_outage", "B1", start,
                              building_id="B1", closed_ms=end,
                              details=BuildingOutageDetails(duration_h=30.0))],
                    end, ["building_outage"], scope={"building_outage": ["B1"]})
    store.close()
    svc = build_service(AlertsConfig(), records, str(tmp_path), "Asia/Shanghai",
                        workflow_path=tmp_path / "workflow.sqlite")
    svc.step(end + 60_000, wait=False)
    owed = {c["account_id"] for c in svc.db.compensation.find()}
    noticed = {n["account_id"] for n in svc.db.notices.find()}
    svc.close()
    assert owed == {"A1"}  # A2 suspended its heating for the 2026 season
    assert "A2" not in noticed

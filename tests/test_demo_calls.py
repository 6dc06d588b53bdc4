"""The demo's residents on the phone, against a real workflow file with an outage."""

from __future__ import annotations

from pathlib import Path

from alerts.routing import Routing
from desk.intake import Intake
from district.config import SAMPLE_RECORDS
from district.records import load_records
from heatwatch.demo_calls import residents_call
from policy.calendar import ChinaCalendar
from policy.calls import CallLimits
from policy.rules import Season
from policy.service import ServiceLimits
from workflow.details import OutageDetails
from workflow.incidents import Incident, IncidentStore
from workflow.unit import WorkflowDb

START = 1733104800000  # 2024-12-02 10:00 +08:00
END = START + 30 * 3_600_000


def test_residents_call_during_the_outage_cluster_suspension_complaint(tmp_path: Path) -> None:
    wf = tmp_path / "workflow.sqlite"
    db = WorkflowDb(wf)
    store = IncidentStore(wf)
    store.reconcile([Incident(f"outage:S2::{START}", "outage", "S2", START, substation_id="S2",
                              closed_ms=START + 20 * 3_600_000,
                              details=OutageDetails(reason="circulation pump stopped"))],
                    START + 600_000, ["outage"], scope={"outage": ["S2"]})
    store.close()
    intake = Intake(db, load_records(SAMPLE_RECORDS), CallLimits(), ChinaCalendar(), Season(),
                    Routing([]), ServiceLimits())
    lines = residents_call(intake, END)
    db.close()
    text = "\n".join(lines)
    assert text.count(f"attached to outage:S2::{START}") == 3
    assert text.count("raised suspected fault call_cluster:") == 1
    assert "refused: 不予受理" in text and "20天" in text
    assert "换热站停热：循环泵停运" in text  # the cause in Chinese, as read to the resident
    assert "投诉" in text and "due 2024-12-10" in text  # Tue 3 Dec + 5 working days

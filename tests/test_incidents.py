"""Incidents: open, update, close; re-runs never duplicate; events in order."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from workflow.details import OutageDetails
from workflow.incidents import Incident, IncidentStore, incident_key


def _inc(subject: str, start: int, duration_h: float = 0.0) -> Incident:
    return Incident(incident_key("outage", subject, start), "outage", subject, start,
                    substation_id=subject, details=OutageDetails(duration_h=duration_h))


def test_lifecycle_and_idempotent_rerun(workflow_target: Path | str) -> None:
    s = IncidentStore(workflow_target)
    a = _inc("S1", 1000, duration_h=1)
    ev = s.reconcile([a], 2000, ["outage"])
    assert [e.event for e in ev] == ["opened"]
    assert s.reconcile([a], 2500, ["outage"]) == []  # the same evaluation again: no change
    ev = s.reconcile([_inc("S1", 1000, duration_h=2)], 3000, ["outage"])
    assert [e.event for e in ev] == ["updated"]
    ev = s.reconcile([], 4000, ["outage"])
    assert [e.event for e in ev] == ["closed"]
    (closed,) = s.find(include_closed=True)
    assert closed.closed_ms == 4000 and closed.details == OutageDetails(duration_h=2)
    assert s.find() == []
    assert [e.event for e in s.events_after(0)] == ["opened", "updated", "closed"]
    assert [e.event for e in s.events_after(2)] == ["closed"]


def test_scope_leaves_unexamined_subjects_open(workflow_target: Path | str) -> None:
    s = IncidentStore(workflow_target)
    s.reconcile([_inc("S1", 1000), _inc("S2", 1000)], 2000, ["outage"])
    s.reconcile([], 3000, ["outage"], scope={"outage": ["S1"]})
    assert [i.subject for i in s.find()] == ["S2"]


def test_survives_reopen(workflow_target: Path | str) -> None:
    IncidentStore(workflow_target).reconcile([_inc("S1", 1000)], 2000, ["outage"])
    assert [i.subject for i in IncidentStore(workflow_target).find()] == ["S1"]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["S1", "S2", "S3"]), max_size=3), max_size=8))
def test_an_incident_never_closes_before_it_opens(tmp_path_factory, runs: list[list[str]]
                                                  ) -> None:
    s = IncidentStore(tmp_path_factory.mktemp("w") / "w.sqlite")
    for n, subjects in enumerate(runs):
        s.reconcile([_inc(x, 0) for x in set(subjects)], 1000 * (n + 1), ["outage"])
    for inc in s.find(include_closed=True):
        assert inc.closed_ms is None or inc.closed_ms >= inc.started_ms
        assert inc.detected_ms >= inc.started_ms

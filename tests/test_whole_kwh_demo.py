"""Issue 25, how it is shown: the sample district with every behaviour once, its building B01's
meters reading whole kWh (a common residential register), gives no false meter fault and the
same incidents and work orders as with 0.01 kWh registers."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from alerts.config import AlertsConfig
from alerts.service import AlertsService
from analyzer.runner import Runner, Watermarks
from collector.profiles import load_profiles
from collector.resolution import with_profile_resolutions
from district.records import load_records
from simulators.scenario import load_scenario, parse_scenario
from storage.sqlite import SqliteStore
from tests.test_alerts_support import ManualClock, alerts_table
from tests.test_analyzer_scenarios import HERE, SCENARIO_ANALYZER, TZ, district_readings, summarise
from workflow.incidents import IncidentStore
from workflow.unit import WorkflowDb

FOLDER = HERE / "scenarios" / "analyzer" / "sample_every_behaviour_once"
WHOLE = "B01"


def _run(tmp: Path, resolution: dict[str, float]) -> tuple[list[dict[str, Any]],
                                                         list[tuple[str, str, str]],
                                                         list[float]]:
    """Incidents (kind, subject, cause), orders (kind, incident subject, crew) and B01's meter
    energy readings, the records' resolutions filled from the meters' profile as at bootstrap."""
    sc = dataclasses.replace(load_scenario(FOLDER / "scenario.toml"),
                             meter_resolution=resolution)
    rec = with_profile_resolutions(load_records(sc.records_dir), load_profiles())
    readings = district_readings(sc, rec)
    store = SqliteStore(tmp / "readings.sqlite")
    store.write(readings)
    path = tmp / "workflow.sqlite"
    wf = IncidentStore(path)
    end = int(sc.end_s * 1000)
    Runner(store, rec, wf, SCENARIO_ANALYZER, TZ, Watermarks(path)).run_cycle(end)
    found = wf.find(include_closed=True)
    store.close()
    svc = AlertsService(AlertsConfig.from_mapping(alerts_table()), rec, WorkflowDb(path), {},
                        ManualClock(end))
    svc.step(end)
    subject = {i.key: i.subject for i in found}
    orders = sorted((o.kind, subject.get(o.incident_key, "?"), o.crew)
                    for o in svc.db.orders.find(include_closed=True))
    energy = [float(r.fields["energy_kwh"]) for r in readings
              if r.measurement == "meter" and r.tags.get("building_id") == WHOLE]
    return summarise(found), orders, energy


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return {"fine": _run(tmp_path_factory.mktemp("fine"), {}),
            "whole": _run(tmp_path_factory.mktemp("whole"), {WHOLE: 1.0})}


def test_whole_kwh_meters_read_whole_kwh(runs: dict[str, Any]) -> None:
    whole, fine = runs["whole"][2], runs["fine"][2]
    assert whole and all(e == int(e) for e in whole)
    assert any(e != int(e) for e in fine)


def test_no_false_meter_fault_and_the_same_orders(runs: dict[str, Any]) -> None:
    fine_inc, fine_orders, _ = runs["fine"]
    whole_inc, whole_orders, _ = runs["whole"]
    assert whole_inc == fine_inc
    assert whole_orders == fine_orders
    # B01 has no injected meter fault (its upper floors' gateway goes down: comm, not fault)
    assert [i for i in whole_inc if i["kind"] == "meter_fault"
            and i["subject"].startswith(f"M-{WHOLE}-")] == []
    assert len([i for i in whole_inc if i["kind"] == "meter_fault"]) == 7


def test_the_scenario_table_is_checked() -> None:
    from simulators.scenario import ScenarioError

    base = {"start": "2024-12-02T00:00:00+08:00"}
    sc = parse_scenario({**base, "meter_resolution": {"B01": 1}}, "t")
    assert sc.meter_resolution == {"B01": 1.0}
    with pytest.raises(ScenarioError, match="meter_resolution"):
        parse_scenario({**base, "meter_resolution": {"B01": 0}}, "t")

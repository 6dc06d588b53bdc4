"""issue 21: an account whose suspension of heating (暂停供暖) was accepted for a season is not
counted in that season's room compliance, and its cold rooms raise no incident: the analyzer
reads the season's suspended accounts from the workflow file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analyzer.runner import Runner, Watermarks
from district.records import load_records
from simulators.scenario import load_scenario
from storage.sqlite import SqliteStore
from tests.test_analyzer_scenarios import HERE, SCENARIO_ANALYZER, TZ, district_readings
from workflow.incidents import IncidentStore
from workflow.unit import WorkflowDb

SAMPLE = HERE / "scenarios" / "analyzer" / "sample_every_behaviour_once" / "scenario.toml"
COLD = "T-B01-0101-liv"  # the sample's cold room (settles at 15 °C), account B01-0101


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    sc = load_scenario(SAMPLE)
    path = tmp_path_factory.mktemp("suspended") / "readings.sqlite"
    store = SqliteStore(path)
    store.write(district_readings(sc))
    store.close()
    return sc, path


def _run(sc: Any, readings: Path, wf: Path, suspended: dict[int, str]) -> tuple[Any, Any]:
    """One cycle at the scenario's end on a fresh workflow file with these suspensions."""
    db = WorkflowDb(wf)
    with db.unit() as u:
        for season, account in suspended.items():
            u.calls.suspend(account, season, "CL1")
    db.close()
    store, incidents = SqliteStore(readings), IncidentStore(wf)
    runner = Runner(store, load_records(sc.records_dir), incidents, SCENARIO_ANALYZER, TZ,
                    Watermarks(wf))
    ev = runner.run_cycle(int(sc.end_s * 1000)).evaluation
    found = incidents.find(include_closed=True)
    incidents.close()
    store.close()
    (comp,) = [g for g in ev.derived if g.measurement == "compliance"]
    return found, comp


def _s1(comp: Any) -> dict[str, Any]:
    i = [t.get("substation_id") for t in comp.tags].index("S1")
    return {f: np.asarray(v)[i] for f, v in comp.fields.items()}


def test_a_suspended_account_is_not_counted(sample: tuple[Any, Path], tmp_path: Path) -> None:
    sc, readings = sample
    plain, comp = _run(sc, readings, tmp_path / "plain.sqlite", {})
    assert any(i.kind == "room_cold" and i.subject == COLD for i in plain)
    # the account suspended for the 2024 season (the scenario is in December 2024)
    off, comp_off = _run(sc, readings, tmp_path / "off.sqlite", {2024: "B01-0101"})
    assert not any(i.kind == "room_cold" and i.subject == COLD for i in off)
    before, after = _s1(comp), _s1(comp_off)
    # its cold living room was the only failing room day at S1: measured one fewer, all pass
    assert list(after["measured"]) == [m - 1 for m in before["measured"]]
    assert list(after["passing"]) == list(before["passing"])
    assert list(before["rate"]) != [1.0, 1.0] and list(after["rate"]) == [1.0, 1.0]
    # a suspension for another season changes nothing in this one
    other, comp_other = _run(sc, readings, tmp_path / "other.sqlite", {2025: "B01-0101"})
    assert any(i.kind == "room_cold" and i.subject == COLD for i in other)
    assert list(_s1(comp_other)["measured"]) == list(before["measured"])

"""Back-fill equals the continuous run: `heatwatch analyze --from --to` over three days, a
first run with no watermark, and 72 hourly cycles find the same incidents, starts and
durations, on events that cross the analyzer's windows (issue 9)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pytest

from alerts.handlers import describe
from analyzer.runner import Runner, Watermarks
from district.records import load_records
from heatwatch.cli import main
from heatwatch.config import load_config
from policy.outages import compensated_days, is_notice_due
from policy.rules import Compensation, OutageRules
from simulators.scenario import load_scenario
from storage.sqlite import SqliteStore
from tests.test_analyzer_scenarios import SCENARIO_ANALYZER, TZ, district_readings
from workflow.details import OutageDetails, details_dict
from workflow.incidents import Incident, IncidentStore

HERE = Path(__file__).resolve().parent
THREE_DAYS = HERE / "scenarios" / "backfill" / "three_days.toml"
H_MS = 3_600_000


def facts(incidents: list[Incident]) -> set[tuple[Any, ...]]:
    """What must agree: which incident, from when, until when."""
    return {(i.kind, i.subject, i.cause, i.started_ms, i.closed_ms) for i in incidents}


@pytest.fixture(scope="module")
def readings_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, int]:
    sc = load_scenario(THREE_DAYS)
    folder = tmp_path_factory.mktemp("three_days")
    store = SqliteStore(folder / "readings.sqlite")
    store.write(district_readings(sc, load_records(sc.records_dir)))
    store.close()
    return folder / "readings.sqlite", int(sc.start_s * 1000), int(sc.end_s * 1000)


def hourly(db: Path, start: int, end: int, tmp: Path) -> list[Incident]:
    sc = load_scenario(THREE_DAYS)
    store = SqliteStore(db)
    wf = IncidentStore(tmp / "hourly.sqlite")
    runner = Runner(store, load_records(sc.records_dir), wf, SCENARIO_ANALYZER, TZ,
                    Watermarks(tmp / "hourly.sqlite"))
    for h in range(1, (end - start) // H_MS + 1):
        runner.run_cycle(start + h * H_MS)
    found = wf.find(include_closed=True)
    wf.close()
    store.close()
    return found


def test_backfill_from_to_equals_72_hourly_cycles(readings_db: tuple[Path, int, int],
                                                   tmp_path: Path) -> None:
    db, start, end = readings_db
    live = hourly(db, start, end, tmp_path)
    # the events of the scenario, each once, with its true start
    kinds = sorted((i.kind, i.subject) for i in live)
    assert ("outage", "S2") in kinds and kinds.count(("outage", "S2")) == 1
    (trip,) = [i for i in live if i.kind == "outage"]
    assert trip.started_ms - (start + 20 * H_MS) <= 10 * 60_000
    assert trip.closed_ms is not None
    assert abs((trip.closed_ms - trip.started_ms) / H_MS - 30) <= 0.25
    assert isinstance(trip.details, OutageDetails)
    assert is_notice_due(trip.details.duration_h, OutageRules())
    assert compensated_days(trip.details.duration_h, Compensation()) == 2
    # its consequences are listed in it and counted on its order, not raised on their own
    assert trip.details.cold_room_count == len(trip.details.cold_rooms) > 0
    assert trip.details.meters_without_flow_count > 0
    assert not [i for i in live if i.kind == "room_cold" and i.substation_id == "S2"]
    assert f"室温低于18℃ {trip.details.cold_room_count} 间" in describe(trip)

    data = tmp_path / "backfill"
    data.mkdir()
    shutil.copy(db, data / "readings.sqlite")
    toml = tmp_path / "heatwatch.toml"
    toml.write_text(f'[site]\ndata_dir = "{data}"\n[store]\nbackend = "sqlite"\n',
                    encoding="utf-8")

    def iso(ms: int) -> str:
        return dt.datetime.fromtimestamp(ms / 1000, TZ).isoformat()

    assert main(["analyze", "--config", str(toml), "--from", iso(start), "--to", iso(end)]) == 0
    cfg = load_config(toml)
    wf = IncidentStore(cfg.data_path(cfg.site.workflow_path, "workflow.sqlite"))
    back = wf.find(include_closed=True)
    wf.close()
    assert facts(back) == facts(live)
    by_key = {i.key: details_dict(i.details) for i in live}
    for i in back:
        got = details_dict(i.details)
        for k in ("duration_h", "hours"):
            if k in got:
                assert got[k] == by_key[i.key][k], (i.kind, i.subject, k)


def test_first_run_without_watermark_sees_events_older_than_one_window(
        readings_db: tuple[Path, int, int], tmp_path: Path) -> None:
    db, start, end = readings_db
    live = hourly(db, start, end, tmp_path)
    sc = load_scenario(THREE_DAYS)
    store = SqliteStore(db)
    wf = IncidentStore(tmp_path / "once.sqlite")
    Runner(store, load_records(sc.records_dir), wf, SCENARIO_ANALYZER, TZ,
           Watermarks(tmp_path / "once.sqlite")).run_cycle(end)
    assert facts(wf.find(include_closed=True)) == facts(live)
    wf.close()
    store.close()

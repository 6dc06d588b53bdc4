"""The analyzer runner and its commands on a real SQLite store: incremental cycles keep one
incident per condition, write derived series back, and the commands read them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from analyzer.config import AnalyzerConfig, AnalyzerConfigError, from_mapping
from analyzer.derived import BILLING_DAY, COMPLIANCE, METER_FAULT_STATE, OUTAGE_STATE
from analyzer.runner import Runner, Watermarks
from district.records import load_records
from heatwatch.commands.analyze import analyze_command, incidents_command
from heatwatch.commands.billing import billing_command
from heatwatch.common import CommandError
from heatwatch.config import Config, load_config
from heatwatch.season_bill import season_bill
from policy.outages import is_notice_due
from policy.rules import CityRules, OutageRules
from simulators.scenario import load_scenario
from storage.sqlite import SqliteStore
from tests.test_analyzer_scenarios import HERE, SCENARIO_ANALYZER, TZ, district_readings
from workflow.details import OutageDetails, details_dict
from workflow.incidents import IncidentStore

H_MS = 3_600_000
# windows of a 12 h lookback cannot hold the default 24 h stuck stretch (the config refuses a
# lookback shorter than stuck_h): those tests run as a city that calls 8 h stuck
SCENARIO_CITY = {"rooms": {"stuck_h": 8.0, "stuck_tolerance_c": 0.0}}
SAMPLE = HERE / "scenarios" / "analyzer" / "sample_every_behaviour_once" / "scenario.toml"
TRIP_30H = HERE / "scenarios" / "analyzer" / "pump_trip_30h_outage_over_24h_two_days"


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, int]:
    """The sample scenario's readings in a SQLite store, once for the module."""
    sc = load_scenario(SAMPLE)
    data = tmp_path_factory.mktemp("sample")
    store = SqliteStore(data / "readings.sqlite")
    store.write(district_readings(sc))
    store.close()
    return data, int(sc.start_s * 1000), int(sc.end_s * 1000)


def _config(data: Path) -> Config:
    cfg = load_config(None, env={})
    cfg.site.data_dir = str(data)
    cfg.store.backend = "sqlite"
    cfg.analyzer = SCENARIO_ANALYZER
    return cfg


# -- config -------------------------------------------------------------------------------------

def test_config_defaults_are_the_domain_rules_and_bad_values_are_one_line() -> None:
    rules = from_mapping({}).rules()
    base = CityRules()
    assert rules.tariff == base.tariff and rules.season == base.season
    assert rules.outages == base.outages and rules.leaks == base.leaks
    assert rules.refund.bands[:2] == base.refund.bands[:2]
    city = from_mapping({"outages": {"escalation_h": [6, 12]}, "tariff": {"energy_cny_kwh": 0.2},
                         "season": {"start": "11-01", "end": "03-31"}}).rules()
    assert city.outages.escalation_h == (6.0, 12.0)
    assert str(city.tariff.energy_cny_kwh) == "0.2"
    assert city.season.days(2024) == 151
    cases: list[tuple[dict[str, Any], str]] = [({"nope": 1}, "unknown key 'nope'"),
                       ({"rooms": {"min_c": "warm"}}, "[analyzer.rooms] min_c: "),
                       ({"outages": {"escalation_h": [12, 8]}}, "ascending"),
                       ({"season": {"start": "13-01"}}, "not MM-DD"),
                       ({"rooms": {"refund_shares": [0.1]}}, "one share per"),
                       ({"rooms": {"refund_bands_k": "abc"}}, "refund_bands_k"),
                       ({"outages": {"step_s": 7000}}, "divide an hour"),
                       ({"meters": {"interval_s": 3600}}, "unknown key 'interval_s'")]
    for bad, words in cases:
        with pytest.raises(AnalyzerConfigError) as e:
            from_mapping(bad)
        assert words in str(e.value) and "\n" not in str(e.value)


# -- cycles ---------------------------------------------------------------------------------------

def test_incremental_cycles_keep_one_outage_that_grows_then_closes(tmp_path: Path) -> None:
    sc = load_scenario(TRIP_30H / "scenario.toml")
    rec = load_records(sc.records_dir)
    store = SqliteStore(tmp_path / "r.sqlite")
    store.write(district_readings(sc, rec))
    wf = IncidentStore(tmp_path / "w.sqlite")
    # a short lookback, so the outage (6 h .. 36 h) outlives a window and must carry its key
    cfg = from_mapping({"lookback_h": 12, "max_catchup_h": 24, **SCENARIO_CITY})
    runner = Runner(store, rec, wf, cfg, TZ, Watermarks(tmp_path / "w.sqlite"))
    start = int(sc.start_s * 1000)
    durations = []
    for h in range(8, 49, 4):
        runner.run_cycle(start + h * H_MS)
        (out,) = wf.find(include_closed=True, kind="outage")
        assert isinstance(out.details, OutageDetails)
        durations.append(out.details.duration_h)
    (out,) = wf.find(include_closed=True, kind="outage")
    assert out.started_ms == start + 6 * H_MS
    assert isinstance(out.details, OutageDetails)
    assert out.closed_ms is not None and is_notice_due(out.details.duration_h, OutageRules())
    assert durations == sorted(durations) and durations[0] < 8 <= durations[2]
    events = [e.event for e in wf.events_after(0) if e.key == out.key]
    assert events[0] == "opened" and events[-1] == "closed" and events.count("opened") == 1
    # no room of the tripped substation counted as cold, on either day
    assert wf.find(include_closed=True, kind="room_cold") == []
    assert wf.find(include_closed=True, kind="compliance_breach") == []


def test_evaluation_is_deterministic_and_rerun_changes_nothing(
        sample_db: tuple[Path, int, int], tmp_path: Path) -> None:
    data, _, end = sample_db
    rec = load_records(load_scenario(SAMPLE).records_dir)
    store = SqliteStore(data / "readings.sqlite")
    cfg = from_mapping({"write_back": False, **SCENARIO_CITY})
    keys = []
    for run in ("a", "b"):
        wf = IncidentStore(tmp_path / f"{run}.sqlite")
        Runner(store, rec, wf, cfg, TZ).run_cycle(end)
        keys.append(sorted((i.key, json.dumps(details_dict(i.details), sort_keys=True))
                           for i in wf.find(include_closed=True)))
        wf.close()
    assert keys[0] == keys[1] and len(keys[0]) == 14
    store.close()


def test_watermark_catches_up_after_downtime(sample_db: tuple[Path, int, int],
                                             tmp_path: Path) -> None:
    data, start, end = sample_db
    rec = load_records(load_scenario(SAMPLE).records_dir)
    store = SqliteStore(data / "readings.sqlite")
    marks = Watermarks(tmp_path / "w.sqlite")
    wf = IncidentStore(tmp_path / "w.sqlite")
    cfg = from_mapping({"lookback_h": 12, "write_back": False, **SCENARIO_CITY})
    runner = Runner(store, rec, wf, cfg, TZ, marks)
    runner.run_cycle(start + 2 * H_MS)
    res = runner.run_cycle(end)  # 46 h later: windows of 12 h replayed in between
    assert res.catch_up == 3
    assert marks.get("cycle") == end
    # the silent (6 h .. 14 h) and stuck (10 h .. 40 h) sensors were seen by replayed windows
    found = {(i.subject, i.cause, i.started_ms - start, i.closed_ms)
             for i in wf.find(include_closed=True, kind="sensor_fault")}
    assert found == {("T-B02-0201-liv", "silent", 6 * H_MS, start + 14 * H_MS),
                     ("T-B03-0104-liv", "stuck", 10 * H_MS, start + 40 * H_MS)}
    store.close()


# -- commands and the derived series --------------------------------------------------------

def test_commands_analyze_incidents_and_billing(sample_db: tuple[Path, int, int],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    data, start, end = sample_db
    cfg = _config(data)
    assert analyze_command(cfg, once=True, at=end / 1000) == 0
    assert "14 incidents found" in capsys.readouterr().out

    assert incidents_command(cfg, all_=True, json_=True) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["kind"] for r in rows} == {"room_cold", "sensor_fault", "meter_fault", "meter_comm",
                                         "outage", "leak"}
    assert incidents_command(cfg, all_=False, json_=False) == 0
    table = capsys.readouterr().out
    assert "room_cold" in table and "T-B01-0101-liv" in table and "outage" not in table

    store = SqliteStore(data / "readings.sqlite")
    comp = store.read_window(COMPLIANCE, start, end, tags=("substation_id",))
    assert len(comp) == 4  # two substations, two complete days
    s2 = comp.tags["substation_id"] == "S2"
    # docs/rules.md: the S2 outage day is "system not normal": excluded, nothing measured
    assert list(comp.fields["measured"][s2])[0] == 0
    assert (comp.fields["rate"][~s2] >= 0.97).all()
    out = store.read_window(OUTAGE_STATE, start, end, tags=("substation_id",))
    trip = (out.tags["substation_id"] == "S2") & (out.fields["out"] == 1)
    assert trip.sum() == 98 and out.fields["hours"][trip].max() == pytest.approx(98 / 12)
    state = store.read_window(METER_FAULT_STATE, start, end)
    tamper = state.fields["state"][state.device_id == "M-B04-0502"]
    assert 2 in tamper  # human
    days = store.read_window(BILLING_DAY, start, end, tags=("account_id",))
    b = days.fields["basis_code"][days.tags["account_id"] == "B02-0103"]
    assert list(b) == [1, 0]  # the sensor_open day is area-billed, the next one metered
    store.close()

    bill = season_bill(cfg, "B02-0103", 2024)
    # the poll at the end instant (00:00 on the 4th) is a third day
    assert bill["area_policy"]["area_days"] == 1 and bill["days_with_readings"] == 3
    assert bill["estimated_policy"]["estimated_days"] == 1
    day = next(d for d in bill["days"] if d["date"] == "2024-12-02")
    assert day["basis"] == "area" and "185.00" in day["reason"]
    tampered = season_bill(cfg, "B04-0502", 2024)
    assert tampered["area_policy"]["inspection_days"] == 2
    assert tampered["area_policy"]["area_days"] == 0
    assert billing_command(cfg, "B02-0103", 2024, json_=False) == 0
    assert "difference" in capsys.readouterr().out
    with pytest.raises(CommandError, match="unknown account 'nobody'"):
        billing_command(cfg, "nobody", 2024, json_=True)


def test_default_analyzer_config_is_used_without_a_section() -> None:
    from heatwatch.common import analyzer_config

    assert isinstance(analyzer_config(load_config(None, env={})), AnalyzerConfig)

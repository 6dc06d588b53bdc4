"""Analyzers sharded by substation (issue 11): two shards on one real influxd and one shared
workflow store find the same incidents and write the same derived series as one analyzer."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzer.config import AnalyzerConfigError, from_mapping
from analyzer.runner import Runner, Watermarks
from analyzer.shard import select, shard_of
from analyzer.state import WindowState
from district.records import load_records
from heatwatch import bootstrap
from heatwatch.config import load_config
from simulators.scenario import load_scenario
from tests.harness import ROOT, write_config
from tests.services import Influxd
from tests.test_analyzer_scenarios import SCENARIO_ANALYZER, TZ, district_readings
from tests.test_incremental import SAMPLE, facts, points
from workflow.incidents import IncidentStore

pytestmark = pytest.mark.services


def test_two_shards_find_what_one_analyzer_finds(tmp_path: Path, influxd_shared: Influxd) -> None:
    sc = load_scenario(SAMPLE)
    records = load_records(sc.records_dir)
    # the sample's two substations fall to different shards of two
    assert {shard_of(s, 2) for s in records.substations} == {1, 2}
    cfg = load_config(write_config(
        tmp_path / "heatwatch.toml", records=ROOT / "district" / "sample",
        data_dir=tmp_path / "var", mqtt_port=1883, influx_url=influxd_shared.url,
        database="shards"), env={})
    store = bootstrap.open_store(cfg, spool=False).store
    readings = district_readings(sc, records)
    for i in range(0, len(readings), 20_000):
        store.write(readings[i:i + 20_000])
    end = int(sc.end_s * 1000)

    one_wf = IncidentStore(tmp_path / "one.sqlite")
    one = Runner(store, records, one_wf, SCENARIO_ANALYZER, TZ,
                 Watermarks(tmp_path / "one.sqlite"))
    whole = one.run_cycle(end)

    shared = tmp_path / "shards.sqlite"
    derived = []
    for k in (1, 2):
        part = select(records, (k, 2))
        wf = IncidentStore(shared)
        r = Runner(store, part, wf, SCENARIO_ANALYZER, TZ, Watermarks(shared),
                   mark=f"cycle {k}-of-2")
        r.state = WindowState(r.reader, tmp_path / f"state-{k}")
        res = r.run_cycle(end)
        derived += res.evaluation.derived_readings()
        # each shard keeps to its own substations (weather stations serve every shard)
        assert {i.substation_id for i in res.evaluation.incidents} <= \
            set(part.substations) | {""}
        wf.close()
    both = IncidentStore(shared).find(include_closed=True)
    assert facts(both) == facts(one_wf.find(include_closed=True))
    assert {i.substation_id for i in both} >= {"S1", "S2"}
    # the district-wide series (billing, compliance, states) are the union of the shards'
    assert points(derived) == points(whole.evaluation.derived_readings())


def test_shard_config_is_checked() -> None:
    assert from_mapping({"shard": "2/3"}).shard == "2/3"
    for bad in ("0/2", "3/2", "x", "1/2/3"):
        with pytest.raises(AnalyzerConfigError, match=r"\[analyzer\] shard"):
            from_mapping({"shard": bad})
    with pytest.raises(AnalyzerConfigError, match="not both"):
        from_mapping({"shard": "1/2", "substations": ["S1"]})
    with pytest.raises(ValueError, match="not in the records"):
        select(load_records(ROOT / "district" / "sample"), None, ["S9"])

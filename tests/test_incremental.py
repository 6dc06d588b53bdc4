"""The incremental analyzer (issue 11) on a real influxd: after random late arrivals up to the
48 h look-back and a restart, its grids, incidents and derived series equal a full re-read's;
it reads only what is new or touched; a lost state is rebuilt from the store."""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analyzer import state as state_module
from analyzer import writeback as writeback_module
from analyzer.derived import DERIVED_MEASUREMENTS
from analyzer.runner import Runner, Watermarks
from analyzer.state import PLANS, WindowState
from analyzer.window import Window
from district.readings import Reading
from district.records import load_records
from heatwatch import bootstrap
from heatwatch.config import load_config
from simulators.scenario import load_scenario
from storage.arrivals import ArrivalsLog
from storage.influx import InfluxStore
from tests.harness import ROOT, write_config
from tests.services import Influxd
from tests.test_analyzer_scenarios import HERE, SCENARIO_ANALYZER, TZ, district_readings
from workflow.details import details_dict
from workflow.incidents import Incident, IncidentStore

pytestmark = pytest.mark.services

SAMPLE = HERE / "scenarios" / "analyzer" / "sample_every_behaviour_once" / "scenario.toml"
H = 3_600_000


def facts(incidents: list[Incident]) -> list[tuple[Any, ...]]:
    return sorted((i.kind, i.subject, i.cause, i.started_ms, i.closed_ms,
                   repr(details_dict(i.details))) for i in incidents)


def points(derived: list[Reading]) -> list[tuple[Any, ...]]:
    return sorted((r.measurement, r.ts_ms, tuple(sorted(r.tags.items())),
                   tuple(sorted((k, repr(v)) for k, v in r.fields.items()))) for r in derived)


def sorted_row(row: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(row.items()))


def same_grids(a: Window, b: Window) -> None:
    def eq(x: Any, y: Any, what: str) -> None:
        if x is None or y is None:
            assert x is None and y is None, what
            return
        np.testing.assert_array_equal(x, y, err_msg=what)

    assert (a.hours, a.steps) == (b.hours, b.steps)
    for f in ("supply_c", "return_c", "flow_m3h", "makeup_m3h", "return_mpa", "pump_on"):
        eq(None if a.substations is None else a.substations[f],
           None if b.substations is None else b.substations[f], f)
    for fn in ("mean", "min", "max"):
        eq(None if a.rooms is None else a.rooms[fn], None if b.rooms is None else b.rooms[fn], fn)
    assert (a.meters is None) == (b.meters is None)
    if a.meters is not None and b.meters is not None:
        for f, g in a.meters.fields.items():
            eq(g, b.meters.fields[f], f)
        eq(a.meters.comm, b.meters.comm, "comm")
        assert a.meters.comm_cause == b.meters.comm_cause
    eq(a.weather, b.weather, "weather")
    eq(a.outdoor_daily_c, b.outdoor_daily_c, "outdoor")


def test_incremental_equals_full_reread_after_late_arrivals_and_restart(
        tmp_path: Path, influxd_shared: Influxd, monkeypatch: pytest.MonkeyPatch) -> None:
    sc = load_scenario(SAMPLE)
    records = load_records(sc.records_dir)
    cfg = load_config(write_config(
        tmp_path / "heatwatch.toml", records=ROOT / "district" / "sample",
        data_dir=tmp_path / "var", mqtt_port=1883, influx_url=influxd_shared.url,
        database="incremental"), env={})
    store = bootstrap.open_store(cfg, spool=False).store  # InfluxDB behind the arrivals log
    # the same incremental analyzer rewriting all its derived points every cycle, in a
    # database of its own: what it stores is what the one writing only the changes stores
    all_store = ArrivalsLog(InfluxStore(influxd_shared.url, "incremental_rewrite"))
    full_store = ArrivalsLog(InfluxStore(influxd_shared.url, "incremental_full"))
    start, end = int(sc.start_s * 1000), int(sc.end_s * 1000)
    readings = sorted(district_readings(sc, records), key=lambda r: r.ts_ms)
    rng = random.Random(11)
    # in six random hours, a third of the readings are late: each lands 1–47 h after its time
    late_hours = set(rng.sample(range(start // H, end // H), 6))
    late_by = {id(r): rng.randint(1, 47) * H for r in readings
               if r.ts_ms // H in late_hours and rng.random() < 0.33}
    landed = {id(r): r.ts_ms + late_by.get(id(r), 0) for r in readings}
    cycles = sorted({start + 26 * H + rng.randint(0, 59) * 60_000,
                     start + 31 * H + 600_000, start + 36 * H + 7 * 60_000,
                     start + 44 * H + 42 * 60_000, end})
    state_dir = tmp_path / "state"

    def make(name: str, incremental: bool, own: Any = store, where: Path = state_dir) -> Runner:
        wf = tmp_path / f"{name}.sqlite"
        state = WindowState(Runner(own, records, IncidentStore(wf), SCENARIO_ANALYZER,
                                   TZ).reader, where, overlap_s=0.0) if incremental else None
        return Runner(own, records, IncidentStore(wf), SCENARIO_ANALYZER, TZ,
                      Watermarks(wf), state=state)

    inc, full = make("incremental", True), make("full", False, full_store)
    # derived points go as several bodies in flight, as a city's hourly meter cycle's do
    monkeypatch.setattr(writeback_module, "LINES_PER_WRITE", 500)
    rewrite = make("rewrite", True, all_store, tmp_path / "rewrite-state")
    written: set[int] = set()
    for n, at in enumerate(cycles):
        batch = [r for r in readings if id(r) not in written and landed[id(r)] <= at]
        rng.shuffle(batch)
        for i in range(0, len(batch), 5000):
            store.write(batch[i:i + 5000])
            all_store.write(batch[i:i + 5000])
            full_store.write(batch[i:i + 5000])
        written |= {id(r) for r in batch}
        if n == 2:
            # a restart: the incremental analyzer comes back with its state from disk
            inc = make("incremental", True)
            assert inc.state is not None
            assert set(inc.state.slabs) == {"substation", "weather", "room", "meter"}
        a, b = inc.run_cycle(at), full.run_cycle(at)
        rewrite.writeback.written.clear()
        rewrite.run_cycle(at)
        assert facts(inc.workflow.find(include_closed=True)) == \
            facts(full.workflow.find(include_closed=True))
        assert points(a.evaluation.derived_readings()) == points(b.evaluation.derived_readings())
        if n in (1, 3, 4):
            # a running analyzer writes back only the derived points that changed
            assert 0 < inc.writeback.points_written < sum(len(g) for g in a.evaluation.derived)
        if n >= 1:
            # only the new and the touched slots were read, not the whole window
            assert inc.state is not None
            window_hours = (at - a.evaluation.window_start_ms) // H
            assert inc.state.slots_read["room"] < window_hours
    # the grids themselves, read both ways as of the end
    assert inc.state is not None
    inc.state.plan = PLANS["all"]
    t0 = inc.window_start_ms(end)
    same_grids(inc.state.read(t0, end, 300_000), full.reader.read(t0, end, 300_000))
    # what is stored of the derived series is what rewriting them all every cycle stores
    assert isinstance(store, ArrivalsLog)
    for m in DERIVED_MEASUREMENTS:
        q = f'SELECT * FROM "heatwatch"."{m}" GROUP BY *'
        got = sorted(map(sorted_row, store.query_csv(q)))
        assert got == sorted(map(sorted_row, all_store.query_csv(q))), m
        assert got or m == "compliance", m
    found = inc.workflow.find(include_closed=True)
    assert {"outage", "leak", "meter_fault", "sensor_fault"} <= {i.kind for i in found}

    # a lost state is rebuilt from the store: the same window again, read a few slots a query
    # (as a city's meters are, to bound the memory)
    shutil.rmtree(state_dir)
    monkeypatch.setattr(state_module, "READ_POINTS", 50)
    rebuilt = make("incremental", True)
    assert rebuilt.state is not None and not rebuilt.state.slabs
    same_grids(rebuilt.state.read(t0, end, 300_000), full.reader.read(t0, end, 300_000))
    assert rebuilt.state.slots_read["room"] == (end - t0) // H

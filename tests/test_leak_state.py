"""The runner writes leak_state back: leaking slots are the leak incident's, with the make-up
share and holding-point sag the kernel saw, on a real SQLite store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analyzer.config import from_mapping
from analyzer.derived import DERIVED_MEASUREMENTS, LEAK_STATE
from analyzer.runner import Runner
from district.records import load_records
from simulators.scenario import load_scenario
from storage.sqlite import SqliteStore
from tests.test_analyzer_scenarios import HERE, TZ, district_readings
from workflow.details import LeakDetails
from workflow.incidents import IncidentStore

LEAK = HERE / "scenarios" / "analyzer" / "leak_makeup_4pct_at_s1" / "scenario.toml"
SLOT_MS = 300_000


def test_runner_writes_leak_state_matching_the_leak_incident(tmp_path: Path) -> None:
    sc = load_scenario(LEAK)
    rec = load_records(sc.records_dir)
    store = SqliteStore(tmp_path / "r.sqlite")
    store.write(district_readings(sc, rec))
    wf = IncidentStore(tmp_path / "w.sqlite")
    end = int(sc.end_s * 1000)
    res = Runner(store, rec, wf, from_mapping({}), TZ).run_cycle(end)
    assert LEAK_STATE in DERIVED_MEASUREMENTS
    assert LEAK_STATE in {r.measurement for r in res.evaluation.derived}
    (leak,) = wf.find(include_closed=True, kind="leak")
    assert leak.closed_ms is not None

    fr = store.read_window(LEAK_STATE, 0, 2**53, tags=("substation_id",))
    s1 = fr.tags["substation_id"] == "S1"
    on = fr.fields["leaking"] == 1
    # leaking exactly over the incident's [start, end), at S1 only
    assert not (on & ~s1).any()
    leaking_ts = fr.ts_ms[on & s1]
    assert leaking_ts.min() == leak.started_ms
    assert leaking_ts.max() == leak.closed_ms - SLOT_MS
    assert len(leaking_ts) == (leak.closed_ms - leak.started_ms) // SLOT_MS
    # every slot of each substation in the window has a point (constant field: int 0/1)
    assert (fr.ts_ms[s1].size == fr.ts_ms[~s1].size) and set(np.unique(fr.fields["leaking"])) \
        == {0.0, 1.0}
    share = fr.fields["makeup_share"]
    # docs/rules.md: make-up above 2 % of circulating flow (over the trailing hour) means a leak;
    # the leak is dated from its first sign, within one reporting interval of the injected
    # start (8 h), while the trailing hour only confirms it later
    injected_ms = int((sc.start_s + 8 * 3600) * 1000)
    assert injected_ms <= leak.started_ms <= injected_ms + SLOT_MS
    assert leak.closed_ms - leak.started_ms <= 4 * 3_600_000 + 2 * SLOT_MS
    assert np.nanmax(share[on & s1]) > 0.02
    assert np.nanmax(share[~s1]) < 0.02
    assert isinstance(leak.details, LeakDetails)
    assert np.nanmax(share[on & s1]) == pytest.approx(leak.details.makeup_share_max, abs=1e-4)
    # the holding point sagged (0.35 -> 0.25 MPa) at S1 during the leak, not at S2
    sag = fr.fields["sag_mpa"]
    assert np.nanmax(sag[on & s1]) > 0.05
    assert np.nanmax(np.abs(sag[~s1])) < 0.01
    # a slot without a full window has no share: left out (NaN on read), never written as NaN
    assert np.isnan(share).any() and np.isfinite(share).any()
    wf.close()
    store.close()

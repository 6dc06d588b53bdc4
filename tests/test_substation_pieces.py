"""Substations are read a piece of the window at a time: the grids do not depend on the
pieces, and no piece holds much more than the budget, also when the data starts late in the
window (go-live, a back-fill) or a station goes dark for hours."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import analyzer.window as window
from analyzer.grid import HOUR_MS, TimeAxis
from analyzer.index import DistrictIndex
from district.readings import Reading
from district.records import load_records
from storage.base import Frame
from storage.sqlite import SqliteStore
from tests.records_fixture import write_records

T0 = 1_733_068_800_000
SUBS = "substation_id,name,design_outdoor_c\n" + "".join(f"S{i},站{i},-7\n" for i in range(3))
BUILDINGS = "building_id,substation_id,address\nB1,S0,幸福路1号楼\n"
DEVICES = ("device_id,kind,account_id,building_id,substation_id,room_type,protocol,host,port,"
           "unit,profile\nr1,room,A1,,,bedroom,mqtt,,,,\nm1,meter,A2,,,,mqtt,,,,\n"
           + "".join(f"s{i},substation,,,S{i},,mqtt,,,,\n" for i in range(3)))


class Counting:
    """The real store; each read_window's row count kept."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.rows: list[int] = []

    def read_window(self, measurement: str, start_ms: int, end_ms: int,
                    fields: Sequence[str] | None = None,
                    tags: Sequence[str] = ("device_id",)) -> Frame:
        fr = self.store.read_window(measurement, start_ms, end_ms, fields, tags)
        self.rows.append(len(fr))
        return fr


@pytest.mark.parametrize("start_h, dark", [(0, None), (10, None), (0, (5, 30)), (40, None)])
def test_pieces_give_the_whole_read_within_the_budget(tmp_path: Path,
                                                      monkeypatch: Any, start_h: int,
                                                      dark: tuple[int, int] | None) -> None:
    index = DistrictIndex.from_records(load_records(write_records(
        tmp_path / "records", substations=SUBS, buildings=BUILDINGS, devices=DEVICES)))
    store = SqliteStore(tmp_path / "readings.sqlite")
    rng = np.random.default_rng(start_h)
    readings = []
    for ts in range(T0 + start_h * HOUR_MS, T0 + 48 * HOUR_MS, 60_000):  # a 1-minute cadence
        if dark and T0 + dark[0] * HOUR_MS <= ts < T0 + dark[1] * HOUR_MS:
            continue
        for i in range(3):
            readings.append(Reading("substation", {"device_id": f"s{i}", "substation_id": f"S{i}"},
                                    {"supply_c": float(rng.normal(60, 5)), "return_c": 45.0,
                                     "pump_on": bool(rng.random() < 0.9)}, ts))
    store.write(readings)
    axis = TimeAxis(T0, 300_000, 48 * 12)
    counting = Counting(store)
    monkeypatch.setattr(window, "SUB_READ_POINTS", 400)  # about two hours of three stations
    pieces = window.WindowReader(counting, index).substations(axis)  # type: ignore[arg-type]
    monkeypatch.setattr(window, "SUB_READ_POINTS", 10**9)
    whole = window.WindowReader(store, index).substations(axis)
    assert pieces is not None and whole is not None
    for f in whole:
        assert np.array_equal(pieces[f], whole[f], equal_nan=True), f
    assert sum(counting.rows) == len(readings)
    # never much more than the budget, nor the rest of the window in one read
    assert max(counting.rows) <= 2 * 400

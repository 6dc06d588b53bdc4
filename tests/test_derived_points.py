"""Derived series as grids of points: their lines are the lines of their readings, and writing
only the points that changed leaves a store as rewriting them all would."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.derived import GridPoints
from storage.lineprotocol import LineEncoder, encode_columns, series_prefix


def grid(seed: int, t0: int, cols: int, sparse: bool) -> GridPoints:
    rng = np.random.default_rng(seed)
    rows = 4
    share = rng.choice([0.5, 0.25, 1 / 3, np.nan, np.inf], size=(rows, cols))
    return GridPoints(
        "leak_state", [{"substation_id": f"S {r}"} for r in range(rows)],
        np.arange(t0, t0 + cols, dtype=np.int64) * 300_000,
        {"leaking": rng.integers(0, 2, (rows, cols)).astype(np.int8),
         "makeup_share": share, "sag_mpa": rng.choice([0.123456, np.nan], size=(rows, cols))},
        present=rng.random((rows, cols)) < 0.6 if sparse else None, digits={"sag_mpa": 4})


def lines(g: GridPoints, where: Any = None) -> list[str]:
    rows, ts, fields = g.cells(where)
    prefixes = [series_prefix(g.measurement, t) for t in g.tags]
    return encode_columns(prefixes, rows.tolist(), ts.tolist(), fields)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 6), st.booleans())
def test_lines_are_the_readings_lines(seed: int, cols: int, sparse: bool) -> None:
    g = grid(seed, 0, cols, sparse)
    enc = LineEncoder()
    assert lines(g) == [enc.line(r) for r in g.readings()]
    assert all("nan" not in x and "inf" not in x for x in lines(g))
    assert len(g) == len(g.readings())


def store_after(writes: list[list[str]]) -> dict[tuple[str, str], dict[str, str]]:
    """InfluxDB's view of the writes: one point per series and time, later fields replacing."""
    out: dict[tuple[str, str], dict[str, str]] = {}
    for batch in writes:
        for line in batch:
            series, fields, ts = line.rsplit(" ", 2)
            point = out.setdefault((series, ts), {})
            point.update(f.split("=", 1) for f in fields.split(","))  # type: ignore[misc]
    return out


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 3), st.integers(0, 6),
                          st.booleans()), min_size=1, max_size=6))
def test_writing_the_changes_stores_what_rewriting_all_stores(
        cycles: list[tuple[int, int, int, bool]]) -> None:
    every, changes = [], []
    before: GridPoints | None = None
    for seed, t0, cols, sparse in cycles:
        g = grid(seed % 3, t0, cols, sparse)  # few seeds: cycles repeat many points
        every.append(lines(g))
        changes.append(lines(g, g.changed_since(before)))
        before = g
    assert store_after(changes) == store_after(every)
    assert sum(map(len, changes)) <= sum(map(len, every))

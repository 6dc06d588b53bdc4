"""A query's CSV parsed a block of rows at a time gives the frame the whole parse gives."""

from __future__ import annotations

import csv
import io

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.base import Frame
from storage.influxql import frame_of, frame_of_csv, parse_csv

FIELDS = ["energy_kwh", "ok"]
cell = st.one_of(st.just(""), st.just("true"), st.just("false"),
                 st.floats(allow_nan=False, allow_infinity=False).map(repr))
row = st.tuples(st.integers(0, 10**13), cell, cell, st.sampled_from(["M1", "M2", "A,B", 'q"x']))
tables = st.lists(st.tuples(st.booleans(), st.lists(row, max_size=12)), max_size=4)


def csv_text(parts: list[tuple[bool, list[tuple[int, str, str, str]]]]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    for i, (both, rows) in enumerate(parts):
        if i:
            out.write("\n")  # a new header follows a blank line
        header = ["name", "tags", "time", *(FIELDS if both else FIELDS[:1]), "device_id"]
        w.writerow(header)
        for ts, a, b, dev in rows:
            w.writerow(["meter", "", ts, a, *([b] if both else []), dev])
    return out.getvalue()


def same(a: Frame, b: Frame) -> None:
    assert np.array_equal(a.ts_ms, b.ts_ms)
    assert a.tags.keys() == b.tags.keys() and a.fields.keys() == b.fields.keys()
    for k in a.tags:
        assert a.tags[k].tolist() == b.tags[k].tolist()
    for k in a.fields:
        assert np.array_equal(a.fields[k], b.fields[k], equal_nan=True)


@settings(max_examples=200, deadline=None)
@given(tables, st.integers(1, 5))
def test_blocks_give_the_whole_parse(parts: list[tuple[bool, list[tuple[int, str, str, str]]]],
                                     block: int) -> None:
    text = csv_text(parts)
    same(frame_of_csv(text, FIELDS, ["device_id"], True, block_rows=block),
         frame_of(parse_csv(text), FIELDS, ["device_id"], True))

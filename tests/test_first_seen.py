"""The analyzer's first-seen times: the array scan stays the dict's answer through updates."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.first_seen import FirstSeen

IDS = sorted(f"M{i:03d}" for i in range(40))
OWN_ORDER = ["SUB9", "", "SUB1", "SUB5"]  # substations' devices: not sorted, with a gap

times = st.integers(0, 100)
known = st.dictionaries(st.sampled_from(IDS + OWN_ORDER[::2]), times, max_size=30)
rounds = st.lists(st.dictionaries(st.sampled_from(IDS + OWN_ORDER), times, max_size=8),
                  max_size=5)


def naive(seen: dict[str, int], ids: list[str], t0: int) -> list[int]:
    return [i for i, d in enumerate(ids) if seen.get(d, t0 + 1) > t0]


@settings(max_examples=200, deadline=None)
@given(known, rounds, st.integers(0, 100))
def test_rows_after_follows_updates(start: dict[str, int], updates: list[dict[str, int]],
                                    t0: int) -> None:
    fs, ref = FirstSeen(start), dict(start)
    for ids in (IDS, OWN_ORDER):
        fs.rows_after(ids, t0)  # cached before the updates
    for found in updates:
        new = fs.with_new(found)
        assert new == {d: t for d, t in found.items() if ref.get(d, t + 1) > t}
        fs.update(found)
        ref.update(new)
        for ids in (IDS, OWN_ORDER):
            assert fs.rows_after(ids, t0).tolist() == naive(ref, ids, t0)
    assert dict(fs) == ref
    assert fs.earliest == (min(ref.values()) if ref else None)


def test_update_never_moves_a_first_reading_later() -> None:
    fs = FirstSeen({"M001": 50})
    fs.rows_after(IDS, 10)
    fs.update({"M001": 70, "M002": 20})
    assert fs["M001"] == 50 and fs["M002"] == 20
    assert np.array_equal(fs.rows_after(IDS, 30),
                          [i for i, d in enumerate(IDS) if d not in ("M002",)])

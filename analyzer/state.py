"""The analyzer's trailing state: the window's grids kept between cycles, so a cycle reads only
the slots that are new or that the arrivals log says were touched since it last looked.

Each group (substations on their step; weather, rooms and meters hourly) is a slab: its axis
and grids. A new window shifts the slab (slots that fell out are dropped, new ones read),
then re-reads the hours written since the group's last cycle (`storage.arrivals`): a reading
arriving late, anywhere in the look-back, changes the grids exactly as a full re-read would,
since every slot is aggregated on its own. Slabs are saved after each cycle
(`<data_dir>/analyzer_state/`); a missing or foreign state is rebuilt from the store.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from analyzer.grid import HOUR_MS, TimeAxis
from analyzer.index import DistrictIndex
from analyzer.window import (
    METER_FIELDS,
    ROOM_FNS,
    SUB_FIELDS,
    MeterWindow,
    Window,
    WindowReader,
    assemble_meters,
    outdoor_daily,
)
from storage.arrivals import touched_hours

Grid = npt.NDArray[Any]
GROUPS = ("substation", "weather", "room", "meter")
MEASUREMENTS = {"substation": ("substation",), "weather": ("weather",), "room": ("room",),
                "meter": ("meter", "meter_comm")}
# how each cycle kind refreshes each group: "full" = new slots and touched hours, "new" = new
# slots only (touched hours wait for the group's own cycle), "none" = shifted only
PLANS: dict[str, dict[str, str]] = {
    "substation": {"substation": "full", "weather": "full", "room": "new", "meter": "none"},
    "room": {"substation": "full", "weather": "full", "room": "full", "meter": "none"},
    "meter": {"substation": "new", "weather": "new", "room": "new", "meter": "full"},
    "all": dict.fromkeys(GROUPS, "full"),
}
MAX_RANGES = 8  # more separate touched ranges than this are read as one span
READ_POINTS = 2_000_000  # rows × slots of one query, at most (a slot at least)


@dataclass(slots=True)
class Slab:
    """One group's grids on its axis; for meters, each failed poll's cause by (row, slot ms)."""

    axis: TimeAxis
    grids: dict[str, Grid]
    causes: dict[tuple[int, int], str] = field(default_factory=dict)
    cursor_s: float = 0.0  # wall clock of the group's last look at the arrivals log
    # changed since saved; an unsaved later cursor only makes a restart re-read a little more
    dirty: bool = True
    version: int = 0  # counts the reads into the grids


def _empty(n: int, axis: TimeAxis, dtype: Any) -> Grid:
    return np.zeros((n, axis.n_slots), dtype=bool) if dtype is bool else \
        np.full((n, axis.n_slots), np.nan)


def _runs(slots: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """Runs of True as [start, end) slot ranges."""
    idx = np.flatnonzero(slots)
    if len(idx) == 0:
        return []
    cuts = np.flatnonzero(np.diff(idx) > 1)
    starts = np.concatenate([[idx[0]], idx[cuts + 1]])
    ends = np.concatenate([idx[cuts] + 1, [idx[-1] + 1]])
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


class WindowState:
    """A WindowReader that keeps the window between cycles (see the module's doc)."""

    def __init__(self, reader: WindowReader, path: Path | str | None = None,
                 overlap_s: float = 300.0, clock: Callable[[], float] = time.time) -> None:
        self.reader = reader
        self.index: DistrictIndex = reader.index
        self.path = Path(path) if path is not None else None
        self.overlap_s = overlap_s
        self.clock = clock
        self.plan = PLANS["all"]
        self.slabs: dict[str, Slab] = {}
        self.slots_read: dict[str, int] = {}
        self._meter_window: tuple[Slab, int, MeterWindow | None] | None = None
        if self.path is not None:
            self.load()

    # -- shape of each group ----------------------------------------------------------------
    def _rows(self, group: str) -> int:
        ix = self.index
        return {"substation": len(ix.substations), "weather": len(ix.weather_stations),
                "room": len(ix.rooms), "meter": len(ix.meters)}[group]

    def _names(self, group: str) -> dict[str, Any]:
        if group == "substation":
            return {**dict.fromkeys(SUB_FIELDS, float), "pump_on": float}
        if group == "weather":
            return {"outdoor_c": float}
        if group == "room":
            return dict.fromkeys(ROOM_FNS, float)
        return {**dict.fromkeys(METER_FIELDS, float), "comm": bool}

    def fingerprint(self) -> str:
        ix = self.index
        parts = [ix.substations, ix.weather_stations, ix.rooms, ix.meters]
        h = hashlib.sha256()
        for p in parts:
            h.update("\x1f".join(p).encode() + b"\x1e")
        return h.hexdigest()[:32]

    # -- reading ----------------------------------------------------------------------------
    def read(self, t0_ms: int, at_ms: int, step_ms: int) -> Window:
        """The window as WindowReader.read gives it, from the kept grids and what is new."""
        hours = TimeAxis(t0_ms, HOUR_MS, max(int((at_ms - t0_ms) // HOUR_MS), 0))
        steps = TimeAxis(t0_ms, step_ms, max(int((at_ms - t0_ms) // step_ms), 0))
        self.slots_read = {}
        for group in GROUPS:
            self._refresh(group, steps if group == "substation" else hours, self.plan[group])
        subs = self._some("substation")
        stations = self._some("weather")
        outdoor = outdoor_daily(len(self.index.substations), hours,
                                None if stations is None else stations["outdoor_c"], subs, steps)
        rooms = self._some("room")
        return Window(at_ms, hours, steps, subs, outdoor, rooms, self._meters(),
                      weather=None if stations is None else stations["outdoor_c"])

    def _meters(self) -> MeterWindow | None:
        """The meter window; the same object (with what detectors derived from it) while the
        meter grids stay the same: meters change hourly, substation cycles run every minute."""
        m = self.slabs["meter"]
        kept = self._meter_window
        if kept is not None and kept[0] is m and kept[1] == m.version:
            return kept[2]
        meters = None
        if not (all(np.isnan(m.grids[f]).all() for f in METER_FIELDS)
                and not m.grids["comm"].any()):
            t0 = m.axis.t0_ms
            causes = {(r, (t - t0) // HOUR_MS): c for (r, t), c in m.causes.items()}
            meters = assemble_meters({f: m.grids[f] for f in METER_FIELDS}, m.grids["comm"],
                                     causes)
        self._meter_window = (m, m.version, meters)
        return meters

    def _some(self, group: str) -> dict[str, Grid] | None:
        """A group's grids, None when nothing was read in the window (as the reader does)."""
        g = self.slabs[group].grids
        return None if all(np.isnan(v).all() for v in g.values()) else dict(g)

    def _refresh(self, group: str, axis: TimeAxis, mode: str) -> None:
        now = self.clock()
        old = self.slabs.get(group)
        names = self._names(group)
        n = self._rows(group)
        if old is not None and old.axis == axis:
            # the same slots (most cycles within an hour): update the grids in place, no copy
            self._update(group, old, mode, now)
            return
        grids = {k: _empty(n, axis, t) for k, t in names.items()}
        todo = np.ones(axis.n_slots, dtype=bool)
        causes: dict[tuple[int, int], str] = {}
        cursor = now
        if old is not None and old.axis.step_ms == axis.step_ms:
            # keep what overlaps, read only what is new (and, below, what was touched)
            shift = (old.axis.t0_ms - axis.t0_ms) // axis.step_ms
            a, b = max(shift, 0), min(shift + old.axis.n_slots, axis.n_slots)
            if a < b:
                for k in names:
                    grids[k][:, a:b] = old.grids[k][:, a - shift:b - shift]
                todo[a:b] = False
            end_ms = axis.t0_ms + axis.n_slots * axis.step_ms
            causes = {(r, t): c for (r, t), c in old.causes.items() if axis.t0_ms <= t < end_ms}
            cursor = old.cursor_s
            if mode == "none":
                todo[:] = False
            elif mode == "full":
                todo |= self._touched(group, axis, old.cursor_s)
                cursor = now
        slab = Slab(axis, grids, causes, cursor)
        self._fill(group, slab, todo)
        self.slabs[group] = slab

    def _update(self, group: str, slab: Slab, mode: str, now: float) -> None:
        """A slab on the same axis: re-read the touched slots (a "full" refresh) in place."""
        todo = np.zeros(slab.axis.n_slots, dtype=bool)
        if mode == "full":
            todo = self._touched(group, slab.axis, slab.cursor_s)
            slab.cursor_s = now
        self._fill(group, slab, todo)

    def _fill(self, group: str, slab: Slab, todo: npt.NDArray[np.bool_]) -> None:
        """Read the slots marked in todo into the slab (as runs of slots)."""
        axis, grids, names = slab.axis, slab.grids, self._names(group)
        causes = slab.causes
        ranges = _runs(todo)
        if len(ranges) > MAX_RANGES:
            ranges = [(ranges[0][0], ranges[-1][1])]
        # a first read of a city's meters is tens of millions of points: a query at a time
        # holds at most about READ_POINTS of them (memory stays bounded, a few more queries)
        per = max(1, READ_POINTS // max(self._rows(group), 1))
        pieces = [(x, min(x + per, b)) for a, b in ranges for x in range(a, b, per)]
        for a, b in pieces:
            sub = TimeAxis(axis.t0_ms + a * axis.step_ms, axis.step_ms, b - a)
            part = self._read(group, sub)
            lo, hi = sub.t0_ms, sub.t0_ms + sub.n_slots * sub.step_ms
            causes = {k: c for k, c in causes.items() if not lo <= k[1] < hi}
            for k, t in names.items():
                grids[k][:, a:b] = False if t is bool else np.nan
                if part is not None and k in part[0]:
                    grids[k][:, a:b] = part[0][k]
            if part is not None:
                causes.update({(r, sub.t0_ms + s * sub.step_ms): c
                               for (r, s), c in part[1].items()})
        slab.causes = causes
        slab.dirty |= bool(ranges)
        slab.version += bool(ranges)
        self.slots_read[group] = sum(b - a for a, b in ranges)

    def _touched(self, group: str, axis: TimeAxis, cursor_s: float) -> npt.NDArray[np.bool_]:
        """The slots of the hours written since the group's cursor (all, without a log)."""
        out = np.zeros(axis.n_slots, dtype=bool)
        touched = touched_hours(self.reader.store, int((cursor_s - self.overlap_s) * 1000),
                                MEASUREMENTS[group])
        if touched is None:
            out[:] = True
            return out
        per_hour = HOUR_MS // axis.step_ms
        for hours in touched.values():
            for h in hours:
                s = (h - axis.t0_ms) // axis.step_ms
                lo, hi = max(s, 0), min(s + per_hour, axis.n_slots)
                if lo < hi:
                    out[lo:hi] = True
        return out

    def _read(self, group: str, axis: TimeAxis) -> tuple[dict[str, Grid],
                                                          Mapping[tuple[int, int], str]] | None:
        r = self.reader
        if group == "substation":
            subs = r.substations(axis)
            return None if subs is None else (subs, {})
        if group == "weather":
            st = r.stations(axis)
            return None if st is None else ({"outdoor_c": st}, {})
        if group == "room":
            rooms = r.rooms(axis)
            return None if rooms is None else (rooms, {})
        parts = r.meter_parts(axis)
        if parts is None:
            return None
        fields, comm, causes = parts
        return {**fields, "comm": comm}, causes

    # -- persistence ------------------------------------------------------------------------
    def save(self, groups: Iterable[str] = GROUPS) -> None:
        """Write the slabs (atomically, each group on its own)."""
        if self.path is None:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        for g in groups:
            slab = self.slabs.get(g)
            if slab is None or not slab.dirty:
                continue
            meta = {"fingerprint": self.fingerprint(), "t0_ms": slab.axis.t0_ms,
                    "step_ms": slab.axis.step_ms, "n_slots": slab.axis.n_slots,
                    "cursor_s": slab.cursor_s,
                    "causes": [[r, t, c] for (r, t), c in slab.causes.items()]}
            tmp = self.path / f".{g}.npz.tmp"
            with open(tmp, "wb") as f:
                arrays: dict[str, Any] = {"__meta__": np.array(json.dumps(meta)), **slab.grids}
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path / f"{g}.npz")
            slab.dirty = False

    def load(self) -> None:
        """Read the slabs saved before; a group missing, foreign or unreadable is rebuilt."""
        assert self.path is not None
        for g in GROUPS:
            p = self.path / f"{g}.npz"
            if not p.is_file():
                continue
            try:
                with np.load(p) as z:
                    meta = json.loads(str(z["__meta__"]))
                    grids = {k: z[k] for k in self._names(g)}
            except (OSError, ValueError, KeyError):
                continue
            if meta.get("fingerprint") != self.fingerprint():
                continue
            axis = TimeAxis(int(meta["t0_ms"]), int(meta["step_ms"]), int(meta["n_slots"]))
            self.slabs[g] = Slab(axis, grids, {(int(r), int(t)): str(c)
                                               for r, t, c in meta["causes"]},
                                 float(meta["cursor_s"]), dirty=False)
